import { parseStateSubject, subjects, type InboundPolicy, type OutboundPolicy, type PolicyDefaults, type PolicyStatus } from '@meshbus/bus-schemas';
import type { PolicyChanges, PolicyResult } from '@meshbus/policy';

/** The kinds of state the policy service keeps on the bus, by state subject kind. */
export const policyStateKinds = {
  'inbound-policy': { snapshot: 'inboundPolicy', deleted: 'inboundPolicyDeleted', reason: 'workload removed' },
  'outbound-policy': { snapshot: 'outboundPolicy', deleted: 'outboundPolicyDeleted', reason: 'service port removed' },
  'policy-defaults': { snapshot: 'policyDefaults', deleted: undefined, reason: '' },
  'policy-status': { snapshot: 'policyStatus', deleted: 'policyStatusDeleted', reason: 'resource removed' },
} as const;

/** A state subject kind the policy service writes. */
export type PolicyStateKind = keyof typeof policyStateKinds;

/** A value the policy service keeps on the bus. */
export type PolicyStateData = InboundPolicy | OutboundPolicy | PolicyDefaults | PolicyStatus;

/** Keyed policy state that can be looked up by subject. */
export interface PolicyStateLookup {
  get(subject: string): PolicyStateData | undefined;
}

/** Whether a subject is one the policy service writes, and which kind. */
export function policyStateKind(subject: string): PolicyStateKind | undefined {
  const kind = parseStateSubject(subject)?.kind;
  return kind !== undefined && kind in policyStateKinds ? (kind as PolicyStateKind) : undefined;
}

const split = (key: string) => key.split('/');

/** The subject of an inbound policy key `<namespace>/<workload>`. */
export const inboundSubject = (key: string) => subjects.inboundPolicy(...(split(key) as [string, string]));
/** The subject of an outbound policy key `<namespace>/<service>/<port>`. */
export const outboundSubject = (key: string) => {
  const [namespace = '', service = '', port = ''] = split(key);
  return subjects.outboundPolicy(namespace, service, Number(port));
};
/** The subject of a status key `<namespace>/<kind>/<name>`. */
export const statusSubject = (key: string) => subjects.policyStatus(...(split(key) as [string, string, string]));

/**
 * The desired state as subjects, read straight from the computation's
 * result: what should be on the bus under each subject the policy service writes.
 */
export function desiredPolicyState(result: () => PolicyResult): PolicyStateLookup & { subjects(): Iterable<string> } {
  return {
    get(subject) {
      const parsed = parseStateSubject(subject);
      if (!parsed) return undefined;
      const key = parsed.key.join('/');
      const r = result();
      switch (parsed.kind) {
        case 'inbound-policy':
          return r.inbound.get(key);
        case 'outbound-policy':
          return r.outbound.get(key);
        case 'policy-status':
          return r.statuses.get(key);
        case 'policy-defaults':
          return subject === subjects.policyDefaults ? r.defaults : undefined;
        default:
          return undefined;
      }
    },
    *subjects() {
      const r = result();
      yield subjects.policyDefaults;
      for (const key of r.inbound.keys()) yield inboundSubject(key);
      for (const key of r.outbound.keys()) yield outboundSubject(key);
      for (const key of r.statuses.keys()) yield statusSubject(key);
    },
  };
}

/** The subjects one update of the computation added, changed or removed. */
export function changedSubjects(changes: PolicyChanges): string[] {
  const out: string[] = [];
  if (changes.defaults) out.push(subjects.policyDefaults);
  for (const key of changes.inbound) out.push(inboundSubject(key));
  for (const key of changes.outbound) out.push(outboundSubject(key));
  for (const key of changes.statuses) out.push(statusSubject(key));
  return out;
}
