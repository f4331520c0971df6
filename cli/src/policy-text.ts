import type { Duration, grpcRoute, httpRoute, httpTypes, meta, net } from '@meshbus/proxy-api';
import { formatIp } from './endpoint-set.js';
import { formatDuration } from './flags.js';

/**
 * Pieces of text shared by `meshbus policy inbound` and `outbound`: how the
 * proxy API's messages (networks, metadata, matches, filters, durations) read
 * for people. Pure functions of the messages.
 */

/** Lines indented by `depth` steps of two spaces. */
export function indent(lines: readonly string[], depth = 1): string[] {
  const pad = '  '.repeat(depth);
  return lines.map((l) => (l === '' ? l : pad + l));
}

/** `10s`, `1500ms`, `250us`; unset renders as `-`. */
export function durationText(d: Duration | undefined): string {
  if (!d) return '-';
  const nanos = BigInt(d.seconds) * 1_000_000_000n + BigInt(d.nanos);
  if (nanos % 1_000_000n === 0n) return formatDuration(Number(nanos / 1_000_000n));
  if (nanos % 1000n === 0n) return `${nanos / 1000n}us`;
  return `${nanos}ns`;
}

/** Which resource (or default) a part of a policy came from: `httproute shop/web-api`, `default all-unauthenticated`. */
export function metadataText(m: meta.Metadata | undefined): string {
  const kind = m?.kind;
  if (!kind) return '(no metadata)';
  if (kind.$case === 'default') return `default ${kind.default}`;
  const r = kind.resource;
  const name = r.namespace ? `${r.namespace}/${r.name}` : r.name;
  const parts = [`${r.kind.toLowerCase() || 'resource'} ${name}`];
  if (r.section) parts.push(`section ${r.section}`);
  if (r.port) parts.push(`port ${r.port}`);
  return parts.join(' ');
}

/** `10.0.0.0/8`. */
export function networkText(n: net.IPNetwork | undefined): string {
  return n ? `${formatIp(n.ip)}/${n.prefixLen}` : '?';
}

/** `web.shop.svc.cluster.local` or `*.example.com`. */
export function hostMatchText(h: httpRoute.HostMatch): string {
  const m = h.match;
  if (!m) return '?';
  if (m.$case === 'exact') return m.exact;
  return ['*', ...[...m.suffix.reverseLabels].reverse()].join('.');
}

/** The hosts of a route: `any` when it has none. */
export function hostsText(hosts: readonly httpRoute.HostMatch[]): string {
  return hosts.length === 0 ? 'any' : hosts.map(hostMatchText).join(', ');
}

function headerValueText(name: string, value: { $case: 'exact'; exact: Buffer | string } | { $case: 'regex'; regex: string } | undefined): string {
  if (!value) return `${name} present`;
  if (value.$case === 'regex') return `${name}~${value.regex}`;
  return `${name}=${typeof value.exact === 'string' ? value.exact : Buffer.from(value.exact).toString('utf8')}`;
}

/** `GET`, or the unregistered method as sent. */
export function methodText(m: httpTypes.HttpMethod | undefined): string | undefined {
  const t = m?.type;
  if (!t) return undefined;
  if (t.$case === 'unregistered') return t.unregistered;
  return registeredMethods[t.registered] ?? `method ${t.registered}`;
}

const registeredMethods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'HEAD', 'TRACE'];

/** One HTTP match: `GET path prefix /api, header x-env=prod, query debug=1`; `any request` when empty. */
export function httpMatchText(m: httpRoute.HttpRouteMatch): string {
  const parts: string[] = [];
  const method = methodText(m.method);
  if (method) parts.push(`method ${method}`);
  const p = m.path?.kind;
  if (p) parts.push(`path ${p.$case} ${p.$case === 'exact' ? p.exact : p.$case === 'prefix' ? p.prefix : p.regex}`);
  for (const h of m.headers) parts.push(`header ${headerValueText(h.name, h.value)}`);
  for (const q of m.queryParams) parts.push(`query ${headerValueText(q.name, q.value)}`);
  return parts.length ? parts.join(', ') : 'any request';
}

