import { describe, expect, it } from 'vitest';
import { subjects, type Endpoint, type EndpointSet, type OutboundPolicy } from '@meshbus/bus-schemas';
import { AddressIndex, sameEndpoint } from './address-index.js';

const endpoint = (address: string, over: Partial<Endpoint> = {}): Endpoint => ({
  address,
  port: 8080,
  weight: 10000,
  identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
  protocolHint: 'h2',
  labels: { workload: 'web-1', serviceaccount: 'web' },
  workload: { kind: 'Workload', namespace: 'shop', name: 'web-1' },
  ...over,
});
const set = (service: string, endpoints: Endpoint[], over: Partial<EndpointSet> = {}): EndpointSet => ({ namespace: 'shop', service, port: 80, labels: { namespace: 'shop', service }, endpoints, ...over });
const policy = (service: string, addresses: string[], port = 80): OutboundPolicy => ({
  namespace: 'shop',
  service,
  port,
  metadata: { group: 'core', kind: 'Service', namespace: 'shop', name: service, port },
  authority: `${service}.shop.svc.cluster.local:${port}`,
  addresses,
  protocol: 'detect',
  routes: { httpRoutes: [], grpcRoutes: [] },
  consumerRoutes: [],
});
const webEndpoints = subjects.endpoints('shop', 'web', 80);
const webPolicy = subjects.outboundPolicy('shop', 'web', 80);

