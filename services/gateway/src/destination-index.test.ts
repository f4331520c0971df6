import { describe, expect, it } from 'vitest';
import { subjects, type Endpoint, type EndpointSet, type OutboundPolicy, type ServiceProfileState } from '@meshbus/bus-schemas';
import type { BusEvent } from '@meshbus/bus';
import { destination } from '@meshbus/proxy-api';
import { AddressIndex } from './address-index.js';
import { DestinationIndex } from './destination-index.js';
import { parseDestinationTarget, type DestinationTarget } from './destination-path.js';
import type { StreamSink, WatchTopic } from './watch-topic.js';
import type { Snapshot } from './watch-topic.js';

/** A state view in a map, feeding the address index first as the gateway does. */
function bus() {
  const state = new Map<string, BusEvent>();
  const addresses = new AddressIndex();
  const index = new DestinationIndex((s) => state.get(s), { addresses, clusterDomain: 'cluster.local' });
  const put = (subject: string, data: unknown) => {
    const event = { natsSubject: subject, data } as BusEvent;
    state.set(subject, event);
    index.onStateChange(subject, event, addresses.apply(subject, data));
  };
  const remove = (subject: string) => {
    state.delete(subject);
    index.onStateChange(subject, undefined, addresses.apply(subject, undefined));
  };
  return { index, put, remove };
}

const target = (path: string): DestinationTarget => parseDestinationTarget(path, 'cluster.local');

function stream<S extends Snapshot, T>(topic: WatchTopic<S>, decode: (b: Buffer) => T): T[] {
  const got: T[] = [];
  const sink: StreamSink = { write: (m) => (got.push(decode(m)), true), onceDrained: () => {} };
  topic.watch(sink);
  return got;
}

const ipText = (a: destination.WeightedAddr['addr']) => {
  const ip = a?.ip?.ip;
  return ip?.$case === 'ipv4' ? `${ip.ipv4 >>> 24}.${(ip.ipv4 >>> 16) & 255}.${(ip.ipv4 >>> 8) & 255}.${ip.ipv4 & 255}:${a!.port}` : `v6:${a?.port}`;
};
const idOf = (a: destination.WeightedAddr) => (a.tlsIdentity?.strategy?.$case === 'dnsLikeIdentity' ? a.tlsIdentity.strategy.dnsLikeIdentity.name.split('.')[0] : 'none');
/** An update as text: `add ns=shop 10.1.0.5:8080(web,h2)`, `remove 10.1.0.5:8080`, `none exists`. */
function updateText(b: Buffer): string {
  const u = destination.Update.decode(b).update;
  if (u?.$case === 'add') {
    const labels = Object.entries(u.add.metricLabels).map(([k, v]) => `${k}=${v}`).sort().join(',');
    return `add ${labels} ${u.add.addrs.map((a) => `${ipText(a.addr)}(${idOf(a)},${a.protocolHint?.protocol?.$case ?? '-'})`).join(' ')}`;
  }
  if (u?.$case === 'remove') return `remove ${u.remove.addrs.map((a) => ipText(a)).join(' ')}`;
  return u?.$case === 'noEndpoints' ? `none ${u.noEndpoints.exists ? 'exists' : 'unknown'}` : 'empty';
}

const ep = (address: string, sa: string, over: Partial<Endpoint> = {}): Endpoint => ({
  address,
  port: 8080,
  weight: 10000,
  identity: `${sa}.shop.serviceaccount.identity.meshbus.cluster.local`,
  protocolHint: 'h2',
  labels: { workload: `${sa}-1`, serviceaccount: sa },
  workload: { kind: 'Workload', namespace: 'shop', name: `${sa}-1` },
  ...over,
});
const set = (service: string, endpoints: Endpoint[], opaque = false): EndpointSet => ({ namespace: 'shop', service, port: 80, opaque, labels: { namespace: 'shop', service }, endpoints });
const policy = (service: string, addresses: string[]): OutboundPolicy => ({
  namespace: 'shop',
  service,
  port: 80,
  metadata: { group: 'core', kind: 'Service', namespace: 'shop', name: service, port: 80 },
  authority: `${service}.shop.svc.cluster.local:80`,
  addresses,
  protocol: 'detect',
  routes: { httpRoutes: [], grpcRoutes: [] },
  consumerRoutes: [],
});
const profileState = (service: string, opaquePorts: number[] = []): ServiceProfileState => ({ namespace: 'shop', service, routes: [], dstOverrides: [], opaquePorts });

