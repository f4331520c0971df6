/*
 * Route selection: from an OutboundPolicy and a request, the rule that
 * applies and everything the data path needs to carry the request out.
 */
import type { httpRoute, meta, outbound } from '@meshbus/proxy-api';
import { grpcMatches, grpcMatchRank, httpMatches, httpMatchRank, compareRank, selectRoute, type RequestFacts } from '../routes/match.js';
import type { GrpcFilter, HttpFilter } from '../routes/filters.js';
import { toDistribution, type Distribution } from './backend-choice.js';
import { durationMs } from './durations.js';
import { toGrpcRetry, toHttpRetry, type RetryPolicy } from './retry.js';
import { MeshbusError } from '@meshbus/core';

/** The protocol the proxy found on a connection of a `detect` target. */
export type DetectedProtocol = 'http1' | 'http2' | 'opaque';

/** The configuration that applies to a connection, after detection. */
export type ProtocolConfig =
  | { readonly kind: 'http'; readonly version: 'http1' | 'http2'; readonly routes: readonly outbound.HttpRoute[]; readonly failureAccrual?: outbound.FailureAccrual | undefined }
  | { readonly kind: 'grpc'; readonly routes: readonly outbound.GrpcRoute[]; readonly failureAccrual?: outbound.FailureAccrual | undefined }
  | { readonly kind: 'opaque'; readonly routes: readonly outbound.OpaqueRoute[] }
  | { readonly kind: 'tls'; readonly routes: readonly outbound.TlsRoute[] };

/** A policy that cannot be used (its protocol is missing). */
export class OutboundPolicyError extends MeshbusError {
  override readonly name = 'OutboundPolicyError';
  declare readonly code: 'InvalidOutboundPolicy';
  constructor(message: string) {
    super('InvalidOutboundPolicy', message);
  }
}

/** How long to sniff the protocol of a `detect` target; undefined for other protocols. Unset: 10 s. */
export function detectTimeoutMs(policy: outbound.OutboundPolicy): number | undefined {
  const p = policy.protocol?.kind;
  return p?.$case === 'detect' ? (durationMs(p.detect.timeout) ?? 10_000) : undefined;
}

/**
 * The configuration for a connection. For `detect`, `detected` picks the
 * http1, http2 or opaque configuration (a detection that timed out or found
 * no HTTP is `opaque`); an HTTP configuration the policy leaves out is an
 * HTTP configuration without routes, so requests get 404. Other protocols
 * ignore `detected`.
 */
export function protocolConfig(policy: outbound.OutboundPolicy, detected: DetectedProtocol = 'opaque'): ProtocolConfig {
  const p = policy.protocol?.kind;
  switch (p?.$case) {
    case undefined:
      throw new OutboundPolicyError('outbound policy has no protocol');
    case 'detect': {
      if (detected === 'opaque') return { kind: 'opaque', routes: p.detect.opaque?.routes ?? [] };
      const http = p.detect[detected];
      return { kind: 'http', version: detected, routes: http?.routes ?? [], failureAccrual: http?.failureAccrual };
    }
    case 'http1':
      return { kind: 'http', version: 'http1', routes: p.http1.routes, failureAccrual: p.http1.failureAccrual };
    case 'http2':
      return { kind: 'http', version: 'http2', routes: p.http2.routes, failureAccrual: p.http2.failureAccrual };
    case 'grpc':
      return { kind: 'grpc', routes: p.grpc.routes, failureAccrual: p.grpc.failureAccrual };
    case 'opaque':
      return { kind: 'opaque', routes: p.opaque.routes };
    case 'tls':
      return { kind: 'tls', routes: p.tls.routes };
  }
}

/** A rule's timeouts in milliseconds; undefined means none. */
export interface RouteTimeouts {
  /** The whole exchange, retries included. */
  readonly requestMs?: number | undefined;
  /** Each attempt: the shorter of `timeouts.response` (or the deprecated `requestTimeout`) and the retry's timeout. */
  readonly attemptMs?: number | undefined;
  /** A stream without any frame for this long is reset. */
  readonly idleMs?: number | undefined;
}

/** What the data path does with a request that matched a rule. */
export interface RoutePlan<F> {
  readonly kind: 'http' | 'grpc';
  readonly route?: meta.Metadata | undefined;
  readonly ruleIndex: number;
  readonly filters: readonly F[];
  readonly distribution: Distribution<F>;
  readonly timeouts: RouteTimeouts;
  readonly retry?: RetryPolicy | undefined;
  /** Whether the request's l5d-* headers may adjust retries and timeouts. */
  readonly allowL5dRequestHeaders: boolean;
  /** The path prefix the rule matched by, for prefix rewrites and redirects. */
  readonly matchedPrefix?: string | undefined;
}

