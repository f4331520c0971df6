/*
 * Request matching shared by the inbound and outbound sides of the proxy:
 * which route rule of the proxy API a request falls under. Pure; regular
 * expressions are compiled once per pattern and cached.
 */
import type { grpcRoute, httpRoute } from '@meshbus/proxy-api';
import { httpTypes } from '@meshbus/proxy-api';

/** What matching looks at in a request. Header names are lower case. */
export interface RequestFacts {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** Decoded query parameters, in order; a name may repeat. */
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Host without the port, lower case. */
  readonly host: string;
}

/** Splits `/a/b?x=1&y=2` into path and decoded query parameters. */
export function splitTarget(target: string): { path: string; query: [string, string][] } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query: [string, string][] = [];
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(target.slice(q + 1))) query.push([k, v]);
  }
  return { path: path === '' ? '/' : path, query };
}

/** Request facts from a Node.js request's parts. */
export function requestFacts(method: string, target: string, headers: Readonly<Record<string, string | readonly string[] | undefined>>, authority: string): RequestFacts {
  const { path, query } = splitTarget(target);
  return { method: method.toUpperCase(), path, query, headers, host: hostOf(authority) };
}

/** `web.shop:80` → `web.shop`; `[::1]:80` → `::1`; lower case, no trailing dot. */
export function hostOf(authority: string): string {
  let host = authority;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']') < 0 ? undefined : host.indexOf(']'));
  else if (host.lastIndexOf(':') > 0 && host.indexOf(':') === host.lastIndexOf(':')) host = host.slice(0, host.lastIndexOf(':'));
  return host.toLowerCase().replace(/\.$/, '');
}

const regexCache = new Map<string, RegExp | null>();

/** The pattern anchored to the whole value (the Gateway API's full match); null when it does not compile. */
function fullRegex(pattern: string): RegExp | null {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(`^(?:${pattern})$`);
    } catch {
      re = null;
    }
    if (regexCache.size > 10_000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

const methodNames: Record<number, string> = {
  [httpTypes.HttpMethod_Registered.GET]: 'GET',
  [httpTypes.HttpMethod_Registered.POST]: 'POST',
  [httpTypes.HttpMethod_Registered.PUT]: 'PUT',
  [httpTypes.HttpMethod_Registered.DELETE]: 'DELETE',
  [httpTypes.HttpMethod_Registered.PATCH]: 'PATCH',
  [httpTypes.HttpMethod_Registered.OPTIONS]: 'OPTIONS',
  [httpTypes.HttpMethod_Registered.CONNECT]: 'CONNECT',
  [httpTypes.HttpMethod_Registered.HEAD]: 'HEAD',
  [httpTypes.HttpMethod_Registered.TRACE]: 'TRACE',
};

/** The method a proxy API HttpMethod names, upper case. */
export function methodName(m: httpTypes.HttpMethod): string | undefined {
  if (m.type?.$case === 'registered') return methodNames[m.type.registered];
  if (m.type?.$case === 'unregistered') return m.type.unregistered.toUpperCase();
  return undefined;
}

/** A path matches a prefix on whole segments: `/api` matches `/api` and `/api/x`, not `/apix`. */
export function pathPrefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(`${p}/`);
}

function pathMatches(m: httpRoute.PathMatch | undefined, path: string): boolean {
  switch (m?.kind?.$case) {
    case undefined:
      return true;
    case 'exact':
      return path === m.kind.exact;
    case 'prefix':
      return pathPrefixMatches(m.kind.prefix, path);
    case 'regex':
      return fullRegex(m.kind.regex)?.test(path) ?? false;
  }
}

function headerValues(headers: RequestFacts['headers'], name: string): readonly string[] {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : v;
}

export function headerMatches(m: httpRoute.HeaderMatch, headers: RequestFacts['headers']): boolean {
  const values = headerValues(headers, m.name);
  if (values.length === 0) return false;
  // Several values of one header are matched as the comma-joined value, as HTTP folds them.
  const value = values.join(',');
  switch (m.value?.$case) {
    case undefined:
      return true;
    case 'exact':
      return value === m.value.exact.toString('latin1');
    case 'regex':
      return fullRegex(m.value.regex)?.test(value) ?? false;
  }
}

function queryMatches(m: httpRoute.QueryParamMatch, query: RequestFacts['query']): boolean {
  // The first value of a repeated parameter is the one matched.
  const value = query.find(([k]) => k === m.name)?.[1];
  if (value === undefined) return false;
  switch (m.value?.$case) {
    case undefined:
      return true;
    case 'exact':
      return value === m.value.exact;
    case 'regex':
      return fullRegex(m.value.regex)?.test(value) ?? false;
  }
}