describe('DestinationIndex, Get by address', () => {
  it('answers a cluster IP with the service, an endpoint with itself, anything else with the bare address', () => {
    const { index, put } = bus();
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web'), ep('10.1.0.6', 'web')]));
    put(subjects.outboundPolicy('shop', 'web', 80), policy('web', ['10.96.0.10']));
    index.goLive();
    expect(stream(index.endpointTopic(target('10.96.0.10:80')), updateText)).toEqual(['add namespace=shop,service=web 10.1.0.5:8080(web,h2) 10.1.0.6:8080(web,h2)']);
    expect(stream(index.endpointTopic(target('10.1.0.5:8080')), updateText)).toEqual(['add namespace=shop 10.1.0.5:8080(web,h2)']);
    expect(stream(index.endpointTopic(target('10.2.0.1:443')), updateText)).toEqual(['add  10.2.0.1:443(none,-)']);
    const [v6] = stream(index.endpointTopic(target('[fd00::1]:443')), (b) => destination.Update.decode(b).update);
    expect(v6?.$case === 'add' && v6.add.addrs[0]?.addr?.ip?.ip?.$case).toBe('ipv6');
    expect(v6?.$case === 'add' && v6.add.addrs[0]?.weight).toBe(10000);
  });

  it('follows the service of a cluster IP, and an endpoint through identity changes and removal', () => {
    const { index, put, remove } = bus();
    const byClusterIp = stream(index.endpointTopic(target('10.96.0.10:80')), updateText);
    const byPod = stream(index.endpointTopic(target('10.1.0.5:8080')), updateText);
    // Nothing before the view has caught up; then the state as it is.
    put(subjects.outboundPolicy('shop', 'web', 80), policy('web', ['10.96.0.10']));
    expect(byClusterIp).toEqual([]);
    index.goLive();
    expect(byClusterIp).toEqual(['none unknown']);
    expect(byPod).toEqual(['add  10.1.0.5:8080(none,-)']);
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web')]));
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web'), ep('10.1.0.6', 'web')]));
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web-v2'), ep('10.1.0.6', 'web')]));
    remove(subjects.endpoints('shop', 'web', 80));
    expect(byClusterIp).toEqual([
      'none unknown',
      'add namespace=shop,service=web 10.1.0.5:8080(web,h2)',
      'add namespace=shop,service=web 10.1.0.6:8080(web,h2)',
      'add namespace=shop,service=web 10.1.0.5:8080(web-v2,h2)',
      'none unknown',
    ]);
    expect(byPod).toEqual(['add  10.1.0.5:8080(none,-)', 'add namespace=shop 10.1.0.5:8080(web,h2)', 'add namespace=shop 10.1.0.5:8080(web-v2,h2)', 'add  10.1.0.5:8080(none,-)']);
    // The cluster IP given up: the stream becomes the bare address.
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web')]));
    put(subjects.outboundPolicy('shop', 'web', 80), policy('web', []));
    expect(byClusterIp.slice(5)).toEqual(['add namespace=shop,service=web 10.1.0.5:8080(web,h2)', 'remove 10.1.0.5:8080', 'add  10.96.0.10:80(none,-)']);
  });

  it('forgets address topics nobody watches, and what they depended on', () => {
    const { index, put } = bus();
    put(subjects.outboundPolicy('shop', 'web', 80), policy('web', ['10.96.0.10']));
    const t = target('10.96.0.10:80');
    const topic = index.endpointTopic(t);
    const profile = index.profileTopic(t);
    expect(index.topicCount).toBe(2);
    const w = topic.watch({ write: () => true, onceDrained: () => {} });
    index.release(t);
    expect(index.topicCount).toBe(1);
    topic.unwatch(w);
    index.release(t);
    expect(index.topicCount).toBe(0);
    expect(profile.watcherCount).toBe(0);
    // A later change of the service reaches no forgotten topic (and fails nothing).
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web')]));
    put(subjects.profile('shop', 'web'), profileState('web'));
  });
});

