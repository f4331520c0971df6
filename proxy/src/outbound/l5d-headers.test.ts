import { describe, expect, it } from 'vitest';
import { defaultBackoff } from './backoff.js';
import { applyL5dRequestHeaders, parseL5dDuration } from './l5d-headers.js';
import type { RoutePlan } from './routing.js';

const plan: RoutePlan<never> = {
  kind: 'http',
  ruleIndex: 0,
  filters: [],
  distribution: { kind: 'empty' },
  timeouts: { requestMs: 5000, attemptMs: 1000 },
  retry: { maxRetries: 1, maxRequestBytes: 1024, condition: { kind: 'http', statusRanges: [[503, 503]] }, backoff: defaultBackoff },
  allowL5dRequestHeaders: true,
};

describe('l5d request headers', () => {
  it('reads durations', () => {
    expect([parseL5dDuration('250ms'), parseL5dDuration('2s'), parseL5dDuration('1.5m'), parseL5dDuration('40'), parseL5dDuration('soon')]).toEqual([250, 2000, 90_000, 40, undefined]);
  });

  it('adjusts retries and timeouts when the rule allows it', () => {
    const { plan: out, problems } = applyL5dRequestHeaders(plan, {
      'l5d-retry-limit': ['3'],
      'l5d-retry-http': ['gateway-error,429,5xx'],
      'l5d-timeout': ['10s'],
      'l5d-retry-timeout': ['200ms'],
    });
    expect(problems).toEqual([]);
    expect(out.retry).toMatchObject({ maxRetries: 3, attemptTimeoutMs: 200, condition: { kind: 'http', statusRanges: [[502, 504], [429, 429], [500, 599]] } });
    expect(out.timeouts).toEqual({ requestMs: 10_000, attemptMs: 200 });
  });

  it('reads gRPC retry conditions on gRPC rules', () => {
    const { plan: out } = applyL5dRequestHeaders({ ...plan, kind: 'grpc', retry: undefined }, { 'l5d-retry-grpc': ['unavailable, deadline-exceeded'], 'l5d-retry-limit': ['2'] });
    expect(out.retry).toMatchObject({ maxRetries: 2, condition: { kind: 'grpc', codes: new Set([14, 4]) } });
  });

  it('names a header it cannot read and leaves it without effect', () => {
    const { plan: out, problems } = applyL5dRequestHeaders(plan, { 'l5d-retry-limit': ['many'], 'l5d-retry-http': ['6xx'], 'l5d-timeout': ['later'] });
    expect(out).toEqual(plan);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^l5d-retry-limit:/);
    expect(problems[1]).toMatch(/^l5d-retry-http:/);
    expect(problems[2]).toMatch(/^l5d-timeout:/);
  });

  it('does nothing when the rule does not allow it', () => {
    expect(applyL5dRequestHeaders({ ...plan, allowL5dRequestHeaders: false }, { 'l5d-retry-limit': ['9'] }).plan.retry?.maxRetries).toBe(1);
  });
});
