export {
  emptyMeshResources,
  portInRanges,
  type DstOverride,
  type GenericResource,
  type ManifestChange,
  type ManifestProblem,
  type MeshResource,
  type MeshResources,
  type Namespace,
  type PortRange,
  type ProfileRouteSpec,
  type RequestCondition,
  type ResponseClassSpec,
  type ResponseCondition,
  type RetryBudgetSpec,
  type Service,
  type ServiceAccount,
  type ServiceFqdn,
  type ServicePort,
  type ServiceProfile,
  type StringMap,
  type Workload,
  type WorkloadPort,
} from './resources.js';
export { ManifestIndex, type ManifestIndexUpdate, type ParsedManifestChange } from './manifest-index.js';
export { parseManifest, type ParsedDocument, type ParsedManifest } from './manifest-parse.js';
export { ManifestParser, type ManifestParserOptions } from './manifest-parser.js';
export { FolderSource, ManifestFolderError, loadManifestFolder, type FolderSourceOptions, type ManifestFolderSnapshot } from './folder-source.js';
export { opaquePortsAnnotation } from './opaque-ports.js';
export { defaultWorkloadWeight } from './kind-workload.js';
export { parseServiceFqdn } from './kind-service-profile.js';
