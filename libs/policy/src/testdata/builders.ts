/*
 * Typed policy resources for tests, with the defaults the manifest decoders
 * apply (empty labels, no filters, and so on) so that a test states only
 * what matters to it.
 */
import type {
  AuthorizationPolicy,
  BackendRef,
  GrpcRoute,
  GrpcRouteRule,
  HttpFaultInjection,
  HttpLocalRateLimitPolicy,
  HttpRoute,
  HttpRouteMatch,
  HttpRouteRule,
  MeshResources,
  MeshTLSAuthentication,
  Namespace,
  NetworkAuthentication,
  ParentRef,
  ResourceRef,
  Server,
  Service,
  Workload,
} from '@meshbus/manifests';
import type { PolicySettings } from '../settings.js';

type Partial2<T> = { -readonly [K in keyof T]?: T[K] };

export const settings: PolicySettings = {
  clusterDomain: 'cluster.local',
  identityDomain: 'identity.meshbus.cluster.local',
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['10.0.0.0/8'],
  probeNetworks: ['127.0.0.1/32'],
  detectTimeoutMs: 10_000,
};

const meta = (namespace: string, name: string, apiVersion: string) => ({ namespace, name, labels: {}, annotations: {}, apiVersion, file: `${namespace}/${name}.yaml` });

export function namespace(name: string, more: Partial2<Namespace> = {}): Namespace {
  return { kind: 'Namespace', name, labels: {}, annotations: {}, ...more };
}

export function workload(ns: string, name: string, more: Partial2<Workload> = {}): Workload {
  return {
    kind: 'Workload',
    namespace: ns,
    name,
    labels: { app: name },
    annotations: {},
    address: '10.1.0.1',
    ports: [{ name: 'http', port: 8080 }],
    serviceAccount: name,
    ready: true,
    meshed: true,
    weight: 10000,
    opaquePorts: [],
    probes: [],
    ...more,
  };
}

export function service(ns: string, name: string, more: Partial2<Service> = {}): Service {
  return {
    kind: 'Service',
    namespace: ns,
    name,
    labels: {},
    annotations: {},
    selector: { app: name },
    ports: [{ name: 'http', port: 80, targetPort: 8080 }],
    opaquePorts: [],
    clusterIPs: ['10.96.0.10'],
    traffic: {},
    ...more,
  };
}

export function server(ns: string, name: string, more: Partial2<Server> = {}): Server {
  return {
    kind: 'Server',
    ...meta(ns, name, 'policy.linkerd.io/v1beta3'),
    port: 'http',
    podSelector: { matchLabels: { app: 'web' }, matchExpressions: [] },
    proxyProtocol: 'HTTP/1',
    ...more,
  };
}

export const ref = (kind: string, name: string, group = 'policy.linkerd.io', ns?: string): ResourceRef => ({ group, kind, name, ...(ns !== undefined ? { namespace: ns } : {}) });

export function authorizationPolicy(ns: string, name: string, targetRef: ResourceRef, requiredAuthenticationRefs: ResourceRef[] = []): AuthorizationPolicy {
  return { kind: 'AuthorizationPolicy', ...meta(ns, name, 'policy.linkerd.io/v1alpha1'), targetRef, requiredAuthenticationRefs };
}

export function meshTls(ns: string, name: string, identities: string[], identityRefs: ResourceRef[] = []): MeshTLSAuthentication {
  return { kind: 'MeshTLSAuthentication', ...meta(ns, name, 'policy.linkerd.io/v1alpha1'), identities, identityRefs };
}

export function networkAuthn(ns: string, name: string, networks: { cidr: string; except?: string[] }[]): NetworkAuthentication {
  return { kind: 'NetworkAuthentication', ...meta(ns, name, 'policy.linkerd.io/v1alpha1'), networks: networks.map((n) => ({ cidr: n.cidr, except: n.except ?? [] })) };
}

export const parent = (kind: 'Server' | 'Service', name: string, more: Partial2<ParentRef> = {}): ParentRef => ({
  group: kind === 'Server' ? 'policy.linkerd.io' : 'core',
  kind,
  name,
  ...more,
});

export const backend = (name: string, weight = 1, more: Partial2<BackendRef> = {}): BackendRef => ({ group: '', kind: 'Service', name, weight, filters: [], ...more });

export const pathPrefix = (value: string, more: Partial2<HttpRouteMatch> = {}): HttpRouteMatch => ({ path: { type: 'PathPrefix', value }, headers: [], queryParams: [], ...more });

export function rule(more: Partial2<HttpRouteRule> = {}): HttpRouteRule {
  return { matches: [pathPrefix('/')], filters: [], backendRefs: [], ...more };
}

export function httpRoute(ns: string, name: string, parentRefs: ParentRef[], rules: HttpRouteRule[] = [rule()], more: Partial2<HttpRoute> = {}): HttpRoute {
  return { kind: 'HTTPRoute', ...meta(ns, name, 'gateway.networking.k8s.io/v1'), parentRefs, hostnames: [], rules, ...more };
}

export function grpcRoute(ns: string, name: string, parentRefs: ParentRef[], rules: GrpcRouteRule[], more: Partial2<GrpcRoute> = {}): GrpcRoute {
  return { kind: 'GRPCRoute', ...meta(ns, name, 'gateway.networking.k8s.io/v1'), parentRefs, hostnames: [], rules, ...more };
}

export function rateLimit(ns: string, name: string, serverName: string, more: Partial2<HttpLocalRateLimitPolicy> = {}): HttpLocalRateLimitPolicy {
  return { kind: 'HTTPLocalRateLimitPolicy', ...meta(ns, name, 'policy.linkerd.io/v1alpha1'), targetRef: ref('Server', serverName), overrides: [], ...more };
}

export function faultInjection(ns: string, name: string, abort: HttpFaultInjection['abort']): HttpFaultInjection {
  return { kind: 'HTTPFaultInjection', ...meta(ns, name, 'policy.meshbus.io/v1alpha1'), abort };
}

const byName = <T extends { namespace?: string; name: string }>(list: T[]) =>
  [...list].sort((a, b) => ((a.namespace ?? '') + '/' + a.name < (b.namespace ?? '') + '/' + b.name ? -1 : 1));

/** MeshResources from lists, each sorted by namespace and name as the manifest index gives them. */
export function resources(parts: Partial2<{ [K in keyof MeshResources]: MeshResources[K] extends readonly (infer T)[] ? T[] : never }>): MeshResources {
  return {
    namespaces: byName(parts.namespaces ?? []),
    services: byName(parts.services ?? []),
    serviceAccounts: byName(parts.serviceAccounts ?? []),
    workloads: byName(parts.workloads ?? []),
    serviceProfiles: [],
    endpointSlices: [],
    others: [],
    servers: byName(parts.servers ?? []),
    authorizationPolicies: byName(parts.authorizationPolicies ?? []),
    meshTLSAuthentications: byName(parts.meshTLSAuthentications ?? []),
    networkAuthentications: byName(parts.networkAuthentications ?? []),
    httpRoutes: byName(parts.httpRoutes ?? []),
    grpcRoutes: byName(parts.grpcRoutes ?? []),
    rateLimitPolicies: byName(parts.rateLimitPolicies ?? []),
    faultInjections: byName(parts.faultInjections ?? []),
  };
}
