/*
 * Inbound authorization: whether the proxy admits a connection or a request
 * on one of its workload's ports, from the inbound.Server that WatchPort
 * sent for that port. Pure: the facts of the connection and the request go
 * in, a decision with the reason and the policy it came from comes out.
 */
import type { httpRoute, inbound } from '@meshbus/proxy-api';
import { compareRank, grpcMatches, grpcMatchRank, httpMatchRank, httpMatches, selectRoute, type RequestFacts } from '../routes/match.js';
import { describeRef, isDefault, policyRef, refLabels, type PolicyRef } from './metadata.js';
import { clientNetworkAdmits, compileClientNetwork, parseClientAddress, type ClientAddress, type CompiledClientNetwork } from './networks.js';

/** What the proxy knows of the client of a connection. */
export interface ConnectionFacts {
  /**
   * The client's mesh identity, verified from its certificate. Counts only
   * when `tls` is true.
   */
  readonly clientIdentity?: string | undefined;
  /** Whether the proxy terminated TLS on the connection (with or without a client identity). */
  readonly tls: boolean;
  /** The peer's address as the socket reports it (IPv4, IPv6, `::ffff:`-mapped IPv4, with or without zone). */
  readonly sourceIp: string;
}

/** The authorization that admitted a client. */
export interface AuthorizationRef {
  readonly ref: PolicyRef;
  /** `authz_group`, `authz_kind`, `authz_name`, as the Linkerd proxy labels its authorization metrics. */
  readonly labels: Readonly<Record<'authz_group' | 'authz_kind' | 'authz_name', string>>;
}

/** The outcome of connection-level authorization. */
export type ConnectionDecision =
  | {
      readonly allowed: true;
      /**
       * The client got in only through the `audit` default: let it through,
       * and log it as a client that a deny would have refused.
       */
      readonly audit: boolean;
      readonly authorization: AuthorizationRef;
      readonly reason: string;
    }
  | { readonly allowed: false; readonly reason: string };

type CompiledAuthn =
  | { readonly kind: 'anyone' }
  | { readonly kind: 'tls' }
  | { readonly kind: 'identities'; readonly identities: ReadonlySet<string>; readonly suffixes: readonly string[] }
  | { readonly kind: 'none' };

interface CompiledAuthz {
  readonly networks: readonly CompiledClientNetwork[];
  readonly authn: CompiledAuthn;
  readonly authorization: AuthorizationRef;
  readonly audit: boolean;
}

// Servers are immutable once decoded, and the same objects are asked about on every connection.
const compiled = new WeakMap<inbound.Authz, CompiledAuthz>();

function compileAuthn(authn: inbound.Authn | undefined): CompiledAuthn {
  const permit = authn?.permit;
  if (permit?.$case === 'unauthenticated') return { kind: 'anyone' };
  if (permit?.$case === 'meshTLS') {
    const clients = permit.meshTLS.clients;
    if (clients?.$case === 'unauthenticated') return { kind: 'tls' };
    if (clients?.$case === 'identities') {
      return {
        kind: 'identities',
        identities: new Set(clients.identities.identities.map((i) => i.name.toLowerCase())),
        suffixes: clients.identities.suffixes.map((s) => s.parts.filter((p) => p !== '').join('.').toLowerCase()),
      };
    }
  }
  // The authentication is required: an authorization without one admits nobody.
  return { kind: 'none' };
}

function compileAuthz(authz: inbound.Authz): CompiledAuthz {
  let c = compiled.get(authz);
  if (!c) {
    const ref = policyRef(authz.metadata, authz.labels);
    c = {
      networks: authz.networks.flatMap((n) => compileClientNetwork(n) ?? []),
      authn: compileAuthn(authz.authentication),
      authorization: { ref, labels: refLabels('authz', ref) },
      audit: isDefault(ref, 'audit'),
    };
    compiled.set(authz, c);
  }
  return c;
}

