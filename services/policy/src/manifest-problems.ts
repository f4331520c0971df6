import type { PolicyRejected, PolicyStatus } from '@meshbus/bus-schemas';
import type { ManifestProblem } from '@meshbus/manifests';
import { statusKey, type PolicyChanges, type PolicyComputation, type PolicyInputs, type PolicyResult } from '@meshbus/policy';

/** Kinds whose manifest problems the policy service reports as statuses and rejections. */
const policyKinds: ReadonlySet<string> = new Set([
  'Server',
  'AuthorizationPolicy',
  'MeshTLSAuthentication',
  'NetworkAuthentication',
  'HTTPRoute',
  'GRPCRoute',
  'HTTPLocalRateLimitPolicy',
  'HTTPFaultInjection',
]);

/** Names a status subject can carry (the bus schema's bounds). */
const namespacePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const namePattern = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

/** The inputs of the policy service: the computation's, and the manifest problems the source reported. */
export interface PolicyServiceInputs extends PolicyInputs {
  readonly problems?: readonly ManifestProblem[];
}

/**
 * The status key of a problem about a policy or route resource that names
 * it well enough to be published; undefined for problems about files, other
 * kinds, or a resource whose name cannot be a subject token.
 */
function problemKey(p: ManifestProblem): string | undefined {
  if (p.kind === undefined || !policyKinds.has(p.kind) || p.namespace === undefined || p.name === undefined) return undefined;
  if (p.namespace.length > 63 || !namespacePattern.test(p.namespace) || p.name.length > 253 || !namePattern.test(p.name)) return undefined;
  return statusKey(p.namespace, p.kind, p.name);
}

/** The first problem of each resource, by status key. */
function problemsByKey(problems: readonly ManifestProblem[]): Map<string, ManifestProblem> {
  const out = new Map<string, ManifestProblem>();
  for (const p of problems) {
    const key = problemKey(p);
    if (key !== undefined && !out.has(key)) out.set(key, p);
  }
  return out;
}

const sameProblem = (a: ManifestProblem | undefined, b: ManifestProblem | undefined) => a?.file === b?.file && a?.reason === b?.reason;

/**
 * A policy or route resource the manifests refused (a bad CIDR, a bad
 * match): its status says so, whether or not an earlier valid version of it
 * is still in force, and it is announced like any rejected resource.
 */
function refusedStatus(p: ManifestProblem, inForce: PolicyStatus | undefined): PolicyStatus {
  return {
    kind: p.kind!,
    namespace: p.namespace!,
    name: p.name!,
    file: p.file,
    accepted: false,
    conditions: [{ type: 'Accepted', status: 'False', reason: 'InvalidResource', message: p.reason.slice(0, 65536) }],
    ...(inForce?.apiVersion !== undefined ? { apiVersion: inForce.apiVersion } : {}),
    affects: inForce?.affects ?? 0,
  };
}

function refusedRejection(p: ManifestProblem): PolicyRejected {
  return { file: p.file, kind: p.kind!, namespace: p.namespace!, name: p.name!, reason: p.reason.slice(0, 65536), code: 'InvalidResource' };
}

const compareRejected = (a: PolicyRejected, b: PolicyRejected) =>
  a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name) || a.reason.localeCompare(b.reason);

/**
 * The computation of the policy service: the policy index, with the policy
 * resources the manifests refused added to its statuses and rejections, so
 * that `meshbus policy check`, the status state and `policy.rejected` show
 * every refused policy resource, not only those the index itself rejects.
 */
export class ProblemAwareComputation implements PolicyComputation {
  #problems = new Map<string, ManifestProblem>();
  #result: PolicyResult | undefined;

  constructor(private readonly inner: PolicyComputation) {}

  update(inputs: PolicyServiceInputs): PolicyChanges {
    const changes = this.inner.update({ resources: inputs.resources, registered: inputs.registered, ...(inputs.readiness ? { readiness: inputs.readiness } : {}) });
    const next = problemsByKey(inputs.problems ?? []);
    let statuses: Set<string> | undefined;
    for (const key of new Set([...this.#problems.keys(), ...next.keys()])) {
      if (sameProblem(this.#problems.get(key), next.get(key))) continue;
      statuses ??= new Set(changes.statuses);
      statuses.add(key);
    }
    this.#problems = next;
    this.#result = undefined;
    return statuses ? { ...changes, statuses } : changes;
  }

  get result(): PolicyResult {
    const inner = this.inner.result;
    if (this.#problems.size === 0) return inner;
    if (this.#result) return this.#result;
    const statuses = new Map(inner.statuses);
    const rejected = inner.rejected.filter((r) => !this.#problems.has(statusKey(r.namespace, r.kind, r.name)));
    for (const [key, p] of this.#problems) {
      statuses.set(key, refusedStatus(p, inner.statuses.get(key)));
      rejected.push(refusedRejection(p));
    }
    rejected.sort(compareRejected);
    this.#result = { ...inner, statuses: new Map([...statuses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), rejected };
    return this.#result;
  }
}
