import { Container, ContainerModule } from 'inversify';
import type { NatsConnection } from 'nats';
import { natsConnectionFactory } from '@meshbus/bus';
import { destinationResources, kubernetesResourceSource, loadKubeConfig } from '@meshbus/kube';
import { folderResourceSource, type ResourceSource } from '@meshbus/manifests';
import { createLogger, createMetricsRegistry, ServiceHost, type ConnectionFactory, type HostOverrides, type Logger, type Registry } from '@meshbus/runtime';
import type { MulticlusterConfig } from './config.js';
import { MulticlusterServiceImpl, type MulticlusterService } from './multicluster-service.js';

/** Dependencies a test may replace: `logger`, `registry`, `nc`, `now` and the resource `source`. */
export interface MulticlusterOverrides extends HostOverrides<NatsConnection> {
  source?: ResourceSource;
}

const ids = {
  config: Symbol('MulticlusterConfig'),
  logger: Symbol('Logger'),
  registry: Symbol('Registry'),
  connection: Symbol('ConnectionFactory'),
  host: Symbol('ServiceHost'),
  source: Symbol('ResourceSource'),
  now: Symbol('Clock'),
  service: Symbol('MulticlusterService'),
} as const;

/** Logger, metrics, clock and the service host with its admin server. */
function adminModule(config: MulticlusterConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<Logger>(ids.logger).toDynamicValue(() => createLogger({ service: 'multicluster', level: config.logLevel }));
    bind<Registry>(ids.registry).toDynamicValue(() => createMetricsRegistry('multicluster'));
    bind<() => number>(ids.now).toConstantValue(Date.now);
    bind<ServiceHost<NatsConnection>>(ids.host).toDynamicValue(
      (ctx) =>
        new ServiceHost({
          service: 'multicluster',
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
function busModule(config: MulticlusterConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ConnectionFactory<NatsConnection>>(ids.connection).toDynamicValue(() => natsConnectionFactory(config.bus));
  });
}

/** Where the Services to export come from: the manifests folder, or the Kubernetes API. */
function resourcesModule(config: MulticlusterConfig): ContainerModule {
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
function overridesModule(config: MulticlusterConfig, overrides: MulticlusterOverrides): ContainerModule {
  return new ContainerModule(({ rebind }) => {
    if (overrides.logger) rebind<Logger>(ids.logger).toConstantValue(overrides.logger);
    if (overrides.registry) rebind<Registry>(ids.registry).toConstantValue(overrides.registry);
    if (overrides.nc) rebind<ConnectionFactory<NatsConnection>>(ids.connection).toConstantValue(natsConnectionFactory(config.bus, overrides.nc));
    const now = overrides.now;
    if (now) rebind<() => number>(ids.now).toConstantValue(() => now().getTime());
    if (overrides.source) rebind<ResourceSource>(ids.source).toConstantValue(overrides.source);
  });
}

/**
 * Creates the multicluster service: it exports this cluster's labelled
 * Services to linked clusters and mirrors theirs, while it leads. Nothing
 * happens until `start()`.
 */
export function createMulticlusterService(config: MulticlusterConfig, overrides: MulticlusterOverrides = {}): MulticlusterService {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<MulticlusterConfig>(ids.config).toConstantValue(config);
  container.load(adminModule(config), busModule(config), resourcesModule(config), overridesModule(config, overrides));
  container.bind<MulticlusterService>(ids.service).toDynamicValue(
    (ctx) => new MulticlusterServiceImpl(ctx.get<MulticlusterConfig>(ids.config), ctx.get<ServiceHost<NatsConnection>>(ids.host), ctx.get<ResourceSource>(ids.source), ctx.get<() => number>(ids.now)),
  );
  return container.get<MulticlusterService>(ids.service);
}
