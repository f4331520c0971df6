import { describe, expect, it } from 'vitest';
import type { destination } from '@meshbus/proxy-api';
import { defaultLoad, type LoadConfig } from './backend-target.js';
import { ManualTimers } from './manual-timers.js';
import { endpointKey, P2cBalancer, ServiceUnavailableError, toFailureAccrual, type FailureAccrualConfig, type Lease } from './p2c-balancer.js';

const ip = (n: number) => ({ ip: { ip: { $case: 'ipv4' as const, ipv4: (10 << 24) | n } }, port: 8080 });
const add = (...ns: number[]): destination.Update => ({ update: { $case: 'add', add: { addrs: ns.map((n) => ({ addr: ip(n), weight: 10_000, metricLabels: { pod: `api-${n}` } })), metricLabels: { namespace: 'shop' } } } });
const remove = (...ns: number[]): destination.Update => ({ update: { $case: 'remove', remove: { addrs: ns.map(ip) } } });
const key = (n: number) => `10.0.0.${n}:8080`;
const ok = { latencyMs: 10, failure: false };
const failed = { latencyMs: 10, failure: true };

function balancer(options: { load?: Partial<LoadConfig>; failureAccrual?: FailureAccrualConfig; capacity?: number } = {}) {
  const timers = new ManualTimers();
  const b = new P2cBalancer({ load: { ...defaultLoad, ...options.load }, queue: { capacity: options.capacity ?? 100, failfastTimeoutMs: 3000 }, failureAccrual: options.failureAccrual, timers });
  return { b, timers };
}

describe('P2C balancer endpoints', () => {
  it('keeps endpoints from Destination updates with their labels and identity', () => {
    const { b } = balancer();
    b.apply(add(1, 2));
    b.apply({ update: { $case: 'add', add: { addrs: [{ addr: ip(3), weight: 0, metricLabels: {}, tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'api.shop.serviceaccount.identity.meshbus.local' } } } }], metricLabels: {} } } });
    expect(b.endpoints().map((e) => e.key)).toEqual([key(1), key(2), key(3)]);
    expect(b.endpoints()[0]!.labels).toEqual({ namespace: 'shop', pod: 'api-1' });
    expect(b.endpoints()[2]).toMatchObject({ weight: 1, tlsIdentity: { strategy: { dnsLikeIdentity: { name: 'api.shop.serviceaccount.identity.meshbus.local' } } } });
    b.apply(remove(2));
    expect(b.endpoints().map((e) => e.key)).toEqual([key(1), key(3)]);
    b.apply({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } });
    expect(b.endpoints()).toEqual([]);
  });

  it('keeps the gateway of an endpoint behind a linked cluster, and only a complete one', () => {
    const { b } = balancer();
    const gatewayIdentity = { strategy: { $case: 'dnsLikeIdentity' as const, dnsLikeIdentity: { name: 'gateway.mc.serviceaccount.identity.meshbus.local' } } };
    b.apply({
      update: {
        $case: 'add',
        add: {
          addrs: [
            { addr: ip(1), weight: 1, metricLabels: {}, authorityOverride: { authorityOverride: 'api.shop.svc.cluster.local:8080' }, meshbusGateway: { cluster: 'east', identity: gatewayIdentity, identities: ['api.shop.serviceaccount.identity.meshbus.local'] } },
            { addr: ip(2), weight: 1, metricLabels: {}, meshbusGateway: { cluster: 'east', identity: gatewayIdentity, identities: [] } },
            { addr: ip(3), weight: 1, metricLabels: {}, authorityOverride: { authorityOverride: 'api.shop.svc.cluster.local:8080' } },
          ],
          metricLabels: {},
        },
      },
    });
    const byKey = new Map(b.endpoints().map((e) => [e.key, e]));
    expect(byKey.get(key(1))?.gateway).toEqual({
      cluster: 'east',
      identity: 'gateway.mc.serviceaccount.identity.meshbus.local',
      authority: 'api.shop.svc.cluster.local:8080',
      identities: ['api.shop.serviceaccount.identity.meshbus.local'],
    });
    expect(byKey.get(key(2))?.gateway).toBeUndefined();
    expect(byKey.get(key(3))?.gateway).toBeUndefined();
  });

  it('formats IPv6 keys', () => {
    expect(endpointKey({ ip: { ip: { $case: 'ipv6', ipv6: { first: 0xfd00_0000_0000_0000n, last: 1n } } }, port: 80 })).toBe('[fd00:0:0:0:0:0:0:1]:80');
  });

  it('finishes requests on a removed endpoint and counts them until then', () => {
    const { b } = balancer();
    b.apply(add(1));
    const lease = b.tryPick()!;
    b.apply(remove(1));
    expect(b.inFlight()).toBe(1);
    expect(b.tryPick()).toBeUndefined();
    lease.release(ok);
    lease.release(ok);
    expect(b.inFlight()).toBe(0);
  });
});

