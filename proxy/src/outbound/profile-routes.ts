/*
 * ServiceProfile routes (Destination.GetProfile): which route a request
 * falls under, whether a response is a failure by the route's response
 * classes, and the retry policy, timeout and budget that follow. Pure.
 */
import type { destination } from '@meshbus/proxy-api';
import { methodName } from '../routes/match.js';
import { defaultBackoff } from './backoff.js';
import { durationMs } from './durations.js';
import { defaultMaxRequestBytes, defaultRetryBudget, toRetryBudgetConfig, type RetryBudgetConfig, type RetryCondition, type RetryPolicy } from './retry.js';
import type { ProtocolConfig } from './routing.js';
import { MeshbusError } from '@meshbus/core';

/** A request as profile routes see it: method (upper case) and path without the query. */
export interface ProfileRequest {
  readonly method: string;
  readonly path: string;
}

/** A compiled request condition. */
type Condition = (req: ProfileRequest) => boolean;

/** A profile route, ready to match. */
export interface ProfileRoute {
  /** The route's name (its `route` metrics label), as the ServiceProfile names it. */
  readonly name: string;
  readonly metricsLabels: Readonly<Record<string, string>>;
  readonly matches: Condition;
  readonly responseClasses: readonly destination.ResponseClass[];
  readonly isRetryable: boolean;
  /** The whole request's deadline, retries included; undefined for none. */
  readonly timeoutMs?: number | undefined;
}

/** A DestinationProfile in the form the data path uses. */
export interface CompiledProfile {
  /** Whether a ServiceProfile stands behind it (it names one, or has routes). */
  readonly fromServiceProfile: boolean;
  /** In order: the first route whose condition matches takes the request. */
  readonly routes: readonly ProfileRoute[];
  readonly retryBudget: RetryBudgetConfig;
  /** What could not be used, in plain words (routes left out, a budget replaced by the default). */
  readonly problems: readonly string[];
}

class ConditionError extends MeshbusError {
  override readonly name = 'ConditionError';
  constructor(message: string) {
    super('InvalidRouteCondition', message);
  }
}

function compileCondition(m: destination.RequestMatch | undefined): Condition {
  const match = m?.match;
  switch (match?.$case) {
    case undefined:
      throw new ConditionError('a condition is empty');
    case 'all': {
      const parts = match.all.matches.map(compileCondition);
      return (req) => parts.every((p) => p(req));
    }
    case 'any': {
      const parts = match.any.matches.map(compileCondition);
      return (req) => parts.some((p) => p(req));
    }
    case 'not': {
      const inner = compileCondition(match.not);
      return (req) => !inner(req);
    }
    case 'path': {
      if (match.path.regex === '') throw new ConditionError('a path regex is empty');
      let re: RegExp;
      try {
        // The whole path must match, as the Linkerd proxy anchors a profile's path regex.
        re = new RegExp(`^(?:${match.path.regex})$`);
      } catch (error) {
        throw new ConditionError(`path regex ${JSON.stringify(match.path.regex)} does not compile: ${(error as Error).message}`);
      }
      return (req) => re.test(req.path);
    }
    case 'method': {
      const name = methodName(match.method);
      if (name === undefined || name === '') throw new ConditionError('a method condition names no method');
      return (req) => req.method.toUpperCase() === name;
    }
  }
}

/** Whether a request meets a profile condition. A condition that cannot be used (empty, bad regex) throws. */
export function requestMatches(m: destination.RequestMatch | undefined, req: ProfileRequest): boolean {
  return compileCondition(m)(req);
}

/** Whether a status meets a response condition. A status range with a bound of 0 is the other bound alone; an empty condition matches nothing. */
export function responseMatches(m: destination.ResponseMatch | undefined, status: number): boolean {
  const match = m?.match;
  switch (match?.$case) {
    case undefined:
      return false;
    case 'all':
      return match.all.matches.every((x) => responseMatches(x, status));
    case 'any':
      return match.any.matches.some((x) => responseMatches(x, status));
    case 'not':
      return !responseMatches(match.not, status);
    case 'status': {
      const { min, max } = match.status;
      const lo = min === 0 ? max : min;
      const hi = max === 0 ? min : max;
      return status >= lo && status <= hi;
    }
  }
}