const profileText = (b: Buffer) => {
  const p = destination.DestinationProfile.decode(b);
  const parent = p.parentRef?.kind?.$case === 'resource' ? p.parentRef.kind.resource.name : '-';
  return `${p.fullyQualifiedName || '-'} opaque=${p.opaqueProtocol} parent=${parent} endpoint=${p.endpoint ? `${ipText(p.endpoint.addr)}(${idOf(p.endpoint)},${p.endpoint.protocolHint?.protocol?.$case ?? '-'})` : '-'} budget=${p.retryBudget?.retryRatio.toFixed(1)}`;
};

describe('DestinationIndex, GetProfile by address', () => {
  it('gives a cluster IP its service profile, an endpoint a profile with endpoint set, anything else the defaults', () => {
    const { index, put } = bus();
    put(subjects.endpoints('shop', 'db', 80), set('db', [ep('10.1.0.9', 'db', { protocolHint: 'opaque', opaqueTransportPort: 4143 })], true));
    put(subjects.outboundPolicy('shop', 'web', 80), policy('web', ['10.96.0.10']));
    put(subjects.profile('shop', 'web'), profileState('web', [80]));
    index.goLive();
    expect(stream(index.profileTopic(target('10.96.0.10:80')), profileText)).toEqual(['web.shop.svc.cluster.local opaque=true parent=web endpoint=- budget=0.2']);
    expect(stream(index.profileTopic(target('10.1.0.9:8080')), profileText)).toEqual(['- opaque=true parent=- endpoint=10.1.0.9:8080(db,opaque) budget=0.2']);
    expect(stream(index.profileTopic(target('10.2.0.1:80')), profileText)).toEqual(['- opaque=false parent=- endpoint=- budget=0.2']);
  });

  it('follows the service profile of a cluster IP and the endpoint of a pod address', () => {
    const { index, put, remove } = bus();
    put(subjects.outboundPolicy('shop', 'web', 80), policy('web', ['10.96.0.10']));
    index.goLive();
    const byClusterIp = stream(index.profileTopic(target('10.96.0.10:80')), profileText);
    const byPod = stream(index.profileTopic(target('10.1.0.5:8080')), profileText);
    put(subjects.profile('shop', 'web'), profileState('web'));
    put(subjects.profile('shop', 'web'), profileState('web')); // no change: nothing sent
    put(subjects.profile('shop', 'web'), profileState('web', [80]));
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web')]));
    put(subjects.endpoints('shop', 'web', 80), set('web', [ep('10.1.0.5', 'web', { protocolHint: 'opaque' })]));
    remove(subjects.endpoints('shop', 'web', 80));
    expect(byClusterIp).toEqual([
      'web.shop.svc.cluster.local opaque=false parent=- endpoint=- budget=0.2',
      'web.shop.svc.cluster.local opaque=false parent=web endpoint=- budget=0.2',
      'web.shop.svc.cluster.local opaque=true parent=web endpoint=- budget=0.2',
    ]);
    expect(byPod).toEqual([
      '- opaque=false parent=- endpoint=- budget=0.2',
      '- opaque=false parent=- endpoint=10.1.0.5:8080(web,h2) budget=0.2',
      '- opaque=true parent=- endpoint=10.1.0.5:8080(web,opaque) budget=0.2',
      '- opaque=false parent=- endpoint=- budget=0.2',
    ]);
  });
});
