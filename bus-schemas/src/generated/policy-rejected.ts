/* Generated from bus-schemas/schemas/policy-rejected.schema.json by scripts/gen-types.mjs. Do not edit. */

/**
 * A policy or route resource is invalid or conflicts with another; it takes no part in any policy, and nothing else is affected.
 */
export interface PolicyRejected {
  file: string;
  kind: string;
  namespace: string;
  name: string;
  reason: string;
  /**
   * Stable category of the problem.
   */
  code?: 'InvalidResource' | 'UnknownReference' | 'Conflict' | 'UnresolvedParent' | 'IncompatibleProtocol';
}
