import type {
  Backoff,
  GrpcRetry,
  HttpRetry,
  OutboundBackend,
  OutboundGrpcRoute,
  OutboundHttpRoute,
  OutboundPolicy,
  OutboundRoutes,
  RouteTimeouts,
} from '@meshbus/bus-schemas';
import type { BackendRef, GrpcRoute, HttpRoute, RetrySpec, Service, TimeoutsSpec } from '@meshbus/manifests';
import { statusKey } from './api.js';
import { apiGroup, backendProblemOf } from './checks.js';
import { failoverPrimaryOf, failoverWeights } from './failover.js';
import type { Route } from './lookup.js';
import { compareStrings, policyStatusKey } from './resource-keys.js';
import { faultInjectionRefs, grpcFilters, grpcMatch, hostMatches, httpFilters, httpMatch, orderRoutes } from './routes.js';
import { routeTarget, servedProtocol, servicePortProtocol, type Protocol } from './protocols.js';
import type { UnitContext } from './unit-context.js';

/** Backoff of a retry that gives none: 25 ms, growing to 250 ms, with jitter. */
export const defaultRetryBackoff: Backoff = { minMs: 25, maxMs: 250, jitterRatio: 0.5 };
/** HTTP statuses retried when a retry names none: every 5xx. */
export const defaultRetryStatuses = [{ start: 500, end: 599 }] as const;
/** gRPC statuses retried when a retry names none. */
export const defaultRetryGrpcCodes: GrpcRetry['codes'] = ['cancelled', 'deadline-exceeded', 'resource-exhausted', 'unavailable'];

const authorityOf = (namespace: string, name: string, port: number, clusterDomain: string) => `${name}.${namespace}.svc.${clusterDomain}:${port}`;

/**
 * The outbound policy of every TCP port of a Service. Routes in the
 * service's namespace are the producer routes; routes in another namespace
 * are that namespace's consumer routes, which replace the producer routes for
 * its callers. A port without producer routes gets the default route: the
 * service itself, with the retries and timeouts of the Service's annotations.
 */
export function outboundPolicies(service: Service, ctx: UnitContext): OutboundPolicy[] {
  const { reader, settings } = ctx;
  reader.get('Service', service.namespace, service.name);
  const attached = reader.routesOf('Service', service.namespace, service.name).filter((r) => ctx.check(r).valid);
  return service.ports.map((port) => {
    const portId = `out|${service.namespace}/${service.name}:${port.port}`;
    const target = routeTarget.servicePort(service.namespace, service.name, port.port);
    const routes = attached.filter((r) => ctx.check(r).applies?.has(target));
    const protocol = servedProtocol(servicePortProtocol(service, port), routes.some((r) => r.kind === 'GRPCRoute'), routes.some((r) => r.kind === 'HTTPRoute'));

    const self: OutboundBackend = serviceBackend(service.namespace, service.name, port.port, 1, settings.clusterDomain);
    const policy: OutboundPolicy = {
      namespace: service.namespace,
      service: service.name,
      port: port.port,
      metadata: { group: 'core', kind: 'Service', namespace: service.namespace, name: service.name, port: port.port },
      authority: authorityOf(service.namespace, service.name, port.port, settings.clusterDomain),
      addresses: [...service.clusterIPs],
      protocol,
      routes: { httpRoutes: [], grpcRoutes: [] },
      consumerRoutes: [],
      opaqueBackends: [self],
    };
    if (protocol === 'detect') policy.detectTimeoutMs = settings.detectTimeoutMs;
    const accrual = service.traffic.failureAccrual;
    if (accrual) {
      policy.failureAccrual = {
        kind: 'consecutive',
        maxFailures: accrual.maxFailures,
        backoff: { minMs: accrual.minPenaltyMs, maxMs: accrual.maxPenaltyMs, jitterRatio: accrual.jitterRatio },
      };
    }
    if (protocol === 'opaque' || protocol === 'tls') return policy;

    const relevant = routes.filter((r) => (protocol === 'grpc' ? r.kind === 'GRPCRoute' : r.kind === 'HTTPRoute'));
    const producer = relevant.filter((r) => r.namespace === service.namespace);
    policy.routes = producer.length > 0 ? translate(producer, service, port.port, portId, ctx) : defaultRoutes(protocol, service, self);
    const consumerNamespaces = [...new Set(relevant.filter((r) => r.namespace !== service.namespace).map((r) => r.namespace))].sort(compareStrings);
    policy.consumerRoutes = consumerNamespaces.map((namespace) => ({
      namespace,
      routes: translate(
        relevant.filter((r) => r.namespace === namespace),
        service,
        port.port,
        portId,
        ctx,
      ),
    }));
    return policy;
  });
}

