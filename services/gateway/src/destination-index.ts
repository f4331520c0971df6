import { parseStateSubject, subjects, type EndpointSet, type ServiceProfileState } from '@meshbus/bus-schemas';
import type { BusEvent } from '@meshbus/bus';
import { destination } from '@meshbus/proxy-api';
import type { ServiceTarget } from './destination-path.js';
import { endpointSnapshot, endpointTransition, type EndpointSnapshot } from './endpoint-topic.js';
import { toDestinationProfile } from './translate.js';
import { WatchTopic, type Snapshot } from './watch-topic.js';

/** A service port's profile, encoded once per version. */
export interface ProfileSnapshot extends Snapshot {
  readonly encoded: Buffer;
}

function profileSnapshot(version: number, target: ServiceTarget, profile: ServiceProfileState | undefined): ProfileSnapshot {
  return { version, encoded: Buffer.from(destination.DestinationProfile.encode(toDestinationProfile(target.fqdn, target.port, profile)).finish()) };
}

const profileTransition = (_from: ProfileSnapshot | undefined, to: ProfileSnapshot) => [to.encoded];

/**
 * The watched part of the bus state, as topics proxies subscribe to. Topics
 * exist only while streams watch them; their data comes from the state view.
 */
export class DestinationIndex {
  private version = 0;
  private live = false;
  private readonly endpointTopics = new Map<string, WatchTopic<EndpointSnapshot>>();
  private readonly profileTopics = new Map<string, Map<number, { target: ServiceTarget; topic: WatchTopic<ProfileSnapshot> }>>();

  constructor(private readonly lookup: (natsSubject: string) => BusEvent | undefined) {}

  /** Applies a change of the state view. */
  onStateChange(natsSubject: string, value: BusEvent | undefined): void {
    const parsed = parseStateSubject(natsSubject);
    if (parsed?.kind === 'endpoints') {
      this.endpointTopics.get(natsSubject)?.update(endpointSnapshot(++this.version, value?.data as EndpointSet | undefined));
    } else if (parsed?.kind === 'profiles') {
      const byPort = this.profileTopics.get(natsSubject);
      if (!byPort) return;
      for (const { target, topic } of byPort.values()) topic.update(profileSnapshot(++this.version, target, value?.data as ServiceProfileState | undefined));
    }
  }

  /** The view has caught up with the bus: streams may get their first message. */
  goLive(): void {
    this.live = true;
    for (const t of this.endpointTopics.values()) t.goLive();
    for (const m of this.profileTopics.values()) for (const { topic } of m.values()) topic.goLive();
  }

  endpointTopic(target: ServiceTarget): WatchTopic<EndpointSnapshot> {
    const subject = subjects.endpoints(target.namespace, target.service, target.port);
    let topic = this.endpointTopics.get(subject);
    if (!topic) {
      topic = new WatchTopic(endpointSnapshot(++this.version, this.lookup(subject)?.data as EndpointSet | undefined), endpointTransition, this.live);
      this.endpointTopics.set(subject, topic);
    }
    return topic;
  }

  profileTopic(target: ServiceTarget): WatchTopic<ProfileSnapshot> {
    const subject = subjects.profile(target.namespace, target.service);
    let byPort = this.profileTopics.get(subject);
    if (!byPort) {
      byPort = new Map();
      this.profileTopics.set(subject, byPort);
    }
    let entry = byPort.get(target.port);
    if (!entry) {
      const snapshot = profileSnapshot(++this.version, target, this.lookup(subject)?.data as ServiceProfileState | undefined);
      entry = { target, topic: new WatchTopic(snapshot, profileTransition, this.live) };
      byPort.set(target.port, entry);
    }
    return entry.topic;
  }

  /** Forgets topics nobody watches any more. */
  release(target: ServiceTarget): void {
    const es = subjects.endpoints(target.namespace, target.service, target.port);
    if (this.endpointTopics.get(es)?.watcherCount === 0) this.endpointTopics.delete(es);
    const ps = subjects.profile(target.namespace, target.service);
    const byPort = this.profileTopics.get(ps);
    if (byPort?.get(target.port)?.topic.watcherCount === 0) {
      byPort.delete(target.port);
      if (byPort.size === 0) this.profileTopics.delete(ps);
    }
  }

  /** Number of topics held (watched keys). */
  get topicCount(): number {
    let n = this.endpointTopics.size;
    for (const m of this.profileTopics.values()) n += m.size;
    return n;
  }
}
