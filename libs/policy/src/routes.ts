import type { GrpcFilter, GrpcMatch, HeaderModifier, HostMatch, HttpFilter, HttpMatch } from '@meshbus/bus-schemas';
import type { GrpcRouteMatch, HeaderModifierSpec, HttpRouteFilter, HttpRouteMatch, StringMatch } from '@meshbus/manifests';
import { faultInjectionOf } from './checks.js';
import type { Reader, Route } from './lookup.js';
import { compareStrings } from './resource-keys.js';

/*
 * Translation of Gateway API route parts into the proxy's model. Only valid
 * routes (see checks.ts) are translated, so an ExtensionRef here always names
 * a usable HTTPFaultInjection.
 */

export function hostMatches(hostnames: readonly string[]): HostMatch[] {
  return hostnames.map((h) => (h.startsWith('*.') ? { suffix: h.slice(2) } : { exact: h }));
}

function valueMatch(m: StringMatch) {
  return m.type === 'Exact' ? { name: m.name, exact: m.value } : { name: m.name, regex: m.value };
}

export function httpMatch(m: HttpRouteMatch): HttpMatch {
  const out: HttpMatch = {};
  if (m.path) out.path = m.path.type === 'Exact' ? { exact: m.path.value } : m.path.type === 'PathPrefix' ? { prefix: m.path.value } : { regex: m.path.value };
  if (m.headers.length > 0) out.headers = m.headers.map(valueMatch);
  if (m.queryParams.length > 0) out.queryParams = m.queryParams.map(valueMatch);
  if (m.method !== undefined) out.method = m.method;
  return out;
}

export function grpcMatch(m: GrpcRouteMatch): GrpcMatch {
  const out: GrpcMatch = {};
  if (m.method?.service !== undefined) out.service = m.method.service;
  if (m.method?.method !== undefined) out.method = m.method.method;
  if (m.headers.length > 0) out.headers = m.headers.map(valueMatch);
  return out;
}

function headerModifier(spec: HeaderModifierSpec): HeaderModifier {
  const out: HeaderModifier = {};
  if (spec.add.length > 0) out.add = spec.add.map((h) => ({ name: h.name, value: h.value }));
  if (spec.set.length > 0) out.set = spec.set.map((h) => ({ name: h.name, value: h.value }));
  if (spec.remove.length > 0) out.remove = [...spec.remove];
  return out;
}

function pathModifier(path: { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly value: string }) {
  return path.type === 'ReplaceFullPath' ? { full: path.value } : { prefix: path.value };
}

export function httpFilters(filters: readonly HttpRouteFilter[], route: Route, reader: Reader): HttpFilter[] {
  return filters.map((filter): HttpFilter => {
    switch (filter.type) {
      case 'RequestHeaderModifier':
        return { requestHeaderModifier: headerModifier(filter.requestHeaderModifier) };
      case 'ResponseHeaderModifier':
        return { responseHeaderModifier: headerModifier(filter.responseHeaderModifier) };
      case 'RequestRedirect': {
        const r = filter.requestRedirect;
        const redirect: NonNullable<HttpFilter['redirect']> = { status: r.statusCode as 301 | 302 | 303 | 307 | 308 };
        if (r.scheme !== undefined) redirect.scheme = r.scheme;
        if (r.hostname !== undefined) redirect.host = r.hostname;
        if (r.path !== undefined) redirect.path = pathModifier(r.path);
        if (r.port !== undefined) redirect.port = r.port;
        return { redirect };
      }
      case 'URLRewrite': {
        const r = filter.urlRewrite;
        const urlRewrite: NonNullable<HttpFilter['urlRewrite']> = {};
        if (r.hostname !== undefined) urlRewrite.host = r.hostname;
        if (r.path !== undefined) urlRewrite.path = pathModifier(r.path);
        return { urlRewrite };
      }
      case 'ExtensionRef': {
        const found = faultInjectionOf(filter, route, reader);
        if ('code' in found) throw new Error(`unchecked route ${route.namespace}/${route.name}: ${found.message}`);
        const abort = found.abort;
        return { failureInjector: { status: abort.httpStatus ?? 500, ...(abort.message !== '' ? { message: abort.message } : {}), ratio: { ...abort.ratio } } };
      }
    }
  });
}

