import type { inbound, meta } from '@meshbus/proxy-api';
import { formatIp } from './endpoint-set.js';
import { durationText, filterText, grpcMatchText, hostsText, httpMatchText, indent, metadataText, networkText } from './policy-text.js';

/**
 * The local rate limit of an HTTP server, as the proxy API carries it
 * (`HttpLocalRateLimit`): read structurally, so the text does not depend on
 * which generation of the messages is compiled in.
 */
interface RateLimitView {
  metadata?: meta.Metadata;
  total?: { requestsPerSecond: number };
  identity?: { requestsPerSecond: number };
  overrides?: { limit?: { requestsPerSecond: number }; clients?: { identities: { name: string }[] } }[];
}

/** The protocol name a person reads: `HTTP/1`, `gRPC`, `detect (timeout 10s)`. */
export function inboundProtocolText(protocol: inbound.ProxyProtocol | undefined): string {
  const kind = protocol?.kind;
  switch (kind?.$case) {
    case undefined:
      return 'unset (the proxy refuses connections)';
    case 'detect':
      return `detect (HTTP or opaque; timeout ${durationText(kind.detect.timeout)})`;
    case 'http1':
      return 'HTTP/1';
    case 'http2':
      return 'HTTP/2';
    case 'grpc':
      return 'gRPC';
    case 'opaque':
      return 'opaque (TCP)';
    case 'tls':
      return 'TLS (not terminated by the proxy)';
  }
}

/** Who may connect under one authorization: `unauthenticated`, `any TLS client`, `mesh identities ...`. */
export function authenticationText(authn: inbound.Authn | undefined): string {
  const permit = authn?.permit;
  if (!permit) return 'none (the proxy ignores this authorization)';
  if (permit.$case === 'unauthenticated') return 'unauthenticated: any client, TLS or not';
  const clients = permit.meshTLS.clients;
  if (!clients) return 'mesh TLS, no clients listed';
  if (clients.$case === 'unauthenticated') return 'any TLS client';
  const { identities, suffixes } = clients.identities;
  const parts: string[] = [];
  if (identities.length) parts.push(`identities ${identities.map((i) => i.name).join(', ')}`);
  for (const s of suffixes) parts.push(s.parts.length === 0 ? 'any mesh identity' : `suffix *.${s.parts.join('.')}`);
  return parts.length ? `mesh TLS, ${parts.join('; ')}` : 'mesh TLS, no identity allowed';
}

/** `0.0.0.0/0 except 10.1.0.0/16, ::/0`; `none` when empty. */
export function networksText(networks: readonly inbound.Network[]): string {
  if (networks.length === 0) return 'none (the proxy ignores this authorization)';
  return networks.map((n) => (n.except.length ? `${networkText(n.net)} except ${n.except.map(networkText).join(', ')}` : networkText(n.net))).join(', ');
}

function authzLines(authz: inbound.Authz): string[] {
  return [
    metadataText(authz.metadata) + labelsSuffix(authz.metadata ? {} : authz.labels),
    ...indent([`networks:       ${networksText(authz.networks)}`, `authentication: ${authenticationText(authz.authentication)}`]),
  ];
}

function labelsSuffix(labels: Record<string, string>): string {
  const text = labelsText(labels);
  return text === '-' ? '' : ` (labels ${text})`;
}

/** `kind=server,name=web-http`, sorted by key; `-` when none. */
export function labelsText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? keys.map((k) => `${k}=${labels[k]}`).join(',') : '-';
}

function authorizationsLines(title: string, authorizations: readonly inbound.Authz[], none: string): string[] {
  if (authorizations.length === 0) return [`${title}: ${none}`];
  return [`${title} (${authorizations.length}):`, ...indent(authorizations.flatMap(authzLines))];
}

interface RouteLike {
  metadata?: meta.Metadata;
  hosts: inbound.HttpRoute['hosts'];
  authorizations: inbound.Authz[];
}

function routeLines(route: RouteLike, rules: string[][]): string[] {
  return [
    metadataText(route.metadata),
    ...indent([
      `hosts: ${hostsText(route.hosts)}`,
      ...rules.flatMap((lines, i) => [`rule ${i + 1}:`, ...indent(lines)]),
      ...authorizationsLines('authorizations', route.authorizations, 'none: every request on this route is refused'),
    ]),
  ];
}

