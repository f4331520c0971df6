import { describe, expect, it } from 'vitest';
import type { destination } from '@meshbus/proxy-api';
import { applyChange, applyUpdate, diffEndpointSets, emptyEndpointSet, formatIp, formatTcpAddress, type EndpointSetView } from './endpoint-set.js';

function v4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function weighted(ip: number, port: number, extra: Partial<destination.WeightedAddr> = {}): destination.WeightedAddr {
  return { addr: { ip: { ip: { $case: 'ipv4', ipv4: ip } }, port }, weight: 10_000, metricLabels: {}, ...extra };
}

const add = (...addrs: destination.WeightedAddr[]): destination.Update => ({ update: { $case: 'add', add: { addrs, metricLabels: { service: 'web' } } } });
const remove = (...addrs: [number, number][]): destination.Update => ({
  update: { $case: 'remove', remove: { addrs: addrs.map(([ip, port]) => ({ ip: { ip: { $case: 'ipv4', ipv4: ip } }, port })) } },
});

function apply(...updates: destination.Update[]): EndpointSetView {
  return updates.reduce((set, u) => applyUpdate(set, u).set, emptyEndpointSet());
}

describe('formatIp', () => {
  it('renders IPv4 from a big-endian uint32', () => {
    expect(formatIp({ ip: { $case: 'ipv4', ipv4: 0x0a000001 } })).toBe('10.0.0.1');
    expect(formatIp({ ip: { $case: 'ipv4', ipv4: 0xffffffff } })).toBe('255.255.255.255');
    expect(formatIp({ ip: { $case: 'ipv4', ipv4: v4(127, 0, 0, 11) } })).toBe('127.0.0.11');
  });

  it('renders IPv6 from two halves, compressing the longest zero run', () => {
    expect(formatIp({ ip: { $case: 'ipv6', ipv6: { first: 0n, last: 1n } } })).toBe('::1');
    expect(formatIp({ ip: { $case: 'ipv6', ipv6: { first: 0x20010db800000000n, last: 0x0000000000000001n } } })).toBe('2001:db8::1');
    expect(formatIp({ ip: { $case: 'ipv6', ipv6: { first: 0x20010db800000001n, last: 0x0000000100000001n } } })).toBe('2001:db8:0:1:0:1:0:1');
    expect(formatIp({ ip: { $case: 'ipv6', ipv6: { first: 0xfe80000000000000n, last: 0x02000000fe000001n } } })).toBe('fe80::200:0:fe00:1');
    expect(formatIp({ ip: { $case: 'ipv6', ipv6: { first: 0n, last: 0n } } })).toBe('::');
  });

  it('puts IPv6 addresses in brackets before the port', () => {
    expect(formatTcpAddress({ ip: { ip: { $case: 'ipv6', ipv6: { first: 0n, last: 1n } } }, port: 80 })).toBe('[::1]:80');
    expect(formatTcpAddress(undefined)).toBe('?:0');
  });
});

describe('applyUpdate', () => {
  it('decodes endpoint metadata from an add', () => {
    const { set, change } = applyUpdate(
      emptyEndpointSet(),
      add(
        weighted(v4(10, 0, 0, 1), 8080, {
          weight: 5000,
          metricLabels: { pod: 'web-1', zone: 'zone-a' },
          tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'web.shop.serviceaccount.identity.meshbus.cluster.local' } } },
          protocolHint: { protocol: { $case: 'opaque', opaque: {} }, opaqueTransport: { inboundPort: 4143 } },
        }),
      ),
    );
    expect(set.exists).toBe(true);
    expect(set.labels).toEqual({ service: 'web' });
    expect(change).toEqual({
      kind: 'add',
      endpoints: [
        {
          address: '10.0.0.1:8080',
          weight: 5000,
          identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
          protocolHint: 'opaque',
          opaqueTransportPort: 4143,
          zone: 'zone-a',
          labels: { pod: 'web-1' },
        },
      ],
    });
  });

  it('adds, replaces and removes endpoints by address', () => {
    const set = apply(
      add(weighted(v4(10, 0, 0, 1), 80), weighted(v4(10, 0, 0, 2), 80)),
      add(weighted(v4(10, 0, 0, 2), 80, { weight: 1 })),
      remove([v4(10, 0, 0, 1), 80]),
    );
    expect([...set.endpoints.keys()]).toEqual(['10.0.0.2:80']);
    expect(set.endpoints.get('10.0.0.2:80')!.weight).toBe(1);
  });

  it('removing an unknown address changes nothing but is reported', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80)));
    const { set, change } = applyUpdate(before, remove([v4(10, 9, 9, 9), 80]));
    expect(set.endpoints.size).toBe(1);
    expect(change).toEqual({ kind: 'remove', addresses: ['10.9.9.9:80'] });
  });

  it('empties the set on noEndpoints and records whether the destination exists', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80)));
    const { set, change } = applyUpdate(before, { update: { $case: 'noEndpoints', noEndpoints: { exists: false } } });
    expect(set.endpoints.size).toBe(0);
    expect(set.exists).toBe(false);
    expect(change).toEqual({ kind: 'noEndpoints', exists: false, removed: ['10.0.0.1:80'] });
  });

  it('does not modify the set it was given', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80)));
    applyUpdate(before, remove([v4(10, 0, 0, 1), 80]));
    expect(before.endpoints.size).toBe(1);
  });

  it('ignores an empty update', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80)));
    expect(applyUpdate(before, {})).toEqual({ set: before });
  });
});

describe('diffEndpointSets', () => {
  it('reports what a reconnect changed', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80), weighted(v4(10, 0, 0, 2), 80)));
    const after = apply(add(weighted(v4(10, 0, 0, 2), 80), weighted(v4(10, 0, 0, 3), 80)));
    expect(diffEndpointSets(before, after)).toEqual([
      { kind: 'remove', addresses: ['10.0.0.1:80'] },
      { kind: 'add', endpoints: [expect.objectContaining({ address: '10.0.0.3:80' })] },
    ]);
    expect(diffEndpointSets(after, after)).toEqual([]);
  });

  it('reports a set that became empty as noEndpoints', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80)));
    const after = apply({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } });
    expect(diffEndpointSets(before, after)).toEqual([{ kind: 'noEndpoints', exists: true, removed: ['10.0.0.1:80'] }]);
  });
});

describe('applyChange', () => {
  it('replays changes so that intermediate sizes can be reported', () => {
    const before = apply(add(weighted(v4(10, 0, 0, 1), 80), weighted(v4(10, 0, 0, 2), 80)));
    const after = apply(add(weighted(v4(10, 0, 0, 2), 80), weighted(v4(10, 0, 0, 3), 80)));
    const steps = diffEndpointSets(before, after);
    const afterRemove = applyChange(before, steps[0]!);
    expect(afterRemove.endpoints.size).toBe(1);
    expect([...applyChange(afterRemove, steps[1]!).endpoints.keys()]).toEqual(['10.0.0.2:80', '10.0.0.3:80']);
    expect(applyChange(before, { kind: 'noEndpoints', exists: false, removed: [] })).toMatchObject({ exists: false, endpoints: new Map() });
  });
});
