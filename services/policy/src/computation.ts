import { createPolicyIndex, type PolicyComputation, type PolicySettings } from '@meshbus/policy';
import { ProblemAwareComputation } from './manifest-problems.js';

/** Makes the policy computation of the service from its settings. */
export type PolicyComputationFactory = (settings: PolicySettings) => PolicyComputation;

/** The incremental index of `@meshbus/policy`, with the policy resources the manifests refused reported beside its own rejections. */
export const policyIndexFactory: PolicyComputationFactory = (settings) => new ProblemAwareComputation(createPolicyIndex(settings));
