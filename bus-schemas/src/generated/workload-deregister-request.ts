/* Generated from bus-schemas/schemas/workload-deregister-request.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A registered workload leaves (request/reply on meshbus.v1.rpc.workloads.deregister). Not stored.
 */
export interface WorkloadDeregisterRequest {
  /**
   * The workload's token: a local-mode workload token (compact JWS) or a Kubernetes service-account token. Never logged.
   */
  token: string;
  namespace: string;
  name: string;
  /**
   * Why the workload leaves, as shown in the tombstone.
   */
  reason?: string;
}
