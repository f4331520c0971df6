import { createPolicyIndex, type PolicyComputation, type PolicySettings } from '@meshbus/policy';

/** Makes the policy computation of the service from its settings. */
export type PolicyComputationFactory = (settings: PolicySettings) => PolicyComputation;

/** The incremental index of `@meshbus/policy`. */
export const policyIndexFactory: PolicyComputationFactory = (settings) => createPolicyIndex(settings);
