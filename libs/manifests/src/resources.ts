import type { DefaultInboundPolicy, PolicyResource, PolicyResources, ProbeSpec, ServiceTrafficSettings } from './policy-resources.js';

/** Labels or annotations: string keys to string values. */
export type StringMap = Readonly<Record<string, string>>;

/** An inclusive range of port numbers; a single port has `min === max`. */
export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** `v1 Namespace`. Cluster-scoped. */
export interface Namespace {
  readonly kind: 'Namespace';
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** From the annotation `config.meshbus.io/default-inbound-policy` (or `config.linkerd.io/…`); absent: the cluster default. */
  readonly defaultInboundPolicy?: DefaultInboundPolicy;
}

/** `v1 ServiceAccount`: the identity workloads run as. */
export interface ServiceAccount {
  readonly kind: 'ServiceAccount';
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
}

/** One TCP port of a {@link Service}. */
export interface ServicePort {
  /** Required by Kubernetes when the Service has more than one port. */
  readonly name?: string;
  /** The port clients connect to. */
  readonly port: number;
  /** A port number on the workload, or the name of one of the workload's ports. Defaults to `port`. */
  readonly targetPort: number | string;
  readonly appProtocol?: string;
}

/** `v1 Service`. UDP and SCTP ports are validated but left out of `ports`. */
export interface Service {
  readonly kind: 'Service';
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** Workload labels the Service selects; absent when the manifest has no selector or an empty one. */
  readonly selector?: StringMap;
  readonly ports: readonly ServicePort[];
  /** Service ports carrying opaque TCP (annotation `config.meshbus.io/opaque-ports`). */
  readonly opaquePorts: readonly PortRange[];
  /** `spec.clusterIP` and `spec.clusterIPs`, without duplicates; empty for a headless Service or none given. */
  readonly clusterIPs: readonly string[];
  /** Circuit breaking, retries and timeouts of the default route, from annotations. */
  readonly traffic: ServiceTrafficSettings;
}

/** A port a {@link Workload} listens on. */
export interface WorkloadPort {
  readonly name?: string;
  readonly port: number;
}

/** `meshbus.io/v1alpha1 Workload`: a host or process outside Kubernetes. Defaults are applied. */
export interface Workload {
  readonly kind: 'Workload';
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** IPv4 or IPv6 address, as written in the manifest. */
  readonly address: string;
  readonly ports: readonly WorkloadPort[];
  /** @default 'default' */
  readonly serviceAccount: string;
  /** Only ready workloads receive traffic. @default true */
  readonly ready: boolean;
  /** The workload runs a meshbus proxy. @default true */
  readonly meshed: boolean;
  readonly zone?: string;
  /** Relative load-balancing weight. @default 10000 */
  readonly weight: number;
  /** Workload ports carrying opaque TCP (annotation `config.meshbus.io/opaque-ports`). */
  readonly opaquePorts: readonly PortRange[];
  /** HTTP probes (`spec.probes`, or `livenessProbe`/`readinessProbe`/`startupProbe` with `httpGet`, as on a container). */
  readonly probes: readonly ProbeSpec[];
  /** From the annotation `config.meshbus.io/default-inbound-policy` (or `config.linkerd.io/…`); absent: the namespace's. */
  readonly defaultInboundPolicy?: DefaultInboundPolicy;
  /** Set when the workload is a Kubernetes Pod read from the API server; absent for a `Workload` manifest or registration. */
  readonly source?: 'Pod';
}

/** A port of an {@link EndpointSlice}. */
export interface EndpointSlicePort {
  /** Empty or absent for the port of a Service port without a name. */
  readonly name?: string;
  /** Absent: every port (only for Services without a selector). */
  readonly port?: number;
  /** @default 'TCP' */
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly appProtocol?: string;
}

/** One endpoint of an {@link EndpointSlice}, with the Kubernetes defaults applied to its conditions. */
export interface SliceEndpoint {
  readonly addresses: readonly string[];
  /** Missing in the object: true, as the Kubernetes API reads it. */
  readonly ready: boolean;
  /** Missing: the value of `ready`. */
  readonly serving: boolean;
  /** Missing: false. */
  readonly terminating: boolean;
  readonly zone?: string;
  readonly nodeName?: string;
  /** `hints.forZones[].name`: the zones this endpoint should serve (topology-aware routing). */
  readonly forZones: readonly string[];
  /** The object behind the endpoint, usually a Pod. */
  readonly targetRef?: { readonly kind: string; readonly namespace: string; readonly name: string };
}

/** `discovery.k8s.io/v1 EndpointSlice`: endpoints of a Service, as the EndpointSlice controller (or someone else) wrote them. */
export interface EndpointSlice {
  readonly kind: 'EndpointSlice';
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** The label `kubernetes.io/service-name`; absent when the slice belongs to no Service. */
  readonly service?: string;
  readonly addressType: 'IPv4' | 'IPv6' | 'FQDN';
  readonly ports: readonly EndpointSlicePort[];
  readonly endpoints: readonly SliceEndpoint[];
}

