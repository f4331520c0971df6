import type {
  Authentication,
  Authorization,
  Backoff,
  FailureAccrual,
  GrpcFilter,
  GrpcMatch,
  GrpcRetry,
  HeaderModifier,
  HeaderValueMatch,
  HostMatch,
  HttpFilter,
  HttpMatch,
  HttpRetry,
  InboundGrpcRoute,
  InboundHttpRoute,
  InboundServer,
  OutboundBackend,
  OutboundGrpcRoute,
  OutboundHttpRoute,
  OutboundPolicy,
  OutboundRoutes,
  PolicyNetwork,
  PolicyRef,
  RouteTimeouts,
  InboundRateLimit,
} from '@meshbus/bus-schemas';
import type { destination, Duration, grpcRoute, httpRoute, inbound, meta, net, outbound } from '@meshbus/proxy-api';
import { httpTypes } from '@meshbus/proxy-api';
import { formatCidr, parseCidr } from '@meshbus/core';
import { toIpAddress } from './translate.js';

// Defaults of the balancer and queue of every service backend. The proxy needs values; these
// are the ones a Linkerd control plane sends, so proxies behave the same under both.
/** Latency assumed for an endpoint before any has been observed. */
export const defaultRttMs = 30;
/** Averaging window of the peak EWMA load estimate. */
export const ewmaDecayMs = 10_000;
/** Requests a backend queues before backpressure applies. */
export const queueCapacity = 100;
/** How long a backend may have no ready endpoint before its queued requests fail. */
export const failfastTimeoutMs = 3_000;
/** Protocol detection timeout when the policy gives none. */
export const defaultDetectTimeoutMs = 10_000;
/** Largest request body buffered for a retry when the policy gives no limit. */
export const defaultRetryBufferBytes = 64 * 1024;
/** gRPC code of calls sent to a backend that cannot be used (INTERNAL). */
export const invalidBackendGrpcCode = 13;

