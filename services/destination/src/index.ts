export { computeDestinationState, type DestinationState } from './compute.js';
export { diffState, type StateDiff } from './diff.js';
export { workloadIdentity, type DestinationOptions } from './options.js';
export { workloadFromRegistration } from './workloads.js';
export { envToConfig, type DestinationConfig } from './config.js';
export { createDestinationService, type DestinationOverrides } from './composition-root.js';
export { DestinationServiceImpl, type DestinationService } from './destination-service.js';
export { folderResourceSource, type ResourceSource } from './resource-source.js';
export { RegistrationTracker, missedHeartbeatsAllowed, type ExpiredRegistration } from './registrations.js';
