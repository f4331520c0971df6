import { injectPod, type InjectionConfig, type InjectionResult } from './inject.js';
import type { NamespaceInfo, Pod } from './k8s-types.js';

/** Where the webhook learns a namespace's annotations (the manifests folder in local mode; an informer later). */
export interface NamespaceLookup {
  /** The namespace, or undefined when it is not known (then it has no annotations). */
  get(name: string): Promise<NamespaceInfo | undefined>;
}

/** The pod an admission was about, as far as its event says. */
export interface AdmittedPod {
  readonly namespace: string;
  /** `name`, or `generateName*` for a pod without a name yet. */
  readonly name: string;
  readonly podName?: string;
  readonly generateName?: string;
  /** The controlling owner (or the first owner). */
  readonly owner?: { readonly kind: string; readonly name: string };
}

/** The request an answer is about. */
export interface AdmittedRequest {
  readonly uid: string;
  readonly dryRun: boolean;
}

/** What the webhook answers: an HTTP status and a JSON body. */
export interface AdmissionAnswer {
  readonly status: number;
  readonly body: unknown;
  /** `body` already serialised, when it was cheaper to write it directly (the injected answer). */
  readonly text?: string;
  /** The decision, for logs, metrics and events (absent when the request was unreadable or not a pod creation). */
  readonly result?: InjectionResult;
  readonly pod?: AdmittedPod;
  readonly request?: AdmittedRequest;
}

function badRequest(message: string): AdmissionAnswer {
  return { status: 400, body: { error: message } };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Answers one AdmissionReview (admission.k8s.io/v1) for a pod CREATE. Unreadable requests get a
 * 400 naming what is wrong; anything else is allowed, with a JSON Patch when the pod is injected,
 * except a pod whose configuration annotations are refused.
 */
export async function reviewAdmission(text: string, namespaces: NamespaceLookup, config: InjectionConfig): Promise<AdmissionAnswer> {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch {
    return badRequest('the body is not JSON; expected an AdmissionReview (admission.k8s.io/v1)');
  }
  if (!isObject(review) || review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    return badRequest('the body is not an AdmissionReview of apiVersion admission.k8s.io/v1');
  }
  const request = review.request;
  if (!isObject(request)) return badRequest('the AdmissionReview has no request');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') return badRequest('request.uid is missing');
  const respond = (response: Record<string, unknown>, extra: Partial<AdmissionAnswer> = {}): AdmissionAnswer => ({
    status: 200,
    body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } },
    ...extra,
  });

  const kind = request.kind;
  const operation = request.operation;
  if (!isObject(kind) || kind.kind !== 'Pod' || (kind.group ?? '') !== '' || operation !== 'CREATE') {
    // Only pod creations are changed; anything else the webhook is sent passes as it is.
    return respond({ allowed: true });
  }
  const pod = request.object;
  if (!isObject(pod) || !isObject(pod.spec) || !Array.isArray(pod.spec.containers) || pod.spec.containers.length === 0) {
    return badRequest('request.object is not a Pod with spec.containers');
  }
  const namespaceName = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : ((pod.metadata as { namespace?: string } | undefined)?.namespace ?? 'default');
  const podRef = admittedPod(namespaceName, pod.metadata, request.name);
  const facts = { pod: podRef, request: { uid, dryRun: request.dryRun === true } };
  const namespace = (await namespaces.get(namespaceName)) ?? { name: namespaceName, annotations: {} };
  const result = injectPod(pod as unknown as Pod, namespace, config);
  switch (result.kind) {
    case 'injected': {
      const patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
      const answer = respond({ allowed: true, patchType: 'JSONPatch', patch }, { result, ...facts });
      // The patch is most of the answer: written as is (base64 needs no escaping) rather than serialised again.
      const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":${JSON.stringify(uid)},"allowed":true,"patchType":"JSONPatch","patch":"${patch}"}}`;
      return { ...answer, text };
    }
    case 'skipped':
      return respond({ allowed: true }, { result, ...facts });
    case 'refused':
      return respond({ allowed: false, status: { code: 400, reason: 'BadRequest', message: result.message } }, { result, ...facts });
  }
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The pod's names and owner, from its metadata (unknown shapes are left out, not refused). */
function admittedPod(namespace: string, metadata: unknown, requestName: unknown): AdmittedPod {
  const meta = isObject(metadata) ? metadata : {};
  const podName = nonEmpty(meta.name) ?? nonEmpty(requestName);
  const generateName = nonEmpty(meta.generateName);
  const owners = Array.isArray(meta.ownerReferences) ? meta.ownerReferences.filter(isObject) : [];
  const ownerRef = owners.find((o) => o.controller === true) ?? owners[0];
  const ownerKind = nonEmpty(ownerRef?.kind);
  const ownerName = nonEmpty(ownerRef?.name);
  return {
    namespace,
    name: podName ?? `${generateName ?? ''}*`,
    ...(podName !== undefined ? { podName } : {}),
    ...(generateName !== undefined ? { generateName } : {}),
    ...(ownerKind !== undefined && ownerName !== undefined ? { owner: { kind: ownerKind, name: ownerName } } : {}),
  };
}

/** What {@link podCreateReview} may set beyond the pod. */
export interface PodCreateReviewOptions {
  readonly uid: string;
  /** @default the pod's metadata.namespace */
  readonly namespace?: string;
  /** The user the API server names as the creator. @default the ReplicaSet controller */
  readonly userInfo?: Readonly<Record<string, unknown>>;
  /** A dry-run request (`kubectl --dry-run=server`, or a probe): nothing is persisted. @default false */
  readonly dryRun?: boolean;
}

/**
 * The `admission.k8s.io/v1` AdmissionReview the API server sends a mutating webhook for a pod
 * CREATE: for callers of the webhook other than the API server (`meshbus check`, benchmarks, tests).
 */
export function podCreateReview(pod: Readonly<Record<string, unknown>>, options: PodCreateReviewOptions): Record<string, unknown> {
  const metadata = (pod.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const namespace = options.namespace ?? (typeof metadata.namespace === 'string' ? metadata.namespace : 'default');
  const dryRun = options.dryRun ?? false;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      ...(typeof metadata.name === 'string' ? { name: metadata.name } : {}),
      namespace,
      operation: 'CREATE',
      userInfo: options.userInfo ?? {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      },
      object: pod,
      oldObject: null,
      dryRun,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions', ...(dryRun ? { dryRun: ['All'] } : {}) },
    },
  };
}
