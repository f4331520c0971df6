import { describe, expect, it } from 'vitest';
import { attemptDue, recordFailure, type PublishFailure } from './publish-retries.js';

describe('recordFailure', () => {
  it('doubles the wait from the initial delay up to the cap, and keeps when the run of failures began', () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 1000 };
    let f: PublishFailure | undefined;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const now = 10_000 * (i + 1);
      f = recordFailure(f, { error: 'e', fingerprint: 'x', now }, policy);
      waits.push(f.nextAttemptAt - now);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(f).toMatchObject({ attempts: 7, since: 10_000 });
    expect(attemptDue(f, 'x', f!.nextAttemptAt - 1)).toBe(false);
    expect(attemptDue(f, 'x', f!.nextAttemptAt)).toBe(true);
    expect(attemptDue(f, 'y', 0)).toBe(true);
  });
});