describe('AddressIndex', () => {
  it('knows the cluster IPs of service ports and the endpoints of services, and nothing else', () => {
    const index = new AddressIndex();
    expect(index.resolve('10.96.0.10:80')).toEqual({ kind: 'unknown' });
    index.apply(webPolicy, policy('web', ['10.96.0.10', 'FD00:0::A']));
    index.apply(webEndpoints, set('web', [endpoint('10.1.0.5')]));
    expect(index.resolve('10.96.0.10:80')).toEqual({ kind: 'service', service: { namespace: 'shop', service: 'web', port: 80 } });
    // IPv6 keys hold the canonical form of the address.
    expect(index.resolve('[fd00::a]:80')).toEqual({ kind: 'service', service: { namespace: 'shop', service: 'web', port: 80 } });
    // A cluster IP is a service only at the service's port.
    expect(index.resolve('10.96.0.10:81').kind).toBe('unknown');
    const found = index.resolve('10.1.0.5:8080');
    expect(found.kind).toBe('endpoint');
    if (found.kind === 'endpoint') {
      expect(found.claim.endpoint.identity).toBe('web.shop.serviceaccount.identity.meshbus.cluster.local');
      expect(found.claim.set).toEqual({ namespace: 'shop', service: 'web', port: 80 });
      expect(found.claim.opaque).toBe(false);
    }
    // An endpoint is known at its own (target) port only.
    expect(index.resolve('10.1.0.5:80').kind).toBe('unknown');
    expect(index.size).toEqual({ services: 2, endpoints: 1 });
    // Other subjects are not about addresses.
    expect([...index.apply(subjects.profile('shop', 'web'), {})]).toEqual([]);
  });

  it('reports the keys whose answer changed: added, removed, or with other metadata', () => {
    const index = new AddressIndex();
    expect([...index.apply(webEndpoints, set('web', [endpoint('10.1.0.5'), endpoint('10.1.0.6')]))].sort()).toEqual(['10.1.0.5:8080', '10.1.0.6:8080']);
    // The same set again (a new event with equal content) changes nothing.
    expect([...index.apply(webEndpoints, set('web', [endpoint('10.1.0.5'), endpoint('10.1.0.6')]))]).toEqual([]);
    const changed = index.apply(webEndpoints, set('web', [endpoint('10.1.0.5', { identity: 'other.shop.serviceaccount.identity.meshbus.cluster.local' }), endpoint('10.1.0.7')]));
    expect([...changed].sort()).toEqual(['10.1.0.5:8080', '10.1.0.6:8080', '10.1.0.7:8080']);
    expect([...index.apply(webEndpoints, set('web', [endpoint('10.1.0.5', { identity: 'other.shop.serviceaccount.identity.meshbus.cluster.local', labels: { workload: 'web-9' } }), endpoint('10.1.0.7')]))]).toEqual(['10.1.0.5:8080']);
    expect([...index.apply(webEndpoints, set('web', [endpoint('10.1.0.5', { identity: 'other.shop.serviceaccount.identity.meshbus.cluster.local', labels: { workload: 'web-9' } }), endpoint('10.1.0.7')], { opaque: true }))].sort()).toEqual(['10.1.0.5:8080', '10.1.0.7:8080']);
    expect([...index.apply(webEndpoints, undefined)].sort()).toEqual(['10.1.0.5:8080', '10.1.0.7:8080']);
    expect(index.resolve('10.1.0.5:8080').kind).toBe('unknown');
    expect(index.size).toEqual({ services: 0, endpoints: 0 });
  });

  it('reports every cluster IP of a changed outbound policy, whose content is the answer', () => {
    const index = new AddressIndex();
    expect([...index.apply(webPolicy, policy('web', ['10.96.0.10']))]).toEqual(['10.96.0.10:80']);
    expect([...index.apply(webPolicy, policy('web', ['10.96.0.10']))]).toEqual(['10.96.0.10:80']);
    expect([...index.apply(webPolicy, policy('web', ['10.96.0.11']))].sort()).toEqual(['10.96.0.10:80', '10.96.0.11:80']);
    expect([...index.apply(webPolicy, undefined)]).toEqual(['10.96.0.11:80']);
  });

  it('gives the first claimant by subject when two claim one address, and a cluster IP before an endpoint', () => {
    const index = new AddressIndex();
    index.apply(subjects.endpoints('shop', 'zzz', 80), set('zzz', [endpoint('10.1.0.5', { identity: 'z.shop.serviceaccount.identity.meshbus.cluster.local' })]));
    index.apply(webEndpoints, set('web', [endpoint('10.1.0.5')]));
    const answer = index.resolve('10.1.0.5:8080');
    expect(answer.kind === 'endpoint' && answer.claim.set.service).toBe('web');
    index.apply(webEndpoints, set('web', []));
    const after = index.resolve('10.1.0.5:8080');
    expect(after.kind === 'endpoint' && after.claim.set.service).toBe('zzz');
    index.apply(subjects.outboundPolicy('shop', 'odd', 8080), policy('odd', ['10.1.0.5'], 8080));
    expect(index.resolve('10.1.0.5:8080').kind).toBe('service');
  });

  it('skips addresses that do not parse, and keeps the first of two entries of one address in a set', () => {
    const index = new AddressIndex();
    index.apply(webEndpoints, set('web', [endpoint('not-an-ip'), endpoint('10.1.0.5', { weight: 1 }), endpoint('10.1.0.5', { weight: 2 })]));
    index.apply(webPolicy, policy('web', ['nope']));
    expect(index.size).toEqual({ services: 0, endpoints: 1 });
    const answer = index.resolve('10.1.0.5:8080');
    expect(answer.kind === 'endpoint' && answer.claim.endpoint.weight).toBe(1);
  });
});

describe('sameEndpoint', () => {
  it('compares every field a proxy sees', () => {
    const base = endpoint('10.1.0.5', { serverName: 's', opaqueTransportPort: 4143, zone: 'a' });
    expect(sameEndpoint(base, { ...base, labels: { ...base.labels } })).toBe(true);
    const variants: Partial<Endpoint>[] = [
      { address: '10.1.0.6' },
      { port: 1 },
      { weight: 1 },
      { identity: undefined },
      { serverName: 't' },
      { protocolHint: 'opaque' },
      { opaqueTransportPort: 1 },
      { zone: 'b' },
      { workload: { kind: 'Workload', namespace: 'shop', name: 'web-2' } },
      { labels: { workload: 'web-1' } },
      { labels: { workload: 'web-1', serviceaccount: 'other' } },
    ];
    for (const v of variants) expect(sameEndpoint(base, { ...base, ...v }), JSON.stringify(v)).toBe(false);
  });
});
