import { parseStateSubject, subjects, type EndpointSet, type ServiceProfileState } from '@meshbus/bus-schemas';
import type { BusEvent } from '@meshbus/bus';
import { destination } from '@meshbus/proxy-api';
import type { AddressIndex } from './address-index.js';
import { endpointAddressSnapshot, endpointProfile, unknownAddressProfile, unknownAddressSnapshot } from './address-translate.js';
import type { AddressTarget, DestinationTarget, ServiceTarget } from './destination-path.js';
import { endpointSnapshot, endpointTransition, sameEndpoints, type EndpointSnapshot } from './endpoint-topic.js';
import { toDestinationProfile } from './translate.js';
import { WatchTopic, type Snapshot } from './watch-topic.js';

/** A service port's profile, encoded once per version. */
export interface ProfileSnapshot extends Snapshot {
  readonly encoded: Buffer;
}

const encodeProfile = (version: number, profile: destination.DestinationProfile): ProfileSnapshot => ({
  version,
  encoded: Buffer.from(destination.DestinationProfile.encode(profile).finish()),
});

function profileSnapshot(version: number, target: ServiceTarget, profile: ServiceProfileState | undefined): ProfileSnapshot {
  return encodeProfile(version, toDestinationProfile(target.fqdn, target.port, profile));
}

const profileTransition = (_from: ProfileSnapshot | undefined, to: ProfileSnapshot) => [to.encoded];

/** Options of {@link DestinationIndex}. */
export interface DestinationIndexOptions {
  /** What addresses mean, fed by the gateway with the same changes before this index hears of them. */
  addresses: AddressIndex;
  /** For the names of services found by cluster IP. */
  clusterDomain: string;
}

/** A topic of an address, and the state subject its answer comes from at the moment (the service's endpoints or profile). */
interface AddressEntry<S extends Snapshot> {
  address: AddressTarget;
  topic: WatchTopic<S>;
  dependsOn: string | undefined;
}

const none: ReadonlySet<string> = new Set();

/**
 * The watched part of the bus state, as topics proxies subscribe to. Topics
 * exist only while streams watch them; their data comes from the state view.
 * A topic of an address (`ip:port`) follows what the address is: a service's
 * cluster IP (that service's answer), an endpoint (that endpoint alone), or
 * nothing known (the address alone, without identity); it changes when what
 * the address is changes.
 */
export class DestinationIndex {
  private version = 0;
  private live = false;
  private readonly endpointTopics = new Map<string, WatchTopic<EndpointSnapshot>>();
  private readonly profileTopics = new Map<string, Map<number, { target: ServiceTarget; topic: WatchTopic<ProfileSnapshot> }>>();
  private readonly addressEndpointTopics = new Map<string, AddressEntry<EndpointSnapshot>>();
  private readonly addressProfileTopics = new Map<string, AddressEntry<ProfileSnapshot>>();
  /** Subject (endpoints or profile of a service) to the keys of the address topics answered from it. */
  private readonly dependents = new Map<string, Set<string>>();
  private readonly addresses: AddressIndex;
  private readonly clusterDomain: string;

  constructor(
    private readonly lookup: (natsSubject: string) => BusEvent | undefined,
    options: DestinationIndexOptions,
  ) {
    this.addresses = options.addresses;
    this.clusterDomain = options.clusterDomain;
  }

  /**
   * Applies a change of the state view; `changedAddresses` are the address
   * keys the address index reported for the same change.
   */
  onStateChange(natsSubject: string, value: BusEvent | undefined, changedAddresses: ReadonlySet<string> = none): void {
    const parsed = parseStateSubject(natsSubject);
    const memo = new Map<string, EndpointSnapshot>();
    if (parsed?.kind === 'endpoints') {
      const topic = this.endpointTopics.get(natsSubject);
      if (topic) {
        const snapshot = endpointSnapshot(++this.version, value?.data as EndpointSet | undefined);
        topic.update(snapshot);
        memo.set(natsSubject, snapshot);
      }
      for (const key of [...(this.dependents.get(natsSubject) ?? [])]) this.refreshAddressEndpoints(key, memo);
    } else if (parsed?.kind === 'profiles') {
      const byPort = this.profileTopics.get(natsSubject);
      for (const { target, topic } of byPort?.values() ?? []) topic.update(profileSnapshot(++this.version, target, value?.data as ServiceProfileState | undefined));
      for (const key of [...(this.dependents.get(natsSubject) ?? [])]) this.refreshAddressProfile(key);
    }
    for (const key of changedAddresses) {
      this.refreshAddressEndpoints(key, memo);
      this.refreshAddressProfile(key);
    }
  }

