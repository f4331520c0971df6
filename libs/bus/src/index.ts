export { connectBus, busConfigFromEnv, serviceConnection, ConnectionHealth, type BusConnectionConfig } from './connection.js';
export {
  encodeEvent,
  decodeEvent,
  isTombstone,
  MalformedEventError,
  type BusEvent,
  type EventAttributes,
  type RejectReason,
} from './cloudevents.js';
export { ensureStreams, type StreamOptions } from './streams.js';
export { JetStreamPublisher, type Publisher, type JetStreamPublisherOptions } from './publisher.js';
export { StreamReader, type StreamReaderOptions, type StartPosition } from './stream-reader.js';
export { StateView, type StateViewOptions, type StateChange } from './state-view.js';
export { LeaderElection, type LeaderElectionOptions } from './leader-election.js';
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
