import type { InboundPolicy, OutboundPolicy, PolicyDefaults, PolicyRejected, PolicyStatus } from '@meshbus/bus-schemas';
import type {
  AuthorizationPolicy,
  GrpcRoute,
  HttpFaultInjection,
  HttpLocalRateLimitPolicy,
  HttpRoute,
  MeshTLSAuthentication,
  Namespace,
  NetworkAuthentication,
  PolicyResource,
  Server,
  Service,
  Workload,
} from '@meshbus/manifests';
import { inboundKey, outboundKey, type PolicyChanges, type PolicyComputation, type PolicyInputs, type PolicyResult } from './api.js';
import { checkResource, type ResourceCheck } from './checks.js';
import { inboundPolicy } from './inbound.js';
import { CollectionState } from './collection-diff.js';
import { Lookup, parentKeysOf, rateLimitKeyOf, Reader, resourceKeyOf, targetKeyOf, type LookupResource } from './lookup.js';
import { outboundPolicies } from './outbound.js';
import { compareStrings, deepEqual, policyStatusKey, readKey, selectorMatches, serverSelector } from './resource-keys.js';
import type { PolicySettings } from './settings.js';
import { SortedMap } from './sorted-map.js';
import { compareRejected, resourceStatus } from './statuses.js';
import type { Contribution, UnitContext } from './unit-context.js';

/** A computed value: what it read, and what it says about resources. */
interface Unit {
  reads: Set<string>;
  contributions: Map<string, Contribution>;
  /** Output keys (inbound or outbound keys) it produced. */
  outputs: string[];
}

/** The input collections the computation reads, and what their items are. */
interface Collections {
  namespaces: Namespace;
  services: Service;
  workloads: Workload;
  registered: Workload;
  servers: Server;
  authorizationPolicies: AuthorizationPolicy;
  meshTLSAuthentications: MeshTLSAuthentication;
  networkAuthentications: NetworkAuthentication;
  httpRoutes: HttpRoute;
  grpcRoutes: GrpcRoute;
  rateLimitPolicies: HttpLocalRateLimitPolicy;
  faultInjections: HttpFaultInjection;
}
type CollectionName = keyof Collections;
type CollectionStates = { [C in CollectionName]: CollectionState<Collections[C]> };

const policyCollections = [
  'servers',
  'authorizationPolicies',
  'meshTLSAuthentications',
  'networkAuthentications',
  'httpRoutes',
  'grpcRoutes',
  'rateLimitPolicies',
  'faultInjections',
] as const satisfies readonly CollectionName[];

const namedKey = (r: { readonly namespace: string; readonly name: string }) => `${r.namespace}/${r.name}`;

function collectionStates(): CollectionStates {
  return {
    namespaces: new CollectionState<Namespace>((n) => n.name),
    services: new CollectionState<Service>(namedKey),
    workloads: new CollectionState<Workload>(namedKey),
    // Of two registrations of one workload, the first counts.
    registered: new CollectionState<Workload>(namedKey, true),
    servers: new CollectionState<Server>(policyStatusKey),
    authorizationPolicies: new CollectionState<AuthorizationPolicy>(policyStatusKey),
    meshTLSAuthentications: new CollectionState<MeshTLSAuthentication>(policyStatusKey),
    networkAuthentications: new CollectionState<NetworkAuthentication>(policyStatusKey),
    httpRoutes: new CollectionState<HttpRoute>(policyStatusKey),
    grpcRoutes: new CollectionState<GrpcRoute>(policyStatusKey),
    rateLimitPolicies: new CollectionState<HttpLocalRateLimitPolicy>(policyStatusKey),
    faultInjections: new CollectionState<HttpFaultInjection>(policyStatusKey),
  };
}

/** One resource of the lookup that is another object than before (undefined: absent). */
interface ResourceChange {
  readonly before: LookupResource | undefined;
  readonly after: LookupResource | undefined;
}

type OutputChanges = { defaults: boolean; inbound: Set<string>; outbound: Set<string>; statuses: Set<string> };

/**
 * The policy index. Each update compares each input collection with the
 * last one (the same array is unchanged; otherwise only the items that are
 * other objects are compared, by value), updates its lookup tables with
 * the resources that changed, turns them into the keys they invalidate, and
 * computes again only the values that read one of them: a workload's
 * inbound policy, a service's outbound policies, a resource's check and
 * status. The cost of an update follows what changed, not the size of the
 * inputs. The rules it computes are written down in libs/policy/README.md.
 */