  /** The view has caught up with the bus: streams may get their first message. */
  goLive(): void {
    this.live = true;
    for (const t of this.endpointTopics.values()) t.goLive();
    for (const m of this.profileTopics.values()) for (const { topic } of m.values()) topic.goLive();
    for (const e of this.addressEndpointTopics.values()) e.topic.goLive();
    for (const e of this.addressProfileTopics.values()) e.topic.goLive();
  }

  endpointTopic(target: DestinationTarget): WatchTopic<EndpointSnapshot> {
    if (target.kind === 'address') return this.addressEndpointTopic(target.address);
    const subject = this.endpointsSubject(target.service);
    let topic = this.endpointTopics.get(subject);
    if (!topic) {
      topic = new WatchTopic(endpointSnapshot(++this.version, this.lookup(subject)?.data as EndpointSet | undefined), endpointTransition, this.live);
      this.endpointTopics.set(subject, topic);
    }
    return topic;
  }

  profileTopic(target: DestinationTarget): WatchTopic<ProfileSnapshot> {
    if (target.kind === 'address') return this.addressProfileTopic(target.address);
    const service = target.service;
    const subject = subjects.profile(service.namespace, service.service);
    let byPort = this.profileTopics.get(subject);
    if (!byPort) {
      byPort = new Map();
      this.profileTopics.set(subject, byPort);
    }
    let entry = byPort.get(service.port);
    if (!entry) {
      const snapshot = profileSnapshot(++this.version, service, this.lookup(subject)?.data as ServiceProfileState | undefined);
      entry = { target: service, topic: new WatchTopic(snapshot, profileTransition, this.live) };
      byPort.set(service.port, entry);
    }
    return entry.topic;
  }

  /** Forgets topics nobody watches any more. */
  release(target: DestinationTarget): void {
    if (target.kind === 'address') {
      this.releaseAddress(this.addressEndpointTopics, target.address.key);
      this.releaseAddress(this.addressProfileTopics, target.address.key);
      return;
    }
    const service = target.service;
    const es = this.endpointsSubject(service);
    if (this.endpointTopics.get(es)?.watcherCount === 0) this.endpointTopics.delete(es);
    const ps = subjects.profile(service.namespace, service.service);
    const byPort = this.profileTopics.get(ps);
    if (byPort?.get(service.port)?.topic.watcherCount === 0) {
      byPort.delete(service.port);
      if (byPort.size === 0) this.profileTopics.delete(ps);
    }
  }

  /** Number of topics held (watched keys). */
  get topicCount(): number {
    let n = this.endpointTopics.size + this.addressEndpointTopics.size + this.addressProfileTopics.size;
    for (const m of this.profileTopics.values()) n += m.size;
    return n;
  }

  private endpointsSubject(s: { namespace: string; service: string; port: number }): string {
    return subjects.endpoints(s.namespace, s.service, s.port);
  }

  private serviceTarget(s: { namespace: string; service: string; port: number }): ServiceTarget {
    return { namespace: s.namespace, service: s.service, port: s.port, fqdn: `${s.service}.${s.namespace}.svc.${this.clusterDomain}` };
  }

  /** The endpoint snapshot of a service port's subject, computed at most once per change. */
  private serviceEndpoints(subject: string, memo: Map<string, EndpointSnapshot>): EndpointSnapshot {
    let snapshot = memo.get(subject) ?? this.endpointTopics.get(subject)?.current;
    if (!snapshot) {
      snapshot = endpointSnapshot(++this.version, this.lookup(subject)?.data as EndpointSet | undefined);
      memo.set(subject, snapshot);
    }
    return snapshot;
  }

