export {
  startNats,
  defaultMaxPayload,
  natsServerBinary,
  NatsServerNotFoundError,
  NatsStartError,
  type NatsCluster,
  type NatsExit,
  type NatsNode,
  type NatsOptions,
} from './nats-server.js';
export { freePort, isPortFree } from './free-port.js';
export {
  natsAuthorizationConfig,
  type NatsExtraUser,
  natsRoles,
  rolePermissions,
  NatsAuthorizationError,
  type NatsPermissions,
  type NatsRole,
  type NatsUser,
  type RoleOptions,
} from './permissions.js';
export {
  checkClusterName,
  domainApiPrefix,
  exportsStream,
  exportsSubjects,
  leafnodeListenConfig,
  leafnodeRemotesConfig,
  linkDeliverSubject,
  linkPermissions,
  linkStreamConfig,
  linkStreamName,
  linkUser,
  type LeafnodeListenTls,
  type LeafnodeRemote,
  type LeafnodeRemoteTls,
} from './multicluster.js';
