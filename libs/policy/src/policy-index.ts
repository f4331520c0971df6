import type { InboundPolicy, OutboundPolicy, PolicyDefaults, PolicyRejected, PolicyStatus } from '@meshbus/bus-schemas';
import type { PolicyResource } from '@meshbus/manifests';
import { inboundKey, outboundKey, type PolicyChanges, type PolicyComputation, type PolicyInputs, type PolicyResult } from './api.js';
import { checkResource, type ResourceCheck } from './checks.js';
import { inboundPolicy } from './inbound.js';
import { Lookup, parentKeysOf, rateLimitKeyOf, Reader, targetKeyOf } from './lookup.js';
import { outboundPolicies } from './outbound.js';
import { compareStrings, deepEqual, policyResources, policyStatusKey, readKey, selectorMatches, serverSelector } from './resource-keys.js';
import type { PolicySettings } from './settings.js';
import { compareRejected, resourceStatus } from './statuses.js';
import type { Contribution, UnitContext } from './unit-context.js';

/** A computed value: what it read, and what it says about resources. */
interface Unit {
  reads: Set<string>;
  contributions: Map<string, Contribution>;
  /** Output keys (inbound or outbound keys) it produced. */
  outputs: string[];
}

const emptyInputs: PolicyInputs = {
  resources: {
    namespaces: [],
    services: [],
    serviceAccounts: [],
    workloads: [],
    serviceProfiles: [],
    others: [],
    servers: [],
    authorizationPolicies: [],
    meshTLSAuthentications: [],
    networkAuthentications: [],
    httpRoutes: [],
    grpcRoutes: [],
    rateLimitPolicies: [],
    faultInjections: [],
  },
  registered: [],
};

function sortedMap<T>(map: ReadonlyMap<string, T>): Map<string, T> {
  return new Map([...map].sort(([a], [b]) => compareStrings(a, b)));
}

/**
 * The policy index. Each update compares the inputs with the last ones
 * (reference equality first, then value), turns what changed into the keys
 * it invalidates, and computes again only the values that read one of them:
 * a workload's inbound policy, a service's outbound policies, a resource's
 * check and status. The rules it computes are written down in libs/policy/README.md.
 */
class PolicyIndex implements PolicyComputation {
  #lookup = new Lookup(emptyInputs);
  readonly #units = new Map<string, Unit>();
  /** Read key → units that read it. */
  readonly #readers = new Map<string, Set<string>>();
  readonly #checks = new Map<string, { check: ResourceCheck; reads: Set<string> }>();
  /** Status key → unit → what that unit says about the resource. */
  readonly #contributions = new Map<string, Map<string, Contribution>>();

  readonly #inbound = new Map<string, InboundPolicy>();
  readonly #outbound = new Map<string, OutboundPolicy>();
  readonly #statuses = new Map<string, PolicyStatus>();
  readonly #statusRejected = new Map<string, PolicyRejected>();
  #defaults: PolicyDefaults;
  #result: PolicyResult | undefined;

  constructor(private readonly settings: PolicySettings) {
    this.#defaults = this.#computeDefaults(emptyInputs);
  }

