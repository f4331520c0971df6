import { readFile } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Container, ContainerModule } from 'inversify';
import type { NatsConnection } from 'nats';
import { natsConnectionFactory } from '@meshbus/bus';
import { createLogger, createMetricsRegistry, ServiceHost, type ConnectionFactory, type HostOverrides, type Logger, type Registry } from '@meshbus/runtime';
import type { GatewayConfig } from './config.js';
import { GatewayImpl, type Gateway, type GatewayGrpc } from './gateway-service.js';

/** Dependencies a test may replace: `logger`, `registry`, `nc`, `now`. */
export type GatewayOverrides = HostOverrides<NatsConnection>;

const ids = {
  config: Symbol('GatewayConfig'),
  logger: Symbol('Logger'),
  registry: Symbol('Registry'),
  now: Symbol('Clock'),
  connection: Symbol('ConnectionFactory'),
  host: Symbol('ServiceHost'),
  grpc: Symbol('GatewayGrpc'),
  gateway: Symbol('Gateway'),
} as const;

/** Logger, metrics, clock and the service host with its admin server. */
function adminModule(config: GatewayConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<Logger>(ids.logger).toDynamicValue(() => createLogger({ service: 'gateway', level: config.logLevel }));
    bind<Registry>(ids.registry).toDynamicValue(() => createMetricsRegistry('gateway'));
    bind<() => Date>(ids.now).toConstantValue(() => new Date());
    bind<ServiceHost<NatsConnection>>(ids.host).toDynamicValue(
      (ctx) =>
        new ServiceHost({
          service: 'gateway',
          replicaId: config.replicaId,
          admin: config.admin,
          logger: ctx.get<Logger>(ids.logger),
          registry: ctx.get<Registry>(ids.registry),
          connect: ctx.get<ConnectionFactory<NatsConnection>>(ids.connection),
        }),
    );
  });
}

/** The NATS connection. */
function busModule(config: GatewayConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ConnectionFactory<NatsConnection>>(ids.connection).toDynamicValue(() => natsConnectionFactory(config.bus));
  });
}

/** The gRPC server proxies connect to, with TLS when configured. */
function grpcModule(config: GatewayConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<GatewayGrpc>(ids.grpc).toConstantValue({
      createServer: () => new Server({ 'grpc.max_concurrent_streams': 100_000, 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 }),
      credentials: async () =>
        config.tls
          ? ServerCredentials.createSsl(null, [{ cert_chain: await readFile(config.tls.certFile), private_key: await readFile(config.tls.keyFile) }], false)
          : ServerCredentials.createInsecure(),
    });
  });
}

/** What a test passed instead of the defaults. */
function overridesModule(config: GatewayConfig, overrides: GatewayOverrides): ContainerModule {
  return new ContainerModule(({ rebind }) => {
    if (overrides.logger) rebind<Logger>(ids.logger).toConstantValue(overrides.logger);
    if (overrides.registry) rebind<Registry>(ids.registry).toConstantValue(overrides.registry);
    if (overrides.now) rebind<() => Date>(ids.now).toConstantValue(overrides.now);
    if (overrides.nc) rebind<ConnectionFactory<NatsConnection>>(ids.connection).toConstantValue(natsConnectionFactory(config.bus, overrides.nc));
  });
}

/**
 * Creates the gateway: a materialized view of the bus state served to proxies
 * as gRPC watch streams. Nothing happens until `start()`.
 */
export function createGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Gateway {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<GatewayConfig>(ids.config).toConstantValue(config);
  container.load(adminModule(config), busModule(config), grpcModule(config), overridesModule(config, overrides));
  container.bind<Gateway>(ids.gateway).toDynamicValue(
    (ctx) => new GatewayImpl(ctx.get<GatewayConfig>(ids.config), ctx.get<ServiceHost<NatsConnection>>(ids.host), ctx.get<GatewayGrpc>(ids.grpc), ctx.get<() => Date>(ids.now)),
  );
  return container.get<Gateway>(ids.gateway);
}