function httpRouteLines(route: inbound.HttpRoute): string[] {
  return routeLines(
    route,
    route.rules.map((r) => [
      ...(r.matches.length ? r.matches.map((m) => `match:  ${httpMatchText(m)}`) : ['match:  any request']),
      ...r.filters.map((f) => `filter: ${filterText(f.kind)}`),
    ]),
  );
}

function grpcRouteLines(route: inbound.GrpcRoute): string[] {
  return routeLines(
    route,
    route.rules.map((r) => [
      ...(r.matches.length ? r.matches.map((m) => `match:  ${grpcMatchText(m)}`) : ['match:  any call']),
      ...r.filters.map((f) => `filter: ${filterText(f.kind)}`),
    ]),
  );
}

function routesOf(protocol: inbound.ProxyProtocol | undefined): { http: inbound.HttpRoute[]; grpc: inbound.GrpcRoute[]; rateLimit?: RateLimitView } | undefined {
  const kind = protocol?.kind;
  switch (kind?.$case) {
    case 'detect':
      return { http: kind.detect.httpRoutes, grpc: [], rateLimit: (kind.detect as { httpLocalRateLimit?: RateLimitView }).httpLocalRateLimit };
    case 'http1':
      return { http: kind.http1.routes, grpc: [], rateLimit: (kind.http1 as { localRateLimit?: RateLimitView }).localRateLimit };
    case 'http2':
      return { http: kind.http2.routes, grpc: [], rateLimit: (kind.http2 as { localRateLimit?: RateLimitView }).localRateLimit };
    case 'grpc':
      return { http: [], grpc: kind.grpc.routes };
    default:
      return undefined;
  }
}

function rateLimitLines(limit: RateLimitView | undefined): string[] {
  if (!limit) return ['rate limit: none'];
  const rps = (l: { requestsPerSecond: number } | undefined) => (l ? `${l.requestsPerSecond}/s` : 'unlimited');
  const lines = [`total:        ${rps(limit.total)}`, `per identity: ${rps(limit.identity)}`];
  for (const o of limit.overrides ?? []) lines.push(`override:     ${rps(o.limit)} for ${(o.clients?.identities ?? []).map((i) => i.name).join(', ') || 'no one'}`);
  return [`rate limit: ${metadataText(limit.metadata)}`, ...indent(lines)];
}

/**
 * What a proxy would enforce on one inbound port, for people: protocol,
 * server, labels, authorizations, routes (with their authorizations) and the
 * rate limit.
 */
export function formatInboundServer(server: inbound.Server): string {
  const labels = server.labels;
  const serverName = labels.kind && labels.name ? `${labels.kind} ${labels.name}` : '(unnamed)';
  const lines = [
    `protocol:   ${inboundProtocolText(server.protocol)}`,
    `server:     ${serverName}${labels.group ? ` (${labels.group})` : ''}`,
    `labels:     ${labelsText(labels)}`,
  ];
  if (server.serverIps.length) lines.push(`server IPs: ${server.serverIps.map(formatIp).join(', ')}`);
  const routes = routesOf(server.protocol);
  const routeGrants = routes !== undefined && [...routes.http, ...routes.grpc].some((r) => r.authorizations.length > 0);
  // Without server-wide authorizations, a route's own may still admit requests on it.
  const none = routeGrants ? 'none for the whole port: only requests a route authorizes are allowed' : 'none: every connection is refused';
  lines.push(...authorizationsLines('authorizations', server.authorizations, none));
  if (routes) {
    const count = routes.http.length + routes.grpc.length;
    if (count === 0) lines.push('routes: none: every request is refused (404)');
    else lines.push(`routes (${count}):`, ...indent([...routes.http.flatMap(httpRouteLines), ...routes.grpc.flatMap(grpcRouteLines)]));
    if (server.protocol?.kind?.$case !== 'grpc') lines.push(...rateLimitLines(routes.rateLimit));
  }
  return lines.join('\n') + '\n';
}