/** A duration from milliseconds. */
export function duration(ms: number): Duration {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** The proxy API's Metadata of a policy reference: a default by name, or a resource. */
export function toMetadata(ref: PolicyRef): meta.Metadata {
  if (ref.default !== undefined) return { kind: { $case: 'default', default: ref.default } };
  return {
    kind: {
      $case: 'resource',
      resource: { group: ref.group ?? '', kind: ref.kind ?? '', name: ref.name ?? '', namespace: ref.namespace ?? '', section: ref.section ?? '', port: ref.port ?? 0 },
    },
  };
}

/** `10.0.0.0/8` as an IPNetwork. */
export function toIpNetwork(cidr: string): net.IPNetwork {
  // The bus schema bounds the text; the policy service writes canonical networks.
  const parsed = parseCidr(cidr, { hostBits: 'clear' });
  if ('error' in parsed) throw new RangeError(parsed.error);
  const address = formatCidr(parsed);
  return { ip: toIpAddress(address.slice(0, address.lastIndexOf('/'))), prefixLen: parsed.prefix };
}

// ---------------------------------------------------------------- shared route parts

export function toHostMatch(h: HostMatch): httpRoute.HostMatch {
  if (h.exact !== undefined) return { match: { $case: 'exact', exact: h.exact } };
  // `example.com` matches example.com and every name below it; the API wants the labels reversed.
  return { match: { $case: 'suffix', suffix: { reverseLabels: (h.suffix ?? '').split('.').filter((l) => l !== '').reverse() } } };
}

const registeredMethods: Record<string, httpTypes.HttpMethod_Registered> = {
  GET: httpTypes.HttpMethod_Registered.GET,
  POST: httpTypes.HttpMethod_Registered.POST,
  PUT: httpTypes.HttpMethod_Registered.PUT,
  DELETE: httpTypes.HttpMethod_Registered.DELETE,
  PATCH: httpTypes.HttpMethod_Registered.PATCH,
  OPTIONS: httpTypes.HttpMethod_Registered.OPTIONS,
  CONNECT: httpTypes.HttpMethod_Registered.CONNECT,
  HEAD: httpTypes.HttpMethod_Registered.HEAD,
  TRACE: httpTypes.HttpMethod_Registered.TRACE,
};

function toMethod(method: string): httpTypes.HttpMethod {
  const registered = registeredMethods[method];
  return registered === undefined ? { type: { $case: 'unregistered', unregistered: method } } : { type: { $case: 'registered', registered } };
}

function toHeaderMatch(m: HeaderValueMatch): httpRoute.HeaderMatch {
  if (m.regex !== undefined) return { name: m.name, value: { $case: 'regex', regex: m.regex } };
  return { name: m.name, value: { $case: 'exact', exact: Buffer.from(m.exact ?? '') } };
}

function toQueryParamMatch(m: HeaderValueMatch): httpRoute.QueryParamMatch {
  if (m.regex !== undefined) return { name: m.name, value: { $case: 'regex', regex: m.regex } };
  return { name: m.name, value: { $case: 'exact', exact: m.exact ?? '' } };
}

export function toHttpRouteMatch(m: HttpMatch): httpRoute.HttpRouteMatch {
  const out: httpRoute.HttpRouteMatch = { headers: (m.headers ?? []).map(toHeaderMatch), queryParams: (m.queryParams ?? []).map(toQueryParamMatch) };
  if (m.path?.exact !== undefined) out.path = { kind: { $case: 'exact', exact: m.path.exact } };
  else if (m.path?.prefix !== undefined) out.path = { kind: { $case: 'prefix', prefix: m.path.prefix } };
  else if (m.path?.regex !== undefined) out.path = { kind: { $case: 'regex', regex: m.path.regex } };
  if (m.method !== undefined) out.method = toMethod(m.method);
  return out;
}

export function toGrpcRouteMatch(m: GrpcMatch): grpcRoute.GrpcRouteMatch {
  return { rpc: { service: m.service ?? '', method: m.method ?? '' }, headers: (m.headers ?? []).map(toHeaderMatch) };
}

function toHeaders(values: { name: string; value: string }[] | undefined): httpTypes.Headers | undefined {
  return values === undefined ? undefined : { headers: values.map((h) => ({ name: h.name, value: Buffer.from(h.value) })) };
}

function toHeaderModifier(m: HeaderModifier): httpRoute.RequestHeaderModifier {
  const out: httpRoute.RequestHeaderModifier = { remove: [...(m.remove ?? [])] };
  const add = toHeaders(m.add);
  const set = toHeaders(m.set);
  if (add) out.add = add;
  if (set) out.set = set;
  return out;
}

const ratio = (r: { numerator: number; denominator: number }): httpRoute.Ratio => ({ numerator: r.numerator, denominator: r.denominator });

type HttpFilterKind = NonNullable<outbound.HttpRoute_Filter['kind']>;

/**
 * One HTTP filter of the bus model as the proxy API's (URL rewrites in
 * meshbus's extension field), or undefined for a filter with nothing set.
 */
export function toHttpFilterKind(f: HttpFilter): HttpFilterKind | undefined {
  if (f.requestHeaderModifier) return { $case: 'requestHeaderModifier', requestHeaderModifier: toHeaderModifier(f.requestHeaderModifier) };
  if (f.responseHeaderModifier) return { $case: 'responseHeaderModifier', responseHeaderModifier: toHeaderModifier(f.responseHeaderModifier) };
  if (f.failureInjector) {
    return { $case: 'failureInjector', failureInjector: { status: f.failureInjector.status, message: f.failureInjector.message ?? '', ratio: ratio(f.failureInjector.ratio) } };
  }
  if (f.redirect) {
    const r = f.redirect;
    const redirect: httpRoute.RequestRedirect = { host: r.host ?? '', port: r.port ?? 0, status: r.status ?? 0 };
    if (r.scheme) redirect.scheme = { type: { $case: 'registered', registered: r.scheme === 'https' ? httpTypes.Scheme_Registered.HTTPS : httpTypes.Scheme_Registered.HTTP } };
    if (r.path?.full !== undefined) redirect.path = { replace: { $case: 'full', full: r.path.full } };
    else if (r.path?.prefix !== undefined) redirect.path = { replace: { $case: 'prefix', prefix: r.path.prefix } };
    return { $case: 'redirect', redirect };
  }
  if (f.urlRewrite) {
    // meshbus's extension of the proxy API (field 1000 of the filter oneof): see docs/proxy-api.md.
    const w = f.urlRewrite;
    const urlRewrite: httpRoute.UrlRewrite = { host: w.host ?? '' };
    if (w.path?.full !== undefined) urlRewrite.path = { replace: { $case: 'full', full: w.path.full } };
    else if (w.path?.prefix !== undefined) urlRewrite.path = { replace: { $case: 'prefix', prefix: w.path.prefix } };
    return { $case: 'urlRewrite', urlRewrite };
  }
  return undefined;
}

type GrpcFilterKind = NonNullable<outbound.GrpcRoute_Filter['kind']>;

export function toGrpcFilterKind(f: GrpcFilter): GrpcFilterKind | undefined {
  if (f.requestHeaderModifier) return { $case: 'requestHeaderModifier', requestHeaderModifier: toHeaderModifier(f.requestHeaderModifier) };
  if (f.failureInjector) {
    return { $case: 'failureInjector', failureInjector: { code: f.failureInjector.code, message: f.failureInjector.message ?? '', ratio: ratio(f.failureInjector.ratio) } };
  }
  return undefined;
}

const httpFilters = (fs: HttpFilter[] | undefined): outbound.HttpRoute_Filter[] =>
  (fs ?? []).flatMap((f) => {
    const kind = toHttpFilterKind(f);
    return kind ? [{ kind }] : [];
  });

const grpcFilters = (fs: GrpcFilter[] | undefined): outbound.GrpcRoute_Filter[] =>
  (fs ?? []).flatMap((f) => {
    const kind = toGrpcFilterKind(f);
    return kind ? [{ kind }] : [];
  });

// ---------------------------------------------------------------- inbound

function toNetwork(n: PolicyNetwork): inbound.Network {
  return { net: toIpNetwork(n.net), except: (n.except ?? []).map(toIpNetwork) };
}

/** `identity.meshbus.cluster.local` as its labels; the empty suffix (every identity) has none. */
export function suffixParts(suffix: string): string[] {
  return suffix.split('.').filter((l) => l !== '');
}

export function toAuthn(a: Authentication): inbound.Authn {
  switch (a.kind) {
    case 'unauthenticated':
      return { permit: { $case: 'unauthenticated', unauthenticated: {} } };
    case 'tlsUnauthenticated':
      return { permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'unauthenticated', unauthenticated: {} } } } };
    case 'meshTls':
      return {
        permit: {
          $case: 'meshTLS',
          meshTLS: {
            clients: {
              $case: 'identities',
              identities: { identities: (a.identities ?? []).map((name) => ({ name })), suffixes: (a.suffixes ?? []).map((s) => ({ parts: suffixParts(s) })) },
            },
          },
        },
      };
  }
}

