import { describe, expect, it } from 'vitest';
import { subjects, type EndpointSet, type InboundPolicy, type OutboundPolicy, type PolicyDefaults } from '@meshbus/bus-schemas';
import type { BusEvent } from '@meshbus/bus';
import { inbound, outbound } from '@meshbus/proxy-api';
import { AddressIndex } from './address-index.js';
import { notFound, PolicyIndex, type PolicySnapshot } from './policy-index.js';
import type { OutboundTarget } from './policy-target.js';
import type { StreamSink, WatchTopic } from './watch-topic.js';

/** A state view in a map: set or delete a key, and the index hears of it. */
function bus() {
  const state = new Map<string, BusEvent>();
  const addresses = new AddressIndex();
  const index = new PolicyIndex((s) => state.get(s), addresses);
  const put = (kind: BusEvent['kind'], subject: string, data: unknown) => {
    const event = { kind, natsSubject: subject, data } as BusEvent;
    state.set(subject, event);
    index.onStateChange(subject, event, addresses.apply(subject, data));
  };
  const remove = (subject: string) => {
    state.delete(subject);
    index.onStateChange(subject, undefined, addresses.apply(subject, undefined));
  };
  return { index, put, remove };
}

/** A stream that decodes what it is sent. */
function stream<T>(topic: WatchTopic<PolicySnapshot>, decode: (b: Buffer) => T) {
  const got: (T | 'not-found')[] = [];
  const sink: StreamSink = { write: (m) => (got.push(m === notFound ? 'not-found' : decode(m)), true), onceDrained: () => {} };
  topic.watch(sink);
  return got;
}

const server = (name: string) => ({ metadata: { default: name }, protocol: 'opaque' as const, labels: { name }, authorizations: [] });
const webPolicy = (portName: string): InboundPolicy => ({ namespace: 'shop', workload: 'web-1', defaultPolicy: 'deny', ports: [{ port: 8080, server: server(portName) }], defaultServer: server('web-default') });
const defaults = (policy: PolicyDefaults['defaultPolicy']): PolicyDefaults => ({ defaultPolicy: policy, clusterNetworks: ['10.0.0.0/8'], probeNetworks: [], detectTimeoutMs: 1000, identityDomain: 'identity.meshbus.cluster.local', namespaces: [{ namespace: 'locked', defaultPolicy: 'deny' }] });
const web = { namespace: 'shop', name: 'web-1' };
const labels = (b: Buffer) => inbound.Server.decode(b).labels.name;

