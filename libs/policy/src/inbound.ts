import type { Authorization, InboundGrpcRoute, InboundHttpRoute, InboundPolicy, InboundRateLimit, InboundServer } from '@meshbus/bus-schemas';
import { portInRanges, type AuthorizationPolicy, type DefaultInboundPolicy, type GrpcRoute, type HttpRoute, type Server, type Workload } from '@meshbus/manifests';
import { statusKey } from './api.js';
import { apiGroup, serviceAccountIdentity } from './checks.js';
import { defaultAuthorizations, defaultGrpcRoute, defaultHttpRoute, defaultInboundServer } from './defaults.js';
import { readKey, selectorMatches, serverSelector, compareStrings, policyStatusKey } from './resource-keys.js';
import { faultInjectionRefs, grpcFilters, grpcMatch, hostMatches, httpFilters, httpMatch, matchCoversProbe } from './routes.js';
import { routeTarget, servedProtocol, serverProtocol } from './protocols.js';
import type { UnitContext } from './unit-context.js';

/** The default inbound policy of a workload: its own, else its namespace's, else the cluster's. */
export function workloadDefaultPolicy(workload: Workload, ctx: UnitContext): DefaultInboundPolicy {
  return workload.defaultInboundPolicy ?? ctx.reader.get('Namespace', workload.namespace, workload.namespace)?.defaultInboundPolicy ?? ctx.settings.defaultPolicy;
}

/** The port of `workload` a Server or probe names, or undefined when a name matches no port. */
function resolvePort(workload: Workload, port: number | string): number | undefined {
  return typeof port === 'number' ? port : workload.ports.find((p) => p.name === port)?.port;
}

export function sortAuthorizations(authorizations: Authorization[]): Authorization[] {
  if (authorizations.length < 2) return authorizations;
  const keys = new Map(authorizations.map((a) => [a, `${a.metadata.default ?? ''}|${a.metadata.namespace ?? ''}|${a.metadata.kind ?? ''}|${a.metadata.name ?? ''}`]));
  return authorizations.sort((a, b) => compareStrings(keys.get(a)!, keys.get(b)!));
}

/**
 * The inbound policy of one workload. Each Server of its namespace that
 * selects it claims a port; when several claim the same port the first in
 * name order wins and the others are left out on that port (Conflicted).
 * Ports with a Server, with a probe, or opaque get an entry in `ports`; every
 * other port gets `defaultServer`.
 */
export function inboundPolicy(workload: Workload, ctx: UnitContext): InboundPolicy {
  const { reader } = ctx;
  const ns = workload.namespace;
  reader.get('Workload', ns, workload.name);
  reader.read(readKey.serversSelecting(ns, workload.name));
  const defaultPolicy = workloadDefaultPolicy(workload, ctx);

  const servers = new Map<number, Server>();
  for (const server of reader.serversIn(ns)) {
    const selector = serverSelector(server);
    if (!selector || !selectorMatches(selector, workload.labels)) continue;
    const port = resolvePort(workload, server.port);
    if (port === undefined) continue;
    const winner = servers.get(port);
    if (winner) {
      ctx.conflict(policyStatusKey(server), `port ${port} of workload ${ns}/${workload.name} is selected by Server ${winner.name} too, which wins (first in name order)`);
    } else servers.set(port, server);
  }

  const probePaths = new Map<number, Set<string>>();
  for (const probe of workload.probes) {
    const port = resolvePort(workload, probe.port);
    if (port === undefined) continue;
    const paths = probePaths.get(port) ?? new Set<string>();
    paths.add(probe.path);
    probePaths.set(port, paths);
  }

  const opaque = new Set<number>();
  for (const range of workload.opaquePorts) if (range.min === range.max) opaque.add(range.min);
  for (const p of workload.ports) if (portInRanges(workload.opaquePorts, p.port)) opaque.add(p.port);

  const ports = [...new Set([...servers.keys(), ...probePaths.keys(), ...opaque])].sort((a, b) => a - b);
  return {
    namespace: ns,
    workload: workload.name,
    defaultPolicy,
    ports: ports.map((port) => {
      const portId = `in|${ns}/${workload.name}:${port}`;
      const server = servers.get(port);
      const probes = [...(probePaths.get(port) ?? [])].sort(compareStrings);
      if (server) return { port, server: serverPolicy(server, probes, portId, ctx) };
      if (opaque.has(port)) {
        const { detectTimeoutMs: _, httpRoutes: __, ...base } = defaultInboundServer(defaultPolicy, ctx.settings);
        return { port, server: { ...base, protocol: 'opaque' } };
      }
      return { port, server: withProbeRoute(defaultInboundServer(defaultPolicy, ctx.settings), ctx.settings.probeNetworks, probes, []) };
    }),
    defaultServer: defaultInboundServer(defaultPolicy, ctx.settings),
  };
}