export function toAuthz(a: Authorization): inbound.Authz {
  return { networks: a.networks.map(toNetwork), authentication: toAuthn(a.authentication), labels: { ...(a.labels ?? {}) }, metadata: toMetadata(a.metadata) };
}

const inboundHttpFilters = (fs: HttpFilter[] | undefined): inbound.HttpRoute_Filter[] =>
  (fs ?? []).flatMap((f): inbound.HttpRoute_Filter[] => {
    const kind = toHttpFilterKind(f);
    // Inbound routes carry no response header edits in the proxy API.
    return kind && kind.$case !== 'responseHeaderModifier' ? [{ kind }] : [];
  });

export function toInboundHttpRoute(r: InboundHttpRoute): inbound.HttpRoute {
  return {
    metadata: toMetadata(r.metadata),
    hosts: (r.hosts ?? []).map(toHostMatch),
    authorizations: r.authorizations.map(toAuthz),
    rules: r.rules.map((rule) => ({ matches: rule.matches.map(toHttpRouteMatch), filters: inboundHttpFilters(rule.filters) })),
  };
}

export function toInboundGrpcRoute(r: InboundGrpcRoute): inbound.GrpcRoute {
  return {
    metadata: toMetadata(r.metadata),
    hosts: (r.hosts ?? []).map(toHostMatch),
    authorizations: r.authorizations.map(toAuthz),
    rules: r.rules.map((rule) => ({ matches: rule.matches.map(toGrpcRouteMatch), filters: grpcFilters(rule.filters) })),
  };
}

