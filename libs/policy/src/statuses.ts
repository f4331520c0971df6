import type { PolicyCondition, PolicyRejected, PolicyStatus } from '@meshbus/bus-schemas';
import type { PolicyResource } from '@meshbus/manifests';
import { rejectedCode, type ResourceCheck } from './checks.js';

const listedConflicts = 10;

function summarize(items: readonly string[]): string {
  const shown = items.slice(0, listedConflicts).join('; ');
  return items.length > listedConflicts ? `${shown}; and ${items.length - listedConflicts} more` : shown;
}

const condition = (type: PolicyCondition['type'], status: boolean, reason: string, message: string): PolicyCondition => ({
  type,
  status: status ? 'True' : 'False',
  reason,
  message,
});

/**
 * The status of one policy resource, from its check and from what the
 * computed policies say about it (`affects` ports; `conflicts`, the places
 * it lost to another resource), and its entry in the rejected list when any
 * part of it is left out.
 */
export function resourceStatus(
  resource: PolicyResource,
  check: ResourceCheck,
  affects: number,
  conflicts: readonly string[],
): { status: PolicyStatus; rejected?: PolicyRejected } {
  const isRoute = resource.kind === 'HTTPRoute' || resource.kind === 'GRPCRoute';
  const problem = check.problems[0];
  const conditions: PolicyCondition[] = [];
  if (check.valid) {
    const partial = check.partial.map((p) => p.message);
    const scope = affects === 1 ? '1 port' : `${affects} ports`;
    conditions.push(condition('Accepted', true, 'Accepted', partial.length > 0 ? `shapes ${scope}; left out: ${summarize(partial)}` : `shapes ${scope}`));
  } else {
    conditions.push(condition('Accepted', false, problem?.code ?? 'InvalidResource', summarize(check.problems.map((p) => p.message))));
  }
  if (isRoute) {
    const unresolved = check.unresolvedRefs;
    conditions.push(
      unresolved.length > 0
        ? condition('ResolvedRefs', false, 'BackendNotFound', `${summarize(unresolved)}; requests sent there fail`)
        : condition('ResolvedRefs', true, 'ResolvedRefs', 'every reference resolves'),
    );
  } else if (resource.kind === 'AuthorizationPolicy' || resource.kind === 'HTTPLocalRateLimitPolicy') {
    const unknown = check.problems.find((p) => p.code === 'UnknownReference');
    conditions.push(unknown ? condition('ResolvedRefs', false, 'UnknownReference', unknown.message) : condition('ResolvedRefs', true, 'ResolvedRefs', 'every reference resolves'));
  }
  if (resource.kind === 'Server' || resource.kind === 'HTTPLocalRateLimitPolicy') {
    const lost = [...conflicts, ...check.problems.filter((p) => p.code === 'Conflict').map((p) => p.message)];
    conditions.push(lost.length > 0 ? condition('Conflicted', true, 'Conflicted', summarize(lost)) : condition('Conflicted', false, 'NoConflicts', 'no other resource claims the same ports'));
  }

  const status: PolicyStatus = {
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    namespace: resource.namespace,
    name: resource.name,
    file: resource.file,
    accepted: check.valid,
    conditions,
    affects: check.valid ? affects : 0,
  };
  const where = { file: resource.file, kind: resource.kind, namespace: resource.namespace, name: resource.name };
  if (!check.valid) {
    return { status, rejected: { ...where, code: rejectedCode(problem?.code ?? 'InvalidResource'), reason: `${summarize(check.problems.map((p) => p.message))}; it takes no part in any policy` } };
  }
  if (conflicts.length > 0) {
    return { status, rejected: { ...where, code: 'Conflict', reason: `${summarize(conflicts)}; it is left out on those ports and applies on the others` } };
  }
  if (check.partial.length > 0) {
    const first = check.partial[0];
    return { status, rejected: { ...where, code: rejectedCode(first?.code ?? 'UnresolvedParent'), reason: `${summarize(check.partial.map((p) => p.message))}; it applies to its other parents and ports` } };
  }
  return { status };
}

/** Orders rejected resources by namespace, kind, name, then reason. */
export function compareRejected(a: PolicyRejected, b: PolicyRejected): number {
  for (const k of ['namespace', 'kind', 'name', 'reason', 'file'] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}
