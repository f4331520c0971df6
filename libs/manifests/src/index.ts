export {
  emptyMeshResources,
  portInRanges,
  type DstOverride,
  type EndpointSlice,
  type EndpointSlicePort,
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
  type SliceEndpoint,
  type StringMap,
  type Workload,
  type WorkloadPort,
} from './resources.js';
export { ManifestIndex, type ManifestIndexUpdate, type ParsedManifestChange } from './manifest-index.js';
export { listChanges, recordListChanges, type ListChanges } from './list-changes.js';
export { parseManifest, type ParsedDocument, type ParsedManifest } from './manifest-parse.js';
export { ManifestParser, type ManifestParserOptions } from './manifest-parser.js';
export { FolderSource, ManifestFolderError, loadManifestFolder, type FolderSourceOptions, type ManifestFolderSnapshot } from './folder-source.js';
export { opaquePortsAnnotation } from './opaque-ports.js';
export { defaultWorkloadWeight } from './kind-workload.js';
export { parseServiceFqdn } from './kind-service-profile.js';
export { serviceNameLabel } from './kind-endpoint-slice.js';
export { decodeDocument, type DecodedDocument, type DocumentRef } from './decode.js';
export {
  defaultInboundPolicyAnnotation,
  linkerdDefaultInboundPolicyAnnotation,
  type AuthorizationPolicy,
  type AuthorizedNetwork,
  type BackendRef,
  type DefaultInboundPolicy,
  type FaultInjectionSpec,
  type GrpcRoute,
  type GrpcRouteMatch,
  type GrpcRouteRule,
  type HeaderModifierSpec,
  type HttpFaultInjection,
  type HttpLocalRateLimitPolicy,
  type HttpRoute,
  type HttpRouteFilter,
  type HttpRouteMatch,
  type HttpRouteRule,
  type LabelSelector,
  type MeshTLSAuthentication,
  type NetworkAuthentication,
  type ParentRef,
  type PolicyResource,
  type PolicyResourceMeta,
  type PolicyResources,
  type ProbeSpec,
  type ProxyProtocol,
  type ResourceRef,
  type RetrySpec,
  type Server,
  type ServiceTrafficSettings,
  type StringMatch,
  type TimeoutsSpec,
} from './policy-resources.js';
export { failureAccrualAnnotation, failureAccrualDefaults } from './kind-service.js';
export { retryAnnotations, timeoutAnnotations, parseHttpRetryCodes } from './policy-common.js';
export { cidrContains, formatCidr, parseCidr, type Cidr } from './cidr.js';
export { defaultInboundPolicies, grpcStatusNames } from './policy-schemas.js';
export { folderResourceSource, type FolderResourceSourceOptions, type ResourceSource } from './resource-source.js';
export { workloadFromRegistration } from './registered-workload.js';
export { serviceProfileSchema, workloadSchema } from './schemas.js';
export {
  authorizationPolicySchema,
  faultInjectionSchema,
  meshTLSAuthenticationSchema,
  networkAuthenticationSchema,
  rateLimitPolicySchema,
  serverSchema,
} from './policy-schemas.js';
export { formatDescriptions, type FormatName } from './names.js';