/** Whether `identity` falls under a suffix: the empty suffix takes every identity, `x.y` takes `a.x.y` (not `x.y`). */
export function identitySuffixMatches(suffix: string, identity: string): boolean {
  return suffix === '' || identity.endsWith(`.${suffix}`);
}

function authnHolds(authn: CompiledAuthn, conn: ConnectionFacts): boolean {
  switch (authn.kind) {
    case 'anyone':
      return true;
    case 'tls':
      return conn.tls;
    case 'identities': {
      if (!conn.tls || !conn.clientIdentity) return false;
      const id = conn.clientIdentity.toLowerCase();
      return authn.identities.has(id) || authn.suffixes.some((s) => identitySuffixMatches(s, id));
    }
    case 'none':
      return false;
  }
}

function admits(authz: CompiledAuthz, address: ClientAddress, conn: ConnectionFacts): boolean {
  // An authorization without networks admits nobody (the proxy API says to ignore it).
  return authz.networks.some((n) => clientNetworkAdmits(n, address)) && authnHolds(authz.authn, conn);
}

/** `10.0.0.7 (identity web.shop…)`, `(TLS without identity)`, `(no TLS)`: the client, for messages. */
export function describeClient(conn: ConnectionFacts): string {
  const how = conn.tls ? (conn.clientIdentity ? `identity ${conn.clientIdentity}` : 'TLS without identity') : 'no TLS';
  return `${conn.sourceIp} (${how})`;
}

/**
 * Whether any of `authorizations` admits the client: one admits when the
 * source address is in one of its networks (and in none of that network's
 * exceptions) and its authentication holds. An authorization from the
 * `audit` default admits, but the decision says `audit`; any other
 * authorization that admits the client is preferred to it.
 */
export function authorize(authorizations: readonly inbound.Authz[], conn: ConnectionFacts): ConnectionDecision {
  const address = parseClientAddress(conn.sourceIp);
  if (!address) return { allowed: false, reason: `the source address ${JSON.stringify(conn.sourceIp)} is not an IP address` };
  if (authorizations.length === 0) return { allowed: false, reason: `no authorization admits anyone here, so client ${describeClient(conn)} is refused` };
  let audited: CompiledAuthz | undefined;
  for (const a of authorizations) {
    const authz = compileAuthz(a);
    if (!admits(authz, address, conn)) continue;
    if (!authz.audit) return { allowed: true, audit: false, authorization: authz.authorization, reason: `client ${describeClient(conn)} is authorized by ${describeRef(authz.authorization.ref)}` };
    audited ??= authz;
  }
  if (audited) {
    return { allowed: true, audit: true, authorization: audited.authorization, reason: `client ${describeClient(conn)} is let in by the audit default; a deny would refuse it` };
  }
  return { allowed: false, reason: `no authorization admits client ${describeClient(conn)}` };
}

/**
 * Connection-level authorization with the server's own authorizations: for
 * opaque and TLS servers, and for connections that protocol detection finds
 * not to be HTTP. HTTP requests are authorized one by one by their route
 * ({@link authorizeRequest}).
 */
export function authorizeConnection(server: inbound.Server, conn: ConnectionFacts): ConnectionDecision {
  return authorize(server.authorizations, conn);
}

/** The route a request was routed to. */
export interface InboundRouteRef {
  readonly ref: PolicyRef;
  /** `route_group`, `route_kind`, `route_name`, as the Linkerd proxy labels its route metrics. */
  readonly labels: Readonly<Record<'route_group' | 'route_kind' | 'route_name', string>>;
}

/** The rule that matched, with the filters the data path applies to an admitted request. */
export type MatchedRule =
  | {
      readonly kind: 'http';
      readonly filters: readonly inbound.HttpRoute_Filter[];
      /** The match that selected the rule (absent for a rule without matches), for prefix rewrites. */
      readonly match: httpRoute.HttpRouteMatch | undefined;
    }
  | { readonly kind: 'grpc'; readonly filters: readonly inbound.GrpcRoute_Filter[] };

