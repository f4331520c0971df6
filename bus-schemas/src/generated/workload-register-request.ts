/* Generated from bus-schemas/schemas/workload-register-request.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A workload outside Kubernetes asks the destination replicas to register it (request/reply on meshbus.v1.rpc.workloads.register, queue group meshbus-destination). The token's namespace and service account must be the workload's. Not stored.
 */
export interface WorkloadRegisterRequest {
  /**
   * The workload's token: a local-mode workload token (compact JWS) or a Kubernetes service-account token. Never logged.
   */
  token: string;
  registration: RegisteredWorkload;
}
export interface RegisteredWorkload {
  /**
   * Namespace of the workload (DNS-1123 label).
   */
  namespace: string;
  /**
   * Name of the workload (DNS-1123 label), unique in its namespace.
   */
  name: string;
  /**
   * IPv4 or IPv6 address the workload listens on.
   */
  address: string;
  /**
   * @minItems 1
   * @maxItems 64
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
   * Labels, with Kubernetes rules for keys and values.
   */
  labels?: {
    [k: string]: string;
  };
  /**
   * Service account of the workload; the token must be for it. Default: default.
   */
  serviceAccount?: string;
  ready?: boolean;
  meshed?: boolean;
  /**
   * Zone of the workload, a label value.
   */
  zone?: string;
  /**
   * Load-balancing weight (uint32).
   */
  weight?: number;
  /**
   * @maxItems 64
   */
  opaquePorts?: number[];
  /**
   * Time between two heartbeats; the workload is removed after three missed ones.
   */
  heartbeatIntervalMs: number;
}