export function toRateLimit(r: InboundRateLimit): inbound.HttpLocalRateLimit {
  const out: inbound.HttpLocalRateLimit = {
    metadata: toMetadata(r.metadata),
    overrides: (r.overrides ?? []).map((o) => ({ limit: { requestsPerSecond: o.limit }, clients: { identities: o.identities.map((name) => ({ name })) } })),
  };
  if (r.total !== undefined) out.total = { requestsPerSecond: r.total };
  if (r.identity !== undefined) out.identity = { requestsPerSecond: r.identity };
  return out;
}

function inboundProtocol(s: InboundServer): inbound.ProxyProtocol {
  const httpRoutes = () => (s.httpRoutes ?? []).map(toInboundHttpRoute);
  const limit = s.rateLimit ? toRateLimit(s.rateLimit) : undefined;
  switch (s.protocol) {
    case 'detect':
      return { kind: { $case: 'detect', detect: { timeout: duration(s.detectTimeoutMs ?? defaultDetectTimeoutMs), httpRoutes: httpRoutes(), ...(limit ? { httpLocalRateLimit: limit } : {}) } } };
    case 'http1':
      return { kind: { $case: 'http1', http1: { routes: httpRoutes(), ...(limit ? { localRateLimit: limit } : {}) } } };
    case 'http2':
      return { kind: { $case: 'http2', http2: { routes: httpRoutes(), ...(limit ? { localRateLimit: limit } : {}) } } };
    case 'grpc':
      return { kind: { $case: 'grpc', grpc: { routes: (s.grpcRoutes ?? []).map(toInboundGrpcRoute) } } };
    case 'opaque':
      return { kind: { $case: 'opaque', opaque: {} } };
    case 'tls':
      return { kind: { $case: 'tls', tls: {} } };
  }
}

/** The inbound.Server a proxy enforces on one port. */
export function toInboundServer(s: InboundServer): inbound.Server {
  return {
    protocol: inboundProtocol(s),
    serverIps: (s.serverIps ?? []).map(toIpAddress),
    authorizations: s.authorizations.map(toAuthz),
    labels: { ...s.labels },
  };
}

// ---------------------------------------------------------------- outbound

function toBackoff(b: Backoff): outbound.ExponentialBackoff {
  return { minBackoff: duration(b.minMs), maxBackoff: duration(Math.max(b.minMs, b.maxMs)), jitterRatio: b.jitterRatio ?? 0, respectRetryAfterHint: b.respectRetryAfter ?? false };
}

function toFailureAccrual(f: FailureAccrual): outbound.FailureAccrual {
  return { kind: { $case: 'consecutiveFailures', consecutiveFailures: { maxFailures: f.maxFailures, backoff: toBackoff(f.backoff) } } };
}

const queue = (): outbound.Queue => ({ capacity: queueCapacity, failfastTimeout: duration(failfastTimeoutMs) });

/** A backend whose endpoints the proxy discovers with Destination.Get on `path`, balanced by P2C over peak EWMA. */
export function balancerBackend(metadata: meta.Metadata, path: string): outbound.Backend {
  return {
    metadata,
    kind: {
      $case: 'balancer',
      balancer: {
        discovery: { kind: { $case: 'dst', dst: { path } } },
        load: { $case: 'peakEwma', peakEwma: { defaultRtt: duration(defaultRttMs), decay: duration(ewmaDecayMs) } },
      },
    },
    queue: queue(),
  };
}