describe('P2C choice', () => {
  it('of two endpoints drawn, takes the one with the lower latency estimate', () => {
    const { b, timers } = balancer();
    b.apply(add(1, 2));
    // Teach the balancer that endpoint 2 is slow.
    timers.draws = [0.9, 0];
    const first = b.tryPick()!;
    expect(first.endpoint.key).toBe(key(2));
    first.release({ latencyMs: 500, failure: false });
    const picks = new Set<string>();
    for (let i = 0; i < 20; i++) {
      timers.draws = [i % 2 === 0 ? 0 : 0.9, 0];
      const l = b.tryPick()!;
      picks.add(l.endpoint.key);
      l.release(ok);
    }
    expect([...picks]).toEqual([key(1)]);
  });

  it('tries an endpoint that was slow once again, as its estimate decays while it gets no request', () => {
    const { b, timers } = balancer();
    b.apply(add(1, 2));
    timers.draws = [0.9, 0];
    b.tryPick()!.release({ latencyMs: 500, failure: false });
    // One sequential request a second, each answered by the fast endpoint in 10 ms: 500 ms decays below 10 ms after 10 s × ln 50 ≈ 39 s.
    let back: number | undefined;
    for (let second = 1; second <= 60 && back === undefined; second++) {
      timers.advance(1000);
      const l = b.tryPick()!;
      if (l.endpoint.key === key(2)) back = second;
      l.release(ok);
    }
    expect(back).toBeGreaterThanOrEqual(38);
    expect(back).toBeLessThanOrEqual(41);
  });

  it('counts requests in flight in the load', () => {
    const { b } = balancer();
    b.apply(add(1, 2));
    const held: Lease[] = [];
    for (let i = 0; i < 10; i++) held.push(b.tryPick()!);
    const per = held.reduce<Record<string, number>>((m, l) => ({ ...m, [l.endpoint.key]: (m[l.endpoint.key] ?? 0) + 1 }), {});
    expect(per).toEqual({ [key(1)]: 5, [key(2)]: 5 });
  });

  it('adds a penalty for overload answers and lets it fade', () => {
    const { b, timers } = balancer({ load: { penaltyMs: 1000, maxRetryAfterMs: 5000, penaltyDecayMs: 1000 } });
    b.apply(add(1, 2));
    timers.draws = [0, 0];
    const l = b.tryPick()!;
    expect(l.endpoint.key).toBe(key(1));
    l.release({ latencyMs: 30, failure: false, overloaded: true, retryAfterMs: 2000 });
    timers.draws = [0, 0];
    expect(b.tryPick()!.endpoint.key).toBe(key(2));
    timers.advance(20_000); // the penalty has faded; endpoint 2 now has one in flight
    timers.draws = [0, 0];
    expect(b.tryPick()!.endpoint.key).toBe(key(1));
  });
});

