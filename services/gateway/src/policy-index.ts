import { parseStateSubject, subjects, type InboundPolicy, type InboundServer, type OutboundPolicy, type PolicyDefaults } from '@meshbus/bus-schemas';
import type { BusEvent } from '@meshbus/bus';
import { defaultInboundServer, unknownWorkloadServer } from '@meshbus/policy';
import { inbound, outbound } from '@meshbus/proxy-api';
import type { AddressIndex } from './address-index.js';
import { endpointForwardPolicy } from './address-translate.js';
import type { InboundTarget, OutboundTarget } from './policy-target.js';
import { defaultDetectTimeoutMs, forwardPolicy, toInboundServer, toOutboundPolicy } from './policy-translate.js';
import type { WorkloadRef } from './workload-ref.js';
import { WatchTopic, type Snapshot } from './watch-topic.js';

/**
 * Written to a stream in place of a message: the target does not exist (any
 * more), end the stream with NOT_FOUND. Compared by identity, never sent.
 */
export const notFound: Buffer = Buffer.alloc(0);

/** A policy as streams see it: its encoding, or undefined when there is none. */
export interface PolicySnapshot extends Snapshot {
  readonly encoded: Buffer | undefined;
}

const policyTransition = (_from: PolicySnapshot | undefined, to: PolicySnapshot): Buffer[] => [to.encoded ?? notFound];

/**
 * The server of every port of an unknown workload before the policy service
 * published any defaults: all-unauthenticated, as a cluster without policy
 * behaves.
 */
export const builtInDefaults: PolicyDefaults = {
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: [],
  probeNetworks: [],
  detectTimeoutMs: defaultDetectTimeoutMs,
  namespaces: [],
  identityDomain: '',
};

/** The server a workload gets on a port, from its published policy or the defaults. */
export function inboundServerFor(policy: InboundPolicy | undefined, defaults: PolicyDefaults | undefined, workload: WorkloadRef, port: number): InboundServer {
  if (policy) return policy.ports.find((p) => p.port === port)?.server ?? policy.defaultServer;
  if (defaults) return unknownWorkloadServer(defaults, workload.namespace);
  return defaultInboundServer(builtInDefaults.defaultPolicy, builtInDefaults);
}

/** The subject of a workload's inbound policy; undefined for a name no subject can hold (nothing is published for it). */
function inboundSubject(w: WorkloadRef): string | undefined {
  try {
    return subjects.inboundPolicy(w.namespace, w.name);
  } catch {
    return undefined;
  }
}

interface OutboundEntry {
  target: OutboundTarget;
  sourceNamespace: string | undefined;
  topic: WatchTopic<PolicySnapshot>;
}

const sourceKey = (ns: string | undefined) => ns ?? '';

const noKeys: ReadonlySet<string> = new Set();

/**
 * The policy part of the bus state as topics proxies watch: one per workload
 * port (inbound) and one per target and caller namespace (outbound). Topics
 * exist while streams watch them; a change is encoded once per topic and only
 * when the encoding changed. A proxy asking by IP and port gets the policy of
 * the service whose cluster IP it is, a forward to the endpoint (with its
 * identity) when it is a known endpoint, or a plain forward; the address index
 * says which.
 */
export class PolicyIndex {
  private version = 0;
  private isLive = false;
  private readonly inboundTopics = new Map<string, { workload: WorkloadRef; subject: string | undefined; ports: Map<number, WatchTopic<PolicySnapshot>> }>();
  private readonly serviceTopics = new Map<string, Map<string, OutboundEntry>>();
  private readonly addrTopics = new Map<string, Map<string, OutboundEntry>>();

  /**
   * @param addresses what addresses mean, fed by the gateway with the same
   * changes before this index hears of them
   */
  constructor(
    private readonly lookup: (natsSubject: string) => BusEvent | undefined,
    private readonly addresses: AddressIndex,
  ) {}

  /**
   * Applies a change of the state view (any subject; others than policy are
   * ignored); `changedAddresses` are the address keys the address index
   * reported for the same change.
   */
  onStateChange(natsSubject: string, _value: BusEvent | undefined, changedAddresses: ReadonlySet<string> = noKeys): void {
    const kind = parseStateSubject(natsSubject)?.kind;
    if (kind === 'inbound-policy') {
      for (const entry of this.inboundTopics.values()) if (entry.subject === natsSubject) this.refreshInbound(entry.workload, entry.ports);
    } else if (kind === 'policy-defaults') {
      for (const entry of this.inboundTopics.values()) this.refreshInbound(entry.workload, entry.ports);
    } else if (kind === 'outbound-policy') {
      for (const entry of this.serviceTopics.get(natsSubject)?.values() ?? []) this.refresh(entry.topic, this.encodeOutbound(entry.target, entry.sourceNamespace));
    }
    for (const key of changedAddresses) for (const entry of this.addrTopics.get(key)?.values() ?? []) this.refresh(entry.topic, this.encodeOutbound(entry.target, entry.sourceNamespace));
  }

  /** The view has caught up with the bus: streams get their first message, and answers may be given. */
  goLive(): void {
    if (this.isLive) return;
    this.isLive = true;
    for (const e of this.inboundTopics.values()) for (const t of e.ports.values()) t.goLive();
    for (const m of [...this.serviceTopics.values(), ...this.addrTopics.values()]) for (const e of m.values()) e.topic.goLive();
  }

  get live(): boolean {
    return this.isLive;
  }

  /** The encoded inbound.Server for a workload port as it is now. */
  inboundNow(target: InboundTarget): Buffer {
    return this.encodeInbound(target.workload, target.port, inboundSubject(target.workload));
  }

