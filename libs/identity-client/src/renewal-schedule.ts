/** How long to wait between failed attempts to get a certificate. */
export interface BackoffOptions {
  /** Wait before the first retry. @default 500 */
  readonly initialMs: number;
  /** Longest wait between retries. @default 30000 */
  readonly maxMs: number;
}

/** @default 0.7: renew when 70% of the certificate's lifetime has passed */
export const DEFAULT_RENEW_AT = 0.7;

/** Defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** setTimeout fires at once for delays above 2^31-1 ms; longer waits are taken in steps. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** gRPC status codes (numbers from the gRPC spec) after which asking again cannot help. */
const NON_RETRYABLE_CODES: ReadonlySet<number> = new Set([
  3, // INVALID_ARGUMENT
  7, // PERMISSION_DENIED
  9, // FAILED_PRECONDITION
  16, // UNAUTHENTICATED
]);

/** The validity period of a certificate. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * When a certificate should be renewed: after `renewAt` of its lifetime (notBefore to notAfter),
 * in epoch milliseconds.
 */
export function renewalTimeMs(validity: Validity, renewAt: number): number {
  const start = validity.notBefore.getTime();
  return start + Math.round((validity.notAfter.getTime() - start) * renewAt);
}

/**
 * How long to wait from `nowMs` before renewing: zero once the renewal time has come, and never
 * more than {@link MAX_TIMER_DELAY_MS} (the caller checks again when the timer fires).
 */
export function renewalDelayMs(validity: Validity, renewAt: number, nowMs: number): number {
  return Math.min(MAX_TIMER_DELAY_MS, Math.max(0, renewalTimeMs(validity, renewAt) - nowMs));
}

/**
 * The wait before retry number `attempt` (0 for the first retry): the exponential step
 * `initialMs * 2^attempt`, capped at `maxMs`, of which a random half is taken off so that proxies
 * that failed together do not retry together. `random` is a number in [0, 1).
 */
export function backoffDelayMs(attempt: number, backoff: BackoffOptions, random: number): number {
  const step = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 52));
  return Math.round(step / 2 + (step / 2) * random);
}

/** Whether a failed Certify call with this gRPC status is worth repeating. Undefined (no status) is. */
export function isRetryable(grpcCode: number | undefined): boolean {
  return grpcCode === undefined || !NON_RETRYABLE_CODES.has(grpcCode);
}

/** The gateway to try after the one at `index` failed: the next one in the list, round robin. */
export function nextGatewayIndex(index: number, count: number): number {
  return (index + 1) % count;
}

/**
 * The first wait after a certificate arrives: until its renewal time; or, when it arrived already
 * due (a local clock far ahead of the CA's, an issuer about to expire), backoff step `dueStreak`,
 * so that renewals never follow each other without a pause.
 */
export function waitAfterArrivalMs(
  validity: Validity,
  renewAt: number,
  nowMs: number,
  dueStreak: number,
  backoff: BackoffOptions,
  random: number,
): number {
  const delay = renewalDelayMs(validity, renewAt, nowMs);
  return delay > 0 ? delay : backoffDelayMs(dueStreak, backoff, random);
}
