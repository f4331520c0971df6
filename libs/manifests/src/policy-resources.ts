/*
 * Policy and route resources, decoded and normalised: the input of the
 * policy service's index. Units are normalised (durations in milliseconds),
 * defaults applied, and every reference kept as written (resolution and
 * conflicts are the policy index's business, so that it can report them per
 * resource). Field names follow the Kubernetes manifests they come from.
 */
import type { StringMap } from './resources.js';

/** Fields every policy resource has. */
export interface PolicyResourceMeta {
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** The apiVersion as written, e.g. `policy.linkerd.io/v1beta3`. */
  readonly apiVersion: string;
  /** Where it was read: the file path as given to the index (relative to the manifests folder). */
  readonly file: string;
}

/** The default inbound policies, cluster-wide, per namespace or per workload. */
export type DefaultInboundPolicy = 'all-unauthenticated' | 'all-authenticated' | 'cluster-unauthenticated' | 'cluster-authenticated' | 'deny' | 'audit';

/** Annotation carrying a {@link DefaultInboundPolicy} on a Namespace or a Workload (the Linkerd annotation is read too). */
export const defaultInboundPolicyAnnotation = 'config.meshbus.io/default-inbound-policy';
export const linkerdDefaultInboundPolicyAnnotation = 'config.linkerd.io/default-inbound-policy';

/** `proxyProtocol` of a Server. */
export type ProxyProtocol = 'unknown' | 'HTTP/1' | 'HTTP/2' | 'gRPC' | 'opaque' | 'TLS';

/** A label selector (Kubernetes `matchLabels` and `matchExpressions`). */
export interface LabelSelector {
  readonly matchLabels: StringMap;
  readonly matchExpressions: readonly { readonly key: string; readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; readonly values: readonly string[] }[];
}

/** `policy.linkerd.io Server` (v1beta1 to v1beta3; `meshbus.io` too): a port of the selected workloads. */
export interface Server extends PolicyResourceMeta {
  readonly kind: 'Server';
  /** A port number, or the name of a workload port. */
  readonly port: number | string;
  /** Exactly one of podSelector and workloadSelector is set. */
  readonly podSelector?: LabelSelector;
  readonly workloadSelector?: LabelSelector;
  /** @default 'unknown' (protocol detection) */
  readonly proxyProtocol: ProxyProtocol;
  /** The policy for clients no AuthorizationPolicy admits (v1beta3 `accessPolicy`); absent: deny. */
  readonly accessPolicy?: DefaultInboundPolicy;
}

/** A reference to another resource, as written in a targetRef, parentRef or authentication ref. */
export interface ResourceRef {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  /** Absent: the referring resource's namespace. */
  readonly namespace?: string;
}

/** `policy.linkerd.io AuthorizationPolicy`. */
export interface AuthorizationPolicy extends PolicyResourceMeta {
  readonly kind: 'AuthorizationPolicy';
  /** A Server, HTTPRoute, GRPCRoute or Namespace. */
  readonly targetRef: ResourceRef;
  /** MeshTLSAuthentication, NetworkAuthentication or ServiceAccount references; every one must hold. */
  readonly requiredAuthenticationRefs: readonly ResourceRef[];
}

/** `policy.linkerd.io MeshTLSAuthentication`: clients proven by mesh TLS. */
export interface MeshTLSAuthentication extends PolicyResourceMeta {
  readonly kind: 'MeshTLSAuthentication';
  /** Identities as written: full names, `*` (any meshed client) or `*.<suffix>`. */
  readonly identities: readonly string[];
  /** ServiceAccount (or Namespace, for every account in it) references. */
  readonly identityRefs: readonly ResourceRef[];
}

/** One network of a NetworkAuthentication. */
export interface AuthorizedNetwork {
  /** CIDR, canonical (host bits cleared), e.g. `10.0.0.0/8`; a bare address becomes /32 or /128. */
  readonly cidr: string;
  readonly except: readonly string[];
}