  /** The Destination.Get answer for an address now, and the subject it comes from. */
  private addressEndpoints(address: AddressTarget, memo: Map<string, EndpointSnapshot>): { snapshot: EndpointSnapshot; dependsOn: string | undefined } {
    const answer = this.addresses.resolve(address.key);
    if (answer.kind === 'service') {
      const subject = this.endpointsSubject(answer.service);
      return { snapshot: this.serviceEndpoints(subject, memo), dependsOn: subject };
    }
    if (answer.kind === 'endpoint') return { snapshot: endpointAddressSnapshot(++this.version, answer.claim), dependsOn: undefined };
    return { snapshot: unknownAddressSnapshot(++this.version, address), dependsOn: undefined };
  }

  /** The GetProfile answer for an address now, and the subject it comes from. */
  private addressProfile(address: AddressTarget): { snapshot: ProfileSnapshot; dependsOn: string | undefined } {
    const answer = this.addresses.resolve(address.key);
    if (answer.kind === 'service') {
      const subject = subjects.profile(answer.service.namespace, answer.service.service);
      const state = this.lookup(subject)?.data as ServiceProfileState | undefined;
      return { snapshot: profileSnapshot(++this.version, this.serviceTarget(answer.service), state), dependsOn: subject };
    }
    const profile = answer.kind === 'endpoint' ? endpointProfile(answer.claim) : unknownAddressProfile();
    return { snapshot: encodeProfile(++this.version, profile), dependsOn: undefined };
  }

  private addressEndpointTopic(address: AddressTarget): WatchTopic<EndpointSnapshot> {
    let entry = this.addressEndpointTopics.get(address.key);
    if (!entry) {
      const { snapshot, dependsOn } = this.addressEndpoints(address, new Map());
      entry = { address, topic: new WatchTopic(snapshot, endpointTransition, this.live), dependsOn: undefined };
      this.addressEndpointTopics.set(address.key, entry);
      this.depend(entry, dependsOn);
    }
    return entry.topic;
  }

  private addressProfileTopic(address: AddressTarget): WatchTopic<ProfileSnapshot> {
    let entry = this.addressProfileTopics.get(address.key);
    if (!entry) {
      const { snapshot, dependsOn } = this.addressProfile(address);
      entry = { address, topic: new WatchTopic(snapshot, profileTransition, this.live), dependsOn: undefined };
      this.addressProfileTopics.set(address.key, entry);
      this.depend(entry, dependsOn);
    }
    return entry.topic;
  }

  private refreshAddressEndpoints(key: string, memo: Map<string, EndpointSnapshot>): void {
    const entry = this.addressEndpointTopics.get(key);
    if (!entry) return;
    const { snapshot, dependsOn } = this.addressEndpoints(entry.address, memo);
    this.depend(entry, dependsOn);
    if (!sameEndpoints(entry.topic.current, snapshot)) entry.topic.update(snapshot);
  }

  private refreshAddressProfile(key: string): void {
    const entry = this.addressProfileTopics.get(key);
    if (!entry) return;
    const { snapshot, dependsOn } = this.addressProfile(entry.address);
    this.depend(entry, dependsOn);
    if (!entry.topic.current.encoded.equals(snapshot.encoded)) entry.topic.update(snapshot);
  }

  /** Records the subject an address topic's answer now comes from. */
  private depend<S extends Snapshot>(entry: AddressEntry<S>, subject: string | undefined): void {
    if (entry.dependsOn === subject) return;
    if (entry.dependsOn !== undefined) this.undepend(entry.dependsOn, entry.address.key);
    entry.dependsOn = subject;
    if (subject === undefined) return;
    let keys = this.dependents.get(subject);
    if (!keys) {
      keys = new Set();
      this.dependents.set(subject, keys);
    }
    keys.add(entry.address.key);
  }

  private undepend(subject: string, key: string): void {
    const keys = this.dependents.get(subject);
    keys?.delete(key);
    if (keys?.size === 0) this.dependents.delete(subject);
  }

  private releaseAddress<S extends Snapshot>(topics: Map<string, AddressEntry<S>>, key: string): void {
    const entry = topics.get(key);
    if (entry?.topic.watcherCount !== 0) return;
    topics.delete(key);
    this.depend(entry, undefined);
  }
}