/** The service a ServiceProfile is named after: `<service>.<namespace>.svc.<clusterDomain>`. */
export interface ServiceFqdn {
  readonly service: string;
  readonly namespace: string;
  readonly clusterDomain: string;
}

/**
 * A request condition as written in a ServiceProfile. Every field that is set
 * must match (they combine like `all`).
 */
export interface RequestCondition {
  readonly method?: string;
  readonly pathRegex?: string;
  readonly all?: readonly RequestCondition[];
  readonly any?: readonly RequestCondition[];
  readonly not?: RequestCondition;
}

/** A response condition; every field that is set must match. */
export interface ResponseCondition {
  readonly status?: { readonly min?: number; readonly max?: number };
  readonly all?: readonly ResponseCondition[];
  readonly any?: readonly ResponseCondition[];
  readonly not?: ResponseCondition;
}

/** Classifies responses of a route, e.g. 5xx as failures. */
export interface ResponseClassSpec {
  readonly condition: ResponseCondition;
  readonly isFailure: boolean;
}

/** One route of a ServiceProfile. */
export interface ProfileRouteSpec {
  readonly name: string;
  readonly condition: RequestCondition;
  readonly responseClasses: readonly ResponseClassSpec[];
  /** @default false */
  readonly isRetryable: boolean;
  /** The manifest's `timeout`, in milliseconds (rounded up). */
  readonly timeoutMs?: number;
}

/** Limits retries to a share of the requests. */
export interface RetryBudgetSpec {
  readonly retryRatio: number;
  readonly minRetriesPerSecond: number;
  /** The manifest's `ttl`, in milliseconds (rounded up). */
  readonly ttlMs: number;
}

/** One destination of a traffic split. */
export interface DstOverride {
  readonly authority: string;
  /** The manifest's weight in milli-units: `1` and `1000m` are 1000, `500m` and `0.5` are 500. */
  readonly weight: number;
}

/** `linkerd.io/v1alpha2 ServiceProfile` (or `meshbus.io/v1alpha1`), with units normalised. */
export interface ServiceProfile {
  readonly kind: 'ServiceProfile';
  readonly namespace: string;
  /** The service FQDN, e.g. `api.shop.svc.cluster.local`. */
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** The service the name designates. */
  readonly target: ServiceFqdn;
  readonly routes: readonly ProfileRouteSpec[];
  readonly retryBudget?: RetryBudgetSpec;
  readonly dstOverrides: readonly DstOverride[];
  /** Sorted, without duplicates. */
  readonly opaquePorts: readonly number[];
}

/**
 * A resource meshbus keeps without interpreting it: checked for apiVersion,
 * kind and name only. No kind is read this way today; the collection stays
 * for kinds that later services will consume before meshbus interprets them.
 */
export interface GenericResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  /** The whole document as parsed from YAML. */
  readonly manifest: Readonly<Record<string, unknown>>;
}

/** Every valid resource, each list sorted by namespace and name. */
export interface MeshResources extends PolicyResources {
  readonly namespaces: readonly Namespace[];
  readonly services: readonly Service[];
  readonly serviceAccounts: readonly ServiceAccount[];
  readonly workloads: readonly Workload[];
  readonly serviceProfiles: readonly ServiceProfile[];
  /** EndpointSlices (read from Kubernetes; a manifests folder rarely has any). */
  readonly endpointSlices: readonly EndpointSlice[];
  /** Kinds read but not interpreted, sorted by apiVersion, kind, namespace and name. */
  readonly others: readonly GenericResource[];
}

/** A resource understood by meshbus. */
export type MeshResource = Namespace | ServiceAccount | Service | Workload | ServiceProfile | EndpointSlice | PolicyResource | GenericResource;

/**
 * Something wrong with a file or a resource in it. The same shape as the
 * `manifest.rejected` bus event.
 */
export interface ManifestProblem {
  /** Path of the file, as given to the index (relative to the folder for a FolderSource). */
  readonly file: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** What is wrong, for a person; ends by saying what stays in force when something does. */
  readonly reason: string;
}

/** A change to one file, fed to a {@link ManifestIndex}. */
export type ManifestChange =
  /** The file's current content. */
  | { readonly file: string; readonly text: string }
  /** The file is gone: its resources are removed. */
  | { readonly file: string; readonly deleted: true }
  /** The file exists but could not be read: its resources stay. */
  | { readonly file: string; readonly error: string };

/** No resources at all. */
export const emptyMeshResources: MeshResources = Object.freeze({
  namespaces: [],
  services: [],
  serviceAccounts: [],
  workloads: [],
  serviceProfiles: [],
  endpointSlices: [],
  others: [],
  servers: [],
  authorizationPolicies: [],
  meshTLSAuthentications: [],
  networkAuthentications: [],
  httpRoutes: [],
  grpcRoutes: [],
  rateLimitPolicies: [],
  faultInjections: [],
});

/** Whether `port` lies in one of `ranges`. */
export function portInRanges(ranges: readonly PortRange[], port: number): boolean {
  return ranges.some((r) => port >= r.min && port <= r.max);
}