/** `policy.linkerd.io NetworkAuthentication`: clients by source network. */
export interface NetworkAuthentication extends PolicyResourceMeta {
  readonly kind: 'NetworkAuthentication';
  readonly networks: readonly AuthorizedNetwork[];
}

/** A parentRef of a route: a Server (inbound) or a Service (outbound). */
export interface ParentRef extends ResourceRef {
  /** Service port the route applies to; absent: every port. */
  readonly port?: number;
  readonly sectionName?: string;
}

/** A weighted backend of a route rule. */
export interface BackendRef {
  /** '' for the core group (a manifest's 'core' is stored as ''); only Services are supported as backends. */
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly port?: number;
  /** @default 1 */
  readonly weight: number;
  readonly filters: readonly HttpRouteFilter[];
}

export interface StringMatch {
  readonly type: 'Exact' | 'RegularExpression';
  readonly name: string;
  readonly value: string;
}

/** One match of an HTTPRoute rule; every field that is set must hold. */
export interface HttpRouteMatch {
  readonly path?: { readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression'; readonly value: string };
  readonly headers: readonly StringMatch[];
  readonly queryParams: readonly StringMatch[];
  /** Upper case. */
  readonly method?: string;
}

export interface HeaderModifierSpec {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

/** Fault injection: abort a share of the requests with a status (the extension filter's spec). */
export interface FaultInjectionSpec {
  /** HTTP status for HTTP routes. */
  readonly httpStatus?: number;
  /** gRPC status code for GRPC routes. */
  readonly grpcStatus?: number;
  readonly message: string;
  /** Share of requests aborted, numerator over denominator (a percentage of 10 becomes 10/100). */
  readonly ratio: { readonly numerator: number; readonly denominator: number };
}

/** A filter of an HTTPRoute rule or backend, in the Gateway API's shape. */
export type HttpRouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifierSpec }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifierSpec }
  | {
      readonly type: 'RequestRedirect';
      readonly requestRedirect: {
        readonly scheme?: 'http' | 'https';
        readonly hostname?: string;
        readonly path?: { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly value: string };
        readonly port?: number;
        /** @default 302 */
        readonly statusCode: number;
      };
    }
  | {
      readonly type: 'URLRewrite';
      readonly urlRewrite: {
        readonly hostname?: string;
        readonly path?: { readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; readonly value: string };
      };
    }
  /** An ExtensionRef to a fault-injection resource, kept as a reference (resolved by the policy index). */
  | { readonly type: 'ExtensionRef'; readonly extensionRef: ResourceRef };

/** Retries of a rule: the Gateway API stanza, or the retry annotations. */
export interface RetrySpec {
  /** Attempts after the first. */
  readonly attempts: number;
  /** HTTP status codes (or ranges, from annotations like `5xx`) that are retried. */
  readonly codes: readonly { readonly start: number; readonly end: number }[];
  /** gRPC status names retried (GRPCRoute), e.g. `unavailable`. */
  readonly grpcCodes: readonly string[];
  /** Backoff before each retry. */
  readonly backoffMs?: number;
  /** Timeout of each attempt (`retry.linkerd.io/timeout`). */
  readonly perTryTimeoutMs?: number;
}

/** `timeouts` of a rule, and the timeout annotations. */
export interface TimeoutsSpec {
  /** The whole request (Gateway API `request`, annotation `timeout.linkerd.io/request`). */
  readonly requestMs?: number;
  /** Each attempt to a backend (Gateway API `backendRequest`, annotation `timeout.linkerd.io/response`). */
  readonly backendRequestMs?: number;
  /** `timeout.linkerd.io/idle`. */
  readonly idleMs?: number;
}

export interface HttpRouteRule {
  /** Absent in the manifest: one match of every path (`PathPrefix /`). */
  readonly matches: readonly HttpRouteMatch[];
  readonly filters: readonly HttpRouteFilter[];
  readonly backendRefs: readonly BackendRef[];
  readonly timeouts?: TimeoutsSpec;
  readonly retry?: RetrySpec;
}

