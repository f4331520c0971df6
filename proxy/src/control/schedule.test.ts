import { describe, expect, it } from 'vitest';
import { DEFAULT_RECONNECT_BACKOFF, firstGatewayIndex, reconnectDelayMs, streamExpiry, streamLifetimeMs } from './schedule.js';

describe('reconnectDelayMs', () => {
  it('doubles from initialMs up to maxMs, taking off a random half', () => {
    const backoff = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10].map((a) => reconnectDelayMs(a, backoff, 0.999999))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3, 4, 10].map((a) => reconnectDelayMs(a, backoff, 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect(reconnectDelayMs(0, DEFAULT_RECONNECT_BACKOFF, 0.5)).toBe(188);
  });
});

describe('streamLifetimeMs', () => {
  it('takes up to the jitter fraction off the maximum lifetime', () => {
    expect(streamLifetimeMs(60_000, 0.2, 0)).toBe(60_000);
    expect(streamLifetimeMs(60_000, 0.2, 0.5)).toBe(54_000);
    expect(streamLifetimeMs(60_000, 0.2, 0.999999)).toBe(48_000);
    expect(streamLifetimeMs(60_000, 0, 0.9)).toBe(60_000);
  });

  it('spreads the lifetimes of streams opened together', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const lifetimes = Array.from({ length: 100 }, () => streamLifetimeMs(100_000, 0.2, random()));
    expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(80_000);
    expect(Math.max(...lifetimes)).toBeLessThanOrEqual(100_000);
    expect(new Set(lifetimes).size).toBeGreaterThan(90);
  });
});

describe('streamExpiry, on a fake clock', () => {
  const limits = { lifetimeMs: 10_000, idleTimeoutMs: 3_000, initialTimeoutMs: 1_000 };

  it('gives the first message the initial timeout', () => {
    const clock = { ...limits, openedAt: 1000, lastMessageAt: undefined };
    expect(streamExpiry(clock, 1000)).toEqual({ expired: undefined, waitMs: 1000 });
    expect(streamExpiry(clock, 1999)).toEqual({ expired: undefined, waitMs: 1 });
    expect(streamExpiry(clock, 2000)).toEqual({ expired: 'initial-timeout' });
  });

  it('then counts the idle timeout from the last message', () => {
    let clock = { ...limits, openedAt: 0, lastMessageAt: 500 as number | undefined };
    expect(streamExpiry(clock, 2000)).toEqual({ expired: undefined, waitMs: 1500 });
    expect(streamExpiry(clock, 3500)).toEqual({ expired: 'idle' });
    clock = { ...clock, lastMessageAt: 3000 };
    expect(streamExpiry(clock, 3500)).toEqual({ expired: undefined, waitMs: 2500 });
  });

  it('ends a busy stream at its lifetime', () => {
    const clock = { ...limits, openedAt: 0, lastMessageAt: 9_000 };
    expect(streamExpiry(clock, 9_500)).toEqual({ expired: undefined, waitMs: 500 });
    expect(streamExpiry(clock, 10_000)).toEqual({ expired: 'lifetime' });
  });

  it('lets the lifetime win a tie with the idle timeout', () => {
    expect(streamExpiry({ ...limits, openedAt: 0, lastMessageAt: 7_000 }, 10_000)).toEqual({ expired: 'lifetime' });
  });
});

describe('firstGatewayIndex', () => {
  it('picks any gateway, never past the last', () => {
    expect(firstGatewayIndex(3, 0)).toBe(0);
    expect(firstGatewayIndex(3, 0.5)).toBe(1);
    expect(firstGatewayIndex(3, 0.999999)).toBe(2);
    expect(firstGatewayIndex(1, 0.7)).toBe(0);
  });
});