/** Marks an AuthorizationPolicy, and the authentications it names, as shaping `portId`. */
function affectAuthorization(policy: AuthorizationPolicy, portId: string, ctx: UnitContext): void {
  ctx.affect(policyStatusKey(policy), portId);
  for (const ref of policy.requiredAuthenticationRefs) {
    if (ref.kind === 'MeshTLSAuthentication' || ref.kind === 'NetworkAuthentication') ctx.affect(statusKey(ref.namespace ?? policy.namespace, ref.kind, ref.name), portId);
  }
}

function grantedBy(policies: readonly AuthorizationPolicy[], portId: string, ctx: UnitContext): Authorization[] {
  const granted: Authorization[] = [];
  for (const policy of policies) {
    const checked = ctx.check(policy);
    if (!checked.authorization) continue;
    affectAuthorization(policy, portId, ctx);
    granted.push(checked.authorization);
  }
  return granted;
}

function serverPolicy(server: Server, probes: readonly string[], portId: string, ctx: UnitContext): InboundServer {
  const { reader, settings } = ctx;
  const ns = server.namespace;
  ctx.affect(policyStatusKey(server), portId);
  const target = routeTarget.server(ns, server.name);
  const routes = reader.routesOf('Server', ns, server.name).filter((r) => ctx.check(r).applies?.has(target));
  const protocol = servedProtocol(serverProtocol(server), routes.some((r) => r.kind === 'GRPCRoute'), routes.some((r) => r.kind === 'HTTPRoute'));
  const ref = { group: apiGroup(server.apiVersion), kind: server.kind, namespace: ns, name: server.name };

  let authorizations = grantedBy([...reader.authorizationsOf('Server', ns, server.name), ...reader.authorizationsOf('Namespace', ns, ns)], portId, ctx);
  if (authorizations.length === 0 && server.accessPolicy) authorizations = defaultAuthorizations(server.accessPolicy, settings.clusterNetworks);
  sortAuthorizations(authorizations);

  const out: InboundServer = { metadata: ref, protocol, labels: { group: ref.group, kind: ref.kind, namespace: ns, name: server.name.slice(0, 63) }, authorizations };
  if (protocol === 'detect') out.detectTimeoutMs = settings.detectTimeoutMs;

  if (protocol === 'detect' || protocol === 'http1' || protocol === 'http2') {
    const http = routes.filter((r): r is HttpRoute => r.kind === 'HTTPRoute');
    const translated = http.map((route) => inboundHttpRoute(route, authorizations, portId, ctx));
    withProbeRoute(out, settings.probeNetworks, probes, http, translated.length > 0 ? translated : [defaultHttpRoute([...authorizations])]);
  } else if (protocol === 'grpc') {
    const grpc = routes.filter((r): r is GrpcRoute => r.kind === 'GRPCRoute');
    out.grpcRoutes = grpc.length > 0 ? grpc.map((route) => inboundGrpcRoute(route, authorizations, portId, ctx)) : [defaultGrpcRoute([...authorizations])];
  }

  const rateLimit = reader.rateLimitsOf(ns, server.name).find((l) => ctx.check(l).valid);
  if (rateLimit) {
    ctx.affect(policyStatusKey(rateLimit), portId);
    const limit: InboundRateLimit = { metadata: { group: apiGroup(rateLimit.apiVersion), kind: rateLimit.kind, namespace: ns, name: rateLimit.name } };
    if (rateLimit.total) limit.total = rateLimit.total.requestsPerSecond;
    if (rateLimit.identity) limit.identity = rateLimit.identity.requestsPerSecond;
    if (rateLimit.overrides.length > 0) {
      limit.overrides = rateLimit.overrides.map((o) => ({
        limit: o.requestsPerSecond,
        identities: [...new Set(o.clientRefs.map((c) => serviceAccountIdentity(settings, c.namespace ?? ns, c.name)))].sort(compareStrings),
      }));
    }
    out.rateLimit = limit;
  }
  return out;
}

