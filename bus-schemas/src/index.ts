export {
  catalog,
  extensionAttributes,
  streams,
  subjectPrefix,
  kindOfType,
  schemaUri,
  isStream,
  type CatalogEntry,
  type EventDataMap,
  type EventKind,
  type SchemaName,
  type StreamName,
  type Carrier,
} from './catalog.js';
export { subjects, busServices, parseStateSubject, SubjectError } from './subjects.js';
export { BusValidator, busValidator, loadSchema, SchemaValidationError } from './validation.js';
export type { EndpointSet, Endpoint } from './generated/endpoint-set.js';
export type {
  ServiceProfileState,
  ProfileRoute,
  RequestMatch,
  ResponseClass,
  ResponseMatch,
  RetryBudget,
  WeightedDst,
} from './generated/service-profile.js';
export type { WorkloadRegistration } from './generated/workload-registration.js';
export type { StateDeleted } from './generated/state-deleted.js';
export type { ManifestRejected } from './generated/manifest-rejected.js';
export type { PublishFailed } from './generated/publish-failed.js';
export type { LeaderChanged } from './generated/leader-changed.js';
export type { WorkloadExpired } from './generated/workload-expired.js';
export type { MirroredService } from './generated/mirrored-service.js';
export type { CertifyRequest } from './generated/certify-request.js';
export type { CertifyResponse } from './generated/certify-response.js';
export type { TrustBundle } from './generated/trust-bundle.js';
export type { MetricsSummary } from './generated/metrics-summary.js';
export type { TapRequest } from './generated/tap-request.js';
export type { TapEvent } from './generated/tap-event.js';
export type { CertificateIssued } from './generated/certificate-issued.js';
export type { IssuerUpdated } from './generated/issuer-updated.js';
export type { IssuerRefused } from './generated/issuer-refused.js';
export type { WorkloadRegisterRequest, RegisteredWorkload } from './generated/workload-register-request.js';
export type { WorkloadHeartbeatRequest } from './generated/workload-heartbeat-request.js';
export type { WorkloadDeregisterRequest } from './generated/workload-deregister-request.js';
export type { WorkloadRegistrationReply } from './generated/workload-registration-reply.js';
export type {
  InboundPolicy,
  InboundPortPolicy,
  InboundServer,
  InboundHttpRoute,
  InboundHttpRule,
  InboundGrpcRoute,
  InboundGrpcRule,
  InboundRateLimit,
  RateLimitOverride,
  Authorization,
  Authentication,
  PolicyNetwork,
} from './generated/inbound-policy.js';
export type {
  OutboundPolicy,
  OutboundRoutes,
  OutboundHttpRoute,
  OutboundHttpRule,
  OutboundGrpcRoute,
  OutboundGrpcRule,
  OutboundBackend,
  BackendService,
  BackendForward,
  RouteTimeouts,
  HttpRetry,
  GrpcRetry,
  StatusRange,
  Backoff,
  ConsumerRoutes,
  FailureAccrual,
  PolicyRef,
  HostMatch,
  HttpMatch,
  PathMatch,
  HeaderValueMatch,
  HttpFilter,
  HeaderModifier,
  HeaderValue,
  RequestRedirect,
  PathModifier,
  UrlRewrite,
  PathRewrite,
  HttpFailureInjector,
  Ratio,
  GrpcMatch,
  GrpcFilter,
  GrpcFailureInjector,
} from './generated/outbound-policy.js';
export type { PolicyDefaults, NamespacePolicyDefault } from './generated/policy-defaults.js';
export type { PolicyStatus, PolicyCondition } from './generated/policy-status.js';
export type { PolicyRejected } from './generated/policy-rejected.js';
export type { FailoverChanged } from './generated/failover-changed.js';
export type { PodInjection } from './generated/pod-injection.js';
export { eventExamples, type EventExample } from './examples.js';
export { asyncApiDocument, asyncApiYaml, messageReferenceMarkdown, replies, withMessageReference } from './asyncapi.js';