/** A backend of one address, used as is. */
export function forwardBackend(metadata: meta.Metadata, addr: net.TcpAddress, identity?: string): outbound.Backend {
  const weighted: outbound.Backend['kind'] = { $case: 'forward', forward: { addr, weight: 1, metricLabels: {} } };
  if (identity) weighted.forward.tlsIdentity = { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: identity } }, serverName: { name: identity } };
  return { metadata, kind: weighted, queue: queue() };
}

/** The backend of the bus model; an invalid one has no kind (nothing to send to) and its requests fail by filter. */
function toBackend(b: OutboundBackend): outbound.Backend {
  const metadata = toMetadata(b.metadata);
  if (b.service) return balancerBackend(metadata, b.service.authority);
  if (b.forward) return forwardBackend(metadata, { ip: toIpAddress(b.forward.address), port: b.forward.port }, b.forward.identity);
  return { metadata, queue: queue() };
}

const invalidReason = (b: OutboundBackend) => `backend is invalid: ${b.invalid ?? 'no service or address'}`;

function httpRouteBackend(b: OutboundBackend): outbound.HttpRoute_RouteBackend {
  const filters = b.service || b.forward ? httpFilters(b.filters) : [{ kind: { $case: 'failureInjector' as const, failureInjector: { status: 500, message: invalidReason(b), ratio: { numerator: 1, denominator: 1 } } } }];
  return { backend: toBackend(b), filters };
}

function grpcRouteBackend(b: OutboundBackend): outbound.GrpcRoute_RouteBackend {
  const filters: outbound.GrpcRoute_Filter[] =
    b.service || b.forward ? [] : [{ kind: { $case: 'failureInjector', failureInjector: { code: invalidBackendGrpcCode, message: invalidReason(b), ratio: { numerator: 1, denominator: 1 } } } }];
  return { backend: toBackend(b), filters };
}

function opaqueRouteBackend(b: OutboundBackend): outbound.OpaqueRoute_RouteBackend {
  const filters: outbound.OpaqueRoute_Filter[] = b.service || b.forward ? [] : [{ kind: { $case: 'invalid', invalid: { message: invalidReason(b) } } }];
  return { backend: toBackend(b), filters };
}

/**
 * Backends as a distribution: none is `empty` (requests fail), one is
 * `firstAvailable`, more are `randomAvailable` by weight.
 */
function distribution<R>(backends: OutboundBackend[], one: (b: OutboundBackend) => R) {
  if (backends.length === 0) return { kind: { $case: 'empty' as const, empty: {} } };
  if (backends.length === 1) return { kind: { $case: 'firstAvailable' as const, firstAvailable: { backends: [one(backends[0]!)] } } };
  return { kind: { $case: 'randomAvailable' as const, randomAvailable: { backends: backends.map((b) => ({ backend: one(b), weight: b.weight })) } } };
}

function toTimeouts(t: RouteTimeouts | undefined): httpRoute.Timeouts | undefined {
  if (!t) return undefined;
  const out: httpRoute.Timeouts = {};
  if (t.responseMs !== undefined) out.response = duration(t.responseMs);
  if (t.requestMs !== undefined) out.request = duration(t.requestMs);
  if (t.idleMs !== undefined) out.idle = duration(t.idleMs);
  return out;
}

function toHttpRetry(r: HttpRetry): outbound.HttpRoute_Retry {
  const out: outbound.HttpRoute_Retry = {
    maxRetries: r.maxRetries,
    maxRequestBytes: r.maxRequestBytes ?? defaultRetryBufferBytes,
    conditions: { statusRanges: r.statusRanges.map((s) => ({ start: s.start, end: s.end })) },
  };
  if (r.timeoutMs !== undefined) out.timeout = duration(r.timeoutMs);
  if (r.backoff) out.backoff = toBackoff(r.backoff);
  return out;
}

