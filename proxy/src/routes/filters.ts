/*
 * Route filters of the proxy API as pure functions on a request or a
 * response, shared by the inbound and outbound sides: header modifiers,
 * redirects, failure injection and URL rewrites. Nothing here does I/O; the
 * random draw of a failure injector is passed in.
 */
import type { grpcRoute, httpRoute, httpTypes } from '@meshbus/proxy-api';
import { httpTypes as httpTypesValues } from '@meshbus/proxy-api';
import { pathPrefixMatches } from './match.js';
import { MeshbusError } from '@meshbus/core';

/** Header values by lower-case name; a name may carry several values, in order. */
export type HeaderMap = Readonly<Record<string, readonly string[]>>;

/** Headers as Node.js gives them (one value or several, maybe undefined) as a HeaderMap: names lower case, values in order. */
export function toHeaderMap(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMap {
  const out: Record<string, readonly string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    out[lower] = [...(out[lower] ?? []), ...(typeof value === 'string' ? [value] : value)];
  }
  return out;
}

/** A HeaderMap as Node.js writes headers: a single value as a string, several as an array; names without values left out. */
export function toNodeHeaders(headers: HeaderMap): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    if (values.length === 1 && values[0] !== undefined) out[name] = values[0];
    else if (values.length > 1) out[name] = [...values];
  }
  return out;
}

/** The path prefix a rule matched by, for prefix replacements: the match's prefix, or undefined for other path matches. */
export function matchedPathPrefix(match: httpRoute.HttpRouteMatch | undefined): string | undefined {
  return match?.path?.kind?.$case === 'prefix' ? match.path.kind.prefix : undefined;
}

/** The header block of a proxy API message as name → value pairs (names lower case). */
function pairs(h: httpTypes.Headers | undefined): [string, string][] {
  return (h?.headers ?? []).map((x) => [x.name.toLowerCase(), x.value.toString('latin1')]);
}

/**
 * Applies a request or response header modifier: `add` appends a value to
 * those already present, `set` replaces every value of the name, `remove`
 * deletes the name; applied in that order, as the proxy API says.
 */
export function modifyHeaders(headers: HeaderMap, modifier: httpRoute.RequestHeaderModifier | httpRoute.ResponseHeaderModifier): HeaderMap {
  const out: Record<string, readonly string[]> = { ...headers };
  for (const [name, value] of pairs(modifier.add)) out[name] = [...(out[name] ?? []), value];
  const set = new Map<string, string[]>();
  for (const [name, value] of pairs(modifier.set)) set.set(name, [...(set.get(name) ?? []), value]);
  for (const [name, values] of set) out[name] = values;
  for (const name of modifier.remove) delete out[name.toLowerCase()];
  return out;
}

/** The parts of a request URL a redirect or a rewrite reads. */
export interface RequestUrl {
  /** `http` or `https`. */
  readonly scheme: string;
  /** Host without the port. */
  readonly host: string;
  /** The port the client used; undefined when it named none. */
  readonly port?: number | undefined;
  readonly path: string;
  /** The raw query string without `?`, empty when none. */
  readonly query: string;
}

/** A filter that cannot be applied to this request (the control plane sent something the request cannot use). */
export class FilterError extends MeshbusError {
  override readonly name = 'FilterError';
  declare readonly code: 'InvalidFilter';
  constructor(message: string) {
    super('InvalidFilter', message);
  }
}

/**
 * Replaces the part of `path` matched by the route's path prefix with
 * `replacement`, on whole segments: prefix `/api`, replacement `/v2` turns
 * `/api/books` into `/v2/books`, and replacement `/` turns it into `/books`.
 */
export function replacePathPrefix(path: string, matchedPrefix: string, replacement: string): string {
  if (!pathPrefixMatches(matchedPrefix, path)) throw new FilterError(`path ${JSON.stringify(path)} does not start with the matched prefix ${JSON.stringify(matchedPrefix)}`);
  const prefix = matchedPrefix.endsWith('/') ? matchedPrefix.slice(0, -1) : matchedPrefix;
  const rest = path.slice(prefix.length); // '' or '/...'
  const base = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
  const joined = `${base}${rest}`;
  return joined === '' ? '/' : joined.startsWith('/') ? joined : `/${joined}`;
}

