import { subjects, type EndpointSet, type MirroredService, type ServiceProfileState, type WorkloadRegistration } from '@meshbus/bus-schemas';
import type { EndpointSlice, MeshResources, Service, ServiceProfile, StringMap, Workload } from '@meshbus/manifests';
import { canonicalJson } from '@meshbus/runtime';
import type { DestinationState } from './compute.js';
import { endpointSet } from './endpoints.js';
import { mirrorEndpointSets, mirrorProfile } from './mirrors.js';
import { resolveDestinationOptions, type DestinationOptions, type ResolvedDestinationOptions } from './options.js';
import { opaqueServicePorts, profileState } from './profiles.js';
import type { StateData, StateLookup } from './reconcile.js';
import { listChanges, workloadFromRegistration, type ListChanges } from '@meshbus/manifests';

type Keyed = { readonly namespace: string; readonly name: string };
type Change<T> = { readonly key: string; readonly before: T | undefined; readonly after: T | undefined };

/**
 * Follows one list of resources by object identity: a list or element that
 * is the same object as last time is known unchanged without looking inside.
 */
class IdentityTracker<T extends Keyed> {
  #list: readonly T[] | undefined;
  readonly #keyOf = new Map<T, string>();
  readonly byKey = new Map<string, T>();

  /** The keys whose object changed, appeared or went away since the last call. */
  update(list: readonly T[]): Change<T>[] {
    if (list === this.#list) return [];
    const step = listChanges(list);
    const changes = step !== undefined && step.previous === this.#list ? this.#changesFrom(step) : this.#compare(list);
    this.#list = list;
    for (const c of changes) {
      if (c.before) this.#keyOf.delete(c.before);
      if (c.after) {
        this.#keyOf.set(c.after, c.key);
        this.byKey.set(c.key, c.after);
      } else {
        this.byKey.delete(c.key);
      }
    }
    return changes;
  }

  /**
   * The changes from the list followed so far, told by its maker: what
   * comparing the lists would give, without looking at the unchanged elements.
   */
  #changesFrom(step: ListChanges<T>): Change<T>[] {
    const changes: Change<T>[] = [];
    const added = new Set<string>();
    for (const item of step.added) {
      if (this.#keyOf.has(item)) continue;
      const key = `${item.namespace}/${item.name}`;
      added.add(key);
      changes.push({ key, before: this.byKey.get(key), after: item });
    }
    for (const item of step.removed) {
      const key = this.#keyOf.get(item);
      if (key === undefined || added.has(key) || this.byKey.get(key) !== item) continue;
      changes.push({ key, before: item, after: undefined });
    }
    return changes;
  }

  /** The changes from the list followed so far, found by looking at every element of `list`. */
  #compare(list: readonly T[]): Change<T>[] {
    const changes: Change<T>[] = [];
    let known = 0;
    for (const item of list) {
      if (this.#keyOf.has(item)) {
        known += 1;
        continue;
      }
      const key = `${item.namespace}/${item.name}`;
      changes.push({ key, before: this.byKey.get(key), after: item });
    }
    const removed: Change<T>[] = [];
    // Only when fewer keys remain than before is it worth finding which went away.
    if (known + changes.filter((c) => c.before !== undefined).length < this.byKey.size) {
      const present = new Set<string>(changes.map((c) => c.key));
      for (const item of list) {
        const key = this.#keyOf.get(item);
        if (key !== undefined) present.add(key);
      }
      for (const [key, item] of this.byKey) if (!present.has(key)) removed.push({ key, before: item, after: undefined });
    }
    return [...changes, ...removed];
  }
}

/** Posting of every key of a namespace. */
const everyKey = '\u0000all';
/** Posting of the keys with no labels at all (as a selector, such a set matches everything). */
const noLabels = '\u0000none';

/** Keys of things in a namespace, by label `key=value`. */
class LabelIndex {
  readonly #byNamespace = new Map<string, Map<string, Set<string>>>();

  add(namespace: string, labels: StringMap, key: string): void {
    let postings = this.#byNamespace.get(namespace);
    if (!postings) this.#byNamespace.set(namespace, (postings = new Map()));
    for (const posting of postingsOf(labels)) {
      let set = postings.get(posting);
      if (!set) postings.set(posting, (set = new Set()));
      set.add(key);
    }
  }

  remove(namespace: string, labels: StringMap, key: string): void {
    const postings = this.#byNamespace.get(namespace);
    if (!postings) return;
    for (const posting of postingsOf(labels)) {
      const set = postings.get(posting);
      set?.delete(key);
      if (set?.size === 0) postings.delete(posting);
    }
    if (postings.size === 0) this.#byNamespace.delete(namespace);
  }