function toGrpcRetry(r: GrpcRetry): outbound.GrpcRoute_Retry {
  const has = (c: GrpcRetry['codes'][number]) => r.codes.includes(c);
  const out: outbound.GrpcRoute_Retry = {
    maxRetries: r.maxRetries,
    maxRequestBytes: r.maxRequestBytes ?? defaultRetryBufferBytes,
    conditions: { cancelled: has('cancelled'), deadineExceeded: has('deadline-exceeded'), resourceExhausted: has('resource-exhausted'), internal: has('internal'), unavailable: has('unavailable') },
  };
  if (r.timeoutMs !== undefined) out.timeout = duration(r.timeoutMs);
  if (r.backoff) out.backoff = toBackoff(r.backoff);
  return out;
}

export function toOutboundHttpRoute(r: OutboundHttpRoute): outbound.HttpRoute {
  return {
    metadata: toMetadata(r.metadata),
    hosts: (r.hosts ?? []).map(toHostMatch),
    rules: r.rules.map((rule) => {
      const out: outbound.HttpRoute_Rule = {
        matches: rule.matches.map(toHttpRouteMatch),
        filters: httpFilters(rule.filters),
        backends: distribution(rule.backends, httpRouteBackend),
        allowL5dRequestHeaders: rule.allowL5dRequestHeaders ?? false,
      };
      const timeouts = toTimeouts(rule.timeouts);
      if (timeouts) {
        out.timeouts = timeouts;
        // Older proxies read only the deprecated field; it stays equal to the response timeout.
        if (timeouts.response) out.requestTimeout = timeouts.response;
      }
      if (rule.retry) out.retry = toHttpRetry(rule.retry);
      return out;
    }),
  };
}

export function toOutboundGrpcRoute(r: OutboundGrpcRoute): outbound.GrpcRoute {
  return {
    metadata: toMetadata(r.metadata),
    hosts: (r.hosts ?? []).map(toHostMatch),
    rules: r.rules.map((rule) => {
      const out: outbound.GrpcRoute_Rule = {
        matches: rule.matches.map(toGrpcRouteMatch),
        filters: grpcFilters(rule.filters),
        backends: distribution(rule.backends, grpcRouteBackend),
        allowL5dRequestHeaders: rule.allowL5dRequestHeaders ?? false,
      };
      const timeouts = toTimeouts(rule.timeouts);
      if (timeouts) {
        out.timeouts = timeouts;
        if (timeouts.response) out.requestTimeout = timeouts.response;
      }
      if (rule.retry) out.retry = toGrpcRetry(rule.retry);
      return out;
    }),
  };
}

/** The service itself, as the backend of opaque traffic when the policy names none. */
function serviceItself(p: OutboundPolicy): OutboundBackend {
  return { metadata: p.metadata, weight: 1, service: { namespace: p.namespace, name: p.service, port: p.port, authority: p.authority } };
}

function opaqueRoute(p: OutboundPolicy): outbound.OpaqueRoute {
  const backends = p.opaqueBackends ?? [serviceItself(p)];
  return { metadata: toMetadata(p.metadata), rules: [{ backends: distribution(backends, opaqueRouteBackend), filters: [] }] };
}

function tlsRoute(p: OutboundPolicy): outbound.TlsRoute {
  const backends = p.opaqueBackends ?? [serviceItself(p)];
  return { metadata: toMetadata(p.metadata), snis: [], rules: [{ backends: distribution(backends, opaqueRouteBackend), filters: [] }] };
}

/** The routes a caller in `sourceNamespace` gets: its namespace's consumer routes when there are any, else the producer routes. */
export function routesFor(p: OutboundPolicy, sourceNamespace: string | undefined): OutboundRoutes {
  if (sourceNamespace === undefined) return p.routes;
  return p.consumerRoutes.find((c) => c.namespace === sourceNamespace)?.routes ?? p.routes;
}