/** Adds the probe route for the probe paths no user route covers (HTTP servers only). */
function withProbeRoute(
  server: InboundServer,
  probeNetworks: readonly string[],
  probes: readonly string[],
  userRoutes: readonly HttpRoute[],
  routes?: InboundHttpRoute[],
): InboundServer {
  const httpRoutes = routes ?? server.httpRoutes ?? [];
  const uncovered = probes.filter((path) => !userRoutes.some((route) => route.rules.some((rule) => rule.matches.some((m) => matchCoversProbe(m, path)))));
  if (uncovered.length > 0) {
    httpRoutes.push({
      metadata: { default: 'probe' },
      authorizations: [{ metadata: { default: 'probe' }, networks: probeNetworks.map((net) => ({ net })), authentication: { kind: 'unauthenticated' } }],
      rules: [{ matches: uncovered.map((path) => ({ path: { exact: path }, method: 'GET' })) }],
    });
  }
  server.httpRoutes = httpRoutes;
  return server;
}

function routeAuthorizations(route: HttpRoute | GrpcRoute, serverAuthorizations: Authorization[], portId: string, ctx: UnitContext): Authorization[] {
  const own = grantedBy(ctx.reader.authorizationsOf(route.kind, route.namespace, route.name), portId, ctx);
  return sortAuthorizations([...own, ...serverAuthorizations]);
}

function affectRoute(route: HttpRoute | GrpcRoute, portId: string, ctx: UnitContext): void {
  ctx.affect(policyStatusKey(route), portId);
  for (const ref of faultInjectionRefs(route)) ctx.affect(statusKey(ref.namespace, 'HTTPFaultInjection', ref.name), portId);
}

function inboundHttpRoute(route: HttpRoute, serverAuthorizations: Authorization[], portId: string, ctx: UnitContext): InboundHttpRoute {
  affectRoute(route, portId, ctx);
  const out: InboundHttpRoute = {
    metadata: { group: apiGroup(route.apiVersion), kind: route.kind, namespace: route.namespace, name: route.name },
    authorizations: routeAuthorizations(route, serverAuthorizations, portId, ctx),
    rules: route.rules.map((rule) => {
      const filters = httpFilters(rule.filters, route, ctx.reader);
      return { matches: rule.matches.map(httpMatch), ...(filters.length > 0 ? { filters } : {}) };
    }),
  };
  if (route.hostnames.length > 0) out.hosts = hostMatches(route.hostnames);
  return out;
}

function inboundGrpcRoute(route: GrpcRoute, serverAuthorizations: Authorization[], portId: string, ctx: UnitContext): InboundGrpcRoute {
  affectRoute(route, portId, ctx);
  const out: InboundGrpcRoute = {
    metadata: { group: apiGroup(route.apiVersion), kind: route.kind, namespace: route.namespace, name: route.name },
    authorizations: routeAuthorizations(route, serverAuthorizations, portId, ctx),
    rules: route.rules.map((rule) => {
      const filters = grpcFilters(rule.filters, route, ctx.reader);
      return { matches: rule.matches.map(grpcMatch), ...(filters.length > 0 ? { filters } : {}) };
    }),
  };
  if (route.hostnames.length > 0) out.hosts = hostMatches(route.hostnames);
  return out;
}