  /** The encoded outbound.OutboundPolicy for a target as it is now, or undefined for a service without policy. */
  outboundNow(target: OutboundTarget, sourceNamespace: string | undefined): Buffer | undefined {
    return this.encodeOutbound(target, sourceNamespace);
  }

  inboundTopic(target: InboundTarget): WatchTopic<PolicySnapshot> {
    const subject = inboundSubject(target.workload);
    const key = `${target.workload.namespace}/${target.workload.name}`;
    let entry = this.inboundTopics.get(key);
    if (!entry) {
      entry = { workload: target.workload, subject, ports: new Map() };
      this.inboundTopics.set(key, entry);
    }
    let topic = entry.ports.get(target.port);
    if (!topic) {
      topic = new WatchTopic<PolicySnapshot>({ version: ++this.version, encoded: this.encodeInbound(target.workload, target.port, subject) }, policyTransition, this.isLive);
      entry.ports.set(target.port, topic);
    }
    return topic;
  }

  outboundTopic(target: OutboundTarget, sourceNamespace: string | undefined): WatchTopic<PolicySnapshot> {
    const [map, key] = this.outboundSlot(target);
    let byCaller = map.get(key);
    if (!byCaller) {
      byCaller = new Map();
      map.set(key, byCaller);
    }
    let entry = byCaller.get(sourceKey(sourceNamespace));
    if (!entry) {
      entry = { target, sourceNamespace, topic: new WatchTopic({ version: ++this.version, encoded: this.encodeOutbound(target, sourceNamespace) }, policyTransition, this.isLive) };
      byCaller.set(sourceKey(sourceNamespace), entry);
    }
    return entry.topic;
  }

  /** Forgets the inbound topic of `target` when nobody watches it any more. */
  releaseInbound(target: InboundTarget): void {
    const key = `${target.workload.namespace}/${target.workload.name}`;
    const entry = this.inboundTopics.get(key);
    if (entry?.ports.get(target.port)?.watcherCount !== 0) return;
    entry.ports.delete(target.port);
    if (entry.ports.size === 0) this.inboundTopics.delete(key);
  }

  /** Forgets the outbound topic of `target` for that caller namespace when nobody watches it any more. */
  releaseOutbound(target: OutboundTarget, sourceNamespace: string | undefined): void {
    const [map, key] = this.outboundSlot(target);
    const byCaller = map.get(key);
    if (byCaller?.get(sourceKey(sourceNamespace))?.topic.watcherCount !== 0) return;
    byCaller.delete(sourceKey(sourceNamespace));
    if (byCaller.size === 0) map.delete(key);
  }

  /** Topics held (watched keys). */
  get topicCount(): number {
    let n = 0;
    for (const e of this.inboundTopics.values()) n += e.ports.size;
    for (const m of [...this.serviceTopics.values(), ...this.addrTopics.values()]) n += m.size;
    return n;
  }

  private outboundSlot(target: OutboundTarget): [Map<string, Map<string, OutboundEntry>>, string] {
    if (target.kind === 'addr') return [this.addrTopics, target.key];
    return [this.serviceTopics, subjects.outboundPolicy(target.service.namespace, target.service.service, target.service.port)];
  }

  private refresh(topic: WatchTopic<PolicySnapshot>, encoded: Buffer | undefined): void {
    const current = topic.current.encoded;
    if (current === encoded || (current && encoded && current.equals(encoded))) return;
    topic.update({ version: ++this.version, encoded });
  }

  private refreshInbound(workload: WorkloadRef, ports: Map<number, WatchTopic<PolicySnapshot>>): void {
    const subject = inboundSubject(workload);
    for (const [port, topic] of ports) this.refresh(topic, this.encodeInbound(workload, port, subject));
  }

  private encodeInbound(workload: WorkloadRef, port: number, subject: string | undefined): Buffer {
    const policy = subject ? (this.lookup(subject)?.data as InboundPolicy | undefined) : undefined;
    const defaults = this.lookup(subjects.policyDefaults)?.data as PolicyDefaults | undefined;
    return Buffer.from(inbound.Server.encode(toInboundServer(inboundServerFor(policy, defaults, workload, port))).finish());
  }

  private encodeOutbound(target: OutboundTarget, sourceNamespace: string | undefined): Buffer | undefined {
    if (target.kind === 'addr') {
      return Buffer.from(outbound.OutboundPolicy.encode(this.addressPolicy(target, sourceNamespace)).finish());
    }
    const s = target.service;
    const policy = this.lookup(subjects.outboundPolicy(s.namespace, s.service, s.port))?.data as OutboundPolicy | undefined;
    return policy ? Buffer.from(outbound.OutboundPolicy.encode(toOutboundPolicy(policy, sourceNamespace)).finish()) : undefined;
  }

  /** The policy of an address: its service's (a cluster IP), a forward to a known endpoint, or a plain forward. */
  private addressPolicy(target: Extract<OutboundTarget, { kind: 'addr' }>, sourceNamespace: string | undefined): outbound.OutboundPolicy {
    const answer = this.addresses.resolve(target.key);
    if (answer.kind === 'service') {
      const s = answer.service;
      const state = this.lookup(subjects.outboundPolicy(s.namespace, s.service, s.port))?.data as OutboundPolicy | undefined;
      if (state) return toOutboundPolicy(state, sourceNamespace);
    }
    if (answer.kind === 'endpoint') return endpointForwardPolicy(answer.claim);
    return forwardPolicy(target.addr);
  }
}
