/*
 * The filters of an inbound route rule, applied by the data path to a
 * request the rule admitted. The filters themselves are the shared ones of
 * proxy/src/routes/filters.ts; this module takes Node.js header maps in and
 * gives the inbound side's answers (ProxyResponse) out.
 */
import type { httpRoute, inbound } from '@meshbus/proxy-api';
import {
  applyGrpcFilters as applySharedGrpcFilters,
  applyHttpFilters as applySharedHttpFilters,
  FilterError,
  matchedPathPrefix,
  toHeaderMap,
  toNodeHeaders,
  type InjectedGrpcFailure,
  type InjectedHttpFailure,
  type Redirect,
  type RequestUrl,
} from '../routes/filters.js';
import { errorResponse, type ProxyResponse } from './responses.js';

/** Headers as Node.js gives them: lower-case names, one value or several. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The parts of a request a redirect or rewrite reads: the shared RequestUrl, with the port the client reached. */
export interface RequestTarget extends RequestUrl {
  readonly port: number;
}

/** The answer to a redirect: its status and `location`, no body. */
export function redirectResponse(redirect: Redirect): ProxyResponse {
  return { status: redirect.status, headers: { location: redirect.location }, body: '' };
}

/** The answer of an HTTP failure injector that fired: its status and message (a default message when it has none). */
export function httpFailureResponse(failure: InjectedHttpFailure): ProxyResponse {
  return errorResponse({ httpStatus: failure.status, grpcStatus: 2, message: failure.message || `failure injected with status ${failure.status}`, grpc: false });
}

/** The answer of a gRPC failure injector that fired: its code and message. */
export function grpcFailureResponse(failure: InjectedGrpcFailure): ProxyResponse {
  return errorResponse({ httpStatus: 500, grpcStatus: failure.code, message: failure.message || `failure injected with grpc-status ${failure.code}`, grpc: true });
}

/** A filter the request cannot use (see FilterError): 500 (gRPC INTERNAL) with the reason. */
function invalidFilterResponse(err: FilterError, grpc: boolean): ProxyResponse {
  return errorResponse({ httpStatus: 500, grpcStatus: 13, message: `invalid route filter: ${err.message}`, grpc });
}

/** What the data path does with a request after the rule's filters, in their order. */
export type FilterOutcome =
  | { readonly kind: 'forward'; readonly headers: Record<string, string | string[]>; readonly host: string; readonly path: string }
  | { readonly kind: 'respond'; readonly response: ProxyResponse };

/**
 * Runs a rule's filters over a request, in order (the shared
 * `applyHttpFilters`): header edits and rewrites change what is forwarded,
 * a redirect or an injected failure answers instead and ends the run. A
 * filter the request cannot use (a prefix replacement on a rule that did
 * not match by prefix, a zero ratio denominator, a bad status) answers 500.
 */
export function applyHttpFilters(
  filters: readonly inbound.HttpRoute_Filter[],
  request: { readonly headers: HeaderMap; readonly target: RequestTarget },
  match: httpRoute.HttpRouteMatch | undefined,
  random: () => number = Math.random,
): FilterOutcome {
  try {
    const out = applySharedHttpFilters(filters, { url: request.target, headers: toHeaderMap(request.headers) }, random, matchedPathPrefix(match));
    switch (out.kind) {
      case 'forward':
        return { kind: 'forward', headers: toNodeHeaders(out.request.headers), host: out.request.url.host, path: out.request.url.path };
      case 'redirect':
        return { kind: 'respond', response: redirectResponse(out.redirect) };
      case 'fail':
        return { kind: 'respond', response: httpFailureResponse(out.failure) };
    }
  } catch (err) {
    if (err instanceof FilterError) return { kind: 'respond', response: invalidFilterResponse(err, false) };
    throw err;
  }
}

/** The gRPC counterpart of {@link applyHttpFilters}: header edits and failure injection. */
export function applyGrpcFilters(
  filters: readonly inbound.GrpcRoute_Filter[],
  headers: HeaderMap,
  random: () => number = Math.random,
): { readonly kind: 'forward'; readonly headers: Record<string, string | string[]> } | { readonly kind: 'respond'; readonly response: ProxyResponse } {
  try {
    const out = applySharedGrpcFilters(filters, toHeaderMap(headers), random);
    return out.kind === 'forward' ? { kind: 'forward', headers: toNodeHeaders(out.headers) } : { kind: 'respond', response: grpcFailureResponse(out.failure) };
  } catch (err) {
    if (err instanceof FilterError) return { kind: 'respond', response: invalidFilterResponse(err, true) };
    throw err;
  }
}
