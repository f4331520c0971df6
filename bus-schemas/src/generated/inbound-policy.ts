/* Generated from bus-schemas/schemas/inbound-policy.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * Requests per second.
 */
export type Limit = number;

/**
 * The inbound policy of one workload: a server for every port something is said about (ports), and the server of every other port (defaultServer). Published as state by the policy leader.
 */
export interface InboundPolicy {
  namespace: string;
  workload: string;
  /**
   * The default inbound policy in force for this workload (workload, namespace or cluster setting).
   */
  defaultPolicy:
    | 'all-unauthenticated'
    | 'all-authenticated'
    | 'cluster-unauthenticated'
    | 'cluster-authenticated'
    | 'deny'
    | 'audit';
  /**
   * @maxItems 1000
   */
  ports: InboundPortPolicy[];
  defaultServer: InboundServer;
}
export interface InboundPortPolicy {
  port: number;
  server: InboundServer;
}
/**
 * What the proxy enforces on one inbound port: the protocol, who may connect (authorizations; none means every connection is refused), and the routes with their own authorizations.
 */
export interface InboundServer {
  metadata: PolicyRef;
  protocol: 'detect' | 'http1' | 'http2' | 'grpc' | 'opaque' | 'tls';
  /**
   * Milliseconds.
   */
  detectTimeoutMs?: number;
  /**
   * @maxItems 16
   */
  serverIps?: string[];
  labels: {
    [k: string]: string;
  };
  /**
   * @maxItems 1000
   */
  authorizations: Authorization[];
  /**
   * For detect, http1 and http2; a request no route matches is refused (404).
   *
   * @maxItems 1000
   */
  httpRoutes?: InboundHttpRoute[];
  /**
   * For grpc.
   *
   * @maxItems 1000
   */
  grpcRoutes?: InboundGrpcRoute[];
  rateLimit?: InboundRateLimit;
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
/**
 * Clients from one of the networks, authenticated as required, are allowed.
 */
export interface Authorization {
  metadata: PolicyRef;
  /**
   * @maxItems 64
   */
  networks: PolicyNetwork[];
  authentication: Authentication;
  labels?: {
    [k: string]: string;
  };
}
export interface PolicyNetwork {
  /**
   * An IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/8.
   */
  net: string;
  /**
   * @maxItems 64
   *
   * Items: An IPv4 or IPv6 network in CIDR notation, e.g. 10.0.0.0/8.
   */
  except?: string[];
}
/**
 * Who the client must be. unauthenticated: anyone, TLS or not; tlsUnauthenticated: any client over TLS, meshed or not; meshTls: a meshed client whose identity is listed or ends with a suffix.
 */
export interface Authentication {
  kind: 'unauthenticated' | 'tlsUnauthenticated' | 'meshTls';
  /**
   * @maxItems 1000
   */
  identities?: string[];
  /**
   * Identity suffixes, dot-separated labels; the empty string matches every meshed identity.
   *
   * @maxItems 1000
   */
  suffixes?: string[];
}
export interface InboundHttpRoute {
  metadata: PolicyRef;
  /**
   * @maxItems 16
   */
  hosts?: HostMatch[];
  /**
   * @maxItems 1000
   */
  authorizations: Authorization[];
  /**
   * @maxItems 64
   */
  rules: InboundHttpRule[];
}
export interface HostMatch {
  exact?: string;
  /**
   * Matches this domain and every name below it (written without the leading '*.').
   */
  suffix?: string;
}
export interface InboundHttpRule {
  /**
   * @maxItems 64
   */
  matches: HttpMatch[];
  /**
   * @maxItems 16
   */
  filters?: HttpFilter[];
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
export interface InboundGrpcRoute {
  metadata: PolicyRef;
  /**
   * @maxItems 16
   */
  hosts?: HostMatch[];
  /**
   * @maxItems 1000
   */
  authorizations: Authorization[];
  /**
   * @maxItems 64
   */
  rules: InboundGrpcRule[];
}
export interface InboundGrpcRule {
  /**
   * @maxItems 64
   */
  matches: GrpcMatch[];
  /**
   * @maxItems 16
   */
  filters?: GrpcFilter[];
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
/**
 * HTTPLocalRateLimitPolicy of the server: total, per client identity, and per-identity overrides.
 */
export interface InboundRateLimit {
  metadata: PolicyRef;
  total?: Limit;
  identity?: Limit;
  /**
   * @maxItems 100
   */
  overrides?: RateLimitOverride[];
}
export interface RateLimitOverride {
  limit: Limit;
  /**
   * @maxItems 1000
   */
  identities: string[];
}
