/*
 * The local rate limit of a server's HTTP traffic (the proxy API's
 * HttpLocalRateLimit): token buckets for all requests together, for each
 * client identity, and overridden limits for listed identities. The clock is
 * injected; the limiter keeps its buckets across policy updates for the
 * limits that did not change.
 */
import type { inbound } from '@meshbus/proxy-api';
import { errorResponse, GrpcStatus, type ProxyResponse } from './responses.js';

/** How the limiter is built. */
export interface RateLimiterOptions {
  /**
   * Milliseconds on a monotonic clock.
   * @default performance.now
   */
  readonly now?: () => number;
  /**
   * Identity buckets kept before full ones (idle clients) are forgotten.
   * @default 10000
   */
  readonly maxIdentityBuckets?: number;
}

/** Which limit refused a request. */
export type RateLimitKind = 'total' | 'identity' | 'override';

/** The outcome of one request's check. */
export type RateLimitDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly limit: RateLimitKind;
      readonly requestsPerSecond: number;
      /** When the refused bucket next has a token. */
      readonly retryAfterMs: number;
      readonly reason: string;
    };

/**
 * A token bucket of `rate` tokens a second holding at most `rate` (a
 * second's worth): a client may burst up to the rate, then gets one request
 * every 1/rate seconds. A rate of 0 or less refuses every request.
 */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  constructor(
    readonly rate: number,
    now: number,
  ) {
    this.tokens = Math.max(rate, 0);
    this.updatedAt = now;
  }

  private refill(now: number): void {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.rate, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
      this.updatedAt = now;
    }
  }

  /** Whether a token is there, without taking it. */
  has(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  take(): void {
    this.tokens -= 1;
  }

  /** Milliseconds until a token is there. */
  waitMs(): number {
    return this.rate > 0 ? Math.ceil(((1 - this.tokens) / this.rate) * 1000) : Number.POSITIVE_INFINITY;
  }

  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.rate;
  }
}

/** A rate a limit message says, or undefined when it does not apply. */
function rateOf(limit: inbound.HttpLocalRateLimit_Limit | undefined): number | undefined {
  if (!limit) return undefined;
  const r = limit.requestsPerSecond;
  return Number.isFinite(r) ? r : 0;
}

/** An identity key; clients without identity share one bucket of the identity limit. */
const unmeshed = '';

/**
 * The HTTP local rate limiter of one server. A request is admitted when each
 * limit that applies to it has a token, and then takes one from each:
 * `total` for every request; for the client's identity, its override when
 * listed, else `identity`. Clients without a mesh identity share one bucket
 * of the `identity` limit (overrides name identities, so never apply to them).
 */
export class HttpLocalRateLimiter {
  private readonly now: () => number;
  private readonly maxIdentityBuckets: number;
  private readonly totalRate: number | undefined;
  private readonly identityRate: number | undefined;
  private readonly overrides = new Map<string, number>();
  private total: TokenBucket | undefined;
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly policy: inbound.HttpLocalRateLimit | undefined,
    options: RateLimiterOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.maxIdentityBuckets = options.maxIdentityBuckets ?? 10_000;
    this.totalRate = rateOf(policy?.total);
    this.identityRate = rateOf(policy?.identity);
    for (const o of policy?.overrides ?? []) {
      const rate = rateOf(o.limit);
      if (rate === undefined) continue;
      // The first override that lists an identity is its limit.
      for (const id of o.clients?.identities ?? []) if (!this.overrides.has(id.name)) this.overrides.set(id.name, rate);
    }
  }

  /** Whether any limit applies. */
  get limits(): boolean {
    return this.totalRate !== undefined || this.identityRate !== undefined || this.overrides.size > 0;
  }

  /** The rate limiting the client's own bucket, and which limit it is. */
  private identityLimit(identity: string): { rate: number; kind: RateLimitKind } | undefined {
    const override = identity === unmeshed ? undefined : this.overrides.get(identity);
    if (override !== undefined) return { rate: override, kind: 'override' };
    return this.identityRate === undefined ? undefined : { rate: this.identityRate, kind: 'identity' };
  }

  /**
   * Checks one request of a client (its verified mesh identity, or
   * undefined for a client without one) and, when admitted, counts it.
   */
  check(clientIdentity: string | undefined): RateLimitDecision {
    const now = this.now();
    const identity = clientIdentity ?? unmeshed;
    if (this.totalRate !== undefined) this.total ??= new TokenBucket(this.totalRate, now);
    const limit = this.identityLimit(identity);
    let own: TokenBucket | undefined;
    if (limit) {
      own = this.buckets.get(identity);
      if (!own) {
        if (this.buckets.size >= this.maxIdentityBuckets) this.forgetFull(now);
        own = new TokenBucket(limit.rate, now);
        this.buckets.set(identity, own);
      }
    }
    if (limit && own && !own.has(now)) {
      const who = identity === unmeshed ? 'clients without a mesh identity' : identity;
      return { allowed: false, limit: limit.kind, requestsPerSecond: limit.rate, retryAfterMs: own.waitMs(), reason: `rate limit exceeded: ${limit.rate} requests per second for ${who}` };
    }
    if (this.total && !this.total.has(now)) {
      return { allowed: false, limit: 'total', requestsPerSecond: this.total.rate, retryAfterMs: this.total.waitMs(), reason: `rate limit exceeded: ${this.total.rate} requests per second for the server` };
    }
    own?.take();
    this.total?.take();
    return { allowed: true };
  }

  private forgetFull(now: number): void {
    for (const [id, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(id);
  }

  /**
   * The limiter for a new policy of the same server. Buckets whose limit is
   * the same in both keep their tokens (a policy update does not hand every
   * client a fresh burst); buckets of changed limits start full.
   */
  update(policy: inbound.HttpLocalRateLimit | undefined): HttpLocalRateLimiter {
    const next = new HttpLocalRateLimiter(policy, { now: this.now, maxIdentityBuckets: this.maxIdentityBuckets });
    if (this.total && next.totalRate === this.totalRate) next.total = this.total;
    for (const [id, bucket] of this.buckets) {
      if (next.identityLimit(id)?.rate === bucket.rate) next.buckets.set(id, bucket);
    }
    return next;
  }
}

/** The rate limit a server's HTTP configuration carries (detect, HTTP/1, HTTP/2; gRPC servers have none in the proxy API). */
export function serverRateLimit(server: inbound.Server): inbound.HttpLocalRateLimit | undefined {
  const p = server.protocol?.kind;
  switch (p?.$case) {
    case 'detect':
      return p.detect.httpLocalRateLimit;
    case 'http1':
      return p.http1.localRateLimit;
    case 'http2':
      return p.http2.localRateLimit;
    default:
      return undefined;
  }
}

/** The answer to a rate-limited request: HTTP 429 with `retry-after` (whole seconds), gRPC RESOURCE_EXHAUSTED. */
export function rateLimitedResponse(decision: Extract<RateLimitDecision, { allowed: false }>, grpc: boolean): ProxyResponse {
  const headers: Record<string, string> = Number.isFinite(decision.retryAfterMs) ? { 'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) } : {};
  return errorResponse({ httpStatus: 429, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, message: decision.reason, grpc, headers });
}
