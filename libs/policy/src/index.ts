export { allNetworks, type PolicySettings } from './settings.js';
export { defaultAuthorizations, defaultInboundServer, namespaceDefaultPolicy, unknownWorkloadServer } from './defaults.js';
export { inboundKey, outboundKey, readinessKey, statusKey, type PolicyChanges, type PolicyComputation, type PolicyInputs, type PolicyResult } from './api.js';
export { createPolicyIndex, computePolicies } from './policy-index.js';
export { defaultHttpRoute, defaultGrpcRoute } from './defaults.js';
export { serviceAccountIdentity, namespaceIdentitySuffix } from './checks.js';
export { defaultRetryBackoff, defaultRetryGrpcCodes, defaultRetryStatuses } from './outbound.js';
export { failoverPrimaryAnnotation, failoverWeights, type FailoverBackend } from './failover.js';
