/* Generated from bus-schemas/schemas/outbound-policy.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The outbound policy of one service port: how calls to it are routed, split, retried, timed out and broken off. routes holds the producer routes (in the service's namespace) or, when there are none, the default route to the service itself. Published as state by the policy leader.
 */
export interface OutboundPolicy {
  namespace: string;
  service: string;
  port: number;
  metadata: PolicyRef;
  /**
   * The service's name for the Destination API, e.g. web.shop.svc.cluster.local:80.
   */
  authority: string;
  /**
   * The service's cluster IPs, so that a proxy asking by IP and port finds this policy.
   *
   * @maxItems 16
   */
  addresses: string[];
  protocol: 'detect' | 'http1' | 'http2' | 'grpc' | 'opaque' | 'tls';
  /**
   * Milliseconds.
   */
  detectTimeoutMs?: number;
  routes: OutboundRoutes;
  /**
   * Routes written in a caller's namespace: for callers in that namespace they take the place of routes.
   *
   * @maxItems 1000
   */
  consumerRoutes: ConsumerRoutes[];
  failureAccrual?: FailureAccrual;
  /**
   * Where opaque (and undetected) TCP goes; by default the service itself.
   *
   * @maxItems 64
   */
  opaqueBackends?: OutboundBackend[];
}
/**
 * Which resource (or which default) produced this part of a policy; carried to proxies as the proxy API's Metadata, in their metrics and logs.
 */
export interface PolicyRef {
  /**
   * Set for what a default policy produced, e.g. all-unauthenticated or probe; the other fields are then absent.
   */
  default?: string;
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  section?: string;
  port?: number;
}
export interface OutboundRoutes {
  /**
   * @maxItems 1000
   */
  httpRoutes: OutboundHttpRoute[];
  /**
   * @maxItems 1000
   */
  grpcRoutes: OutboundGrpcRoute[];
}
export interface OutboundHttpRoute {
  metadata: PolicyRef;
  /**
   * @maxItems 16
   */
  hosts?: HostMatch[];
  /**
   * @maxItems 64
   */
  rules: OutboundHttpRule[];
}
export interface HostMatch {
  exact?: string;
  /**
   * Matches this domain and every name below it (written without the leading '*.').
   */
  suffix?: string;
}
/**
 * Requests are spread over the backends by weight; no backend means the request fails.
 */
export interface OutboundHttpRule {
  /**
   * @maxItems 64
   */
  matches: HttpMatch[];
  /**
   * @maxItems 16
   */
  filters?: HttpFilter[];
  /**
   * @maxItems 64
   */
  backends: OutboundBackend[];
  timeouts?: RouteTimeouts;
  retry?: HttpRetry;
  allowL5dRequestHeaders?: boolean;
}
/**
 * Every field that is set must match; absent means any.
 */
export interface HttpMatch {
  path?: PathMatch;
  /**
   * @maxItems 16
   */
  headers?: HeaderValueMatch[];
  /**
   * @maxItems 16
   */
  queryParams?: HeaderValueMatch[];
  method?: string;
}
export interface PathMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}
/**
 * Exactly one of exact and regex is set.
 */
export interface HeaderValueMatch {
  name: string;
  exact?: string;
  regex?: string;
}
/**
 * One filter; exactly one property is set.
 */
export interface HttpFilter {
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
  redirect?: RequestRedirect;
  urlRewrite?: UrlRewrite;
  failureInjector?: HttpFailureInjector;
}
export interface HeaderModifier {
  /**
   * @maxItems 16
   */
  add?: HeaderValue[];
  /**
   * @maxItems 16
   */
  set?: HeaderValue[];
  /**
   * @maxItems 16
   */
  remove?: string[];
}
export interface HeaderValue {
  name: string;
  value: string;
}
export interface RequestRedirect {
  scheme?: 'http' | 'https';
  host?: string;
  path?: PathModifier;
  port?: number;
  status?: 301 | 302 | 303 | 307 | 308;
}
export interface PathModifier {
  full?: string;
  prefix?: string;
}
export interface UrlRewrite {
  host?: string;
  path?: PathRewrite;
}
export interface PathRewrite {
  full?: string;
  prefix?: string;
}
export interface HttpFailureInjector {
  status: number;
  message?: string;
  ratio: Ratio;
}
export interface Ratio {
  numerator: number;
  denominator: number;
}
/**
 * Exactly one of service, forward and invalid is set.
 */
export interface OutboundBackend {
  metadata: PolicyRef;
  weight: number;
  service?: BackendService;
  forward?: BackendForward;
  /**
   * Why this backend cannot be used (e.g. its Service does not exist); requests sent to it fail with 500.
   */
  invalid?: string;
  /**
   * @maxItems 16
   */
  filters?: HttpFilter[];
}
/**
 * Endpoints come from the Destination API for authority.
 */
export interface BackendService {
  namespace: string;
  name: string;
  port: number;
  authority: string;
}
/**
 * One address, when the target is not a service.
 */
export interface BackendForward {
  address: string;
  port: number;
  identity?: string;
}
export interface RouteTimeouts {
  /**
   * The whole request, retries included.
   */
  requestMs?: number;
  /**
   * Each attempt sent to a backend (the Gateway API's backendRequest).
   */
  responseMs?: number;
  /**
   * Milliseconds.
   */
  idleMs?: number;
}
export interface HttpRetry {
  maxRetries: number;
  maxRequestBytes?: number;
  /**
   * @maxItems 32
   */
  statusRanges: StatusRange[];
  /**
   * Milliseconds.
   */
  timeoutMs?: number;
  backoff?: Backoff;
}
export interface StatusRange {
  start: number;
  end: number;
}
export interface Backoff {
  /**
   * Milliseconds.
   */
  minMs: number;
  /**
   * Milliseconds.
   */
  maxMs: number;
  jitterRatio?: number;
  respectRetryAfter?: boolean;
}
export interface OutboundGrpcRoute {
  metadata: PolicyRef;
  /**
   * @maxItems 16
   */
  hosts?: HostMatch[];
  /**
   * @maxItems 64
   */
  rules: OutboundGrpcRule[];
}
export interface OutboundGrpcRule {
  /**
   * @maxItems 64
   */
  matches: GrpcMatch[];
  /**
   * @maxItems 16
   */
  filters?: GrpcFilter[];
  /**
   * @maxItems 64
   */
  backends: OutboundBackend[];
  timeouts?: RouteTimeouts;
  retry?: GrpcRetry;
  allowL5dRequestHeaders?: boolean;
}
/**
 * Absent service or method means any.
 */
export interface GrpcMatch {
  service?: string;
  method?: string;
  /**
   * @maxItems 16
   */
  headers?: HeaderValueMatch[];
}
export interface GrpcFilter {
  requestHeaderModifier?: HeaderModifier;
  failureInjector?: GrpcFailureInjector;
}
export interface GrpcFailureInjector {
  code: number;
  message?: string;
  ratio: Ratio;
}
export interface GrpcRetry {
  maxRetries: number;
  maxRequestBytes?: number;
  /**
   * @maxItems 5
   */
  codes: ('cancelled' | 'deadline-exceeded' | 'resource-exhausted' | 'internal' | 'unavailable')[];
  /**
   * Milliseconds.
   */
  timeoutMs?: number;
  backoff?: Backoff;
}
export interface ConsumerRoutes {
  namespace: string;
  routes: OutboundRoutes;
}
/**
 * Circuit breaking: an endpoint with maxFailures failures in a row gets no requests for a backoff period, then one probe request.
 */
export interface FailureAccrual {
  kind: 'consecutive';
  maxFailures: number;
  backoff: Backoff;
}
