import { describe } from 'vitest';
import { fc } from '@fast-check/vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import type { destination } from '@meshbus/proxy-api';
import { defaultLoad } from './backend-target.js';
import { ManualTimers } from './manual-timers.js';
import { P2cBalancer, type Lease } from './p2c-balancer.js';

const addr = (n: number) => ({ ip: { ip: { $case: 'ipv4' as const, ipv4: (10 << 24) | n } }, port: 80 });
const add = (ns: number[]): destination.Update => ({ update: { $case: 'add', add: { addrs: ns.map((n) => ({ addr: addr(n), weight: 1, metricLabels: {} })), metricLabels: {} } } });
const remove = (ns: number[]): destination.Update => ({ update: { $case: 'remove', remove: { addrs: ns.map(addr) } } });

const endpointIds = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 });
// Weighted towards picks and failing releases, so that ejections and probes happen often.
const step = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add' as const), ids: endpointIds }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), ids: endpointIds }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('none' as const)}) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('pick' as const) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('release' as const), which: fc.nat(), failure: fc.boolean(), latencyMs: fc.integer({ min: 0, max: 2000 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }) },
);
const steps = fc.array(step, { minLength: 20, maxLength: 120 });

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function drive(steps: readonly Step[], seed: number, check: (b: P2cBalancer, leases: readonly Lease[], picked: Lease | undefined) => boolean): boolean {
  const timers = new ManualTimers();
  let state = seed >>> 0 || 1;
  timers.fallback = () => ((state = (state * 48_271) % 2_147_483_647) / 2_147_483_647);
  const b = new P2cBalancer({
    load: defaultLoad,
    queue: { capacity: 10, failfastTimeoutMs: 1000 },
    failureAccrual: { maxFailures: 2, backoff: { minMs: 100, maxMs: 2000, jitterRatio: 0.3, respectRetryAfterHint: false }, minReadyEndpoints: 0 },
    timers,
  });
  const leases: Lease[] = [];
  for (const s of steps) {
    let picked: Lease | undefined;
    switch (s.op) {
      case 'add':
        b.apply(add(s.ids));
        break;
      case 'remove':
        b.apply(remove(s.ids));
        break;
      case 'none':
        b.apply({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } });
        break;
      case 'pick':
        picked = b.tryPick();
        if (picked) leases.push(picked);
        break;
      case 'release': {
        if (leases.length === 0) break;
        const [lease] = leases.splice(s.which % leases.length, 1);
        lease!.release({ latencyMs: s.latencyMs, failure: s.failure });
        lease!.release({ latencyMs: s.latencyMs, failure: s.failure }); // a second release is ignored
        break;
      }
      case 'advance':
        timers.advance(s.ms);
        break;
    }
    if (!check(b, leases, picked)) return false;
  }
  return true;
}

describe('P2C balancer properties', () => {
  fuzzProperty('in-flight accounting survives any sequence of adds, removes, picks and releases', [steps, fc.integer()], (steps, seed) =>
    drive(steps, seed, (b, leases) => b.inFlight() === leases.length),
  );

  fuzzProperty('never picks an endpoint in its ejection backoff, nor one removed from the pool', [steps, fc.integer()], (steps, seed) => {
    let before: { ejected: Set<string>; present: Set<string> } | undefined;
    const snapshot = (b: P2cBalancer) => {
      const present = new Set(b.endpoints().map((e) => e.key));
      return { present, ejected: new Set([...present].filter((k) => b.isEjected(k))) };
    };
    // Picks happen between steps; compare each pick with the state just before it.
    return drive(steps, seed, (b, _leases, picked) => {
      const ok = !picked || (before !== undefined && before.present.has(picked.endpoint.key) && !before.ejected.has(picked.endpoint.key));
      before = snapshot(b);
      return ok;
    });
  });
});
