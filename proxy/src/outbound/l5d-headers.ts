/*
 * The l5d-* request headers that a client may use to adjust a route's
 * retries and timeouts, when the rule sets allow_l5d_request_headers.
 */
import type { HeaderMap } from '../routes/filters.js';
import { grpcRetryCodes, type RetryPolicy } from './retry.js';
import type { RoutePlan } from './routing.js';
import { defaultBackoff } from './backoff.js';

/** The headers read here; the data path removes them before the request leaves the proxy. */
export const l5dRequestHeaders = ['l5d-retry-limit', 'l5d-retry-http', 'l5d-retry-grpc', 'l5d-retry-timeout', 'l5d-timeout', 'l5d-response-timeout'] as const;

/** `250ms`, `2s`, `1m`, `1h`, or bare milliseconds; undefined when unreadable. */
export function parseL5dDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
}

function parseHttpStatuses(text: string): [number, number][] | undefined {
  const out: [number, number][] = [];
  for (const part of text.split(',').map((p) => p.trim().toLowerCase())) {
    if (part === 'gateway-error') out.push([502, 504]);
    else if (/^[1-5]xx$/.test(part)) out.push([Number(part[0]) * 100, Number(part[0]) * 100 + 99]);
    else if (/^\d{3}$/.test(part)) out.push([Number(part), Number(part)]);
    else if (/^\d{3}-\d{3}$/.test(part)) {
      const [a, b] = part.split('-').map(Number) as [number, number];
      if (b < a) return undefined;
      out.push([a, b]);
    } else return undefined;
  }
  return out;
}

const grpcNames: Record<string, number> = {
  cancelled: grpcRetryCodes.cancelled,
  'deadline-exceeded': grpcRetryCodes.deadlineExceeded,
  'resource-exhausted': grpcRetryCodes.resourceExhausted,
  internal: grpcRetryCodes.internal,
  unavailable: grpcRetryCodes.unavailable,
};

function parseGrpcCodes(text: string): Set<number> | undefined {
  const codes = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim().toLowerCase())) {
    const code = grpcNames[part];
    if (code === undefined) return undefined;
    codes.add(code);
  }
  return codes;
}

/** The plan with the request's l5d-* headers applied, and the headers that could not be read (left without effect). */
export interface L5dAdjusted<F> {
  readonly plan: RoutePlan<F>;
  readonly problems: readonly string[];
}

/**
 * Applies `l5d-retry-limit` (retries), `l5d-retry-http` (statuses such as
 * `5xx`, `gateway-error`, `429`, `500-504`), `l5d-retry-grpc` (names such
 * as `unavailable,internal`), `l5d-retry-timeout` (each attempt),
 * `l5d-timeout` (the whole request) and `l5d-response-timeout` (each
 * attempt's response). Does nothing unless the rule allows it. A retry
 * header on a rule without retry starts from no retries and the default
 * backoff.
 */
export function applyL5dRequestHeaders<F>(plan: RoutePlan<F>, headers: HeaderMap): L5dAdjusted<F> {
  if (!plan.allowL5dRequestHeaders) return { plan, problems: [] };
  const problems: string[] = [];
  const value = (name: string) => headers[name]?.[0];
  let retry: RetryPolicy | undefined = plan.retry;
  const baseRetry = (): RetryPolicy =>
    retry ?? { maxRetries: 0, maxRequestBytes: 64 * 1024, condition: plan.kind === 'grpc' ? { kind: 'grpc', codes: new Set() } : { kind: 'http', statusRanges: [] }, backoff: defaultBackoff };
  let timeouts = plan.timeouts;

  const limit = value('l5d-retry-limit');
  if (limit !== undefined) {
    if (/^\d+$/.test(limit.trim())) retry = { ...baseRetry(), maxRetries: Number(limit.trim()) };
    else problems.push(`l5d-retry-limit: expected a whole number, got ${JSON.stringify(limit)}`);
  }
  const http = value('l5d-retry-http');
  if (http !== undefined && plan.kind === 'http') {
    const statusRanges = parseHttpStatuses(http);
    if (statusRanges) retry = { ...baseRetry(), condition: { kind: 'http', statusRanges } };
    else problems.push(`l5d-retry-http: expected statuses such as 5xx, gateway-error, 429 or 500-504, got ${JSON.stringify(http)}`);
  }
  const grpc = value('l5d-retry-grpc');
  if (grpc !== undefined && plan.kind === 'grpc') {
    const codes = parseGrpcCodes(grpc);
    if (codes) retry = { ...baseRetry(), condition: { kind: 'grpc', codes } };
    else problems.push(`l5d-retry-grpc: expected names among ${Object.keys(grpcNames).join(', ')}, got ${JSON.stringify(grpc)}`);
  }
  const durationHeader = (name: string, apply: (ms: number) => void) => {
    const text = value(name);
    if (text === undefined) return;
    const ms = parseL5dDuration(text);
    if (ms === undefined) problems.push(`${name}: expected a duration such as 500ms or 2s, got ${JSON.stringify(text)}`);
    else apply(ms);
  };
  durationHeader('l5d-retry-timeout', (ms) => {
    retry = { ...baseRetry(), attemptTimeoutMs: ms };
    timeouts = { ...timeouts, attemptMs: ms };
  });
  durationHeader('l5d-response-timeout', (ms) => (timeouts = { ...timeouts, attemptMs: ms }));
  durationHeader('l5d-timeout', (ms) => (timeouts = { ...timeouts, requestMs: ms }));
  return { plan: { ...plan, retry, timeouts }, problems };
}
