import { Container, ContainerModule } from 'inversify';
import type { NatsConnection } from 'nats';
import { natsConnectionFactory } from '@meshbus/bus';
import type { PolicyComputation } from '@meshbus/policy';
import { createLogger, createMetricsRegistry, ServiceHost, type ConnectionFactory, type HostOverrides, type Logger, type Registry } from '@meshbus/runtime';
import { policyIndexFactory, type PolicyComputationFactory } from './computation.js';
import type { PolicyConfig } from './config.js';
import { PolicyServiceImpl, type PolicyService } from './policy-service.js';
import { policyResources, kubernetesResourceSource, loadKubeConfig } from '@meshbus/kube';
import { folderResourceSource, type ResourceSource } from '@meshbus/manifests';

/** Dependencies a test (or another mode) may replace: `logger`, `registry`, `nc`, `now`, the resource `source` and the `computation`. */
export interface PolicyOverrides extends HostOverrides<NatsConnection> {
  source?: ResourceSource;
  /** Makes the computation instead of the index of `@meshbus/policy`. */
  computation?: PolicyComputationFactory;
}

const ids = {
  config: Symbol('PolicyConfig'),
  logger: Symbol('Logger'),
  registry: Symbol('Registry'),
  now: Symbol('Clock'),
  connection: Symbol('ConnectionFactory'),
  host: Symbol('ServiceHost'),
  source: Symbol('ResourceSource'),
  computation: Symbol('PolicyComputation'),
  service: Symbol('PolicyService'),
} as const;

/** Logger, metrics, clock and the service host with its admin server. */
function adminModule(config: PolicyConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<Logger>(ids.logger).toDynamicValue(() => createLogger({ service: 'policy', level: config.logLevel }));
    bind<Registry>(ids.registry).toDynamicValue(() => createMetricsRegistry('policy'));
    bind<() => Date>(ids.now).toConstantValue(() => new Date());
    bind<ServiceHost<NatsConnection>>(ids.host).toDynamicValue(
      (ctx) =>
        new ServiceHost({
          service: 'policy',
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
function busModule(config: PolicyConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ConnectionFactory<NatsConnection>>(ids.connection).toDynamicValue(() => natsConnectionFactory(config.bus));
  });
}

/** Where resources come from (the manifests folder in local mode), and what computes the policy. */
function policyModule(config: PolicyConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ResourceSource>(ids.source).toDynamicValue((ctx) => {
      const host = ctx.get<ServiceHost<NatsConnection>>(ids.host);
      const source = config.resourceSource;
      if (source.kind === 'manifests') return folderResourceSource(source.directory, host.logger, { quietMs: config.manifestsQuietMs });
      return kubernetesResourceSource({ kubeConfig: loadKubeConfig(source), resources: policyResources, logger: host.logger.child({ component: 'kubernetes' }), registry: ctx.get<Registry>(ids.registry) });
    });
    bind<PolicyComputation>(ids.computation).toDynamicValue(() => policyIndexFactory(config.settings));
  });
}

/** What a test passed instead of the defaults. */
function overridesModule(config: PolicyConfig, overrides: PolicyOverrides): ContainerModule {
  return new ContainerModule(({ rebind }) => {
    if (overrides.logger) rebind<Logger>(ids.logger).toConstantValue(overrides.logger);
    if (overrides.registry) rebind<Registry>(ids.registry).toConstantValue(overrides.registry);
    if (overrides.now) rebind<() => Date>(ids.now).toConstantValue(overrides.now);
    if (overrides.nc) rebind<ConnectionFactory<NatsConnection>>(ids.connection).toConstantValue(natsConnectionFactory(config.bus, overrides.nc));
    if (overrides.source) rebind<ResourceSource>(ids.source).toConstantValue(overrides.source);
    const computation = overrides.computation;
    if (computation) rebind<PolicyComputation>(ids.computation).toDynamicValue(() => computation(config.settings));
  });
}

/**
 * Creates the policy service: it reads policy resources and registered
 * workloads, computes every inbound and outbound policy, and publishes them
 * while it leads. Nothing happens until `start()`.
 */
export function createPolicyService(config: PolicyConfig, overrides: PolicyOverrides = {}): PolicyService {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<PolicyConfig>(ids.config).toConstantValue(config);
  container.load(adminModule(config), busModule(config), policyModule(config), overridesModule(config, overrides));
  container.bind<PolicyService>(ids.service).toDynamicValue(
    (ctx) =>
      new PolicyServiceImpl(
        ctx.get<PolicyConfig>(ids.config),
        ctx.get<ServiceHost<NatsConnection>>(ids.host),
        ctx.get<ResourceSource>(ids.source),
        ctx.get<PolicyComputation>(ids.computation),
        ctx.get<() => Date>(ids.now),
      ),
  );
  return container.get<PolicyService>(ids.service);
}