describe('PolicyIndex, inbound', () => {
  it('answers with the server of the port, the default server of the workload, or the defaults for an unknown workload', () => {
    const { index, put } = bus();
    expect(labels(index.inboundNow({ workload: web, port: 8080 }))).toBe('all-unauthenticated');
    put('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), webPolicy('web-http'));
    expect(labels(index.inboundNow({ workload: web, port: 8080 }))).toBe('web-http');
    expect(labels(index.inboundNow({ workload: web, port: 9090 }))).toBe('web-default');
    put('policyDefaults', subjects.policyDefaults, defaults('cluster-authenticated'));
    expect(labels(index.inboundNow({ workload: { namespace: 'shop', name: 'other' }, port: 80 }))).toBe('cluster-authenticated');
    expect(labels(index.inboundNow({ workload: { namespace: 'locked', name: 'other' }, port: 80 }))).toBe('deny');
    // A name no subject can hold has no policy of its own: the defaults apply.
    expect(labels(index.inboundNow({ workload: { namespace: 'shop', name: 'web.1' }, port: 80 }))).toBe('cluster-authenticated');
  });

  it('sends a watch the server first, then only changes that change what the proxy gets', () => {
    const { index, put, remove } = bus();
    const topic = index.inboundTopic({ workload: web, port: 8080 });
    const got = stream(topic, labels);
    expect(got).toEqual([]); // not live: nothing until the view has caught up
    put('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), webPolicy('web-http'));
    index.goLive();
    expect(got).toEqual(['web-http']);
    put('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), webPolicy('web-http'));
    put('policyDefaults', subjects.policyDefaults, defaults('deny')); // the workload has its own policy
    expect(got).toEqual(['web-http']);
    put('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), webPolicy('web-http-2'));
    remove(subjects.inboundPolicy('shop', 'web-1'));
    expect(got).toEqual(['web-http', 'web-http-2', 'deny']);
    put('policyDefaults', subjects.policyDefaults, defaults('all-authenticated'));
    expect(got.at(-1)).toBe('all-authenticated');
  });

  it('forgets topics nobody watches', () => {
    const { index } = bus();
    const topic = index.inboundTopic({ workload: web, port: 8080 });
    const w = topic.watch({ write: () => true, onceDrained: () => {} });
    index.releaseInbound({ workload: web, port: 8080 });
    expect(index.topicCount).toBe(1);
    topic.unwatch(w);
    index.releaseInbound({ workload: web, port: 8080 });
    expect(index.topicCount).toBe(0);
  });
});

const outPolicy = (name: string, addresses: string[], over: Partial<OutboundPolicy> = {}): OutboundPolicy => ({
  namespace: 'shop',
  service: name,
  port: 80,
  metadata: { group: 'core', kind: 'Service', namespace: 'shop', name, port: 80 },
  authority: `${name}.shop.svc.cluster.local:80`,
  addresses,
  protocol: 'opaque',
  routes: { httpRoutes: [], grpcRoutes: [] },
  consumerRoutes: [],
  ...over,
});
const serviceTarget = (name: string): OutboundTarget => ({ kind: 'service', service: { service: name, namespace: 'shop', port: 80, fqdn: `${name}.shop.svc.cluster.local` } });
const addrTarget = (ip: number, text: string): OutboundTarget => ({ kind: 'addr', key: `${text}:80`, addr: { ip: { ip: { $case: 'ipv4', ipv4: ip } }, port: 80 } });
const metaName = (b: Buffer) => {
  const m = outbound.OutboundPolicy.decode(b).metadata?.kind;
  return m?.$case === 'resource' ? m.resource.name : m?.$case === 'default' ? `default:${m.default}` : undefined;
};

describe('PolicyIndex, outbound', () => {
  it('finds a service by name, and by any of its addresses at its port', () => {
    const { index, put } = bus();
    put('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), outPolicy('web', ['10.96.0.10', 'fd00::a']));
    expect(metaName(index.outboundNow(serviceTarget('web'), undefined)!)).toBe('web');
    expect(index.outboundNow(serviceTarget('api'), undefined)).toBeUndefined();
    expect(metaName(index.outboundNow(addrTarget(0x0a60000a, '10.96.0.10'), undefined)!)).toBe('web');
    const v6: OutboundTarget = { kind: 'addr', key: '[fd00::a]:80', addr: { ip: { ip: { $case: 'ipv6', ipv6: { first: 0xfd00000000000000n, last: 10n } } }, port: 80 } };
    expect(metaName(index.outboundNow(v6, undefined)!)).toBe('web');
    expect(metaName(index.outboundNow(addrTarget(0x0a60000b, '10.96.0.11'), undefined)!)).toBe('default:forward');
  });

  it('moves a watch by address between the forward policy and the service that claims the address', () => {
    const { index, put, remove } = bus();
    index.goLive();
    const got = stream(index.outboundTopic(addrTarget(0x0a60000a, '10.96.0.10'), undefined), metaName);
    put('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), outPolicy('web', ['10.96.0.10']));
    // Another service claiming the same address does not take it: the first by subject keeps it.
    put('outboundPolicy', subjects.outboundPolicy('shop', 'zzz', 80), outPolicy('zzz', ['10.96.0.10']));
    put('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), outPolicy('web', []));
    remove(subjects.outboundPolicy('shop', 'zzz', 80));
    expect(got).toEqual(['default:forward', 'web', 'zzz', 'default:forward']);
  });

  it('ends a watch by name with not-found when the service has no policy', () => {
    const { index, put, remove } = bus();
    put('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), outPolicy('web', []));
    index.goLive();
    const got = stream(index.outboundTopic(serviceTarget('web'), 'canary'), metaName);
    remove(subjects.outboundPolicy('shop', 'web', 80));
    expect(got).toEqual(['web', 'not-found']);
    expect(stream(index.outboundTopic(serviceTarget('api'), undefined), metaName)).toEqual(['not-found']);
  });

  it('keeps one topic per caller namespace, so that consumer routes reach only their callers', () => {
    const { index, put } = bus();
    index.goLive();
    const routes = (name: string) => ({ httpRoutes: [{ metadata: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'shop', name }, rules: [{ matches: [], backends: [] }] }], grpcRoutes: [] });
    const routeName = (b: Buffer) => {
      const k = outbound.OutboundPolicy.decode(b).protocol?.kind;
      const m = k?.$case === 'http1' ? k.http1.routes[0]?.metadata?.kind : undefined;
      return m?.$case === 'resource' ? m.resource.name : undefined;
    };
    const canary = stream(index.outboundTopic(serviceTarget('web'), 'canary'), routeName);
    const shop = stream(index.outboundTopic(serviceTarget('web'), 'shop'), routeName);
    put('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), outPolicy('web', [], { protocol: 'http1', routes: routes('producer'), consumerRoutes: [{ namespace: 'canary', routes: routes('consumer') }] }));
    expect(canary).toEqual(['not-found', 'consumer']);
    expect(shop).toEqual(['not-found', 'producer']);
    expect(index.topicCount).toBe(2);
  });
});

describe('PolicyIndex, outbound by the address of an endpoint', () => {
  const identity = (sa: string) => `${sa}.shop.serviceaccount.identity.meshbus.cluster.local`;
  const podSet = (endpoints: EndpointSet['endpoints'], opaque = false): EndpointSet => ({ namespace: 'shop', service: 'web', port: 80, opaque, labels: { namespace: 'shop', service: 'web' }, endpoints });
  const pod = (sa: string, over: Partial<EndpointSet['endpoints'][number]> = {}) => ({
    address: '10.1.0.5',
    port: 8080,
    weight: 10000,
    identity: identity(sa),
    protocolHint: 'h2' as const,
    labels: { workload: 'web-1', serviceaccount: sa },
    workload: { kind: 'Workload', namespace: 'shop', name: 'web-1' },
    ...over,
  });
  const podTarget: OutboundTarget = { kind: 'addr', key: '10.1.0.5:8080', addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a010005 } }, port: 8080 } };
  /** The protocol and the forward backend of the policy (the first rule of the opaque route). */
  const forwardOf = (b: Buffer) => {
    const p = outbound.OutboundPolicy.decode(b);
    const kind = p.protocol?.kind;
    const opaque = kind?.$case === 'detect' ? kind.detect.opaque : kind?.$case === 'opaque' ? kind.opaque : undefined;
    const dist = opaque?.routes[0]?.rules[0]?.backends?.kind;
    const backend = dist?.$case === 'firstAvailable' ? dist.firstAvailable.backends[0]?.backend?.kind : undefined;
    const forward = backend?.$case === 'forward' ? backend.forward : undefined;
    const id = forward?.tlsIdentity?.strategy;
    return {
      protocol: kind?.$case,
      identity: id?.$case === 'dnsLikeIdentity' ? id.dnsLikeIdentity.name : undefined,
      serverName: forward?.tlsIdentity?.serverName?.name,
      hint: forward?.protocolHint?.protocol?.$case,
      transport: forward?.protocolHint?.opaqueTransport?.inboundPort,
      labels: forward?.metricLabels,
    };
  };

  it('forwards to a known endpoint with its identity, hint and labels, as Destination gives them', () => {
    const { index, put } = bus();
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('web')]));
    expect(forwardOf(index.outboundNow(podTarget, undefined)!)).toEqual({
      protocol: 'detect',
      identity: identity('web'),
      serverName: identity('web'),
      hint: 'h2',
      transport: undefined,
      labels: { workload: 'web-1', serviceaccount: 'web' },
    });
    // Its HTTP routes forward to the same endpoint.
    const p = outbound.OutboundPolicy.decode(index.outboundNow(podTarget, undefined)!);
    const kind = p.protocol?.kind;
    const dist = kind?.$case === 'detect' ? kind.detect.http2?.routes[0]?.rules[0]?.backends?.kind : undefined;
    const http = dist?.$case === 'firstAvailable' ? dist.firstAvailable.backends[0]?.backend?.kind : undefined;
    expect(http?.$case === 'forward' && http.forward.tlsIdentity?.serverName?.name).toBe(identity('web'));
    // Another port of the same IP is not that endpoint.
    const otherPort: OutboundTarget = { ...podTarget, key: '10.1.0.5:9090', addr: { ...podTarget.addr, port: 9090 } };
    expect(forwardOf(index.outboundNow(otherPort, undefined)!)).toMatchObject({ protocol: 'detect', identity: undefined, hint: undefined });
  });

  it('gives an opaque endpoint the opaque protocol with its transport port, without detection', () => {
    const { index, put } = bus();
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('db', { protocolHint: 'opaque', opaqueTransportPort: 4143 })], true));
    expect(forwardOf(index.outboundNow(podTarget, undefined)!)).toMatchObject({ protocol: 'opaque', identity: identity('db'), hint: 'opaque', transport: 4143 });
    // An endpoint without proxy on an opaque port: opaque too, but plain (no identity, no hint).
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('db', { identity: undefined, protocolHint: 'unknown' })], true));
    expect(forwardOf(index.outboundNow(podTarget, undefined)!)).toMatchObject({ protocol: 'opaque', identity: undefined, hint: undefined });
  });

  it('updates a watch when the endpoint appears, changes identity, or goes (back to a plain forward)', () => {
    const { index, put, remove } = bus();
    index.goLive();
    const got = stream(index.outboundTopic(podTarget, undefined), (b) => forwardOf(b).identity ?? 'plain');
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('web')]));
    // A change elsewhere in the set, or in another set, sends nothing.
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('web'), pod('web', { address: '10.1.0.6' })]));
    put('endpointSet', subjects.endpoints('shop', 'api', 80), podSet([pod('api', { address: '10.1.0.7' })]));
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('web-v2'), pod('web', { address: '10.1.0.6' })]));
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('web', { address: '10.1.0.6' })]));
    put('endpointSet', subjects.endpoints('shop', 'web', 80), podSet([pod('web-v3')]));
    remove(subjects.endpoints('shop', 'web', 80));
    expect(got).toEqual(['plain', identity('web'), identity('web-v2'), 'plain', identity('web-v3'), 'plain']);
  });
});
