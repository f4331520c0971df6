export * from './layout.js';
export * from './crds.js';
export * from './objects.js';
export { structuralSchema, StructuralSchemaError, type StructuralSchema, type StructuralSchemaOptions } from './structural-schema.js';