/** The outcome of authorizing one HTTP or gRPC request. */
export type RequestDecision =
  | {
      readonly outcome: 'allowed';
      /** Let in only by the `audit` default: log it, as a request a deny would have refused. */
      readonly audit: boolean;
      readonly route: InboundRouteRef;
      readonly rule: MatchedRule;
      readonly authorization: AuthorizationRef;
      readonly reason: string;
    }
  | { readonly outcome: 'denied'; readonly route: InboundRouteRef; readonly reason: string }
  | { readonly outcome: 'no-route'; readonly reason: string };

/** The HTTP routes a server carries (detect, HTTP/1, HTTP/2), the gRPC routes (gRPC), or none (opaque, TLS). */
export function serverRoutes(server: inbound.Server): { readonly kind: 'http'; readonly routes: readonly inbound.HttpRoute[] } | { readonly kind: 'grpc'; readonly routes: readonly inbound.GrpcRoute[] } | undefined {
  const p = server.protocol?.kind;
  switch (p?.$case) {
    case 'detect':
      return { kind: 'http', routes: p.detect.httpRoutes };
    case 'http1':
      return { kind: 'http', routes: p.http1.routes };
    case 'http2':
      return { kind: 'http', routes: p.http2.routes };
    case 'grpc':
      return { kind: 'grpc', routes: p.grpc.routes };
    default:
      return undefined;
  }
}

function routeRef(route: inbound.HttpRoute | inbound.GrpcRoute): InboundRouteRef {
  const ref = policyRef(route.metadata);
  return { ref, labels: refLabels('route', ref) };
}

/** The most specific match of a rule that the request satisfies. */
function bestHttpMatch(rule: inbound.HttpRoute_Rule, req: RequestFacts): httpRoute.HttpRouteMatch | undefined {
  let best: httpRoute.HttpRouteMatch | undefined;
  for (const m of rule.matches) {
    if (!httpMatches(m, req)) continue;
    if (!best || compareRank(httpMatchRank(m), httpMatchRank(best)) > 0) best = m;
  }
  return best;
}

/**
 * Routes a request among the server's routes and authorizes it with the
 * route's authorizations. The policy service puts in every route the
 * server-level authorizations too (a grant on the Server covers each of its
 * routes), so the route's list alone decides; an empty list refuses every
 * request on the route. A request no route matches gets `no-route`.
 */
export function authorizeRequest(server: inbound.Server, conn: ConnectionFacts, request: RequestFacts): RequestDecision {
  const routes = serverRoutes(server);
  if (!routes) return { outcome: 'no-route', reason: `the server's protocol (${server.protocol?.kind?.$case ?? 'none'}) has no HTTP routes` };
  let route: inbound.HttpRoute | inbound.GrpcRoute;
  let rule: MatchedRule;
  if (routes.kind === 'http') {
    const selected = selectRoute(routes.routes, request, httpMatches, httpMatchRank);
    if (!selected) return { outcome: 'no-route', reason: `no route of the server matches ${request.method} ${request.path} (host ${request.host})` };
    route = selected.route;
    rule = { kind: 'http', filters: selected.rule.filters, match: bestHttpMatch(selected.rule, request) };
  } else {
    const selected = selectRoute(routes.routes, request, grpcMatches, grpcMatchRank);
    if (!selected) return { outcome: 'no-route', reason: `no route of the server matches the call ${request.path} (host ${request.host})` };
    route = selected.route;
    rule = { kind: 'grpc', filters: selected.rule.filters };
  }
  const ref = routeRef(route);
  const decision = authorize(route.authorizations, conn);
  if (!decision.allowed) return { outcome: 'denied', route: ref, reason: `${decision.reason} on ${describeRef(ref.ref)}` };
  return { outcome: 'allowed', audit: decision.audit, route: ref, rule, authorization: decision.authorization, reason: `${decision.reason} on ${describeRef(ref.ref)}` };
}
