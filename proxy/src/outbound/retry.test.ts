import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, toBackoff } from './backoff.js';
import { decideRetry, isRetryable, RetryBudget, toHttpRetry, toRetryBudgetConfig, type RetryPolicy } from './retry.js';

const sec = (n: number) => ({ seconds: BigInt(n), nanos: 0 });
const policy: RetryPolicy = toHttpRetry({ maxRetries: 2, maxRequestBytes: 1000, conditions: { statusRanges: [{ start: 500, end: 599 }, { start: 429, end: 0 }] }, backoff: { minBackoff: { seconds: 0n, nanos: 10e6 }, maxBackoff: { seconds: 0n, nanos: 100e6 }, jitterRatio: 0.5, respectRetryAfterHint: true } })!;

describe('retryable responses', () => {
  it('retries statuses in the ranges and failures without a response', () => {
    expect(isRetryable(policy.condition, { status: 503 })).toBe(true);
    expect(isRetryable(policy.condition, { status: 429 })).toBe(true);
    expect(isRetryable(policy.condition, { status: 404 })).toBe(false);
    expect(isRetryable(policy.condition, {})).toBe(true);
  });

  it('judges gRPC calls by grpc-status', () => {
    const grpc = { kind: 'grpc' as const, codes: new Set([14]) };
    expect(isRetryable(grpc, { status: 200, grpcStatus: 14 })).toBe(true);
    expect(isRetryable(grpc, { status: 200, grpcStatus: 13 })).toBe(false);
    expect(isRetryable(grpc, { status: 200, grpcStatus: 0 })).toBe(false);
  });
});

describe('retry decisions', () => {
  const base = { policy, retriesSoFar: 0, requestBytes: 10, random: 0 };

  it('retries within max retries and the body limit, after the backoff', () => {
    expect(decideRetry({ ...base, result: { status: 502 } })).toEqual({ retry: true, delayMs: 10 });
    expect(decideRetry({ ...base, retriesSoFar: 1, result: { status: 502 } })).toEqual({ retry: true, delayMs: 20 });
    expect(decideRetry({ ...base, retriesSoFar: 2, result: { status: 502 } })).toEqual({ retry: false, reason: 'maxRetries' });
    expect(decideRetry({ ...base, result: { status: 200 } })).toEqual({ retry: false, reason: 'success' });
    expect(decideRetry({ ...base, result: { status: 404 } })).toEqual({ retry: false, reason: 'notRetryable' });
  });

  it('sends bodies larger than max_request_bytes, or of unknown length, once', () => {
    expect(decideRetry({ ...base, requestBytes: 1001, result: { status: 502 } })).toEqual({ retry: false, reason: 'bodyTooLarge' });
    expect(decideRetry({ ...base, requestBytes: undefined, result: { status: 502 } })).toEqual({ retry: false, reason: 'bodyTooLarge' });
  });

  it('starts from the Retry-After hint, kept within min and max', () => {
    expect(decideRetry({ ...base, result: { status: 503, retryAfterMs: 50 } })).toEqual({ retry: true, delayMs: 50 });
    expect(decideRetry({ ...base, result: { status: 503, retryAfterMs: 60_000 } })).toEqual({ retry: true, delayMs: 100 });
  });

  it('stops when the budget is spent, without spending on retries that would not happen', () => {
    let now = 0;
    const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 1, ttlMs: 1000 }, () => now);
    expect(decideRetry({ ...base, budget, result: { status: 404 } }).retry).toBe(false);
    expect(decideRetry({ ...base, budget, result: { status: 502 } }).retry).toBe(true);
    expect(decideRetry({ ...base, budget, result: { status: 502 } })).toEqual({ retry: false, reason: 'budget' });
    now = 1001;
    expect(decideRetry({ ...base, budget, result: { status: 502 } }).retry).toBe(true);
  });
});

describe('backoff', () => {
  const b = toBackoff({ minBackoff: sec(1), maxBackoff: sec(8), jitterRatio: 0.5, respectRetryAfterHint: false });

  it('doubles from min to max and adds jitter up to the ratio', () => {
    expect([0, 1, 2, 3, 4].map((n) => backoffDelay(b, n, 0))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(backoffDelay(b, 1, 0.999)).toBeCloseTo(2999, 0);
    expect(backoffDelay(b, 3, 0.999)).toBe(8000);
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
  });
});

describe('retry budget', () => {
  it('allows the ratio of recent requests plus the per-second floor', () => {
    let now = 0;
    const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 0, ttlMs: 10_000 }, () => now);
    for (let i = 0; i < 50; i++) budget.deposit();
    expect(budget.remaining()).toBe(10);
    let granted = 0;
    while (budget.withdraw()) granted++;
    expect(granted).toBe(10);
    now = 10_001; // the requests have left the window
    expect(budget.remaining()).toBe(0);
  });

  it('lets old requests leave the window slot by slot', () => {
    let now = 0;
    const budget = new RetryBudget({ retryRatio: 1, minRetriesPerSecond: 0, ttlMs: 10_000 }, () => now);
    for (let i = 0; i < 10; i++) budget.deposit();
    now = 5000;
    for (let i = 0; i < 10; i++) budget.deposit();
    expect(budget.remaining()).toBe(20);
    now = 10_500;
    expect(budget.remaining()).toBe(10);
  });

  it('reads a ServiceProfile budget and names a bad field', () => {
    expect(toRetryBudgetConfig({ retryRatio: 0.2, minRetriesPerSecond: 10, ttl: sec(10) })).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });
    expect(() => toRetryBudgetConfig({ retryRatio: -1, minRetriesPerSecond: 10 })).toThrow(/retry_ratio/);
    expect(() => toRetryBudgetConfig({ retryRatio: 0.2, minRetriesPerSecond: 10, ttl: sec(0) })).toThrow(/ttl/);
  });
});