/** `gateway.networking.k8s.io/v1 HTTPRoute` (or `policy.linkerd.io` HTTPRoute). */
export interface HttpRoute extends PolicyResourceMeta {
  readonly kind: 'HTTPRoute';
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly HttpRouteRule[];
  /** From `retry.linkerd.io/*` and `timeout.linkerd.io/*` annotations on the route; rules' own settings win. */
  readonly annotationRetry?: RetrySpec;
  readonly annotationTimeouts?: TimeoutsSpec;
}

export interface GrpcRouteMatch {
  readonly method?: { readonly type: 'Exact' | 'RegularExpression'; readonly service?: string; readonly method?: string };
  readonly headers: readonly StringMatch[];
}

export interface GrpcRouteRule {
  /** Absent in the manifest: one match of every request (no method, no headers). */
  readonly matches: readonly GrpcRouteMatch[];
  /** RequestHeaderModifier, ResponseHeaderModifier and ExtensionRef (fault injection) only. */
  readonly filters: readonly HttpRouteFilter[];
  readonly backendRefs: readonly BackendRef[];
  readonly timeouts?: TimeoutsSpec;
  readonly retry?: RetrySpec;
}

/** `gateway.networking.k8s.io/v1 GRPCRoute`. */
export interface GrpcRoute extends PolicyResourceMeta {
  readonly kind: 'GRPCRoute';
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly GrpcRouteRule[];
  readonly annotationRetry?: RetrySpec;
  readonly annotationTimeouts?: TimeoutsSpec;
}

/** `policy.linkerd.io HTTPLocalRateLimitPolicy`: requests per second on a Server. */
export interface HttpLocalRateLimitPolicy extends PolicyResourceMeta {
  readonly kind: 'HTTPLocalRateLimitPolicy';
  /** A Server. */
  readonly targetRef: ResourceRef;
  readonly total?: { readonly requestsPerSecond: number };
  readonly identity?: { readonly requestsPerSecond: number };
  readonly overrides: readonly { readonly requestsPerSecond: number; readonly clientRefs: readonly ResourceRef[] }[];
}

/** `policy.meshbus.io HTTPFaultInjection`: what an ExtensionRef filter of a route points at. */
export interface HttpFaultInjection extends PolicyResourceMeta {
  readonly kind: 'HTTPFaultInjection';
  readonly abort: FaultInjectionSpec;
}

/**
 * Circuit breaking and connection settings of a Service, from its annotations
 * (`balancer.linkerd.io/failure-accrual*`, `config.meshbus.io/*`), decoded
 * with the Service.
 */
export interface ServiceTrafficSettings {
  readonly failureAccrual?: {
    readonly kind: 'consecutive';
    readonly maxFailures: number;
    readonly minPenaltyMs: number;
    readonly maxPenaltyMs: number;
    readonly jitterRatio: number;
  };
  /** Retries and timeouts for the default route (no HTTPRoute): the same annotations as on routes. */
  readonly retry?: RetrySpec;
  readonly timeouts?: TimeoutsSpec;
}

/** An HTTP probe of a workload: reachable from the probe networks unless a route covers it. */
export interface ProbeSpec {
  readonly port: number | string;
  readonly path: string;
}

/** Every policy resource. */
export type PolicyResource =
  | Server
  | AuthorizationPolicy
  | MeshTLSAuthentication
  | NetworkAuthentication
  | HttpRoute
  | GrpcRoute
  | HttpLocalRateLimitPolicy
  | HttpFaultInjection;

/** The policy collections of MeshResources, each sorted by namespace and name. */
export interface PolicyResources {
  readonly servers: readonly Server[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  readonly meshTLSAuthentications: readonly MeshTLSAuthentication[];
  readonly networkAuthentications: readonly NetworkAuthentication[];
  readonly httpRoutes: readonly HttpRoute[];
  readonly grpcRoutes: readonly GrpcRoute[];
  readonly rateLimitPolicies: readonly HttpLocalRateLimitPolicy[];
  readonly faultInjections: readonly HttpFaultInjection[];
}
