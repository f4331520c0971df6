/*
 * Retries: which responses a route retries, how long to wait between
 * attempts, and the budget that caps retries against original requests.
 */
import type { destination, outbound } from '@meshbus/proxy-api';
import { backoffDelay, toBackoff, type Backoff } from './backoff.js';
import { durationMs } from './durations.js';

/** Request body limit for retries when the policy says 0: 64 KiB, as the gateway's default. */
export const defaultMaxRequestBytes = 64 * 1024;

/** gRPC status codes by the retry condition that names them. */
export const grpcRetryCodes = { cancelled: 1, deadlineExceeded: 4, resourceExhausted: 8, internal: 13, unavailable: 14 } as const;

/** What a route retries on. */
export type RetryCondition =
  /** HTTP statuses in any of the inclusive ranges. */
  | { readonly kind: 'http'; readonly statusRanges: readonly (readonly [number, number])[] }
  /** gRPC calls ending with one of these grpc-status codes. */
  | { readonly kind: 'grpc'; readonly codes: ReadonlySet<number> };

/** A route rule's retry policy. */
export interface RetryPolicy {
  readonly maxRetries: number;
  /** Requests whose body is larger (or of unknown length beyond this) are sent once. */
  readonly maxRequestBytes: number;
  readonly condition: RetryCondition;
  /** Deadline of each attempt; undefined leaves attempts unbounded (the route's timeouts still hold). */
  readonly attemptTimeoutMs?: number | undefined;
  readonly backoff: Backoff;
}

/** Reads an HTTP route rule's retry; a range whose end is below its start is the single status `start`. */
export function toHttpRetry(r: outbound.HttpRoute_Retry | undefined): RetryPolicy | undefined {
  if (!r) return undefined;
  const statusRanges = (r.conditions?.statusRanges ?? []).map((s) => [s.start, Math.max(s.start, s.end)] as const);
  return {
    maxRetries: r.maxRetries,
    maxRequestBytes: r.maxRequestBytes > 0 ? r.maxRequestBytes : defaultMaxRequestBytes,
    condition: { kind: 'http', statusRanges },
    attemptTimeoutMs: durationMs(r.timeout),
    backoff: toBackoff(r.backoff),
  };
}

/** The grpc-status codes a gRPC retry's conditions name. */
export function grpcConditionCodes(c: outbound.GrpcRoute_Retry_Conditions | undefined): Set<number> {
  const codes = new Set<number>();
  if (c?.cancelled) codes.add(grpcRetryCodes.cancelled);
  if (c?.deadineExceeded) codes.add(grpcRetryCodes.deadlineExceeded);
  if (c?.resourceExhausted) codes.add(grpcRetryCodes.resourceExhausted);
  if (c?.internal) codes.add(grpcRetryCodes.internal);
  if (c?.unavailable) codes.add(grpcRetryCodes.unavailable);
  return codes;
}

/** Reads a gRPC route rule's retry. */
export function toGrpcRetry(r: outbound.GrpcRoute_Retry | undefined): RetryPolicy | undefined {
  if (!r) return undefined;
  return {
    maxRetries: r.maxRetries,
    maxRequestBytes: r.maxRequestBytes > 0 ? r.maxRequestBytes : defaultMaxRequestBytes,
    condition: { kind: 'grpc', codes: grpcConditionCodes(r.conditions) },
    attemptTimeoutMs: durationMs(r.timeout),
    backoff: toBackoff(r.backoff),
  };
}

/** What an attempt ended with, as far as retrying is concerned. */
export interface AttemptResult {
  /** HTTP status; undefined when the attempt failed without a response (connection error, attempt timeout). */
  readonly status?: number | undefined;
  /** grpc-status from the response headers or trailers, for gRPC. */
  readonly grpcStatus?: number | undefined;
  /** The Retry-After hint of the response, in milliseconds. */
  readonly retryAfterMs?: number | undefined;
}

/**
 * Whether the condition calls this result a retryable failure. An attempt
 * without a response (the connection failed or the attempt timed out) is
 * retryable for both kinds.
 */
export function isRetryable(condition: RetryCondition, result: AttemptResult): boolean {
  if (condition.kind === 'http') {
    if (result.status === undefined) return true;
    return condition.statusRanges.some(([start, end]) => result.status! >= start && result.status! <= end);
  }
  if (result.status === undefined) return true;
  // gRPC carries its outcome in grpc-status; a non-200 HTTP status has no grpc-status to judge.
  return result.grpcStatus !== undefined && condition.codes.has(result.grpcStatus);
}

/** A retry decision. */
export type RetryDecision = { readonly retry: true; readonly delayMs: number } | { readonly retry: false; readonly reason: 'success' | 'notRetryable' | 'maxRetries' | 'bodyTooLarge' | 'budget' };

