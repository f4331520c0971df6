export { allNetworks, type PolicySettings } from './settings.js';
export { defaultAuthorizations, defaultInboundServer, namespaceDefaultPolicy, unknownWorkloadServer } from './defaults.js';
export { inboundKey, outboundKey, statusKey, type PolicyChanges, type PolicyComputation, type PolicyInputs, type PolicyResult } from './api.js';
