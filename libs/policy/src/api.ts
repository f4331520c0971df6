import type { InboundPolicy, OutboundPolicy, PolicyDefaults, PolicyRejected, PolicyStatus } from '@meshbus/bus-schemas';
import type { MeshResources, Workload } from '@meshbus/manifests';

/** What the policy is computed from. */
export interface PolicyInputs {
  /** Resources from the manifests folder (or, later, the Kubernetes API). */
  readonly resources: MeshResources;
  /** Workloads registered over the bus; a manifest Workload of the same namespace and name wins. */
  readonly registered: readonly Workload[];
  /**
   * Which service ports have a ready endpoint, by {@link readinessKey}; a
   * port missing from the map has none. Only failover routes read it. Absent:
   * every port counts as ready.
   */
  readonly readiness?: ReadonlyMap<string, boolean>;
}

/** Key of a service port's readiness: `<namespace>/<service>/<port>`. */
export const readinessKey = (namespace: string, service: string, port: number): string => `${namespace}/${service}/${port}`;

/** Key of an inbound policy: `<namespace>/<workload>`. */
export const inboundKey = (namespace: string, workload: string): string => `${namespace}/${workload}`;
/** Key of an outbound policy: `<namespace>/<service>/<port>`. */
export const outboundKey = (namespace: string, service: string, port: number): string => `${namespace}/${service}/${port}`;
/** Key of a resource status: `<namespace>/<kind>/<name>`. */
export const statusKey = (namespace: string, kind: string, name: string): string => `${namespace}/${kind}/${name}`;

/**
 * Everything the policy service publishes, computed from {@link PolicyInputs}.
 * The maps iterate in key order (by code unit).
 */
export interface PolicyResult {
  readonly defaults: PolicyDefaults;
  /** By {@link inboundKey}: one per workload. */
  readonly inbound: ReadonlyMap<string, InboundPolicy>;
  /** By {@link outboundKey}: one per TCP port of every Service. */
  readonly outbound: ReadonlyMap<string, OutboundPolicy>;
  /** By {@link statusKey}: one per policy or route resource. */
  readonly statuses: ReadonlyMap<string, PolicyStatus>;
  /** The resources left out and why, in namespace, kind and name order. */
  readonly rejected: readonly PolicyRejected[];
}

/** The keys whose value was added, changed or removed by one update. */
export interface PolicyChanges {
  readonly defaults: boolean;
  readonly inbound: ReadonlySet<string>;
  readonly outbound: ReadonlySet<string>;
  readonly statuses: ReadonlySet<string>;
}

/**
 * The incremental computation: each update works out what the changed
 * inputs affect and recomputes only that, and `result` is always equal to a
 * full recompute of the last inputs.
 */
export interface PolicyComputation {
  update(inputs: PolicyInputs): PolicyChanges;
  /**
   * The result of the last update. Its maps are kept up to date in place:
   * read them after an update, and copy what must outlive the next one.
   */
  readonly result: PolicyResult;
}
