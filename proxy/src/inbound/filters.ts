/*
 * The filters of an inbound route rule, applied by the data path to a
 * request the rule admitted: request header edits, redirects, URL rewrites
 * (meshbus's extension of the proxy API) and failure injection. Pure: header
 * maps and request parts in, new ones or a response out.
 */
import type { grpcRoute, httpRoute, httpTypes, inbound } from '@meshbus/proxy-api';
import { errorResponse, type ProxyResponse } from './responses.js';

/** Headers as Node.js gives them: lower-case names, one value or several. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

const text = (value: Buffer): string => value.toString('latin1');

/**
 * A request header modifier applied to `headers`, in a new map: `set`
 * replaces every value of a header, then `add` appends a value, then
 * `remove` drops headers (so a header both added and removed is gone).
 */
export function applyHeaderModifier(headers: HeaderMap, modifier: httpRoute.RequestHeaderModifier): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = typeof value === 'string' ? value : [...value];
  }
  for (const h of modifier.set?.headers ?? []) out[h.name.toLowerCase()] = text(h.value);
  for (const h of modifier.add?.headers ?? []) {
    const name = h.name.toLowerCase();
    const before = out[name];
    out[name] = before === undefined ? text(h.value) : [...(typeof before === 'string' ? [before] : before), text(h.value)];
  }
  for (const name of modifier.remove) delete out[name.toLowerCase()];
  return out;
}

/** The parts of a request a redirect or rewrite reads. */
export interface RequestTarget {
  /** `http` or `https`: how the client reached the proxy. */
  readonly scheme: string;
  /** Host without the port. */
  readonly host: string;
  readonly port: number;
  /** The path without the query string. */
  readonly path: string;
  /** The query string without `?`, empty for none. */
  readonly query: string;
}

/**
 * A path with a prefix replaced, as the Gateway API's ReplacePrefixMatch
 * does: `/api` matched in `/api/v1` and replaced with `/v2` gives `/v2/v1`,
 * replaced with `/` gives `/v1`. Without a prefix match (the rule matched
 * by exact path, regex or no path), the whole path is replaced.
 */
export function replacePrefix(path: string, matchedPrefix: string | undefined, replacement: string): string {
  if (matchedPrefix === undefined) return replacement === '' ? '/' : replacement;
  const prefix = matchedPrefix.endsWith('/') ? matchedPrefix.slice(0, -1) : matchedPrefix;
  const rest = path.slice(prefix.length);
  const head = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
  const joined = `${head}${rest}`;
  return joined === '' ? '/' : joined.startsWith('/') ? joined : `/${joined}`;
}

/** The prefix the rule's match gave, for prefix replacement. */
export function matchedPrefix(match: httpRoute.HttpRouteMatch | undefined): string | undefined {
  return match?.path?.kind?.$case === 'prefix' ? match.path.kind.prefix : undefined;
}

function modifiedPath(modifier: httpRoute.PathModifier | undefined, target: RequestTarget, match: httpRoute.HttpRouteMatch | undefined): string {
  switch (modifier?.replace?.$case) {
    case 'full':
      return modifier.replace.full;
    case 'prefix':
      return replacePrefix(target.path, matchedPrefix(match), modifier.replace.prefix);
    default:
      return target.path;
  }
}

function schemeName(scheme: httpTypes.Scheme | undefined): string | undefined {
  if (scheme?.type?.$case === 'registered') return scheme.type.registered === 1 ? 'https' : 'http';
  if (scheme?.type?.$case === 'unregistered') return scheme.type.unregistered.toLowerCase();
  return undefined;
}

const wellKnownPort: Record<string, number> = { http: 80, https: 443 };

/**
 * The redirect a rule answers with: status (302 when unset), and the
 * `location` built from the request with the redirect's scheme, host, port
 * and path. Without a port, a changed scheme takes its well-known port; a
 * port that is the scheme's well-known one is left out of the location.
 */
export function redirectResponse(redirect: httpRoute.RequestRedirect, target: RequestTarget, match: httpRoute.HttpRouteMatch | undefined): ProxyResponse {
  const scheme = schemeName(redirect.scheme) ?? target.scheme;
  const host = redirect.host !== '' ? redirect.host : target.host;
  const port = redirect.port !== 0 ? redirect.port : scheme !== target.scheme ? (wellKnownPort[scheme] ?? target.port) : target.port;
  const hostText = host.includes(':') ? `[${host}]` : host;
  const authority = port === wellKnownPort[scheme] ? hostText : `${hostText}:${port}`;
  const path = modifiedPath(redirect.path, target, match);
  const location = `${scheme}://${authority}${path}${target.query === '' ? '' : `?${target.query}`}`;
  const status = redirect.status !== 0 ? redirect.status : 302;
  return { status, headers: { location }, body: '' };
}

