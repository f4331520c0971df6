import type { CertificateIssued } from './generated/certificate-issued.js';
import type { CertifyRequest } from './generated/certify-request.js';
import type { CertifyResponse } from './generated/certify-response.js';
import type { EndpointSet } from './generated/endpoint-set.js';
import type { IssuerRefused } from './generated/issuer-refused.js';
import type { IssuerUpdated } from './generated/issuer-updated.js';
import type { LeaderChanged } from './generated/leader-changed.js';
import type { ManifestRejected } from './generated/manifest-rejected.js';
import type { PublishFailed } from './generated/publish-failed.js';
import type { ServiceProfileState } from './generated/service-profile.js';
import type { StateDeleted } from './generated/state-deleted.js';
import type { TrustBundle } from './generated/trust-bundle.js';
import type { WorkloadExpired } from './generated/workload-expired.js';
import type { WorkloadRegistration } from './generated/workload-registration.js';
import type { WorkloadRegisterRequest } from './generated/workload-register-request.js';
import type { WorkloadHeartbeatRequest } from './generated/workload-heartbeat-request.js';
import type { WorkloadDeregisterRequest } from './generated/workload-deregister-request.js';
import type { WorkloadRegistrationReply } from './generated/workload-registration-reply.js';
import type { InboundPolicy } from './generated/inbound-policy.js';
import type { OutboundPolicy } from './generated/outbound-policy.js';
import type { PolicyDefaults } from './generated/policy-defaults.js';
import type { PolicyStatus } from './generated/policy-status.js';
import type { PolicyRejected } from './generated/policy-rejected.js';
import type { PodInjection } from './generated/pod-injection.js';
import type { MetricsSummary } from './generated/metrics-summary.js';
import type { TapRequest } from './generated/tap-request.js';
import type { TapEvent } from './generated/tap-event.js';
import type { ServiceExport } from './generated/service-export.js';
import type { ClusterGateway } from './generated/cluster-gateway.js';
import type { MirroredService } from './generated/mirrored-service.js';
import type { LinkChanged } from './generated/link-changed.js';
import type { FailoverChanged } from './generated/failover-changed.js';

/** Prefix of every subject of this bus version. */
export const subjectPrefix = 'meshbus.v1';

/** The JetStream streams meshbus keeps. */
export const streams = {
  /** Last value per subject: the current state of every key, for late subscribers. */
  state: {
    name: 'MESHBUS_STATE',
    subjects: [`${subjectPrefix}.state.>`],
    retention: 'last value per subject',
  },
  /** One-off facts kept for a while, for replay. */
  events: {
    name: 'MESHBUS_EVENTS',
    subjects: [`${subjectPrefix}.events.>`],
    retention: 'time (default 7 days)',
  },
  /** The proxies' traffic summaries, kept apart so that their volume does not crowd out the events. */
  metrics: {
    name: 'MESHBUS_METRICS',
    subjects: [`${subjectPrefix}.metrics.>`],
    retention: 'time (default 1 hour) and size (default 1 GiB), oldest first',
  },
  /** What this cluster offers linked clusters (multicluster), last value per subject; linked clusters source it over their link. */
  exports: {
    name: 'MESHBUS_EXPORTS',
    subjects: [`${subjectPrefix}.exports.>`],
    retention: 'last value per subject',
  },
} as const;

/**
 * Where a kind of event lives: a stream, core NATS request/reply, or plain
 * core NATS publish/subscribe (`core`). Neither of the last two is stored:
 * a message reaches only the subscribers present, at most once.
 */
export type Carrier = StreamName | 'request-reply' | 'core';

/** Whether a carrier is a JetStream stream (messages are stored and de-duplicated). */
export function isStream(carrier: Carrier): carrier is StreamName {
  return carrier !== 'request-reply' && carrier !== 'core';
}

/** Name of a stream in {@link streams}. */
export type StreamName = keyof typeof streams;

/** Schema file names in bus-schemas/schemas, without `.schema.json`. */
export type SchemaName =
  | 'endpoint-set'
  | 'service-profile'
  | 'workload-registration'
  | 'state-deleted'
  | 'manifest-rejected'
  | 'publish-failed'
  | 'leader-changed'
  | 'workload-expired'
  | 'certify-request'
  | 'certify-response'
  | 'trust-bundle'
  | 'certificate-issued'
  | 'issuer-updated'
  | 'issuer-refused'
  | 'workload-register-request'
  | 'workload-heartbeat-request'
  | 'workload-deregister-request'
  | 'workload-registration-reply'
  | 'inbound-policy'
  | 'outbound-policy'
  | 'policy-defaults'
  | 'policy-status'
  | 'policy-rejected'
  | 'pod-injection'
  | 'metrics-summary'
  | 'tap-request'
  | 'tap-event'
  | 'service-export'
  | 'cluster-gateway'
  | 'mirrored-service'
  | 'link-changed'
  | 'failover-changed';

