/* Generated from bus-schemas/schemas/pod-injection.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The injector answered the admission of a pod: it added the proxy, left the pod as it was, or refused it because of a configuration annotation.
 */
export interface PodInjection {
  /**
   * Namespace the pod is created in.
   */
  namespace: string;
  /**
   * The pod's name, when the request gives one (pods of a ReplicaSet often have only generateName); one of name and generateName is set.
   */
  name?: string;
  /**
   * The prefix the API server completes into the pod's name.
   */
  generateName?: string;
  /**
   * The pod's controlling owner (metadata.ownerReferences with controller: true, else the first), e.g. a ReplicaSet.
   */
  owner?: {
    kind: string;
    name: string;
  };
  /**
   * injected: the answer carried the patch adding the proxy; skipped: the pod was admitted unchanged; refused: the pod was not admitted.
   */
  result: 'injected' | 'skipped' | 'refused';
  /**
   * Why: a stable code for tools and a message for people.
   */
  reason: {
    /**
     * PodEnabled, NamespaceEnabled (injected); PodDisabled, NotEnabled, ExcludedNamespace, AlreadyInjected, HostNetwork (skipped); InvalidAnnotation (refused). New codes may be added within v1.
     */
    code: string;
    message: string;
    /**
     * The annotation at fault, for InvalidAnnotation.
     */
    annotation?: string;
  };
  /**
   * The proxy version injected (after the pod's and namespace's config.meshbus.io/proxy-version), or the injector's default when nothing was injected.
   */
  proxyVersion: string;
  /**
   * The admission request was a dry run: no pod was created.
   */
  dryRun: boolean;
  /**
   * The AdmissionReview request uid, as in the API server's audit log.
   */
  uid: string;
  /**
   * Id of the injector replica that answered.
   */
  replica: string;
}
