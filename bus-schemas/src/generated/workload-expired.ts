/* Generated from bus-schemas/schemas/workload-expired.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A registered workload missed its heartbeats and was removed from every endpoint set.
 */
export interface WorkloadExpired {
  namespace: string;
  name: string;
  lastHeartbeat: string;
}
