/** How the leader retries a key whose publication keeps failing. */
export interface RetryPolicy {
  /** Wait after the first failure. @default 250 */
  readonly initialDelayMs: number;
  /** Longest wait between two attempts. @default 30000 */
  readonly maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { initialDelayMs: 250, maxDelayMs: 30_000 };

/** A key whose last publication failed, and when to try it again. */
export interface PublishFailure {
  /** Failed attempts in a row. */
  readonly attempts: number;
  /** When the first failure of this run happened. */
  readonly since: number;
  /** No attempt before this time, unless the value to publish changes. */
  readonly nextAttemptAt: number;
  readonly error: string;
  /** Fingerprint of the value whose publication failed. */
  readonly fingerprint: string;
}

/** Failing keys by subject. */
export type PublishFailures = ReadonlyMap<string, PublishFailure>;

/** The failure state of a key after one more failed attempt: the wait doubles each time, up to `maxDelayMs`. */
export function recordFailure(
  previous: PublishFailure | undefined,
  failure: { error: string; fingerprint: string; now: number },
  policy: RetryPolicy = defaultRetryPolicy,
): PublishFailure {
  const attempts = (previous?.attempts ?? 0) + 1;
  const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempts - 1, 30));
  return { attempts, since: previous?.since ?? failure.now, nextAttemptAt: failure.now + delay, error: failure.error, fingerprint: failure.fingerprint };
}

/** Whether a failing key may be tried now: its wait is over, or the value to publish is another one. */
export function attemptDue(failure: PublishFailure | undefined, fingerprint: string, now: number): boolean {
  return failure === undefined || failure.fingerprint !== fingerprint || failure.nextAttemptAt <= now;
}
