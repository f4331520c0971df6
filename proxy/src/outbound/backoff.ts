import type { outbound } from '@meshbus/proxy-api';
import { durationMs } from './durations.js';

/** An exponential backoff in milliseconds (from the proxy API's ExponentialBackoff). */
export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  /** Share of the base delay added at random, not negative. */
  readonly jitterRatio: number;
  /** Start from a response's Retry-After, kept between min and max. */
  readonly respectRetryAfterHint: boolean;
}

/** Backoff used when a policy names none: 25 ms doubling to 250 ms, no jitter. */
export const defaultBackoff: Backoff = { minMs: 25, maxMs: 250, jitterRatio: 0, respectRetryAfterHint: false };

/** Reads a proxy API backoff; unset fields take the defaults, max is never below min. */
export function toBackoff(b: outbound.ExponentialBackoff | undefined, fallback: Backoff = defaultBackoff): Backoff {
  if (!b) return fallback;
  const minMs = durationMs(b.minBackoff) ?? fallback.minMs;
  const maxMs = Math.max(minMs, durationMs(b.maxBackoff) ?? fallback.maxMs);
  const jitterRatio = Number.isFinite(b.jitterRatio) && b.jitterRatio > 0 ? b.jitterRatio : 0;
  return { minMs, maxMs, jitterRatio, respectRetryAfterHint: b.respectRetryAfterHint };
}

/**
 * The delay before attempt `attempt` (0 for the first retry or the first
 * ejection): min × 2^attempt, capped at max, plus up to jitterRatio of it at
 * random, the total again capped at max. With `retryAfterMs` and
 * respectRetryAfterHint, the hint (kept between min and max) is the base.
 */
export function backoffDelay(b: Backoff, attempt: number, random: number, retryAfterMs?: number): number {
  const base = b.respectRetryAfterHint && retryAfterMs !== undefined ? Math.min(b.maxMs, Math.max(b.minMs, retryAfterMs)) : Math.min(b.maxMs, b.minMs * 2 ** Math.max(0, attempt));
  return Math.min(b.maxMs, base + base * b.jitterRatio * random);
}

/**
 * A Retry-After header in milliseconds: delay-seconds, or an HTTP date
 * relative to `nowEpochMs`. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, nowEpochMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowEpochMs);
}