/** One gRPC match: `rpc shop.Cart/Add, header x-env=prod`; `any call` when empty. */
export function grpcMatchText(m: grpcRoute.GrpcRouteMatch): string {
  const parts: string[] = [];
  if (m.rpc && (m.rpc.service || m.rpc.method)) parts.push(`rpc ${m.rpc.service || '*'}/${m.rpc.method || '*'}`);
  for (const h of m.headers) parts.push(`header ${headerValueText(h.name, h.value)}`);
  return parts.length ? parts.join(', ') : 'any call';
}

function headersText(h: httpTypes.Headers | undefined): string {
  return (h?.headers ?? []).map((x) => `${x.name}=${Buffer.from(x.value).toString('utf8')}`).join(', ');
}

function headerModifierText(what: string, m: httpRoute.RequestHeaderModifier | httpRoute.ResponseHeaderModifier): string {
  const parts: string[] = [];
  if (m.set?.headers.length) parts.push(`set ${headersText(m.set)}`);
  if (m.add?.headers.length) parts.push(`add ${headersText(m.add)}`);
  if (m.remove.length) parts.push(`remove ${m.remove.join(', ')}`);
  return `${what} headers: ${parts.length ? parts.join('; ') : 'unchanged'}`;
}

function ratioText(r: httpRoute.Ratio | undefined): string {
  return r ? `${r.numerator}/${r.denominator} of` : 'all';
}

function redirectText(r: httpRoute.RequestRedirect): string {
  const parts: string[] = [];
  const scheme = r.scheme?.type;
  if (scheme) parts.push(`scheme ${scheme.$case === 'registered' ? (scheme.registered === 1 ? 'https' : 'http') : scheme.unregistered}`);
  if (r.host) parts.push(`host ${r.host}`);
  if (r.port) parts.push(`port ${r.port}`);
  const path = r.path?.replace;
  if (path) parts.push(path.$case === 'full' ? `path ${path.full}` : `path prefix ${path.prefix}`);
  parts.push(`status ${r.status || 302}`);
  return `redirect: ${parts.join(', ')}`;
}

/** Anything a filter union may hold: its case name and value. */
type FilterKind = { $case: string } & Record<string, unknown>;

/** One HTTP or gRPC filter of a route or backend. */
export function filterText(kind: FilterKind | undefined): string {
  if (!kind) return '(empty filter)';
  const value = kind[kind.$case];
  switch (kind.$case) {
    case 'requestHeaderModifier':
      return headerModifierText('request', value as httpRoute.RequestHeaderModifier);
    case 'responseHeaderModifier':
      return headerModifierText('response', value as httpRoute.ResponseHeaderModifier);
    case 'redirect':
      return redirectText(value as httpRoute.RequestRedirect);
    case 'failureInjector': {
      const f = value as Partial<httpRoute.HttpFailureInjector & grpcRoute.GrpcFailureInjector>;
      const answer = f.status !== undefined ? `status ${f.status}` : `grpc-status ${f.code ?? 0}`;
      const message = f.message ? ` "${f.message}"` : '';
      return `fail ${ratioText(f.ratio)} requests with ${answer}${message}`;
    }
    case 'urlRewrite': {
      const u = value as { hostname?: string; host?: string; path?: { replace?: { $case: string; full?: string; prefix?: string } } };
      const parts: string[] = [];
      const host = u.hostname ?? u.host;
      if (host) parts.push(`host ${host}`);
      const path = u.path?.replace;
      if (path) parts.push(path.$case === 'full' ? `path ${path.full}` : `path prefix ${path.prefix}`);
      return `rewrite: ${parts.length ? parts.join(', ') : 'nothing'}`;
    }
    case 'invalid':
    case 'forbidden': {
      const m = (value as { message?: string }).message;
      return `${kind.$case}${m ? `: ${m}` : ''}`;
    }
    default:
      return `${kind.$case}: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`;
  }
}