function serviceBackend(namespace: string, name: string, port: number, weight: number, clusterDomain: string): OutboundBackend {
  return {
    metadata: { group: 'core', kind: 'Service', namespace, name, port },
    weight,
    service: { namespace, name, port, authority: authorityOf(namespace, name, port, clusterDomain) },
  };
}

function defaultRoutes(protocol: Protocol, service: Service, self: OutboundBackend): OutboundRoutes {
  const timeouts = timeoutsOf(service.traffic.timeouts);
  const extras = <R>(retry: R | undefined) => ({ ...(timeouts ? { timeouts } : {}), ...(retry ? { retry } : {}) });
  if (protocol === 'grpc') {
    return {
      httpRoutes: [],
      grpcRoutes: [{ metadata: { default: 'default' }, rules: [{ matches: [{}], backends: [self], ...extras(grpcRetryOf(service.traffic.retry)) }] }],
    };
  }
  return {
    httpRoutes: [{ metadata: { default: 'default' }, rules: [{ matches: [{ path: { prefix: '/' } }], backends: [self], ...extras(httpRetryOf(service.traffic.retry)) }] }],
    grpcRoutes: [],
  };
}

function translate(routes: readonly Route[], service: Service, port: number, portId: string, ctx: UnitContext): OutboundRoutes {
  const httpRoutes: OutboundHttpRoute[] = [];
  const grpcRoutes: OutboundGrpcRoute[] = [];
  for (const route of orderRoutes(routes)) {
    ctx.affect(policyStatusKey(route), portId);
    for (const ref of faultInjectionRefs(route)) ctx.affect(statusKey(ref.namespace, 'HTTPFaultInjection', ref.name), portId);
    if (route.kind === 'HTTPRoute') httpRoutes.push(outboundHttpRoute(route, service, port, ctx));
    else grpcRoutes.push(outboundGrpcRoute(route, service, port, ctx));
  }
  return { httpRoutes, grpcRoutes };
}

function backendsOf(refs: readonly BackendRef[], route: Route, service: Service, port: number, ctx: UnitContext): OutboundBackend[] {
  const { reader, settings } = ctx;
  if (refs.length === 0) return [serviceBackend(service.namespace, service.name, port, 1, settings.clusterDomain)];
  return refs.map((ref) => {
    const namespace = ref.namespace ?? route.namespace;
    const backendPort = ref.port ?? port;
    const problem = backendProblemOf(ref, route.namespace, port, reader);
    const out: OutboundBackend =
      problem === undefined
        ? serviceBackend(namespace, ref.name, backendPort, ref.weight, settings.clusterDomain)
        : { metadata: { group: ref.group === '' ? 'core' : ref.group, kind: ref.kind, namespace, name: ref.name, port: backendPort }, weight: ref.weight, invalid: problem };
    const filters = httpFilters(ref.filters, route, reader);
    if (filters.length > 0) out.filters = filters;
    return out;
  });
}

/**
 * The backends of a rule with their effective weights: a route with a
 * failover annotation takes the primary out while it has no ready endpoint.
 */
function ruleBackends(refs: readonly BackendRef[], route: Route, service: Service, port: number, ctx: UnitContext): OutboundBackend[] {
  const backends = backendsOf(refs, route, service, port, ctx);
  const primaryName = failoverPrimaryOf(route);
  const primary = refs.findIndex((ref) => ref.name === primaryName);
  if (primaryName === undefined || primary < 0) return backends;
  const readiness = backends.map((b) => ({ weight: b.weight, ready: b.service !== undefined && ctx.reader.ready(b.service.namespace, b.service.name, b.service.port) }));
  const weights = failoverWeights(readiness, primary);
  return backends.map((b, i) => (b.weight === weights[i] ? b : { ...b, weight: weights[i]! }));
}

