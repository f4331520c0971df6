export { connectBus, busConfigFromEnv, natsConnectionFactory, ConnectionHealth, type BusConnectionConfig } from './connection.js';
export {
  encodeEvent,
  decodeEvent,
  compressEvent,
  compressionThreshold,
  maxDecodedBytes,
  isTombstone,
  MalformedEventError,
  type BusEvent,
  type EventAttributes,
  type RejectReason,
} from './cloudevents.js';
export { ensureStreamConfig, ensureStreams, StreamStorageError, metricsRetentionFromEnv, defaultMetricsRetention, type MetricsRetention, type StreamOptions } from './streams.js';
export { JetStreamPublisher, NotLeaderError, EventTooLargeError, type Publisher, type JetStreamPublisherOptions } from './publisher.js';
export { StreamReader, type StreamReaderOptions, type StartPosition } from './stream-reader.js';
export { StateView, writerRole, type StateViewOptions, type StateChange, type FencedWrite } from './state-view.js';
export { LeaderElection, leaseBucket, defaultLeaseMs, type LeaderElectionOptions } from './leader-election.js';
export {
  stepLease,
  initialLeaseState,
  leaseSettings,
  type LeaseSettings,
  type LeaseState,
  type LeaseObservation,
  type LeaseAction,
  type LeaseRecord,
  type LeaseStep,
} from './lease.js';
export { busMetrics, type BusMetrics } from './metrics.js';
export { WorkloadRegistrar, WorkloadRegistrarStateError, type WorkloadRegistrarOptions, type HeartbeatResult } from './workload-registrar.js';
export {
  NatsRegistrationTransport,
  WorkloadRegistrationError,
  type NatsRegistrationTransportOptions,
  type RegistrationAnswer,
  type RegistrationRequestKind,
  type RegistrationTransport,
} from './registration-client.js';
export { attemptDue, defaultRetryPolicy, recordFailure, type PublishFailure, type PublishFailures, type RetryPolicy } from './publish-retries.js';
export { planStatePublications, type StateKindNames, type StateLookup, type StatePlan, type StatePlanInput, type StatePublication } from './state-plan.js';
export {
  StateReconciler,
  failingKeysReadiness,
  type OwnPublications,
  type StateReconcilerOptions,
  type StateSliceInput,
  type StateSource,
} from './state-reconciler.js';
