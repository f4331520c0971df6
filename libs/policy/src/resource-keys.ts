import type { LabelSelector, PolicyResource } from '@meshbus/manifests';
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
  /** Whether a service port has a ready endpoint (see `readinessKey`). */
  readiness: (key: string) => `ready|${key}`,
} as const;

/** The status key of a policy resource. */
export const policyStatusKey = (resource: PolicyResource): string => statusKey(resource.namespace, resource.kind, resource.name);

/** Whether `selector` selects an object with `labels` (an empty selector selects everything). */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const matchLabels = selector.matchLabels;
  for (const key in matchLabels) if (labels[key] !== matchLabels[key]) return false;
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
  // Own keys with a defined value, counted without building key lists (this runs on every computed value).
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let defined = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k) || x[k] === undefined) continue;
    defined++;
    if (!deepEqual(x[k], y[k])) return false;
  }
  for (const k in y) if (Object.hasOwn(y, k) && y[k] !== undefined) defined--;
  return defined === 0;
}
