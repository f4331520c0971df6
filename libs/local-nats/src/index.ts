export {
  startNats,
  natsServerBinary,
  NatsServerNotFoundError,
  NatsStartError,
  type NatsCluster,
  type NatsExit,
  type NatsNode,
  type NatsOptions,
} from './nats-server.js';
export { freePort, isPortFree } from './free-port.js';
