import { Container, ContainerModule } from 'inversify';
import type { NatsConnection } from 'nats';
import { natsConnectionFactory } from '@meshbus/bus';
import { createLogger, createMetricsRegistry, ServiceHost, type ConnectionFactory, type HostOverrides, type Logger, type Registry } from '@meshbus/runtime';
import type { DestinationConfig } from './config.js';
import { DestinationServiceImpl, type DestinationService } from './destination-service.js';
import { destinationResources, kubernetesResourceSource, loadKubeConfig } from '@meshbus/kube';
import { folderResourceSource, type ResourceSource } from '@meshbus/manifests';

/** Dependencies a test (or another mode) may replace: `logger`, `registry`, `nc`, `now`, and the resource `source`. */
export interface DestinationOverrides extends HostOverrides<NatsConnection> {
  source?: ResourceSource;
}

const ids = {
  config: Symbol('DestinationConfig'),
  logger: Symbol('Logger'),
  registry: Symbol('Registry'),
  now: Symbol('Clock'),
  connection: Symbol('ConnectionFactory'),
  host: Symbol('ServiceHost'),
  source: Symbol('ResourceSource'),
  service: Symbol('DestinationService'),
} as const;

/** Logger, metrics, clock and the service host with its admin server. */
function adminModule(config: DestinationConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<Logger>(ids.logger).toDynamicValue(() => createLogger({ service: 'destination', level: config.logLevel }));
    bind<Registry>(ids.registry).toDynamicValue(() => createMetricsRegistry('destination'));
    bind<() => Date>(ids.now).toConstantValue(() => new Date());
    bind<ServiceHost<NatsConnection>>(ids.host).toDynamicValue(
      (ctx) =>
        new ServiceHost({
          service: 'destination',
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
function busModule(config: DestinationConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ConnectionFactory<NatsConnection>>(ids.connection).toDynamicValue(() => natsConnectionFactory(config.bus));
  });
}

/** Where mesh resources come from: the manifests folder in local mode. */
function sourcesModule(config: DestinationConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ResourceSource>(ids.source).toDynamicValue((ctx) => {
      const host = ctx.get<ServiceHost<NatsConnection>>(ids.host);
      const source = config.resourceSource;
      if (source.kind === 'manifests') return folderResourceSource(source.directory, host.logger, { quietMs: config.manifestsQuietMs });
      return kubernetesResourceSource({ kubeConfig: loadKubeConfig(source), resources: destinationResources, logger: host.logger.child({ component: 'kubernetes' }), registry: ctx.get<Registry>(ids.registry) });
    });
  });
}

/** What a test passed instead of the defaults. */
function overridesModule(config: DestinationConfig, overrides: DestinationOverrides): ContainerModule {
  return new ContainerModule(({ rebind }) => {
    if (overrides.logger) rebind<Logger>(ids.logger).toConstantValue(overrides.logger);
    if (overrides.registry) rebind<Registry>(ids.registry).toConstantValue(overrides.registry);
    if (overrides.now) rebind<() => Date>(ids.now).toConstantValue(overrides.now);
    if (overrides.nc) rebind<ConnectionFactory<NatsConnection>>(ids.connection).toConstantValue(natsConnectionFactory(config.bus, overrides.nc));
    if (overrides.source) rebind<ResourceSource>(ids.source).toConstantValue(overrides.source);
  });
}

/**
 * Creates the destination service: it reads mesh resources, computes every
 * endpoint set and profile, and publishes them while it leads. Nothing happens
 * until `start()`.
 */
export function createDestinationService(config: DestinationConfig, overrides: DestinationOverrides = {}): DestinationService {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<DestinationConfig>(ids.config).toConstantValue(config);
  container.load(adminModule(config), busModule(config), sourcesModule(config), overridesModule(config, overrides));
  container.bind<DestinationService>(ids.service).toDynamicValue(
    (ctx) =>
      new DestinationServiceImpl(
        ctx.get<DestinationConfig>(ids.config),
        ctx.get<ServiceHost<NatsConnection>>(ids.host),
        ctx.get<ResourceSource>(ids.source),
        ctx.get<() => Date>(ids.now),
      ),
  );
  return container.get<DestinationService>(ids.service);
}
