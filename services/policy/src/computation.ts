import * as policy from '@meshbus/policy';
import type { PolicyComputation, PolicySettings } from '@meshbus/policy';
import { MeshbusError } from '@meshbus/runtime';

/** Makes the policy computation of the service from its settings. */
export type PolicyComputationFactory = (settings: PolicySettings) => PolicyComputation;

/** The policy library has no index to compute with. */
export class PolicyIndexMissingError extends MeshbusError {
  override name = 'PolicyIndexMissingError';
  constructor() {
    super('PolicyIndexMissing', '@meshbus/policy exports no createPolicyIndex: the policy service cannot compute policies');
  }
}

/** The incremental index of `@meshbus/policy`. */
export const policyIndexFactory: PolicyComputationFactory = (settings) => {
  const create = (policy as { createPolicyIndex?: PolicyComputationFactory }).createPolicyIndex;
  if (typeof create !== 'function') throw new PolicyIndexMissingError();
  return create(settings);
};
