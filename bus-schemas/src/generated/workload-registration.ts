/* Generated from bus-schemas/schemas/workload-registration.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A workload outside Kubernetes announcing itself. Re-published every heartbeat interval; a workload not heard from for three intervals is removed.
 */
export interface WorkloadRegistration {
  namespace: string;
  name: string;
  /**
   * IPv4 or IPv6 address.
   */
  address: string;
  /**
   * @minItems 1
   * @maxItems 1024
   */
  ports: [
    {
      name?: string;
      port: number;
    },
    ...{
      name?: string;
      port: number;
    }[]
  ];
  /**
   * Kubernetes-style labels, matched by service selectors.
   */
  labels?: {
    [k: string]: string;
  };
  serviceAccount?: string;
  ready?: boolean;
  meshed?: boolean;
  /**
   * Topology zone: a Kubernetes label value (at most 63 characters).
   */
  zone?: string;
  /**
   * Relative load-balancing weight (uint32 of the proxy API); 10000 is the default.
   */
  weight?: number;
  /**
   * @maxItems 65535
   */
  opaquePorts?: number[];
  heartbeatIntervalMs: number;
}