/** Reads a DestinationProfile. Routes that cannot be used are left out and named in `problems`. */
export function compileProfile(profile: destination.DestinationProfile): CompiledProfile {
  const problems: string[] = [];
  const routes: ProfileRoute[] = [];
  profile.routes.forEach((r, i) => {
    const name = r.metricsLabels['route'] ?? `#${i}`;
    try {
      routes.push({
        name,
        metricsLabels: { ...r.metricsLabels },
        matches: compileCondition(r.condition),
        responseClasses: r.responseClasses,
        isRetryable: r.isRetryable,
        timeoutMs: durationMs(r.timeout) || undefined,
      });
    } catch (error) {
      if (!(error instanceof ConditionError)) throw error;
      problems.push(`route ${name} is left out: ${error.message}`);
    }
  });
  let retryBudget = defaultRetryBudget;
  try {
    retryBudget = toRetryBudgetConfig(profile.retryBudget);
  } catch (error) {
    problems.push(`the default retry budget is used: ${(error as Error).message}`);
  }
  return { fromServiceProfile: profile.profileRef !== undefined || profile.routes.length > 0, routes, retryBudget, problems };
}

/** The first route whose condition the request meets. */
export function profileRoute(profile: CompiledProfile, req: ProfileRequest): ProfileRoute | undefined {
  return profile.routes.find((r) => r.matches(req));
}

/**
 * Whether a response is a failure on a route: the first response class whose
 * condition the status meets decides; when none does (or there is no route),
 * a gRPC status other than OK is a failure, else a 5xx status is. An attempt
 * without a response is a failure.
 */
export function isFailure(route: ProfileRoute | undefined, result: { readonly status?: number | undefined; readonly grpcStatus?: number | undefined }): boolean {
  if (result.status === undefined) return true;
  const cls = route?.responseClasses.find((c) => responseMatches(c.condition, result.status!));
  if (cls) return cls.isFailure;
  if (result.grpcStatus !== undefined) return result.grpcStatus !== 0;
  return result.status >= 500;
}

/** The statuses (100–599) a route's response classes and the default classification call failures, as inclusive ranges. */
export function failureStatusRanges(route: ProfileRoute): [number, number][] {
  const ranges: [number, number][] = [];
  for (let status = 100; status <= 599; status++) {
    if (!isFailure(route, { status })) continue;
    const last = ranges.at(-1);
    if (last && last[1] === status - 1) last[1] = status;
    else ranges.push([status, status]);
  }
  return ranges;
}

const allGrpcCodes = Array.from({ length: 17 }, (_, i) => i);

/**
 * The retry policy of a retryable route: failures by its classification are
 * retried for as long as the retry budget allows (a profile sets no count),
 * with bodies up to 64 KiB, after the default backoff. gRPC calls are judged
 * by the grpc-status of a trailers-only answer (HTTP status 200): a failure
 * unless OK, or as the response classes say of status 200.
 */
export function profileRetryPolicy(route: ProfileRoute, grpc: boolean): RetryPolicy | undefined {
  if (!route.isRetryable) return undefined;
  let condition: RetryCondition;
  if (grpc) {
    const cls = route.responseClasses.find((c) => responseMatches(c.condition, 200));
    const codes = cls === undefined ? allGrpcCodes.filter((c) => c !== 0) : cls.isFailure ? allGrpcCodes : [];
    condition = { kind: 'grpc', codes: new Set(codes) };
  } else condition = { kind: 'http', statusRanges: failureStatusRanges(route) };
  return { maxRetries: Number.POSITIVE_INFINITY, maxRequestBytes: defaultMaxRequestBytes, condition, backoff: defaultBackoff };
}

/**
 * Whether the profile's routes replace the policy's: the service has a
 * ServiceProfile with routes, and the policy has none but its default routes
 * (no HTTPRoute or GRPCRoute of the service's own). When routes of its own
 * exist, the OutboundPolicy decides.
 */
export function profileInUse(profile: CompiledProfile | undefined, config: ProtocolConfig): boolean {
  if (!profile?.fromServiceProfile || profile.routes.length === 0) return false;
  if (config.kind !== 'http' && config.kind !== 'grpc') return false;
  const routes: readonly { metadata?: { kind?: { $case: string } | undefined } | undefined }[] = config.routes;
  return routes.every((r) => r.metadata?.kind?.$case === 'default');
}