  /** A set holding every key that carries all of `labels` (and maybe others): the smallest posting. */
  withAll(namespace: string, labels: StringMap): ReadonlySet<string> {
    const postings = this.#byNamespace.get(namespace);
    let smallest = postings?.get(everyKey);
    for (const [k, v] of Object.entries(labels)) {
      const set = postings?.get(`${k}=${v}`);
      if (!set) return new Set();
      if (!smallest || set.size < smallest.size) smallest = set;
    }
    return smallest ?? new Set();
  }

  /** Keys carrying at least one label of `labels`, and those with no labels. */
  withAny(namespace: string, labels: StringMap): Set<string> {
    const postings = this.#byNamespace.get(namespace);
    const out = new Set<string>(postings?.get(noLabels));
    if (!postings) return out;
    for (const [k, v] of Object.entries(labels)) for (const key of postings.get(`${k}=${v}`) ?? []) out.add(key);
    return out;
  }
}

function postingsOf(labels: StringMap): string[] {
  const out = [everyKey];
  for (const [k, v] of Object.entries(labels)) out.push(`${k}=${v}`);
  if (out.length === 1) out.push(noLabels);
  return out;
}

function selects(selector: StringMap, labels: StringMap): boolean {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

/**
 * The desired endpoint sets and profiles, kept current change by change.
 *
 * Gives the same state as {@link computeDestinationState} for the same
 * inputs, but an update costs what changed: a changed workload recomputes
 * only the services of its namespace whose selector matches it before or
 * after the change (and those whose EndpointSlices target it, for a Pod), a
 * changed Service, ServiceProfile or EndpointSlice only that service.
 * Resources are compared by object identity first (a {@link MeshResources}
 * keeps the objects of unchanged files), so unchanged ones cost a lookup.
 * Mirrored services are told one by one ({@link setMirror}); a changed mirror
 * recomputes only its service, at the next update.
 */
export class DesiredStateIndex implements StateLookup {
  readonly #options: ResolvedDestinationOptions;
  readonly #services = new IdentityTracker<Service>();
  readonly #manifestWorkloads = new IdentityTracker<Workload>();
  readonly #profileResources = new IdentityTracker<ServiceProfile>();
  readonly #sliceResources = new IdentityTracker<EndpointSlice>();
  /** EndpointSlices by the service they belong to, by their own key. */
  readonly #slicesByService = new Map<string, Map<string, EndpointSlice>>();
  /** The services whose slices target a Pod, by the Pod's key, counted per slice. */
  readonly #servicesOfPod = new Map<string, Map<string, number>>();
  /** Workloads in force that are Pods, for EndpointSlice targets. */
  readonly #pods = { get: (key: string): Workload | undefined => {
    const workload = this.#workloads.get(key);
    return workload?.source === 'Pod' ? workload : undefined;
  } };
  #registered = new Map<string, { registration: WorkloadRegistration; workload: Workload; fingerprint: string }>();
  /** The workloads in force: a manifest Workload wins over a registration of the same name. */
  readonly #workloads = new Map<string, Workload>();
  readonly #workloadLabels = new LabelIndex();
  readonly #selectorIndex = new LabelIndex();
  /** ServiceProfiles of the cluster domain by the service they target, by their own key. */
  readonly #profilesByTarget = new Map<string, Map<string, ServiceProfile>>();
  readonly #subjectsOf = new Map<string, string[]>();
  readonly #state = new Map<string, StateData>();
  #dirty = new Set<string>();
  /** Services mirrored from linked clusters, by `<namespace>/<service>`. */
  readonly #mirrors = new Map<string, MirroredService>();
  /** Mirrors told since the last update. */
  #pendingMirrors = new Set<string>();
  /** Mirrors a local Service of the same name hides. */
  readonly #shadowed = new Set<string>();
  readonly #onShadowed: ((key: string, mirror: MirroredService) => void) | undefined;

  /** `onShadowed` is told when a local Service starts to hide a mirrored service of its name. */
  constructor(options: DestinationOptions, events: { onShadowed?: (key: string, mirror: MirroredService) => void } = {}) {
    this.#options = resolveDestinationOptions(options);
    this.#onShadowed = events.onShadowed;
  }

  /** A mirrored service changed (undefined: it went away); its state follows at the next update. */
  setMirror(key: string, mirror: MirroredService | undefined): void {
    if (this.#mirrors.get(key) === mirror) return;
    if (mirror) this.#mirrors.set(key, mirror);
    else this.#mirrors.delete(key);
    this.#pendingMirrors.add(key);
  }

  /** The desired value of a subject; undefined when it should not exist. */
  get(subject: string): StateData | undefined {
    return this.#state.get(subject);
  }

  /** Every subject with a desired value. */
  subjects(): IterableIterator<string> {
    return this.#state.keys();
  }

  get size(): number {
    return this.#state.size;
  }

  /** Subjects whose desired value changed since the last call (added, changed or removed), and forgets them. */
  takeChanged(): Set<string> {
    const out = this.#dirty;
    this.#dirty = new Set();
    return out;
  }

  /** Brings the state up to date with these inputs; returns how many services were recomputed. */
  update(resources: MeshResources, registered: readonly WorkloadRegistration[]): number {
    const steps = this.updateInSteps(resources, registered);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * {@link update} cut into steps: it pauses after each workload or service
   * (yielding the services recomputed so far), so that a caller can let
   * other work run. The state is complete once the generator returns; until
   * then it mixes old and new values.
   */
  *updateInSteps(resources: MeshResources, registered: readonly WorkloadRegistration[]): Generator<number, number, void> {
    const targets = new Set<string>();
    for (const c of this.#services.update(resources.services)) {
      if (c.before?.selector) this.#selectorIndex.remove(c.before.namespace, c.before.selector, c.key);
      if (c.after?.selector) this.#selectorIndex.add(c.after.namespace, c.after.selector, c.key);
      targets.add(c.key);
    }
    for (const c of this.#profileResources.update(resources.serviceProfiles)) {
      if (c.before) this.#removeProfile(c.key, c.before, targets);
      if (c.after) this.#addProfile(c.key, c.after, targets);
    }
    for (const c of this.#sliceResources.update(resources.endpointSlices)) {
      if (c.before) this.#removeSlice(c.key, c.before, targets);
      if (c.after) this.#addSlice(c.key, c.after, targets);
    }
    const workloadKeys = new Set<string>();
    for (const c of this.#manifestWorkloads.update(resources.workloads)) workloadKeys.add(c.key);
    this.#updateRegistrations(registered, workloadKeys);
    for (const key of workloadKeys) {
      this.#refreshWorkload(key, targets);
      yield 0;
    }
    for (const key of this.#pendingMirrors) targets.add(key);
    this.#pendingMirrors = new Set();
    let recomputed = 0;
    for (const target of targets) {
      this.#recompute(target);
      recomputed += 1;
      yield recomputed;
    }
    return recomputed;
  }

  /** The whole state, in the shape and order of {@link computeDestinationState}. */
  snapshot(): DestinationState {
    const endpointSets = new Map<string, EndpointSet>();
    const profiles = new Map<string, ServiceProfileState>();
    for (const subject of [...this.#state.keys()].sort()) {
      const value = this.#state.get(subject)!;
      if ('endpoints' in value) endpointSets.set(subject, value);
      else profiles.set(subject, value);
    }
    return { endpointSets, profiles };
  }

  #updateRegistrations(registered: readonly WorkloadRegistration[], changedKeys: Set<string>): void {
    const next = new Map<string, { registration: WorkloadRegistration; workload: Workload; fingerprint: string }>();
    for (const registration of registered) {
      const key = `${registration.namespace}/${registration.name}`;
      if (next.has(key)) continue;
      const previous = this.#registered.get(key);
      if (previous?.registration === registration) {
        next.set(key, previous);
        continue;
      }
      const workload = workloadFromRegistration(registration);
      const fingerprint = canonicalJson(workload);
      if (previous?.fingerprint === fingerprint) {
        next.set(key, { registration, workload: previous.workload, fingerprint });
        continue;
      }
      next.set(key, { registration, workload, fingerprint });
      changedKeys.add(key);
    }
    for (const key of this.#registered.keys()) if (!next.has(key)) changedKeys.add(key);
    this.#registered = next;
  }

  #refreshWorkload(key: string, targets: Set<string>): void {
    const before = this.#workloads.get(key);
    const after = this.#manifestWorkloads.byKey.get(key) ?? this.#registered.get(key)?.workload;
    if (before === after) return;
    for (const service of this.#servicesOfPod.get(key)?.keys() ?? []) targets.add(service);
    if (before) {
      this.#workloadLabels.remove(before.namespace, before.labels, key);
      this.#workloads.delete(key);
      this.#affectedServices(before, targets);
    }
    if (after) {
      this.#workloadLabels.add(after.namespace, after.labels, key);
      this.#workloads.set(key, after);
      this.#affectedServices(after, targets);
    }
  }

  #affectedServices(workload: Workload, targets: Set<string>): void {
    for (const serviceKey of this.#selectorIndex.withAny(workload.namespace, workload.labels)) {
      const selector = this.#services.byKey.get(serviceKey)?.selector;
      if (selector && selects(selector, workload.labels)) targets.add(serviceKey);
    }
  }

  #addSlice(key: string, slice: EndpointSlice, targets: Set<string>): void {
    if (slice.service === undefined) return;
    const service = `${slice.namespace}/${slice.service}`;
    let byKey = this.#slicesByService.get(service);
    if (!byKey) this.#slicesByService.set(service, (byKey = new Map()));
    byKey.set(key, slice);
    for (const pod of targetedPods(slice)) {
      let services = this.#servicesOfPod.get(pod);
      if (!services) this.#servicesOfPod.set(pod, (services = new Map()));
      services.set(service, (services.get(service) ?? 0) + 1);
    }
    targets.add(service);
  }

  #removeSlice(key: string, slice: EndpointSlice, targets: Set<string>): void {
    if (slice.service === undefined) return;
    const service = `${slice.namespace}/${slice.service}`;
    const byKey = this.#slicesByService.get(service);
    if (!byKey?.delete(key)) return;
    if (byKey.size === 0) this.#slicesByService.delete(service);
    for (const pod of targetedPods(slice)) {
      const services = this.#servicesOfPod.get(pod);
      const count = (services?.get(service) ?? 0) - 1;
      if (count > 0) services!.set(service, count);
      else services?.delete(service);
      if (services?.size === 0) this.#servicesOfPod.delete(pod);
    }
    targets.add(service);
  }

  #addProfile(key: string, profile: ServiceProfile, targets: Set<string>): void {
    if (profile.target.clusterDomain !== this.#options.clusterDomain) return;
    const target = `${profile.target.namespace}/${profile.target.service}`;
    let byKey = this.#profilesByTarget.get(target);
    if (!byKey) this.#profilesByTarget.set(target, (byKey = new Map()));
    byKey.set(key, profile);
    targets.add(target);
  }

  #removeProfile(key: string, profile: ServiceProfile, targets: Set<string>): void {
    const target = `${profile.target.namespace}/${profile.target.service}`;
    const byKey = this.#profilesByTarget.get(target);
    if (!byKey?.delete(key)) return;
    if (byKey.size === 0) this.#profilesByTarget.delete(target);
    targets.add(target);
  }

  /** Of several ServiceProfiles naming one service, the last in namespace and name order wins, as in a full computation. */
  #profileFor(target: string): ServiceProfile | undefined {
    let winner: ServiceProfile | undefined;
    for (const p of this.#profilesByTarget.get(target)?.values() ?? []) {
      if (!winner || compareKeyed(p, winner) > 0) winner = p;
    }
    return winner;
  }

  #recompute(target: string): void {
    const next = new Map<string, StateData>();
    const service = this.#services.byKey.get(target);
    const profile = this.#profileFor(target);
    const mirror = this.#mirrors.get(target);
    if (service && mirror) {
      if (!this.#shadowed.has(target)) this.#onShadowed?.(target, mirror);
      this.#shadowed.add(target);
    } else {
      this.#shadowed.delete(target);
    }
    if (service) {
      const opaquePorts = opaqueServicePorts(service, profile);
      const slices = [...(this.#slicesByService.get(target)?.values() ?? [])].sort(compareKeyed);
      const inputs = { workloads: this.#selected(service), pods: this.#pods, slices };
      for (const port of service.ports) {
        next.set(subjects.endpoints(service.namespace, service.name, port.port), endpointSet(service, port, inputs, opaquePorts.includes(port.port), this.#options));
      }
      next.set(subjects.profile(service.namespace, service.name), profileState({ namespace: service.namespace, service: service.name }, service, profile));
    } else if (mirror) {
      for (const [subject, set] of mirrorEndpointSets(mirror, this.#options)) next.set(subject, set);
      next.set(subjects.profile(mirror.namespace, mirror.service), mirrorProfile(mirror, profile));
    } else if (profile) {
      const { namespace, service: name } = profile.target;
      next.set(subjects.profile(namespace, name), profileState({ namespace, service: name }, undefined, profile));
    }
    for (const subject of this.#subjectsOf.get(target) ?? []) {
      if (next.has(subject)) continue;
      this.#state.delete(subject);
      this.#dirty.add(subject);
    }
    for (const [subject, value] of next) {
      this.#state.set(subject, value);
      this.#dirty.add(subject);
    }
    if (next.size > 0) this.#subjectsOf.set(target, [...next.keys()]);
    else this.#subjectsOf.delete(target);
  }

  #selected(service: Service): Workload[] {
    if (!service.selector) return [];
    const out: Workload[] = [];
    for (const key of this.#workloadLabels.withAll(service.namespace, service.selector)) {
      const workload = this.#workloads.get(key);
      if (workload && selects(service.selector, workload.labels)) out.push(workload);
    }
    return out;
  }
}

/** Keys of the Pods a slice's endpoints target, without duplicates. */
function targetedPods(slice: EndpointSlice): Set<string> {
  const out = new Set<string>();
  for (const e of slice.endpoints) if (e.targetRef?.kind === 'Pod') out.add(`${e.targetRef.namespace}/${e.targetRef.name}`);
  return out;
}

function compareKeyed(a: Keyed, b: Keyed): number {
  const x = `${a.namespace}\u0000${a.name}`;
  const y = `${b.namespace}\u0000${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}