/** The outbound.OutboundPolicy a proxy in `sourceNamespace` (unknown when undefined) uses for a service port. */
export function toOutboundPolicy(p: OutboundPolicy, sourceNamespace: string | undefined): outbound.OutboundPolicy {
  const routes = routesFor(p, sourceNamespace);
  const http = (): outbound.ProxyProtocol_Http1 => {
    const out: outbound.ProxyProtocol_Http1 = { routes: routes.httpRoutes.map(toOutboundHttpRoute) };
    if (p.failureAccrual) out.failureAccrual = toFailureAccrual(p.failureAccrual);
    return out;
  };
  let protocol: outbound.ProxyProtocol;
  switch (p.protocol) {
    case 'detect':
      protocol = { kind: { $case: 'detect', detect: { timeout: duration(p.detectTimeoutMs ?? defaultDetectTimeoutMs), opaque: { routes: [opaqueRoute(p)] }, http1: http(), http2: http() } } };
      break;
    case 'http1':
      protocol = { kind: { $case: 'http1', http1: http() } };
      break;
    case 'http2':
      protocol = { kind: { $case: 'http2', http2: http() } };
      break;
    case 'grpc': {
      const grpc: outbound.ProxyProtocol_Grpc = { routes: routes.grpcRoutes.map(toOutboundGrpcRoute) };
      if (p.failureAccrual) grpc.failureAccrual = toFailureAccrual(p.failureAccrual);
      protocol = { kind: { $case: 'grpc', grpc } };
      break;
    }
    case 'opaque':
      protocol = { kind: { $case: 'opaque', opaque: { routes: [opaqueRoute(p)] } } };
      break;
    case 'tls':
      protocol = { kind: { $case: 'tls', tls: { routes: [tlsRoute(p)] } } };
      break;
  }
  return { protocol, metadata: toMetadata(p.metadata) };
}

/** Metadata of the policy of an address no service has: a built-in default named `forward`. */
export const forwardMetadata: meta.Metadata = { kind: { $case: 'default', default: 'forward' } };

/** A known endpoint an address policy forwards to: its address as Destination gives it, and whether it carries opaque TCP. */
export interface ForwardEndpoint {
  addr: destination.WeightedAddr;
  opaque: boolean;
}

/**
 * The policy of an address that is no service: whatever the traffic is, send
 * it on to the address the application connected to, unchanged. For an
 * address the control plane knows nothing about, detect the protocol and
 * forward without identity. For a known endpoint (a workload's address), the
 * forward backend is that endpoint with its TLS identity, protocol hint and
 * labels, so the proxy speaks mesh TLS to the endpoint's proxy; an opaque
 * endpoint gets the opaque protocol (no detection).
 */
export function forwardPolicy(addr: net.TcpAddress, endpoint?: ForwardEndpoint): outbound.OutboundPolicy {
  const backend = (): outbound.Backend =>
    endpoint ? { metadata: forwardMetadata, kind: { $case: 'forward', forward: endpoint.addr }, queue: queue() } : forwardBackend(forwardMetadata, addr);
  const http = (): outbound.ProxyProtocol_Http1 => ({
    routes: [
      {
        metadata: forwardMetadata,
        hosts: [],
        rules: [
          {
            matches: [{ path: { kind: { $case: 'prefix', prefix: '/' } }, headers: [], queryParams: [] }],
            filters: [],
            backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: backend(), filters: [] }] } } },
            allowL5dRequestHeaders: false,
          },
        ],
      },
    ],
  });
  const opaque: outbound.ProxyProtocol_Opaque = {
    routes: [{ metadata: forwardMetadata, rules: [{ backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: backend(), filters: [] }] } } }, filters: [] }] }],
  };
  if (endpoint?.opaque) return { metadata: forwardMetadata, protocol: { kind: { $case: 'opaque', opaque } } };
  return { metadata: forwardMetadata, protocol: { kind: { $case: 'detect', detect: { timeout: duration(defaultDetectTimeoutMs), opaque, http1: http(), http2: http() } } } };
}