/**
 * The path a PathModifier makes of `path`. A prefix replacement needs the
 * prefix the rule matched by (`matchedPrefix`); without one it is a
 * FilterError.
 */
export function modifyPath(path: string, modifier: httpRoute.PathModifier | undefined, matchedPrefix: string | undefined): string {
  switch (modifier?.replace?.$case) {
    case undefined:
      return path;
    case 'full':
      return modifier.replace.full === '' ? '/' : modifier.replace.full;
    case 'prefix':
      if (matchedPrefix === undefined) throw new FilterError('a prefix path replacement needs a route rule that matched by path prefix');
      return replacePathPrefix(path, matchedPrefix, modifier.replace.prefix);
  }
}

function schemeName(s: httpTypes.Scheme | undefined): string | undefined {
  if (s?.type?.$case === 'registered') return s.type.registered === httpTypesValues.Scheme_Registered.HTTPS ? 'https' : 'http';
  if (s?.type?.$case === 'unregistered') return s.type.unregistered.toLowerCase();
  return undefined;
}

const defaultPorts: Record<string, number> = { http: 80, https: 443 };

/** What a redirect filter answers. */
export interface Redirect {
  readonly status: number;
  readonly location: string;
}

/**
 * The response of a redirect filter: status (302 when the filter says 0,
 * the Gateway API's default) and an absolute Location. Unset parts keep the request's values; the port
 * is left out when it is the scheme's default, and a changed scheme without
 * an explicit port drops the request's port. The query string is kept.
 */
export function redirect(url: RequestUrl, filter: httpRoute.RequestRedirect, matchedPrefix?: string): Redirect {
  const status = filter.status === 0 ? 302 : filter.status;
  if (status < 300 || status > 399) throw new FilterError(`redirect status must be 3xx, got ${status}`);
  const scheme = schemeName(filter.scheme) ?? url.scheme;
  const host = filter.host === '' ? url.host : filter.host;
  const port = filter.port !== 0 ? filter.port : scheme !== url.scheme ? undefined : url.port;
  const path = modifyPath(url.path, filter.path, matchedPrefix);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const portPart = port === undefined || port === defaultPorts[scheme] ? '' : `:${port}`;
  return { status, location: `${scheme}://${hostPart}${portPart}${path}${url.query === '' ? '' : `?${url.query}`}` };
}

/** A URL rewrite's result: the authority host and the path to forward with. */
export interface RewrittenUrl {
  readonly host: string;
  readonly path: string;
}

/**
 * The meshbus URL rewrite: an empty `host` keeps the request's host, an
 * unset `path` its path; a prefix replacement is relative to the prefix the
 * rule matched by.
 */
export function rewriteUrl(url: Pick<RequestUrl, 'host' | 'path'>, rewrite: httpRoute.UrlRewrite, matchedPrefix?: string): RewrittenUrl {
  return { host: rewrite.host === '' ? url.host : rewrite.host, path: modifyPath(url.path, rewrite.path, matchedPrefix) };
}

/** Whether a ratio-limited injector fires for a draw `random` in [0, 1). Unset ratio: always. */
function fires(ratio: httpRoute.Ratio | undefined, random: number): boolean {
  if (!ratio) return true;
  if (ratio.denominator === 0) throw new FilterError('failure injector ratio: denominator must not be zero');
  return random < ratio.numerator / ratio.denominator;
}

/** A synthetic HTTP failure: the status and the message (sent in `l5d-proxy-error`). */
export interface InjectedHttpFailure {
  readonly status: number;
  readonly message: string;
}

/**
 * The failure an HTTP failure injector injects for this draw (`random` in
 * [0, 1)), or undefined to pass the request on. A status of 0 injects 500;
 * a status outside 100–599 is a FilterError.
 */
export function injectHttpFailure(injector: httpRoute.HttpFailureInjector, random: number): InjectedHttpFailure | undefined {
  const status = injector.status === 0 ? 500 : injector.status;
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new FilterError(`failure injector status must be an HTTP status (100-599), got ${injector.status}`);
  if (!fires(injector.ratio, random)) return undefined;
  return { status, message: injector.message };
}

/** A synthetic gRPC failure: the grpc-status code and grpc-message. */
export interface InjectedGrpcFailure {
  readonly code: number;
  readonly message: string;
}

