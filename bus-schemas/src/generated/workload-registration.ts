/* Generated from bus-schemas/schemas/workload-registration.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A workload outside Kubernetes announcing itself. Re-published every heartbeat interval; a workload not heard from for three intervals is removed.
 */
export interface WorkloadRegistration {
  namespace: string;
  name: string;
  address: string;
  /**
   * @minItems 1
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
  labels?: {
    [k: string]: string;
  };
  serviceAccount?: string;
  ready?: boolean;
  meshed?: boolean;
  zone?: string;
  weight?: number;
  opaquePorts?: number[];
  heartbeatIntervalMs: number;
}
