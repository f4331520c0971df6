import { defaultInboundPolicyAnnotation, linkerdDefaultInboundPolicyAnnotation, type DefaultInboundPolicy, type StringMap } from '@meshbus/manifests';

const policies: readonly DefaultInboundPolicy[] = ['all-unauthenticated', 'all-authenticated', 'cluster-unauthenticated', 'cluster-authenticated', 'deny', 'audit'];

/**
 * The default inbound policy an object's annotations ask for: the meshbus
 * annotation, else the Linkerd one. `error` says what is wrong with a value
 * that is not a policy (it is then ignored).
 */
export function annotatedDefaultPolicy(annotations: StringMap): { policy?: DefaultInboundPolicy; error?: string } {
  for (const name of [defaultInboundPolicyAnnotation, linkerdDefaultInboundPolicyAnnotation]) {
    const value = annotations[name];
    if (value === undefined) continue;
    if ((policies as readonly string[]).includes(value)) return { policy: value as DefaultInboundPolicy };
    return { error: `annotation ${name} is ${JSON.stringify(value)}, not one of ${policies.join(', ')}; it is ignored` };
  }
  return {};
}
