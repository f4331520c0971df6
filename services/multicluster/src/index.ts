export * from './mirror.js';
export * from './exports.js';
export { envToConfig, type MulticlusterConfig } from './config.js';
export { createMulticlusterService, type MulticlusterOverrides } from './composition-root.js';
export { type MulticlusterService } from './multicluster-service.js';
