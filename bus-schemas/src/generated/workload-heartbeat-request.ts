/* Generated from bus-schemas/schemas/workload-heartbeat-request.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A registered workload says it is still there (request/reply on meshbus.v1.rpc.workloads.heartbeat). Answered NotRegistered when the destination does not know it: register again. Not stored.
 */
export interface WorkloadHeartbeatRequest {
  /**
   * The workload's token: a local-mode workload token (compact JWS) or a Kubernetes service-account token. Never logged.
   */
  token: string;
  namespace: string;
  name: string;
}
