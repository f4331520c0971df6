// The launcher lives in @meshbus/local-nats so that `meshbus dev` can use it too.
export { startNats, natsServerBinary, natsAuthorizationConfig, type NatsCluster, type NatsNode, type NatsOptions, type NatsRole, type NatsUser } from '@meshbus/local-nats';
