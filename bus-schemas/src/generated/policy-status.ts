/* Generated from bus-schemas/schemas/policy-status.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * The status of one policy or route resource, in the manner of Kubernetes status conditions: whether it was accepted, and why not. Published as state by the policy leader.
 */
export interface PolicyStatus {
  apiVersion?: string;
  kind: string;
  namespace: string;
  name: string;
  /**
   * Where the resource was read: a path relative to the manifests folder, or kubernetes.
   */
  file: string;
  accepted: boolean;
  /**
   * @maxItems 8
   */
  conditions: PolicyCondition[];
  /**
   * How many workload ports or service ports this resource shapes.
   */
  affects?: number;
}
export interface PolicyCondition {
  type: 'Accepted' | 'ResolvedRefs' | 'Conflicted';
  status: 'True' | 'False';
  reason: string;
  message: string;
}
