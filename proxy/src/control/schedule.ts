import { backoffDelayMs, type BackoffOptions } from '@meshbus/identity-client';

export type { BackoffOptions };

/** Waits between failed attempts to open a watch stream. @default { initialMs: 250, maxMs: 10000 } */
export const DEFAULT_RECONNECT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000 };

/**
 * The wait before reconnect number `attempt` (0 for the first after a failure): exponential from
 * `initialMs`, capped at `maxMs`, with a random half taken off so that proxies that lost the same
 * gateway do not all come back at once. The same schedule as the certificate client's.
 */
export function reconnectDelayMs(attempt: number, backoff: BackoffOptions, random: number): number {
  return backoffDelayMs(attempt, backoff, random);
}

/**
 * The lifetime of one stream: `maxLifetimeMs` less up to `jitter` of it, at random, so that the
 * streams of proxies started together do not all end together and spread over the replicas again.
 */
export function streamLifetimeMs(maxLifetimeMs: number, jitter: number, random: number): number {
  return Math.max(1, Math.round(maxLifetimeMs * (1 - jitter * random)));
}

/** Why a stream that is still open should be closed and opened again. */
export type StreamExpiry = 'initial-timeout' | 'idle' | 'lifetime';

/** The times that decide when an open stream expires. */
export interface StreamClock {
  readonly openedAt: number;
  /** When the last message arrived; undefined before the first. */
  readonly lastMessageAt: number | undefined;
  /** The stream's lifetime, from {@link streamLifetimeMs}. */
  readonly lifetimeMs: number;
  readonly idleTimeoutMs: number;
  /** Longest wait for the first message. */
  readonly initialTimeoutMs: number;
}

/**
 * Whether an open stream has expired at `now`, and if not how long until it may: before the first
 * message the initial timeout counts; after it the idle timeout from the last message; the
 * lifetime counts from the opening in both cases, and wins when two fall at the same time.
 */
export function streamExpiry(clock: StreamClock, now: number): { expired: StreamExpiry } | { expired: undefined; waitMs: number } {
  const lifetimeEnd = clock.openedAt + clock.lifetimeMs;
  const quietEnd = clock.lastMessageAt === undefined ? clock.openedAt + clock.initialTimeoutMs : clock.lastMessageAt + clock.idleTimeoutMs;
  if (now >= lifetimeEnd) return { expired: 'lifetime' };
  if (now >= quietEnd) return { expired: clock.lastMessageAt === undefined ? 'initial-timeout' : 'idle' };
  return { expired: undefined, waitMs: Math.min(lifetimeEnd, quietEnd) - now };
}

/** The gateway a proxy starts with: a random one, so that proxies spread over the replicas. */
export function firstGatewayIndex(count: number, random: number): number {
  return Math.min(count - 1, Math.floor(random * count));
}
