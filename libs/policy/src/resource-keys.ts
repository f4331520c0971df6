import type { LabelSelector, MeshResources, PolicyResource, Workload } from '@meshbus/manifests';
import { statusKey } from './api.js';

/**
 * Names of what a computation reads. A derived value (a workload's inbound
 * policy, a service's outbound policy, the check of one resource) records
 * the keys it read; a change to the inputs invalidates keys, and only the
 * values that read one of them are computed again.
 */
export const readKey = {
  /** One resource by kind, namespace and name. */
  resource: (kind: string, namespace: string, name: string) => `r|${kind}|${namespace}|${name}`,
  /** The AuthorizationPolicies whose targetRef names this resource. */
  authorizationsOf: (kind: string, namespace: string, name: string) => `authz|${kind}|${namespace}|${name}`,
  /** The routes with a parentRef to this Server or Service. */
  routesOf: (kind: 'Server' | 'Service', namespace: string, name: string) => `routes|${kind}|${namespace}|${name}`,
  /** The HTTPLocalRateLimitPolicies targeting this Server. */
  rateLimitsOf: (namespace: string, server: string) => `ratelimit|${namespace}|${server}`,
  /** Which Servers select this workload. */
  serversSelecting: (namespace: string, workload: string) => `selects|${namespace}|${workload}`,
} as const;

/** The status key of a policy resource. */
export const policyStatusKey = (resource: PolicyResource): string => statusKey(resource.namespace, resource.kind, resource.name);

/** Whether `selector` selects an object with `labels` (an empty selector selects everything). */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const expression of selector.matchExpressions) {
    const value = labels[expression.key];
    switch (expression.operator) {
      case 'In':
        if (value === undefined || !expression.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && expression.values.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
    }
  }
  return true;
}

/** The selector of a Server (exactly one of the two is set; none selects nothing). */
export function serverSelector(server: { readonly podSelector?: LabelSelector; readonly workloadSelector?: LabelSelector }): LabelSelector | undefined {
  return server.podSelector ?? server.workloadSelector;
}

/** Workloads from manifests and from the bus; a manifest Workload wins over a registered one of the same name. */
export function mergeWorkloads(declared: readonly Workload[], registered: readonly Workload[]): Map<string, Workload> {
  const byKey = new Map<string, Workload>();
  for (const workload of declared) byKey.set(`${workload.namespace}/${workload.name}`, workload);
  for (const workload of registered) {
    const key = `${workload.namespace}/${workload.name}`;
    if (!byKey.has(key)) byKey.set(key, workload);
  }
  return byKey;
}

/** Every policy resource of `resources`. */
export function policyResources(resources: MeshResources): PolicyResource[] {
  return [
    ...resources.servers,
    ...resources.authorizationPolicies,
    ...resources.meshTLSAuthentications,
    ...resources.networkAuthentications,
    ...resources.httpRoutes,
    ...resources.grpcRoutes,
    ...resources.rateLimitPolicies,
    ...resources.faultInjections,
  ];
}

/** Orders strings by code unit, as keys are ordered everywhere in the output. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Structural equality of JSON-like values (key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bk = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}
