import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  MAX_TIMER_DELAY_MS,
  backoffDelayMs,
  isRetryable,
  nextGatewayIndex,
  renewalDelayMs,
  renewalTimeMs,
  waitAfterArrivalMs,
} from './renewal-schedule.js';

const HOUR = 3_600_000;

/** A clock that moves only when told to. */
class FakeClock {
  constructor(private ms: number) {}
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

function validity(fromMs: number, lifetimeMs: number) {
  return { notBefore: new Date(fromMs), notAfter: new Date(fromMs + lifetimeMs) };
}

describe('renewal time', () => {
  const start = Date.UTC(2030, 0, 1);

  it('is 70% into the lifetime of a 24 h certificate', () => {
    expect(renewalTimeMs(validity(start, 24 * HOUR), 0.7)).toBe(start + 16.8 * HOUR);
  });

  it('counts down as the clock moves and stays at zero once due', () => {
    const clock = new FakeClock(start);
    const cert = validity(start, 24 * HOUR);
    expect(renewalDelayMs(cert, 0.7, clock.now())).toBe(16.8 * HOUR);
    clock.advance(16 * HOUR);
    expect(renewalDelayMs(cert, 0.7, clock.now())).toBe(0.8 * HOUR);
    clock.advance(HOUR);
    expect(renewalDelayMs(cert, 0.7, clock.now())).toBe(0);
    clock.advance(24 * HOUR);
    expect(renewalDelayMs(cert, 0.7, clock.now())).toBe(0);
  });

  it('measures from notBefore, so clock-skew allowance before now counts as lived', () => {
    const clock = new FakeClock(start);
    // Issued with notBefore 20 s in the past and notAfter 3 s + 20 s ahead.
    const cert = { notBefore: new Date(start - 20_000), notAfter: new Date(start + 23_000) };
    expect(renewalDelayMs(cert, 0.7, clock.now())).toBe(10_100);
  });

  it('renews at once a certificate received already past its renewal time', () => {
    expect(renewalDelayMs(validity(start - 20 * HOUR, 24 * HOUR), 0.7, start)).toBe(0);
  });

  it('never asks for a timer longer than setTimeout can hold', () => {
    const cert = validity(start, 365 * 24 * HOUR);
    expect(renewalDelayMs(cert, 0.7, start)).toBe(MAX_TIMER_DELAY_MS);
  });
});

describe('wait after a certificate arrives', () => {
  const start = Date.UTC(2030, 0, 1);
  const backoff = { initialMs: 1_000, maxMs: 30_000 };

  it('is the renewal delay for a fresh certificate', () => {
    expect(waitAfterArrivalMs(validity(start, 24 * HOUR), 0.7, start, 0, backoff, 0)).toBe(16.8 * HOUR);
  });

  it('backs off, growing, when certificates keep arriving already due', () => {
    // The local clock is a day ahead of the CA's: every new leaf looks old.
    const clock = new FakeClock(start + 24 * HOUR);
    const waits = [0, 1, 2, 10].map((streak) => waitAfterArrivalMs(validity(start, 24 * HOUR), 0.7, clock.now(), streak, backoff, 0));
    expect(waits).toEqual([500, 1_000, 2_000, 15_000]);
  });
});

describe('backoff', () => {
  const backoff = { initialMs: 1_000, maxMs: 30_000 };

  it('doubles per attempt up to the cap, with the lowest jitter taking half off', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelayMs(attempt, backoff, 0))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000,
    ]);
  });

  it('takes the full step with the highest jitter', () => {
    expect([0, 1, 5, 20].map((attempt) => backoffDelayMs(attempt, backoff, 0.999_999))).toEqual([1_000, 2_000, 30_000, 30_000]);
  });

  it('stays finite for very many attempts', () => {
    expect(backoffDelayMs(10_000, backoff, 0.5)).toBe(22_500);
  });

  it('drives a retry timeline on a fake clock', () => {
    const clock = new FakeClock(0);
    const jitter = [0.5, 0.1, 0.9, 0.0];
    const retries: number[] = [];
    for (const [attempt, random] of jitter.entries()) {
      clock.advance(backoffDelayMs(attempt, DEFAULT_BACKOFF, random));
      retries.push(clock.now());
    }
    // 375 (step 500), +550 (step 1000), +1900 (step 2000), +2000 (step 4000)
    expect(retries).toEqual([375, 925, 2_825, 4_825]);
  });
});

describe('retry decisions', () => {
  it.each([
    [3, 'INVALID_ARGUMENT'],
    [7, 'PERMISSION_DENIED'],
    [9, 'FAILED_PRECONDITION'],
    [16, 'UNAUTHENTICATED'],
  ])('gives up on %i (%s)', (code) => {
    expect(isRetryable(code)).toBe(false);
  });

  it.each([
    [1, 'CANCELLED'],
    [2, 'UNKNOWN'],
    [4, 'DEADLINE_EXCEEDED'],
    [8, 'RESOURCE_EXHAUSTED'],
    [12, 'UNIMPLEMENTED'],
    [13, 'INTERNAL'],
    [14, 'UNAVAILABLE'],
  ])('retries %i (%s)', (code) => {
    expect(isRetryable(code)).toBe(true);
  });

  it('retries a failure without a gRPC status (token provider, bad certificate)', () => {
    expect(isRetryable(undefined)).toBe(true);
  });

  it('rotates through the gateways', () => {
    expect([0, 1, 2].map((i) => nextGatewayIndex(i, 3))).toEqual([1, 2, 0]);
    expect(nextGatewayIndex(0, 1)).toBe(0);
  });
});