/**
 * Whether to send attempt `retriesSoFar + 1` after `result`. `requestBytes`
 * is the request body's length (undefined when it is not known: streamed
 * bodies are not retried). The budget is asked last, so that a retry which
 * would not happen anyway does not spend from it.
 */
export function decideRetry(options: {
  readonly policy: RetryPolicy;
  readonly result: AttemptResult;
  readonly retriesSoFar: number;
  readonly requestBytes: number | undefined;
  readonly budget?: RetryBudget | undefined;
  /** A draw in [0, 1) for the backoff's jitter. */
  readonly random: number;
}): RetryDecision {
  const { policy, result } = options;
  if (!isRetryable(policy.condition, result)) return { retry: false, reason: result.status !== undefined && result.status < 400 && (result.grpcStatus ?? 0) === 0 ? 'success' : 'notRetryable' };
  if (options.retriesSoFar >= policy.maxRetries) return { retry: false, reason: 'maxRetries' };
  if (options.requestBytes === undefined || options.requestBytes > policy.maxRequestBytes) return { retry: false, reason: 'bodyTooLarge' };
  if (options.budget && !options.budget.withdraw()) return { retry: false, reason: 'budget' };
  return { retry: true, delayMs: backoffDelay(policy.backoff, options.retriesSoFar, options.random, result.retryAfterMs) };
}

/** A retry budget in plain numbers. */
export interface RetryBudgetConfig {
  /** Retries allowed per original request over the window (0.2: one retry per five requests). */
  readonly retryRatio: number;
  /** Retries per second always allowed, whatever the ratio. */
  readonly minRetriesPerSecond: number;
  /** The window over which requests and retries are counted. */
  readonly ttlMs: number;
}

/** Linkerd's default budget: 20% extra load, 10 retries/s floor, over 10 s. */
export const defaultRetryBudget: RetryBudgetConfig = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

/** Reads a ServiceProfile's RetryBudget; bad numbers are errors naming the field. */
export function toRetryBudgetConfig(b: destination.RetryBudget | undefined): RetryBudgetConfig {
  if (!b) return defaultRetryBudget;
  if (!(b.retryRatio >= 0) || !Number.isFinite(b.retryRatio)) throw new RangeError(`retry_budget.retry_ratio must be a finite number ≥ 0, got ${b.retryRatio}`);
  if (!Number.isInteger(b.minRetriesPerSecond) || b.minRetriesPerSecond < 0) throw new RangeError(`retry_budget.min_retries_per_second must be an integer ≥ 0, got ${b.minRetriesPerSecond}`);
  const ttlMs = durationMs(b.ttl) ?? defaultRetryBudget.ttlMs;
  if (ttlMs < 1000 || ttlMs > 60_000) throw new RangeError(`retry_budget.ttl must be between 1s and 60s, got ${ttlMs}ms`);
  return { retryRatio: b.retryRatio, minRetriesPerSecond: b.minRetriesPerSecond, ttlMs };
}

const slots = 10;

/**
 * Caps retries at `retryRatio` × the original requests of the last `ttl`,
 * plus `minRetriesPerSecond` × ttl. Counts are kept in ten time slots of
 * ttl/10 each, so old traffic leaves the window in steps.
 */
export class RetryBudget {
  readonly #config: RetryBudgetConfig;
  readonly #now: () => number;
  readonly #slotMs: number;
  readonly #requests = new Array<number>(slots).fill(0);
  readonly #retries = new Array<number>(slots).fill(0);
  #slotStart: number;
  #slot = 0;

  constructor(config: RetryBudgetConfig, now: () => number) {
    this.#config = config;
    this.#now = now;
    this.#slotMs = config.ttlMs / slots;
    this.#slotStart = now();
  }

  #advance(): void {
    const elapsed = Math.floor((this.#now() - this.#slotStart) / this.#slotMs);
    if (elapsed <= 0) return;
    for (let i = 0; i < Math.min(elapsed, slots); i++) {
      this.#slot = (this.#slot + 1) % slots;
      this.#requests[this.#slot] = 0;
      this.#retries[this.#slot] = 0;
    }
    this.#slotStart += elapsed * this.#slotMs;
  }

  /** Counts an original request (not a retry). */
  deposit(): void {
    this.#advance();
    this.#requests[this.#slot]!++;
  }

  /** Retries still allowed in the window now. */
  remaining(): number {
    this.#advance();
    const requests = this.#requests.reduce((a, b) => a + b, 0);
    const retries = this.#retries.reduce((a, b) => a + b, 0);
    const allowed = Math.floor(this.#config.retryRatio * requests + (this.#config.minRetriesPerSecond * this.#config.ttlMs) / 1000);
    return Math.max(0, allowed - retries);
  }

  /** Takes one retry from the budget; false when it is spent. */
  withdraw(): boolean {
    if (this.remaining() === 0) return false;
    this.#retries[this.#slot]!++;
    return true;
  }
}