/** Whether one HttpRouteMatch holds: every field that is set. */
export function httpMatches(m: httpRoute.HttpRouteMatch, req: RequestFacts): boolean {
  if (m.method && methodName(m.method) !== req.method) return false;
  if (!pathMatches(m.path, req.path)) return false;
  return m.headers.every((h) => headerMatches(h, req.headers)) && m.queryParams.every((q) => queryMatches(q, req.query));
}

/** Whether a route's hosts admit the request's host (no hosts: any). */
export function hostMatches(hosts: readonly httpRoute.HostMatch[], host: string): boolean {
  if (hosts.length === 0) return true;
  return hosts.some((h) => {
    if (h.match?.$case === 'exact') return h.match.exact.toLowerCase() === host;
    if (h.match?.$case === 'suffix') {
      const suffix = [...h.match.suffix.reverseLabels].reverse().join('.').toLowerCase();
      return suffix === '' || host.endsWith(`.${suffix}`);
    }
    return false;
  });
}

/** A gRPC call's service and method from its path `/pkg.Service/Method`. */
export function grpcCall(path: string): { service: string; method: string } | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1]!, method: m[2]! } : undefined;
}

/** Whether one GrpcRouteMatch holds for a call. */
export function grpcMatches(m: grpcRoute.GrpcRouteMatch, req: RequestFacts): boolean {
  if (m.rpc && (m.rpc.service !== '' || m.rpc.method !== '')) {
    const call = grpcCall(req.path);
    if (!call) return false;
    if (m.rpc.service !== '' && m.rpc.service !== call.service) return false;
    if (m.rpc.method !== '' && m.rpc.method !== call.method) return false;
  }
  return m.headers.every((h) => headerMatches(h, req.headers));
}

/** How specific a match is, to rank rules of different routes (the Gateway API's precedence). Higher wins. */
export function httpMatchRank(m: httpRoute.HttpRouteMatch): readonly number[] {
  const kind = m.path?.kind;
  const pathKind = kind?.$case === 'exact' ? 3 : kind?.$case === 'regex' ? 2 : kind?.$case === 'prefix' ? 1 : 0;
  const pathLength = kind?.$case === 'exact' ? kind.exact.length : kind?.$case === 'prefix' ? kind.prefix.length : kind?.$case === 'regex' ? kind.regex.length : 0;
  return [pathKind, pathLength, m.method ? 1 : 0, m.headers.length, m.queryParams.length];
}

/**
 * How specific a gRPC match is, as the Gateway API orders GRPCRoute rules:
 * the longer matched service, then the longer matched method, then the more
 * header matches. Higher wins.
 */
export function grpcMatchRank(m: grpcRoute.GrpcRouteMatch): readonly number[] {
  return [m.rpc?.service.length ?? 0, m.rpc?.method.length ?? 0, m.headers.length];
}

/** Compares two ranks: positive when `a` is more specific. */
export function compareRank(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The first route and rule whose hosts and matches admit the request. Routes
 * come in the order the control plane sent them (it orders them); within
 * and across routes, a more specific match wins, then the earlier one.
 */
export function selectRoute<R extends { hosts: httpRoute.HostMatch[]; rules: { matches: M[] }[] }, M>(
  routes: readonly R[],
  req: RequestFacts,
  matches: (m: M, req: RequestFacts) => boolean,
  rank: (m: M) => readonly number[] = () => [],
): { route: R; rule: R['rules'][number]; ruleIndex: number } | undefined {
  let best: { route: R; rule: R['rules'][number]; ruleIndex: number; rank: readonly number[] } | undefined;
  for (const route of routes) {
    if (!hostMatches(route.hosts, req.host)) continue;
    route.rules.forEach((rule, ruleIndex) => {
      // A rule without matches matches every request, least specifically.
      const candidates = rule.matches.length === 0 ? [{ m: undefined, rank: [] as readonly number[] }] : rule.matches.filter((m) => matches(m, req)).map((m) => ({ m, rank: rank(m) }));
      for (const c of candidates) {
        if (!best || compareRank(c.rank, best.rank) > 0) best = { route, rule, ruleIndex, rank: c.rank };
      }
    });
  }
  return best && { route: best.route, rule: best.rule, ruleIndex: best.ruleIndex };
}