/** One kind of message on the bus. */
export interface CatalogEntry {
  /** CloudEvents `type`. */
  type: string;
  /** Subject pattern; `{name}` placeholders are single tokens. */
  subject: string;
  schema: SchemaName;
  stream: Carrier;
  publisher: string;
  description: string;
}

/**
 * Every kind of event on the bus. docs/events.md describes the same list for
 * people; a test keeps the two in step.
 */
export const catalog = {
  endpointSet: {
    type: 'io.meshbus.v1.endpoints.snapshot',
    subject: `${subjectPrefix}.state.endpoints.{namespace}.{service}.{port}`,
    schema: 'endpoint-set',
    stream: 'state',
    publisher: 'destination (leader)',
    description: 'Full set of ready endpoints of a service port, published whenever it changes.',
  },
  endpointSetDeleted: {
    type: 'io.meshbus.v1.endpoints.deleted',
    subject: `${subjectPrefix}.state.endpoints.{namespace}.{service}.{port}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'destination (leader)',
    description: 'Tombstone: the service port no longer exists.',
  },
  serviceProfile: {
    type: 'io.meshbus.v1.profile.snapshot',
    subject: `${subjectPrefix}.state.profiles.{namespace}.{service}`,
    schema: 'service-profile',
    stream: 'state',
    publisher: 'destination (leader)',
    description: 'Routes, retry budget, timeouts, traffic split and opaque ports of a service.',
  },
  serviceProfileDeleted: {
    type: 'io.meshbus.v1.profile.deleted',
    subject: `${subjectPrefix}.state.profiles.{namespace}.{service}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'destination (leader)',
    description: 'Tombstone: the service no longer exists.',
  },
  workloadRegistered: {
    type: 'io.meshbus.v1.workload.registered',
    subject: `${subjectPrefix}.state.workloads.{namespace}.{name}`,
    schema: 'workload-registration',
    stream: 'state',
    publisher: 'destination (leader), on a workload\'s register request',
    description: 'A registered workload outside Kubernetes: address, ports and labels; rewritten only when they change.',
  },
  workloadDeregistered: {
    type: 'io.meshbus.v1.workload.deregistered',
    subject: `${subjectPrefix}.state.workloads.{namespace}.{name}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'destination (leader), on a deregister request or when heartbeats stop',
    description: 'Tombstone: the workload left or stopped sending heartbeats.',
  },
  manifestRejected: {
    type: 'io.meshbus.v1.manifest.rejected',
    subject: `${subjectPrefix}.events.manifest.rejected`,
    schema: 'manifest-rejected',
    stream: 'events',
    publisher: 'destination (leader)',
    description: 'A manifest file or resource failed to parse or validate; the previous valid version stays.',
  },
  publishFailed: {
    type: 'io.meshbus.v1.publish.failed',
    subject: `${subjectPrefix}.events.publish.failed`,
    schema: 'publish-failed',
    stream: 'events',
    publisher: 'destination (leader)',
    description: 'The state of one key could not be stored; that key is retried with backoff while the others keep being published.',
  },
  leaderChanged: {
    type: 'io.meshbus.v1.leader.changed',
    subject: `${subjectPrefix}.events.leader.{role}`,
    schema: 'leader-changed',
    stream: 'events',
    publisher: 'any replicated writer (destination)',
    description: 'A replica took the lease of a single-writer role.',
  },
  workloadExpired: {
    type: 'io.meshbus.v1.workload.expired',
    subject: `${subjectPrefix}.events.workload.expired`,
    schema: 'workload-expired',
    stream: 'events',
    publisher: 'destination (leader)',
    description: 'A registered workload missed three heartbeats and was removed.',
  },
  certifyRequest: {
    type: 'io.meshbus.v1.identity.certify.request',
    subject: `${subjectPrefix}.identity.certify`,
    schema: 'certify-request',
    stream: 'request-reply',
    publisher: 'gateway (on behalf of a proxy)',
    description: 'A CSR to sign, answered by any identity replica of the queue group meshbus-identity.',
  },
  certifyResponse: {
    type: 'io.meshbus.v1.identity.certify.response',
    // The requester's reply inbox: `_INBOX.…`, or `_INBOX_<role>.…` with the generated NATS users.
    subject: `{inbox}.>`,
    schema: 'certify-response',
    stream: 'request-reply',
    publisher: 'identity',
    description: 'The signed certificate and chain, or an error carrying the gRPC status to return.',
  },
  trustBundle: {
    type: 'io.meshbus.v1.trust-bundle.snapshot',
    subject: `${subjectPrefix}.state.trust-bundle.current`,
    schema: 'trust-bundle',
    stream: 'state',
    publisher: 'identity (every replica, at start and when its trust anchors change)',
    description: 'The trust anchors every mesh certificate chains to, and the trust domain.',
  },
  certificateIssued: {
    type: 'io.meshbus.v1.identity.certificate-issued',
    subject: `${subjectPrefix}.events.identity.certificate-issued`,
    schema: 'certificate-issued',
    stream: 'events',
    publisher: 'identity (the replica that signed)',
    description: 'A workload leaf certificate was signed: identity, serial, expiry and replica; never a key or token.',
  },
  metricsSummary: {
    type: 'io.meshbus.v1.metrics.summary',
    subject: `${subjectPrefix}.metrics.{namespace}.{workload}`,
    schema: 'metrics-summary',
    stream: 'metrics',
    publisher: 'gateway (for the identity the reporting proxy proved)',
    description: 'One proxy\'s traffic during one interval: request counts, success and failure, fixed latency buckets, TCP connections and bytes.',
  },
  tapRequest: {
    type: 'io.meshbus.v1.tap.request',
    subject: `${subjectPrefix}.tap.requests.{namespace}.{workload}`,
    schema: 'tap-request',
    stream: 'core',
    publisher: '`meshbus tap` (the tap login), again every few seconds while it runs',
    description: 'Start, renew or stop a tap session of one workload: filter, rate and expiry. Every gateway replica takes it (no queue group) and forwards it to the matching proxies connected to it.',
  },
  tapEvent: {
    type: 'io.meshbus.v1.tap.event',
    subject: `${subjectPrefix}.tap.events.{session}`,
    schema: 'tap-event',
    stream: 'core',
    publisher: 'gateway (for the identity the tapped proxy proved)',
    description: 'One request a tapped proxy saw: direction, method, authority, path, status, latency, TLS, peer and allowlisted headers. Best effort: none is retried.',
  },
  issuerUpdated: {
    type: 'io.meshbus.v1.identity.issuer-updated',
    subject: `${subjectPrefix}.events.identity.issuer-updated`,
    schema: 'issuer-updated',
    stream: 'events',
    publisher: 'identity (every replica, at start and on rotation)',
    description: 'A replica loaded an issuer and signs with it from now on.',
  },
  issuerRefused: {
    type: 'io.meshbus.v1.identity.issuer-refused',
    subject: `${subjectPrefix}.events.identity.issuer-refused`,
    schema: 'issuer-refused',
    stream: 'events',
    publisher: 'identity (every replica that read the material)',
    description: 'A replica refused new trust material; its previous issuer, if any, keeps serving.',
  },
  workloadRegisterRequest: {
    type: 'io.meshbus.v1.workload.register.request',
    subject: `${subjectPrefix}.rpc.workloads.register`,
    schema: 'workload-register-request',
    stream: 'request-reply',
    publisher: 'workloads outside Kubernetes (proxy, `meshbus register`)',
    description: 'A workload asks to be registered, with its token; answered by a destination replica of the queue group meshbus-destination.',
  },
  workloadHeartbeatRequest: {
    type: 'io.meshbus.v1.workload.heartbeat.request',
    subject: `${subjectPrefix}.rpc.workloads.heartbeat`,
    schema: 'workload-heartbeat-request',
    stream: 'request-reply',
    publisher: 'workloads outside Kubernetes (proxy, `meshbus register`)',
    description: 'A registered workload is still there; sent every heartbeat interval.',
  },
  workloadDeregisterRequest: {
    type: 'io.meshbus.v1.workload.deregister.request',
    subject: `${subjectPrefix}.rpc.workloads.deregister`,
    schema: 'workload-deregister-request',
    stream: 'request-reply',
    publisher: 'workloads outside Kubernetes (proxy, `meshbus register`)',
    description: 'A registered workload leaves.',
  },
  workloadRegistrationReply: {
    type: 'io.meshbus.v1.workload.registration.reply',
    // The requester's reply inbox, as for certifyResponse.
    subject: `{inbox}.>`,
    schema: 'workload-registration-reply',
    stream: 'request-reply',
    publisher: 'destination',
    description: 'The answer to a register, heartbeat or deregister request: the outcome, or an error with a stable code.',
  },
  inboundPolicy: {
    type: 'io.meshbus.v1.policy.inbound.snapshot',
    subject: `${subjectPrefix}.state.inbound-policy.{namespace}.{workload}`,
    schema: 'inbound-policy',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'The inbound policy of a workload: per port, the protocol, authorizations, routes and rate limit; and the server of every other port.',
  },
  inboundPolicyDeleted: {
    type: 'io.meshbus.v1.policy.inbound.deleted',
    subject: `${subjectPrefix}.state.inbound-policy.{namespace}.{workload}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'Tombstone: the workload no longer exists.',
  },
  outboundPolicy: {
    type: 'io.meshbus.v1.policy.outbound.snapshot',
    subject: `${subjectPrefix}.state.outbound-policy.{namespace}.{service}.{port}`,
    schema: 'outbound-policy',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'The outbound policy of a service port: producer and consumer routes, backends and weights, timeouts, retries and failure accrual.',
  },
  outboundPolicyDeleted: {
    type: 'io.meshbus.v1.policy.outbound.deleted',
    subject: `${subjectPrefix}.state.outbound-policy.{namespace}.{service}.{port}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'Tombstone: the service port no longer exists.',
  },
  policyDefaults: {
    type: 'io.meshbus.v1.policy.defaults.snapshot',
    subject: `${subjectPrefix}.state.policy-defaults.cluster`,
    schema: 'policy-defaults',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'The cluster and namespace default inbound policies and the cluster networks, for workloads and ports without a published policy.',
  },
  policyStatus: {
    type: 'io.meshbus.v1.policy.status.snapshot',
    subject: `${subjectPrefix}.state.policy-status.{namespace}.{kind}.{name}`,
    schema: 'policy-status',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'Whether a policy or route resource is accepted, with Kubernetes-style conditions saying why not.',
  },
  policyStatusDeleted: {
    type: 'io.meshbus.v1.policy.status.deleted',
    subject: `${subjectPrefix}.state.policy-status.{namespace}.{kind}.{name}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'policy (leader)',
    description: 'Tombstone: the resource was removed.',
  },
  policyRejected: {
    type: 'io.meshbus.v1.policy.rejected',
    subject: `${subjectPrefix}.events.policy.rejected`,
    schema: 'policy-rejected',
    stream: 'events',
    publisher: 'policy (leader)',
    description: 'A policy or route resource is invalid or conflicts with another; it is left out, and nothing else changes.',
  },
  policyFailoverChanged: {
    type: 'io.meshbus.v1.policy.failover-changed',
    subject: `${subjectPrefix}.events.policy.failover.{namespace}.{route}`,
    schema: 'failover-changed',
    stream: 'events',
    publisher: 'policy (leader)',
    description: 'A rule of a failover route took its primary backend out (no ready endpoint), or returned to its declared weights.',
  },
  podInjection: {
    type: 'io.meshbus.v1.injector.pod-injection',
    subject: `${subjectPrefix}.events.injector.pod.{result}`,
    schema: 'pod-injection',
    stream: 'events',
    publisher: 'injector (the replica that answered the admission)',
    description: 'A pod admission was answered: the proxy injected, the pod skipped, or refused for a bad configuration annotation, with the reason.',
  },
  serviceExport: {
    type: 'io.meshbus.v1.export.snapshot',
    subject: `${subjectPrefix}.exports.services.{namespace}.{service}`,
    schema: 'service-export',
    stream: 'exports',
    publisher: 'multicluster (leader)',
    description: 'A service labelled mirror.meshbus.io/exported: "true", as linked clusters see it: ports, ready endpoints per port and the identities they present; never an address.',
  },
  serviceExportWithdrawn: {
    type: 'io.meshbus.v1.export.withdrawn',
    subject: `${subjectPrefix}.exports.services.{namespace}.{service}`,
    schema: 'state-deleted',
    stream: 'exports',
    publisher: 'multicluster (leader)',
    description: 'Tombstone: the service is no longer exported (label removed, or the service deleted).',
  },
  clusterGateway: {
    type: 'io.meshbus.v1.export.gateway',
    subject: `${subjectPrefix}.exports.gateways.{cluster}`,
    schema: 'cluster-gateway',
    stream: 'exports',
    publisher: 'multicluster (leader), every heartbeat interval',
    description: "Heartbeat of the cluster's multicluster gateway: its addresses, identity and trust domain.",
  },
  mirroredService: {
    type: 'io.meshbus.v1.mirror.snapshot',
    subject: `${subjectPrefix}.state.mirrors.{namespace}.{service}`,
    schema: 'mirrored-service',
    stream: 'state',
    publisher: 'multicluster (leader)',
    description: "A linked cluster's exported service mirrored as <service>-<cluster>: its ports, readiness, the linked gateway and the identities behind it.",
  },
  mirroredServiceDeleted: {
    type: 'io.meshbus.v1.mirror.deleted',
    subject: `${subjectPrefix}.state.mirrors.{namespace}.{service}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'multicluster (leader)',
    description: 'Tombstone: the export was withdrawn, or its link was quiet past the grace period.',
  },
  linkChanged: {
    type: 'io.meshbus.v1.multicluster.link-changed',
    subject: `${subjectPrefix}.events.multicluster.link.{cluster}`,
    schema: 'link-changed',
    stream: 'events',
    publisher: 'multicluster (leader)',
    description: 'The link to a linked cluster turned live, quiet, gone or refused.',
  },
} as const satisfies Record<string, CatalogEntry>;

/** Key of an entry in {@link catalog}. */
export type EventKind = keyof typeof catalog;

/** The data type carried by each kind of event. */
export interface EventDataMap {
  endpointSet: EndpointSet;
  endpointSetDeleted: StateDeleted;
  serviceProfile: ServiceProfileState;
  serviceProfileDeleted: StateDeleted;
  workloadRegistered: WorkloadRegistration;
  workloadDeregistered: StateDeleted;
  manifestRejected: ManifestRejected;
  publishFailed: PublishFailed;
  leaderChanged: LeaderChanged;
  workloadExpired: WorkloadExpired;
  certifyRequest: CertifyRequest;
  certifyResponse: CertifyResponse;
  trustBundle: TrustBundle;
  certificateIssued: CertificateIssued;
  issuerUpdated: IssuerUpdated;
  issuerRefused: IssuerRefused;
  workloadRegisterRequest: WorkloadRegisterRequest;
  workloadHeartbeatRequest: WorkloadHeartbeatRequest;
  workloadDeregisterRequest: WorkloadDeregisterRequest;
  workloadRegistrationReply: WorkloadRegistrationReply;
  inboundPolicy: InboundPolicy;
  inboundPolicyDeleted: StateDeleted;
  outboundPolicy: OutboundPolicy;
  outboundPolicyDeleted: StateDeleted;
  policyDefaults: PolicyDefaults;
  policyStatus: PolicyStatus;
  policyStatusDeleted: StateDeleted;
  policyRejected: PolicyRejected;
  policyFailoverChanged: FailoverChanged;
  podInjection: PodInjection;
  metricsSummary: MetricsSummary;
  tapRequest: TapRequest;
  tapEvent: TapEvent;
  serviceExport: ServiceExport;
  serviceExportWithdrawn: StateDeleted;
  clusterGateway: ClusterGateway;
  mirroredService: MirroredService;
  mirroredServiceDeleted: StateDeleted;
  linkChanged: LinkChanged;
}

const kindsByType = new Map<string, EventKind>(
  (Object.keys(catalog) as EventKind[]).map((k) => [catalog[k].type, k]),
);

/** The catalogue entry for a CloudEvents type, if it is one of ours. */
export function kindOfType(type: string): EventKind | undefined {
  return kindsByType.get(type);
}

/**
 * CloudEvents extension attributes meshbus sets besides the standard ones,
 * each carried as a `ce-<name>` NATS header. Readers ignore extensions they
 * do not know; these are checked when present.
 */
export const extensionAttributes = {
  /**
   * The term (leader-election revision) of the writer that published the
   * event, a positive integer in decimal. Set by every leader on every write;
   * readers of state refuse a write whose term is lower than the highest
   * they have seen from writers of the same role.
   */
  term: { name: 'meshbusterm', header: 'ce-meshbusterm', maxValue: Number.MAX_SAFE_INTEGER },
} as const;

/** URI of a schema, used as CloudEvents `dataschema`. */
export function schemaUri(schema: SchemaName): string {
  return `https://meshbus.io/schemas/v1/${schema}.schema.json`;
}