export function grpcFilters(filters: readonly HttpRouteFilter[], route: Route, reader: Reader): GrpcFilter[] {
  return filters.map((filter): GrpcFilter => {
    if (filter.type === 'RequestHeaderModifier') return { requestHeaderModifier: headerModifier(filter.requestHeaderModifier) };
    if (filter.type !== 'ExtensionRef') throw new Error(`unchecked route ${route.namespace}/${route.name}: filter ${filter.type}`);
    const found = faultInjectionOf(filter, route, reader);
    if ('code' in found) throw new Error(`unchecked route ${route.namespace}/${route.name}: ${found.message}`);
    const abort = found.abort;
    return { failureInjector: { code: abort.grpcStatus ?? 2, ...(abort.message !== '' ? { message: abort.message } : {}), ratio: { ...abort.ratio } } };
  });
}

/** The fault injections a route's filters name (for the status of each). */
export function faultInjectionRefs(route: Route): { namespace: string; name: string }[] {
  const refs: { namespace: string; name: string }[] = [];
  for (const rule of route.rules) {
    for (const filter of [...rule.filters, ...rule.backendRefs.flatMap((b) => b.filters)]) {
      if (filter.type === 'ExtensionRef' && filter.extensionRef.kind === 'HTTPFaultInjection') {
        refs.push({ namespace: filter.extensionRef.namespace ?? route.namespace, name: filter.extensionRef.name });
      }
    }
  }
  return refs;
}

/**
 * Precedence of a match per the Gateway API: an exact path, then the longest
 * prefix, then a method, then the most header matches, then the most query
 * parameter matches. Larger is more specific.
 */
function httpMatchRank(m: HttpRouteMatch): number[] {
  const path = m.path;
  const pathRank = path?.type === 'Exact' ? [2, path.value.length] : path?.type === 'PathPrefix' ? [1, path.value.length] : [0, 0];
  return [...pathRank, m.method !== undefined ? 1 : 0, m.headers.length, m.queryParams.length];
}

function grpcMatchRank(m: GrpcRouteMatch): number[] {
  return [m.method?.service !== undefined ? 1 : 0, m.method?.method !== undefined ? 1 : 0, m.headers.length];
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (b[i] ?? 0) - (a[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function routeRank(route: Route): number[] {
  let best: number[] = [];
  for (const rule of route.rules) {
    const matches = rule.matches as readonly (HttpRouteMatch | GrpcRouteMatch)[];
    for (const m of matches) {
      const rank = route.kind === 'HTTPRoute' ? httpMatchRank(m as HttpRouteMatch) : grpcMatchRank(m as GrpcRouteMatch);
      if (compareRanks(rank, best) < 0) best = rank;
    }
  }
  return best;
}

/**
 * Orders routes for a proxy that tries them in turn: the route with the most
 * specific match first; on a tie the one first in namespace and name order
 * (the Gateway API's "oldest wins", for resources that carry no creation time).
 */
export function orderRoutes<R extends Route>(routes: readonly R[]): R[] {
  return routes
    .map((route) => ({ route, rank: routeRank(route) }))
    .sort((a, b) => compareRanks(a.rank, b.rank) || compareStrings(a.route.namespace, b.route.namespace) || compareStrings(a.route.name, b.route.name))
    .map((r) => r.route);
}

/** Whether a GET to `path` without headers or query parameters matches `m`. */
export function matchCoversProbe(m: HttpRouteMatch, path: string): boolean {
  if (m.headers.length > 0 || m.queryParams.length > 0) return false;
  if (m.method !== undefined && m.method !== 'GET') return false;
  if (!m.path) return true;
  switch (m.path.type) {
    case 'Exact':
      return m.path.value === path;
    case 'PathPrefix': {
      const prefix = m.path.value.endsWith('/') ? m.path.value.slice(0, -1) : m.path.value;
      return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
    }
    case 'RegularExpression':
      try {
        return new RegExp(`^(?:${m.path.value})$`).test(path);
      } catch {
        return false;
      }
  }
}
