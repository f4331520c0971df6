import { describe, expect, it } from 'vitest';
import type { destination } from '@meshbus/proxy-api';
import { proxyReadiness } from './proxy-admin.js';
import { addressText, applyDestinationUpdate, emptyDestination } from './watches.js';

const ip4 = (a: number, b: number, c: number, d: number, port: number) => ({ ip: { ip: { $case: 'ipv4' as const, ipv4: ((a << 24) >>> 0) + (b << 16) + (c << 8) + d } }, port });

function weighted(addr: ReturnType<typeof ip4>, identity?: string): destination.WeightedAddr {
  return {
    addr,
    weight: 10000,
    metricLabels: { pod: 'api-1' },
    tlsIdentity: identity === undefined ? undefined : { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: identity } }, serverName: { name: identity } },
    protocolHint: { protocol: { $case: 'h2', h2: {} }, opaqueTransport: { inboundPort: 4143 } },
    authorityOverride: undefined,
    http2: undefined,
    resourceRef: undefined,
  };
}

describe('applyDestinationUpdate', () => {
  it('adds, removes and clears endpoints, keeping identities and hints', () => {
    let state = applyDestinationUpdate(emptyDestination, {
      update: { $case: 'add', add: { addrs: [weighted(ip4(10, 0, 0, 1, 80), 'api.shop.serviceaccount.identity.meshbus.cluster.local'), weighted(ip4(10, 0, 0, 2, 80))], metricLabels: { service: 'api' } } },
    });
    expect(state.exists).toBe(true);
    expect([...state.endpoints.keys()]).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    expect(state.endpoints.get('10.0.0.1:80')).toEqual({
      address: '10.0.0.1:80',
      weight: 10000,
      tlsIdentity: 'api.shop.serviceaccount.identity.meshbus.cluster.local',
      serverName: 'api.shop.serviceaccount.identity.meshbus.cluster.local',
      protocolHint: 'h2',
      opaqueTransportPort: 4143,
      authorityOverride: undefined,
      metricLabels: { service: 'api', pod: 'api-1' },
    });
    expect(state.endpoints.get('10.0.0.2:80')?.tlsIdentity).toBeUndefined();

    const before = state;
    state = applyDestinationUpdate(state, { update: { $case: 'remove', remove: { addrs: [ip4(10, 0, 0, 1, 80)] } } });
    expect([...state.endpoints.keys()]).toEqual(['10.0.0.2:80']);
    expect(before.endpoints.size).toBe(2);

    state = applyDestinationUpdate(state, { update: { $case: 'noEndpoints', noEndpoints: { exists: true } } });
    expect(state).toEqual({ exists: true, endpoints: new Map() });
    expect(applyDestinationUpdate(state, { update: { $case: 'noEndpoints', noEndpoints: { exists: false } } }).exists).toBe(false);
  });

  it('writes IPv6 endpoints in brackets', () => {
    expect(addressText({ ip: { ip: { $case: 'ipv6', ipv6: { first: 0xfd000000_00000000n, last: 1n } } }, port: 8080 })).toBe('[fd00::1]:8080');
  });
});

describe('proxyReadiness', () => {
  it('waits for the certificate and every inbound policy', () => {
    const certificate: { current: unknown } = { current: undefined };
    const ports = new Map<number, { current: unknown }>([[8080, { current: undefined }], [9090, { current: undefined }]]);
    const checks = proxyReadiness({ certificate, inboundPolicies: ports });
    expect(checks.evaluate()).toEqual({ ready: false, reasons: ['no identity certificate yet', 'no inbound policy yet for ports 8080, 9090'] });
    certificate.current = {};
    ports.get(8080)!.current = {};
    expect(checks.evaluate()).toEqual({ ready: false, reasons: ['no inbound policy yet for port 9090'] });
    ports.get(9090)!.current = {};
    expect(checks.evaluate()).toEqual({ ready: true });
  });
});
