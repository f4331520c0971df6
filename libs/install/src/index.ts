export * from './layout.js';
export * from './crds.js';
export * from './objects.js';
export { structuralSchema, StructuralSchemaError, type StructuralSchema, type StructuralSchemaOptions } from './structural-schema.js';
export * from './values.js';
export * from './material.js';
export { renderInstallation, componentNatsRole, controlPlaneNamespaceLabel, controlPlaneUid, configChecksumAnnotation, injectAnnotation, type RenderInput } from './render.js';
export { natsClientUrl, natsRouteUrls, natsServerConfig, natsUsersSecret, natsUid } from './render-nats.js';
export { formatObjects, uninstallObjects, type OutputFormat } from './output.js';
