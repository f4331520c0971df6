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
} as const;

/** Where a kind of event lives: a stream, or core NATS request/reply (not stored). */
export type Carrier = StreamName | 'request-reply';

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
  | 'issuer-refused';

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
    publisher: 'workloads outside Kubernetes (proxy, `meshbus register`)',
    description: 'A workload announcing its address, ports and labels; repeated every heartbeat interval.',
  },
  workloadDeregistered: {
    type: 'io.meshbus.v1.workload.deregistered',
    subject: `${subjectPrefix}.state.workloads.{namespace}.{name}`,
    schema: 'state-deleted',
    stream: 'state',
    publisher: 'the workload itself, or destination (leader) when heartbeats stop',
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
    subject: `_INBOX.>`,
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
}

const kindsByType = new Map<string, EventKind>(
  (Object.keys(catalog) as EventKind[]).map((k) => [catalog[k].type, k]),
);

/** The catalogue entry for a CloudEvents type, if it is one of ours. */
export function kindOfType(type: string): EventKind | undefined {
  return kindsByType.get(type);
}

/** URI of a schema, used as CloudEvents `dataschema`. */
export function schemaUri(schema: SchemaName): string {
  return `https://meshbus.io/schemas/v1/${schema}.schema.json`;
}