/** The host and path a URL rewrite gives a request (meshbus's extension filter). */
export function rewriteTarget(rewrite: httpRoute.UrlRewrite, target: RequestTarget, match: httpRoute.HttpRouteMatch | undefined): { host: string; path: string } {
  return { host: rewrite.host !== '' ? rewrite.host : target.host, path: modifiedPath(rewrite.path, target, match) };
}

/** Whether a failure injector fails this request: `random()` in [0, 1) under the ratio; no ratio fails all, a zero denominator none. */
export function injectsFailure(ratio: httpRoute.Ratio | undefined, random: () => number): boolean {
  if (!ratio) return true;
  if (!(ratio.denominator > 0)) return false;
  return random() < ratio.numerator / ratio.denominator;
}

/** The answer of an HTTP failure injector that fires: its status (500 when unset) and message. */
export function httpFailureResponse(injector: httpRoute.HttpFailureInjector): ProxyResponse {
  const status = injector.status >= 100 && injector.status <= 599 ? injector.status : 500;
  return errorResponse({ httpStatus: status, grpcStatus: 2, message: injector.message || `failure injected with status ${status}`, grpc: false });
}

/** The answer of a gRPC failure injector that fires: its code and message. */
export function grpcFailureResponse(injector: grpcRoute.GrpcFailureInjector): ProxyResponse {
  return errorResponse({ httpStatus: 500, grpcStatus: injector.code, message: injector.message || `failure injected with grpc-status ${injector.code}`, grpc: true });
}

/** What the data path does with a request after the rule's filters, in their order. */
export type FilterOutcome =
  | { readonly kind: 'forward'; readonly headers: Record<string, string | string[]>; readonly host: string; readonly path: string }
  | { readonly kind: 'respond'; readonly response: ProxyResponse };

/**
 * Runs a rule's filters over a request, in order: header edits and rewrites
 * change what is forwarded, a redirect or an injected failure answers
 * instead (and ends the run).
 */
export function applyHttpFilters(filters: readonly inbound.HttpRoute_Filter[], request: { readonly headers: HeaderMap; readonly target: RequestTarget }, match: httpRoute.HttpRouteMatch | undefined, random: () => number = Math.random): FilterOutcome {
  let headers = applyHeaderModifier(request.headers, { remove: [] });
  let host = request.target.host;
  let path = request.target.path;
  for (const f of filters) {
    const kind = f.kind;
    switch (kind?.$case) {
      case 'requestHeaderModifier':
        headers = applyHeaderModifier(headers, kind.requestHeaderModifier);
        break;
      case 'urlRewrite':
        ({ host, path } = rewriteTarget(kind.urlRewrite, { ...request.target, host, path }, match));
        break;
      case 'redirect':
        return { kind: 'respond', response: redirectResponse(kind.redirect, { ...request.target, host, path }, match) };
      case 'failureInjector':
        if (injectsFailure(kind.failureInjector.ratio, random)) return { kind: 'respond', response: httpFailureResponse(kind.failureInjector) };
        break;
      case undefined:
        break;
    }
  }
  return { kind: 'forward', headers, host, path };
}

/** The gRPC counterpart of {@link applyHttpFilters}: header edits and failure injection. */
export function applyGrpcFilters(filters: readonly inbound.GrpcRoute_Filter[], headers: HeaderMap, random: () => number = Math.random): { readonly kind: 'forward'; readonly headers: Record<string, string | string[]> } | { readonly kind: 'respond'; readonly response: ProxyResponse } {
  let out = applyHeaderModifier(headers, { remove: [] });
  for (const f of filters) {
    const kind = f.kind;
    if (kind?.$case === 'requestHeaderModifier') out = applyHeaderModifier(out, kind.requestHeaderModifier);
    else if (kind?.$case === 'failureInjector' && injectsFailure(kind.failureInjector.ratio, random)) return { kind: 'respond', response: grpcFailureResponse(kind.failureInjector) };
  }
  return { kind: 'forward', headers: out };
}
