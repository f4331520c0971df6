import { describe, expect, it } from 'vitest';
import type { inbound } from '@meshbus/proxy-api';
import { HttpLocalRateLimiter, rateLimitedResponse, serverRateLimit } from './rate-limit.js';
import { http1Server } from './test-policy.js';

/** A clock the test moves by hand. */
function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const limit = (requestsPerSecond: number): inbound.HttpLocalRateLimit_Limit => ({ requestsPerSecond });
const policy = (p: { total?: number; identity?: number; overrides?: [number, string[]][] }): inbound.HttpLocalRateLimit => ({
  ...(p.total !== undefined ? { total: limit(p.total) } : {}),
  ...(p.identity !== undefined ? { identity: limit(p.identity) } : {}),
  overrides: (p.overrides ?? []).map(([rps, ids]) => ({ limit: limit(rps), clients: { identities: ids.map((name) => ({ name })) } })),
});

/** How many of `n` back-to-back requests of `who` get through. */
function admitted(limiter: HttpLocalRateLimiter, who: string | undefined, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limiter.check(who).allowed) ok++;
  return ok;
}

describe('HttpLocalRateLimiter', () => {
  it('admits a burst of the total rate, then refills at that rate', () => {
    const clock = fakeClock();
    const l = new HttpLocalRateLimiter(policy({ total: 10 }), clock);
    expect(admitted(l, 'a', 15)).toBe(10);
    const refused = l.check('b');
    expect(refused).toEqual({ allowed: false, limit: 'total', requestsPerSecond: 10, retryAfterMs: 100, reason: 'rate limit exceeded: 10 requests per second for the server' });
    clock.advance(100);
    expect(admitted(l, 'b', 3)).toBe(1);
    clock.advance(10_000);
    expect(admitted(l, 'c', 20)).toBe(10);
  });

  it('gives each identity its own bucket, and unmeshed clients one shared bucket', () => {
    const clock = fakeClock();
    const l = new HttpLocalRateLimiter(policy({ identity: 2 }), clock);
    expect(admitted(l, 'a', 5)).toBe(2);
    expect(admitted(l, 'b', 5)).toBe(2);
    expect(admitted(l, undefined, 5)).toBe(2);
    expect(l.check(undefined)).toMatchObject({ allowed: false, limit: 'identity', reason: 'rate limit exceeded: 2 requests per second for clients without a mesh identity' });
    clock.advance(500);
    expect(admitted(l, 'a', 5)).toBe(1);
  });

  it('applies overrides instead of the identity limit for the listed identities', () => {
    const l = new HttpLocalRateLimiter(policy({ identity: 2, overrides: [[5, ['frontend']]] }), fakeClock());
    expect(admitted(l, 'frontend', 10)).toBe(5);
    expect(l.check('frontend')).toMatchObject({ allowed: false, limit: 'override', requestsPerSecond: 5 });
    expect(admitted(l, 'other', 10)).toBe(2);
  });

  it('needs a token from both the client bucket and the total, and takes one only when both have one', () => {
    const l = new HttpLocalRateLimiter(policy({ total: 3, identity: 2 }), fakeClock());
    expect(admitted(l, 'a', 5)).toBe(2);
    // a's refused requests did not use up the total: b gets the last token.
    expect(admitted(l, 'b', 5)).toBe(1);
    expect(l.check('c')).toMatchObject({ allowed: false, limit: 'total' });
  });

  it('without a policy, or with no limit set, admits everything', () => {
    expect(admitted(new HttpLocalRateLimiter(undefined, fakeClock()), 'a', 1000)).toBe(1000);
    const none = new HttpLocalRateLimiter(policy({}), fakeClock());
    expect(none.limits).toBe(false);
    expect(admitted(none, undefined, 1000)).toBe(1000);
  });

  it('a rate of 0 refuses every request', () => {
    const l = new HttpLocalRateLimiter(policy({ total: 0 }), fakeClock());
    expect(l.check('a')).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
  });

  it('keeps the buckets of unchanged limits across a policy update, and starts changed ones full', () => {
    const clock = fakeClock();
    const before = new HttpLocalRateLimiter(policy({ total: 10, identity: 3, overrides: [[4, ['x']]] }), clock);
    admitted(before, 'a', 3);
    admitted(before, 'x', 4);
    // Only the total changes: it starts full; a and x stay empty.
    const after = before.update(policy({ total: 20, identity: 3, overrides: [[4, ['x']]] }));
    expect(after.check('a')).toMatchObject({ allowed: false, limit: 'identity' });
    expect(after.check('x')).toMatchObject({ allowed: false, limit: 'override' });
    expect(admitted(after, 'b', 30)).toBe(3);
    // The identity limit changes: a starts over; the total (unchanged) stays as it was.
    const third = after.update(policy({ total: 20, identity: 5, overrides: [[4, ['x']]] }));
    expect(admitted(third, 'a', 10)).toBe(5);
    expect(third.check('x')).toMatchObject({ allowed: false, limit: 'override' });
    // x loses its override: its identity bucket is new.
    expect(admitted(third.update(policy({ total: 20, identity: 5 })), 'x', 10)).toBe(5);
  });

  it('forgets full buckets of idle identities when it holds too many', () => {
    const clock = fakeClock();
    const l = new HttpLocalRateLimiter(policy({ identity: 1 }), { ...clock, maxIdentityBuckets: 2 });
    l.check('a');
    l.check('b');
    clock.advance(1000);
    l.check('c');
    // a refilled and was forgotten; a new bucket for it is full too.
    expect(l.check('a').allowed).toBe(true);
    expect(l.check('c').allowed).toBe(false);
  });

  it('answers 429 with retry-after, gRPC RESOURCE_EXHAUSTED', () => {
    const l = new HttpLocalRateLimiter(policy({ total: 1 }), fakeClock());
    l.check(undefined);
    const refused = l.check(undefined);
    if (refused.allowed) throw new Error('expected a refusal');
    expect(rateLimitedResponse(refused, false)).toMatchObject({ status: 429, headers: { 'retry-after': '1', 'l5d-proxy-error': refused.reason } });
    expect(rateLimitedResponse(refused, true)).toMatchObject({ status: 200, headers: { 'grpc-status': '8' } });
  });

  it('reads the limit from the server’s HTTP configuration', () => {
    const p = policy({ total: 7 });
    expect(serverRateLimit(http1Server([], [], p))).toBe(p);
    expect(serverRateLimit(http1Server([], []))).toBeUndefined();
  });
});