function routeMeta(route: Route) {
  return { group: apiGroup(route.apiVersion), kind: route.kind, namespace: route.namespace, name: route.name };
}

function outboundHttpRoute(route: HttpRoute, service: Service, port: number, ctx: UnitContext): OutboundHttpRoute {
  const out: OutboundHttpRoute = {
    metadata: routeMeta(route),
    rules: route.rules.map((rule) => {
      const filters = httpFilters(rule.filters, route, ctx.reader);
      const timeouts = timeoutsOf(rule.timeouts ?? route.annotationTimeouts ?? service.traffic.timeouts);
      const retry = httpRetryOf(rule.retry ?? route.annotationRetry ?? service.traffic.retry);
      return {
        matches: rule.matches.map(httpMatch),
        ...(filters.length > 0 ? { filters } : {}),
        backends: ruleBackends(rule.backendRefs, route, service, port, ctx),
        ...(timeouts ? { timeouts } : {}),
        ...(retry ? { retry } : {}),
      };
    }),
  };
  if (route.hostnames.length > 0) out.hosts = hostMatches(route.hostnames);
  return out;
}

function outboundGrpcRoute(route: GrpcRoute, service: Service, port: number, ctx: UnitContext): OutboundGrpcRoute {
  const out: OutboundGrpcRoute = {
    metadata: routeMeta(route),
    rules: route.rules.map((rule) => {
      const filters = grpcFilters(rule.filters, route, ctx.reader);
      const timeouts = timeoutsOf(rule.timeouts ?? route.annotationTimeouts ?? service.traffic.timeouts);
      const retry = grpcRetryOf(rule.retry ?? route.annotationRetry ?? service.traffic.retry);
      return {
        matches: rule.matches.map(grpcMatch),
        ...(filters.length > 0 ? { filters } : {}),
        backends: ruleBackends(rule.backendRefs, route, service, port, ctx),
        ...(timeouts ? { timeouts } : {}),
        ...(retry ? { retry } : {}),
      };
    }),
  };
  if (route.hostnames.length > 0) out.hosts = hostMatches(route.hostnames);
  return out;
}

function timeoutsOf(spec: TimeoutsSpec | undefined): RouteTimeouts | undefined {
  if (!spec) return undefined;
  const out: RouteTimeouts = {};
  if (spec.requestMs !== undefined) out.requestMs = spec.requestMs;
  if (spec.backendRequestMs !== undefined) out.responseMs = spec.backendRequestMs;
  if (spec.idleMs !== undefined) out.idleMs = spec.idleMs;
  return Object.keys(out).length > 0 ? out : undefined;
}

function backoffOf(spec: RetrySpec): Backoff {
  return spec.backoffMs === undefined ? { ...defaultRetryBackoff } : { minMs: spec.backoffMs, maxMs: spec.backoffMs * 10, jitterRatio: defaultRetryBackoff.jitterRatio ?? 0 };
}

function httpRetryOf(spec: RetrySpec | undefined): HttpRetry | undefined {
  if (!spec || spec.attempts <= 0) return undefined;
  const statusRanges = spec.codes.length > 0 ? [...spec.codes].sort((a, b) => a.start - b.start || a.end - b.end).map((c) => ({ start: c.start, end: c.end })) : defaultRetryStatuses.map((c) => ({ ...c }));
  return { maxRetries: spec.attempts, statusRanges, ...(spec.perTryTimeoutMs !== undefined ? { timeoutMs: spec.perTryTimeoutMs } : {}), backoff: backoffOf(spec) };
}

function grpcRetryOf(spec: RetrySpec | undefined): GrpcRetry | undefined {
  if (!spec || spec.attempts <= 0) return undefined;
  // Names are checked: the decoders refuse unknown ones, and the route check rejects a route naming one.
  const named = [...new Set(spec.grpcCodes)].sort(compareStrings) as GrpcRetry['codes'];
  return {
    maxRetries: spec.attempts,
    codes: named.length > 0 ? named : [...defaultRetryGrpcCodes],
    ...(spec.perTryTimeoutMs !== undefined ? { timeoutMs: spec.perTryTimeoutMs } : {}),
    backoff: backoffOf(spec),
  };
}