describe('failure accrual', () => {
  const accrual = (minReadyEndpoints = 0): FailureAccrualConfig => ({ maxFailures: 3, backoff: { minMs: 1000, maxMs: 8000, jitterRatio: 0, respectRetryAfterHint: false }, minReadyEndpoints });

  it('reads the policy', () => {
    expect(toFailureAccrual(undefined)).toBeUndefined();
    expect(toFailureAccrual({ kind: { $case: 'consecutiveFailures', consecutiveFailures: { maxFailures: 7 } }, ejection: { minReadyEndpoints: 2 } })).toMatchObject({ maxFailures: 7, minReadyEndpoints: 2 });
  });

  it('ejects after max failures in a row, probes once after the backoff, and backs off longer when the probe fails', () => {
    const { b, timers } = balancer({ failureAccrual: accrual() });
    b.apply(add(1));
    for (let i = 0; i < 3; i++) b.tryPick()!.release(failed);
    expect(b.isEjected(key(1))).toBe(true);
    expect(b.tryPick()).toBeUndefined();
    timers.advance(1000);
    const probe = b.tryPick()!;
    expect(probe.probe).toBe(true);
    expect(b.tryPick()).toBeUndefined(); // one probe at a time
    probe.release(failed);
    timers.advance(1999);
    expect(b.tryPick()).toBeUndefined();
    timers.advance(1);
    const second = b.tryPick()!;
    second.release(ok);
    expect(b.isEjected(key(1))).toBe(false);
    expect(b.tryPick()!.probe).toBe(false);
  });

  it('does not count a success between failures', () => {
    const { b } = balancer({ failureAccrual: accrual() });
    b.apply(add(1));
    for (const o of [failed, failed, ok, failed, failed]) b.tryPick()!.release(o);
    expect(b.isEjected(key(1))).toBe(false);
  });

  it('keeps min_ready_endpoints in the pool', () => {
    const { b } = balancer({ failureAccrual: accrual(1) });
    b.apply(add(1, 2));
    // Every request fails: the first endpoint to reach three failures is ejected, the other stays.
    for (let i = 0; i < 6; i++) b.tryPick()!.release(failed);
    expect([1, 2].filter((n) => b.isEjected(key(n)))).toHaveLength(1);
    for (let i = 0; i < 10; i++) b.tryPick()!.release(failed);
    expect([1, 2].filter((n) => b.isEjected(key(n)))).toHaveLength(1);
    expect(b.isReady()).toBe(true);
  });
});

describe('the queue', () => {
  it('holds requests until an endpoint arrives', async () => {
    const { b } = balancer();
    const waiting = b.acquire();
    expect(b.queued()).toBe(1);
    b.apply(add(1));
    expect((await waiting).endpoint.key).toBe(key(1));
  });

  it('fails waiting requests with 503 after the failfast timeout, then fails fast until an endpoint is ready', async () => {
    const { b, timers } = balancer();
    const waiting = b.acquire();
    timers.advance(3000);
    await expect(waiting).rejects.toMatchObject({ status: 503, reason: 'failfast' });
    await expect(b.acquire()).rejects.toBeInstanceOf(ServiceUnavailableError);
    b.apply(add(1));
    expect((await b.acquire()).endpoint.key).toBe(key(1));
  });

  it('refuses requests beyond its capacity at once', async () => {
    const { b } = balancer({ capacity: 1 });
    void b.acquire().catch(() => undefined);
    await expect(b.acquire()).rejects.toMatchObject({ reason: 'queueFull' });
    b.close();
  });

  it('wakes waiting requests when an ejection ends', async () => {
    const { b, timers } = balancer({ failureAccrual: { maxFailures: 1, backoff: { minMs: 500, maxMs: 500, jitterRatio: 0, respectRetryAfterHint: false }, minReadyEndpoints: 0 } });
    b.apply(add(1));
    b.tryPick()!.release(failed);
    const waiting = b.acquire();
    timers.advance(500);
    const lease = await waiting;
    expect(lease.probe).toBe(true);
    lease.release(ok);
    expect(timers.pendingTimers()).toBe(0);
  });
});
