export { computeDestinationState, type DestinationState } from './compute.js';
export { diffState, canonicalJson, type StateDiff } from './diff.js';
export { workloadIdentity, type DestinationOptions } from './options.js';
export { workloadFromRegistration } from './workloads.js';
