// The launcher lives in @meshbus/local-nats so that `meshbus dev` can use it too.
export { startNats, natsServerBinary, type NatsCluster, type NatsNode, type NatsOptions } from '@meshbus/local-nats';