  get result(): PolicyResult {
    this.#result ??= {
      defaults: this.#defaults,
      inbound: sortedMap(this.#inbound),
      outbound: sortedMap(this.#outbound),
      statuses: sortedMap(this.#statuses),
      rejected: this.#rejected(),
    };
    return this.#result;
  }

  update(inputs: PolicyInputs): PolicyChanges {
    const previous = this.#lookup;
    const lookup = new Lookup(inputs);
    this.#lookup = lookup;
    const changes = { defaults: false, inbound: new Set<string>(), outbound: new Set<string>(), statuses: new Set<string>() };

    const invalidated = this.#invalidatedKeys(previous, lookup);
    const dirty = new Set<string>();
    for (const key of invalidated) for (const unit of this.#readers.get(key) ?? []) dirty.add(unit);

    const statusDirty = new Set<string>();
    // Checks are computed again on demand; their statuses with them.
    for (const unitKey of dirty) {
      if (!unitKey.startsWith('chk|')) continue;
      const statusKey = unitKey.slice(4);
      this.#dropReads(unitKey, this.#checks.get(statusKey)?.reads);
      this.#checks.delete(statusKey);
      statusDirty.add(statusKey);
    }

    // Units that appeared or went away.
    const wanted = new Set<string>();
    for (const w of lookup.workloads.values()) wanted.add(`in|${inboundKey(w.namespace, w.name)}`);
    for (const s of inputs.resources.services) wanted.add(`out|${s.namespace}/${s.name}`);
    for (const unitKey of wanted) if (!this.#units.has(unitKey)) dirty.add(unitKey);
    for (const unitKey of [...this.#units.keys()]) {
      if (wanted.has(unitKey)) continue;
      this.#replaceUnit(unitKey, undefined, statusDirty, changes);
    }

    for (const unitKey of dirty) {
      if (unitKey.startsWith('chk|') || !wanted.has(unitKey)) continue;
      this.#recompute(unitKey, statusDirty, changes);
    }

    // Statuses of resources that changed, whose check changed, or that something now says otherwise about.
    const resources = new Map<string, PolicyResource>();
    for (const resource of policyResources(inputs.resources)) resources.set(policyStatusKey(resource), resource);
    for (const key of this.#statuses.keys()) if (!resources.has(key)) statusDirty.add(key);
    for (const key of resources.keys()) if (!this.#statuses.has(key)) statusDirty.add(key);
    for (const key of statusDirty) {
      const resource = resources.get(key);
      if (!resource) {
        if (this.#statuses.delete(key)) changes.statuses.add(key);
        this.#statusRejected.delete(key);
        continue;
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
      if (rejected) this.#statusRejected.set(key, rejected);
      else this.#statusRejected.delete(key);
    }

    const defaults = this.#computeDefaults(inputs);
    if (!deepEqual(defaults, this.#defaults)) {
      this.#defaults = defaults;
      changes.defaults = true;
    }
    this.#result = undefined;
    return changes;
  }

  /** Every read key whose value differs between two lookups. */
  #invalidatedKeys(previous: Lookup, next: Lookup): Set<string> {
    const keys = new Set<string>();
    const touched = (value: unknown) => {
      const resource = value as { kind: string; namespace?: string; name: string };
      if (resource.kind === 'Workload' || resource.kind === 'Namespace' || resource.kind === 'Service') return;
      const policy = value as PolicyResource;
      switch (policy.kind) {
        case 'AuthorizationPolicy':
          keys.add(targetKeyOf(policy));
          break;
        case 'HTTPRoute':
        case 'GRPCRoute':
          for (const key of parentKeysOf(policy)) keys.add(key);
          break;
        case 'HTTPLocalRateLimitPolicy':
          keys.add(rateLimitKeyOf(policy));
          break;
        case 'Server':
          for (const workload of next.workloadsByNamespace.get(policy.namespace) ?? []) {
            const selector = serverSelector(policy);
            if (selector && selectorMatches(selector, workload.labels)) keys.add(readKey.serversSelecting(workload.namespace, workload.name));
          }
          break;
        default:
          break;
      }
    };
    const visit = (key: string, before: unknown, after: unknown) => {
      if (before === after || deepEqual(before, after)) return;
      keys.add(key);
      if (before !== undefined) touched(before);
      if (after !== undefined) touched(after);
    };
    for (const [key, after] of next.byKey) visit(key, previous.byKey.get(key), after);
    for (const [key, before] of previous.byKey) if (!next.byKey.has(key)) visit(key, before, undefined);
    return keys;
  }

  #dropReads(unitKey: string, reads: Iterable<string> | undefined): void {
    for (const key of reads ?? []) {
      const set = this.#readers.get(key);
      set?.delete(unitKey);
      if (set?.size === 0) this.#readers.delete(key);
    }
  }

  #addReads(unitKey: string, reads: Iterable<string>): void {
    for (const key of reads) {
      let set = this.#readers.get(key);
      if (!set) this.#readers.set(key, (set = new Set()));
      set.add(unitKey);
    }
  }

  #checkOf(resource: PolicyResource): { check: ResourceCheck; reads: Set<string> } {
    const key = policyStatusKey(resource);
    let entry = this.#checks.get(key);
    if (!entry) {
      const reads = new Set([readKey.resource(resource.kind, resource.namespace, resource.name)]);
      entry = { check: checkResource(resource, new Reader(this.#lookup, reads), this.settings), reads };
      this.#checks.set(key, entry);
      this.#addReads(`chk|${key}`, reads);
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
      const service = this.#lookup.byKey.get(readKey.resource('Service', namespace, name));
      if (!service) throw new Error(`no service ${id}`);
      const policies = outboundPolicies(service as Parameters<typeof outboundPolicies>[0], ctx);
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
    if (old) this.#dropReads(unitKey, old.reads);
    const outputs = new Set(unit?.outputs ?? []);
    for (const key of old?.outputs ?? []) {
      if (!outputs.has(key) && target.delete(key)) changed.add(key);
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
      this.#addReads(unitKey, unit.reads);
    } else this.#units.delete(unitKey);
  }

  #computeDefaults(inputs: PolicyInputs): PolicyDefaults {
    const namespaces: PolicyDefaults['namespaces'] = [];
    for (const ns of inputs.resources.namespaces) {
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

  #rejected(): PolicyRejected[] {
    return [...this.#statusRejected.values()].sort(compareRejected);
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

