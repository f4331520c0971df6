export { envToConfig, defaultInboundPolicies, type PolicyConfig } from './config.js';
export { createPolicyService, type PolicyOverrides } from './composition-root.js';
export { policyIndexFactory, type PolicyComputationFactory } from './computation.js';
export { PolicyServiceImpl, type PolicyService } from './policy-service.js';
export { PolicyReconciler, type PolicyReconcilerOptions, type PolicyBusReader } from './policy-reconciler.js';
export { planPublications, newRejections, type PolicyPublication, type PublishPlan, type PublishPlanInput } from './publish-plan.js';
export { desiredPolicyState, changedSubjects, policyStateKind, type PolicyStateData, type PolicyStateLookup } from './policy-state.js';
export { RegisteredWorkloads } from './registered-workloads.js';
export { canonicalCidr, NetworkError } from './networks.js';