/** The failure a gRPC failure injector injects for this draw, or undefined. */
export function injectGrpcFailure(injector: grpcRoute.GrpcFailureInjector, random: number): InjectedGrpcFailure | undefined {
  if (!fires(injector.ratio, random)) return undefined;
  return { code: injector.code === 0 ? 13 : injector.code, message: injector.message };
}

/** A request as the filters see it. */
export interface FilterRequest {
  readonly url: RequestUrl;
  readonly headers: HeaderMap;
}

/** What a chain of filters makes of a request. */
export type FilterOutcome =
  /** Forward the (possibly changed) request; apply `responseModifiers` to the response, in order. */
  | { readonly kind: 'forward'; readonly request: FilterRequest; readonly responseModifiers: readonly httpRoute.ResponseHeaderModifier[] }
  | { readonly kind: 'redirect'; readonly redirect: Redirect }
  | { readonly kind: 'fail'; readonly failure: InjectedHttpFailure };

/** The filter kinds an HTTP route rule or route backend carries (the outbound and inbound messages share these shapes). */
export interface HttpFilter {
  readonly kind?:
    | { $case: 'failureInjector'; failureInjector: httpRoute.HttpFailureInjector }
    | { $case: 'requestHeaderModifier'; requestHeaderModifier: httpRoute.RequestHeaderModifier }
    | { $case: 'redirect'; redirect: httpRoute.RequestRedirect }
    | { $case: 'responseHeaderModifier'; responseHeaderModifier: httpRoute.ResponseHeaderModifier }
    | { $case: 'urlRewrite'; urlRewrite: httpRoute.UrlRewrite }
    | undefined;
}

/**
 * Runs HTTP filters in order. A redirect or an injected failure ends the
 * chain; a failure injector draws `random()` once when it has a ratio. A
 * filter of an unknown kind is skipped.
 */
export function applyHttpFilters(filters: readonly HttpFilter[], request: FilterRequest, random: () => number, matchedPrefix?: string): FilterOutcome {
  let current = request;
  const responseModifiers: httpRoute.ResponseHeaderModifier[] = [];
  for (const f of filters) {
    switch (f.kind?.$case) {
      case 'failureInjector': {
        const failure = injectHttpFailure(f.kind.failureInjector, f.kind.failureInjector.ratio ? random() : 0);
        if (failure) return { kind: 'fail', failure };
        break;
      }
      case 'requestHeaderModifier':
        current = { ...current, headers: modifyHeaders(current.headers, f.kind.requestHeaderModifier) };
        break;
      case 'responseHeaderModifier':
        responseModifiers.push(f.kind.responseHeaderModifier);
        break;
      case 'redirect':
        return { kind: 'redirect', redirect: redirect(current.url, f.kind.redirect, matchedPrefix) };
      case 'urlRewrite': {
        const { host, path } = rewriteUrl(current.url, f.kind.urlRewrite, matchedPrefix);
        current = { ...current, url: { ...current.url, host, path } };
        break;
      }
      case undefined:
        break;
    }
  }
  return { kind: 'forward', request: current, responseModifiers };
}

/** A gRPC route filter (rule or backend). */
export interface GrpcFilter {
  readonly kind?:
    | { $case: 'failureInjector'; failureInjector: grpcRoute.GrpcFailureInjector }
    | { $case: 'requestHeaderModifier'; requestHeaderModifier: httpRoute.RequestHeaderModifier }
    | undefined;
}

/** Runs gRPC filters in order: header modifiers change the metadata, a firing failure injector ends the chain. */
export function applyGrpcFilters(
  filters: readonly GrpcFilter[],
  headers: HeaderMap,
  random: () => number,
): { readonly kind: 'forward'; readonly headers: HeaderMap } | { readonly kind: 'fail'; readonly failure: InjectedGrpcFailure } {
  let current = headers;
  for (const f of filters) {
    if (f.kind?.$case === 'failureInjector') {
      const failure = injectGrpcFailure(f.kind.failureInjector, f.kind.failureInjector.ratio ? random() : 0);
      if (failure) return { kind: 'fail', failure };
    } else if (f.kind?.$case === 'requestHeaderModifier') {
      current = modifyHeaders(current, f.kind.requestHeaderModifier);
    }
  }
  return { kind: 'forward', headers: current };
}
