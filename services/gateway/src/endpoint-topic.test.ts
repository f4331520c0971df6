import { describe, expect, it } from 'vitest';
import { destination } from '@meshbus/proxy-api';
import type { EndpointSet } from '@meshbus/bus-schemas';
import { addressesPerUpdate, endpointSnapshot, endpointTransition } from './endpoint-topic.js';

const set = (addresses: string[], weight = 10000): EndpointSet => ({
  namespace: 'shop',
  service: 'web',
  port: 80,
  endpoints: addresses.map((address) => ({ address, port: 8080, weight })),
});

const decode = (bufs: Buffer[]) => bufs.map((b) => destination.Update.decode(b).update);
const ips = (u: ReturnType<typeof decode>[number]) => {
  if (u?.$case === 'add') return u.add.addrs.map((a) => (a.addr?.ip?.ip as { ipv4: number }).ipv4 & 255);
  if (u?.$case === 'remove') return u.remove.addrs.map((a) => (a.ip?.ip as { ipv4: number }).ipv4 & 255);
  return [];
};

describe('endpointTransition', () => {
  it('starts with the whole set, or no_endpoints saying whether the service exists', () => {
    expect(decode(endpointTransition(undefined, endpointSnapshot(1, undefined)))).toEqual([{ $case: 'noEndpoints', noEndpoints: { exists: false } }]);
    expect(decode(endpointTransition(undefined, endpointSnapshot(1, set([]))))).toEqual([{ $case: 'noEndpoints', noEndpoints: { exists: true } }]);
    const [first] = decode(endpointTransition(undefined, endpointSnapshot(1, set(['10.0.0.1', '10.0.0.2']))));
    expect(first?.$case).toBe('add');
    expect(ips(first)).toEqual([1, 2]);
    if (first?.$case === 'add') expect(first.add.metricLabels).toEqual({ namespace: 'shop', service: 'web' });
  });

  it('sends removals and additions, and re-adds endpoints whose metadata changed', () => {
    const a = endpointSnapshot(1, set(['10.0.0.1', '10.0.0.2', '10.0.0.3']));
    const b0 = set(['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    b0.endpoints[1]!.weight = 1;
    const b = endpointSnapshot(2, b0);
    const [remove, add] = decode(endpointTransition(a, b));
    expect(remove?.$case).toBe('remove');
    expect(ips(remove)).toEqual([1]);
    expect(add?.$case).toBe('add');
    expect(ips(add)).toEqual([3, 4]);
  });

  it('removes endpoints that left before sending the whole set again when the set-level labels change', () => {
    const a = endpointSnapshot(1, set(['10.0.0.1', '10.0.0.2']));
    const relabelled = set(['10.0.0.2', '10.0.0.3']);
    relabelled.labels = { team: 'blue' };
    const [remove, add] = decode(endpointTransition(a, endpointSnapshot(2, relabelled)));
    expect(remove?.$case).toBe('remove');
    expect(ips(remove)).toEqual([1]);
    expect(add?.$case).toBe('add');
    expect(ips(add)).toEqual([2, 3]);
    if (add?.$case === 'add') expect(add.add.metricLabels).toEqual({ namespace: 'shop', service: 'web', team: 'blue' });
  });

  it('sends nothing when nothing a proxy sees changed', () => {
    expect(endpointTransition(endpointSnapshot(1, set(['10.0.0.1'])), endpointSnapshot(2, set(['10.0.0.1'])))).toEqual([]);
  });

  it('goes from empty to the full set, and from a set to no_endpoints', () => {
    const empty = endpointSnapshot(1, set([]));
    const full = endpointSnapshot(2, set(['10.0.0.9']));
    expect(decode(endpointTransition(empty, full))[0]?.$case).toBe('add');
    expect(decode(endpointTransition(full, endpointSnapshot(3, undefined)))).toEqual([{ $case: 'noEndpoints', noEndpoints: { exists: false } }]);
  });

  it('sends a big set, and big changes, in updates of at most addressesPerUpdate addresses', () => {
    const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `10.1.${((i + from) >> 8) & 255}.${(i + from) & 255}`);
    const first = decode(endpointTransition(undefined, endpointSnapshot(1, set(many(2500)))));
    expect(first.map((u) => [u?.$case, ips(u).length])).toEqual([
      ['add', addressesPerUpdate],
      ['add', addressesPerUpdate],
      ['add', 500],
    ]);
    const next = decode(endpointTransition(endpointSnapshot(1, set(many(2500))), endpointSnapshot(2, set(many(2500, 1200)))));
    expect(next.map((u) => [u?.$case, ips(u).length])).toEqual([
      ['remove', addressesPerUpdate],
      ['remove', 200],
      ['add', addressesPerUpdate],
      ['add', 200],
    ]);
  });
});