class PolicyIndex implements PolicyComputation {
  readonly #lookup = new Lookup();
  readonly #collections = collectionStates();
  /** Every policy resource by status key. */
  readonly #resources = new Map<string, PolicyResource>();
  readonly #units = new Map<string, Unit>();
  /** Read key → units that read it. */
  readonly #readers = new Map<string, Set<string>>();
  readonly #checks = new Map<string, { check: ResourceCheck; reads: Set<string> }>();
  /** Status key → unit → what that unit says about the resource. */
  readonly #contributions = new Map<string, Map<string, Contribution>>();

  readonly #inbound = new SortedMap<InboundPolicy>();
  readonly #outbound = new SortedMap<OutboundPolicy>();
  readonly #statuses = new SortedMap<PolicyStatus>();
  readonly #statusRejected = new Map<string, PolicyRejected>();
  #defaults: PolicyDefaults;
  #rejected: readonly PolicyRejected[] | undefined = [];

  constructor(private readonly settings: PolicySettings) {
    this.#defaults = this.#computeDefaults([]);
  }

  get result(): PolicyResult {
    this.#rejected ??= [...this.#statusRejected.values()].sort(compareRejected);
    return { defaults: this.#defaults, inbound: this.#inbound, outbound: this.#outbound, statuses: this.#statuses, rejected: this.#rejected };
  }

  update(inputs: PolicyInputs): PolicyChanges {
    const changes: OutputChanges = { defaults: false, inbound: new Set(), outbound: new Set(), statuses: new Set() };
    const r = inputs.resources;
    const states = this.#collections;
    const resourceChanges: ResourceChange[] = [];
    const push = (before: LookupResource | undefined, after: LookupResource | undefined) => {
      if (before !== after) resourceChanges.push({ before, after });
    };

    const namespaceChanges = states.namespaces.update(r.namespaces);
    for (const c of namespaceChanges) push(c.before, c.after);
    for (const c of states.services.update(r.services)) push(c.before, c.after);
    // A manifest Workload wins over a registered one of the same namespace and name.
    const workloadKeys = new Set<string>();
    for (const c of states.workloads.update(r.workloads)) workloadKeys.add(c.key);
    for (const c of states.registered.update(inputs.registered)) workloadKeys.add(c.key);
    for (const key of workloadKeys) push(this.#lookup.workloads.get(key), states.workloads.get(key) ?? states.registered.get(key));
    for (const name of policyCollections) {
      for (const c of (states[name] as CollectionState<PolicyResource>).update(r[name])) push(c.before, c.after);
    }

    // The lookup takes in every change first: what a change invalidates is worked out on the new state.
    const invalidated = new Set<string>();
    this.#updateReadiness(inputs.readiness, invalidated);
    const changedServers: Server[] = [];
    const statusDirty = new Set<string>();
    const added: string[] = [];
    for (const { before, after } of resourceChanges) {
      this.#lookup.replace(before, after);
      const resource = (after ?? before)!;
      if (resource.kind !== 'Namespace' && resource.kind !== 'Service' && resource.kind !== 'Workload') {
        const key = policyStatusKey(resource);
        if (after) this.#resources.set(key, after as PolicyResource);
        else this.#resources.delete(key);
        if (!before || !after) statusDirty.add(key);
      }
      if (resource.kind === 'Workload' || resource.kind === 'Service') {
        const unitKey = `${resource.kind === 'Workload' ? 'in' : 'out'}|${namedKey(resource)}`;
        if (!after) this.#replaceUnit(unitKey, undefined, statusDirty, changes);
        else if (!before) added.push(unitKey);
      }
      if (before && after && deepEqual(before, after)) continue;
      if (resource.kind !== 'Namespace' && resource.kind !== 'Service' && resource.kind !== 'Workload') statusDirty.add(policyStatusKey(resource));
      invalidated.add(resourceKeyOf(resource));
      for (const version of [before, after]) {
        switch (version?.kind) {
          case 'AuthorizationPolicy':
            invalidated.add(targetKeyOf(version));
            break;
          case 'HTTPRoute':
          case 'GRPCRoute':
            for (const key of parentKeysOf(version)) invalidated.add(key);
            break;
          case 'HTTPLocalRateLimitPolicy':
            invalidated.add(rateLimitKeyOf(version));
            break;
          case 'Server':
            changedServers.push(version);
            break;
          default:
            break;
        }
      }
    }
    for (const server of changedServers) {
      const selector = serverSelector(server);
      if (!selector) continue;
      for (const workload of this.#lookup.workloadsByNamespace.get(server.namespace)?.values() ?? []) {
        if (selectorMatches(selector, workload.labels)) invalidated.add(readKey.serversSelecting(workload.namespace, workload.name));
      }
    }

    const dirty = new Set<string>(added);
    for (const key of invalidated) for (const unit of this.#readers.get(key) ?? []) dirty.add(unit);
    // Checks are computed again on demand; their statuses with them.
    for (const unitKey of dirty) {
      if (!unitKey.startsWith('chk|')) continue;
      const statusKey = unitKey.slice(4);
      for (const key of this.#checks.get(statusKey)?.reads ?? []) this.#dropRead(unitKey, key);
      this.#checks.delete(statusKey);
      statusDirty.add(statusKey);
    }
    for (const unitKey of dirty) if (!unitKey.startsWith('chk|')) this.#recompute(unitKey, statusDirty, changes);

    // Statuses of resources that came or went, whose check changed, or that something now says otherwise about.
    for (const key of statusDirty) this.#updateStatus(key, changes);

    if (namespaceChanges.length > 0) {
      const defaults = this.#computeDefaults(r.namespaces);
      if (!deepEqual(defaults, this.#defaults)) {
        this.#defaults = defaults;
        changes.defaults = true;
      }
    }
    return changes;
  }

  /** Takes in the new readiness, invalidating the ports whose readiness changed. */
  #updateReadiness(next: ReadonlyMap<string, boolean> | undefined, invalidated: Set<string>): void {
    const before = this.#lookup.readiness;
    if (before === next) return;
    this.#lookup.readiness = next;
    if (before === undefined || next === undefined) {
      for (const key of this.#readers.keys()) if (key.startsWith('ready|')) invalidated.add(key);
      return;
    }
    const isReady = (m: ReadonlyMap<string, boolean>, key: string) => m.get(key) === true;
    for (const key of before.keys()) if (isReady(before, key) !== isReady(next, key)) invalidated.add(readKey.readiness(key));
    for (const key of next.keys()) if (isReady(before, key) !== isReady(next, key)) invalidated.add(readKey.readiness(key));
  }

  #updateStatus(key: string, changes: OutputChanges): void {
    const resource = this.#resources.get(key);
    if (!resource) {
      if (this.#statuses.delete(key)) changes.statuses.add(key);
      if (this.#statusRejected.delete(key)) this.#rejected = undefined;
      return;
    }
    const check = this.#checkOf(resource);
    let affects = 0;
    const conflicts: string[] = [];
    for (const c of this.#contributions.get(key)?.values() ?? []) {
      affects += c.ports.size;
      conflicts.push(...c.conflicts);
    }
    conflicts.sort(compareStrings);
    const { status, rejected } = resourceStatus(resource, check.check, affects, conflicts);
    if (!deepEqual(this.#statuses.get(key), status)) {
      this.#statuses.set(key, status);
      changes.statuses.add(key);
    }
    const before = this.#statusRejected.get(key);
    if (rejected) {
      if (!deepEqual(before, rejected)) {
        this.#statusRejected.set(key, rejected);
        this.#rejected = undefined;
      }
    } else if (before) {
      this.#statusRejected.delete(key);
      this.#rejected = undefined;
    }
  }

  #dropRead(unitKey: string, key: string): void {
    const set = this.#readers.get(key);
    set?.delete(unitKey);
    if (set?.size === 0) this.#readers.delete(key);
  }

  #addRead(unitKey: string, key: string): void {
    let set = this.#readers.get(key);
    if (!set) this.#readers.set(key, (set = new Set()));
    set.add(unitKey);
  }

  #checkOf(resource: PolicyResource): { check: ResourceCheck; reads: Set<string> } {
    const key = policyStatusKey(resource);
    let entry = this.#checks.get(key);
    if (!entry) {
      const reads = new Set([readKey.resource(resource.kind, resource.namespace, resource.name)]);
      entry = { check: checkResource(resource, new Reader(this.#lookup, reads), this.settings), reads };
      this.#checks.set(key, entry);
      for (const read of reads) this.#addRead(`chk|${key}`, read);
    }
    return entry;
  }

  #recompute(unitKey: string, statusDirty: Set<string>, changes: { inbound: Set<string>; outbound: Set<string> }): void {
    const reads = new Set<string>();
    const unit: Unit = { reads, contributions: new Map(), outputs: [] };
    const contribution = (key: string) => {
      let c = unit.contributions.get(key);
      if (!c) unit.contributions.set(key, (c = { ports: new Set(), conflicts: [] }));
      return c;
    };
    const ctx: UnitContext = {
      reader: new Reader(this.#lookup, reads),
      settings: this.settings,
      check: (resource) => {
        const entry = this.#checkOf(resource);
        for (const key of entry.reads) reads.add(key);
        return entry.check;
      },
      affect: (key, port) => contribution(key).ports.add(port),
      conflict: (key, message) => contribution(key).conflicts.push(message),
    };
    const id = unitKey.slice(unitKey.indexOf('|') + 1);
    const slash = id.indexOf('/');
    const namespace = id.slice(0, slash);
    const name = id.slice(slash + 1);
    if (unitKey.startsWith('in|')) {
      const workload = this.#lookup.workloads.get(id);
      if (!workload) throw new Error(`no workload ${id}`);
      const policy = inboundPolicy(workload, ctx);
      unit.outputs.push(inboundKey(namespace, name));
      this.#replaceUnit(unitKey, unit, statusDirty, changes, [policy]);
    } else {
      const service = this.#lookup.services.get(id);
      if (!service) throw new Error(`no service ${id}`);
      const policies = outboundPolicies(service, ctx);
      for (const p of policies) unit.outputs.push(outboundKey(namespace, name, p.port));
      this.#replaceUnit(unitKey, unit, statusDirty, changes, policies);
    }
  }

  /** Puts a unit's new value in place of its old one (none: the unit is gone). */
  #replaceUnit(
    unitKey: string,
    unit: Unit | undefined,
    statusDirty: Set<string>,
    changes: { inbound: Set<string>; outbound: Set<string> },
    values: readonly (InboundPolicy | OutboundPolicy)[] = [],
  ): void {
    const old = this.#units.get(unitKey);
    const inbound = unitKey.startsWith('in|');
    const target = inbound ? this.#inbound : this.#outbound;
    const changed = inbound ? changes.inbound : changes.outbound;
    // Only the reads that differ move (a unit mostly reads again what it read before).
    if (old) for (const key of old.reads) if (!unit?.reads.has(key)) this.#dropRead(unitKey, key);
    if (unit) for (const key of unit.reads) if (!old?.reads.has(key)) this.#addRead(unitKey, key);
    for (const key of old?.outputs ?? []) {
      if (!unit?.outputs.includes(key) && target.delete(key)) changed.add(key);
    }
    (unit?.outputs ?? []).forEach((key, i) => {
      const value = values[i];
      if (!deepEqual(target.get(key), value)) {
        target.set(key, value as InboundPolicy & OutboundPolicy);
        changed.add(key);
      }
    });
    const statusKeys = new Set([...(old?.contributions.keys() ?? []), ...(unit?.contributions.keys() ?? [])]);
    for (const key of statusKeys) {
      const before = old?.contributions.get(key);
      const after = unit?.contributions.get(key);
      if (before && after && before.ports.size === after.ports.size && deepEqual(before.conflicts, after.conflicts)) continue;
      statusDirty.add(key);
      let byUnit = this.#contributions.get(key);
      if (after) {
        if (!byUnit) this.#contributions.set(key, (byUnit = new Map()));
        byUnit.set(unitKey, after);
      } else if (byUnit) {
        byUnit.delete(unitKey);
        if (byUnit.size === 0) this.#contributions.delete(key);
      }
    }
    if (unit) {
      // Unchanged contributions keep their old object; point them at the new one all the same.
      for (const [key, c] of unit.contributions) this.#contributions.get(key)?.set(unitKey, c);
      this.#units.set(unitKey, unit);
    } else this.#units.delete(unitKey);
  }

  #computeDefaults(all: readonly Namespace[]): PolicyDefaults {
    const namespaces: PolicyDefaults['namespaces'] = [];
    for (const ns of all) {
      if (ns.defaultInboundPolicy) namespaces.push({ namespace: ns.name, defaultPolicy: ns.defaultInboundPolicy });
    }
    namespaces.sort((a, b) => compareStrings(a.namespace, b.namespace));
    const s = this.settings;
    return {
      defaultPolicy: s.defaultPolicy,
      clusterNetworks: [...s.clusterNetworks],
      probeNetworks: [...s.probeNetworks],
      detectTimeoutMs: s.detectTimeoutMs,
      identityDomain: s.identityDomain,
      namespaces,
    };
  }
}

/** The incremental policy index: feed it every new state of the inputs with `update`. */
export function createPolicyIndex(settings: PolicySettings): PolicyComputation {
  return new PolicyIndex(settings);
}

/** Computes every policy, status and rejection from scratch. */
export function computePolicies(settings: PolicySettings, inputs: PolicyInputs): PolicyResult {
  const index = createPolicyIndex(settings);
  index.update(inputs);
  return index.result;
}