/** A request no rule takes: HTTP 404, gRPC UNIMPLEMENTED (12), with the reason for `l5d-proxy-error`. */
export interface NoRoute {
  readonly kind: 'noRoute';
  readonly status: 404;
  readonly grpcStatus: 12;
  readonly message: string;
}

const noRoute = (message: string): NoRoute => ({ kind: 'noRoute', status: 404, grpcStatus: 12, message });

function timeouts(rule: { timeouts?: httpRoute.Timeouts | undefined; requestTimeout?: outbound.HttpRoute_Rule['requestTimeout'] }, retry: RetryPolicy | undefined): RouteTimeouts {
  const response = durationMs(rule.timeouts?.response) ?? durationMs(rule.requestTimeout);
  const attempt = [response, retry?.attemptTimeoutMs].filter((x): x is number => x !== undefined && x > 0);
  const requestMs = durationMs(rule.timeouts?.request);
  const idleMs = durationMs(rule.timeouts?.idle);
  return {
    requestMs: requestMs ? requestMs : undefined,
    attemptMs: attempt.length > 0 ? Math.min(...attempt) : undefined,
    idleMs: idleMs ? idleMs : undefined,
  };
}

/** The most specific of a rule's matches that admits the request, to read its path prefix. */
function matchedPrefix(matches: readonly httpRoute.HttpRouteMatch[], req: RequestFacts): string | undefined {
  let best: httpRoute.HttpRouteMatch | undefined;
  for (const m of matches) if (httpMatches(m, req) && (!best || compareRank(httpMatchRank(m), httpMatchRank(best)) > 0)) best = m;
  return best?.path?.kind?.$case === 'prefix' ? best.path.kind.prefix : undefined;
}

/** The HTTP rule for a request, or NoRoute. */
export function routeHttp(routes: readonly outbound.HttpRoute[], req: RequestFacts): RoutePlan<HttpFilter> | NoRoute {
  const hit = selectRoute(routes, req, httpMatches, httpMatchRank);
  if (!hit) return noRoute(`no route matches ${req.method} ${req.host}${req.path}`);
  const retry = toHttpRetry(hit.rule.retry);
  return {
    kind: 'http',
    route: hit.route.metadata,
    ruleIndex: hit.ruleIndex,
    filters: hit.rule.filters,
    distribution: toDistribution(hit.rule.backends),
    timeouts: timeouts(hit.rule, retry),
    retry,
    allowL5dRequestHeaders: hit.rule.allowL5dRequestHeaders,
    matchedPrefix: matchedPrefix(hit.rule.matches, req),
  };
}

/** The gRPC rule for a call, or NoRoute. */
export function routeGrpc(routes: readonly outbound.GrpcRoute[], req: RequestFacts): RoutePlan<GrpcFilter> | NoRoute {
  const hit = selectRoute(routes, req, grpcMatches, grpcMatchRank);
  if (!hit) return noRoute(`no route matches ${req.host}${req.path}`);
  const retry = toGrpcRetry(hit.rule.retry);
  return {
    kind: 'grpc',
    route: hit.route.metadata,
    ruleIndex: hit.ruleIndex,
    filters: hit.rule.filters,
    distribution: toDistribution(hit.rule.backends),
    timeouts: timeouts(hit.rule, retry),
    retry,
    allowL5dRequestHeaders: hit.rule.allowL5dRequestHeaders,
  };
}

/** The request's route under a protocol configuration (HTTP or gRPC); opaque and TLS configurations have no request routes. */
export function routeRequest(config: ProtocolConfig, req: RequestFacts): RoutePlan<HttpFilter> | RoutePlan<GrpcFilter> | NoRoute {
  if (config.kind === 'http') return routeHttp(config.routes, req);
  if (config.kind === 'grpc') return routeGrpc(config.routes, req);
  return noRoute(`a ${config.kind} target has no request routes`);
}

/** The opaque route for a connection: the first rule of the first route (opaque routes have no matches). */
export function routeOpaque(routes: readonly outbound.OpaqueRoute[]): { route?: meta.Metadata | undefined; distribution: Distribution<outbound.OpaqueRoute_Filter>; filters: readonly outbound.OpaqueRoute_Filter[] } | undefined {
  const route = routes.find((r) => r.rules.length > 0);
  const rule = route?.rules[0];
  if (!route || !rule) return undefined;
  return { route: route.metadata, distribution: toDistribution(rule.backends), filters: rule.filters };
}
