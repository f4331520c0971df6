import type { KubeConfig } from '@kubernetes/client-node';
import { Container, ContainerModule } from 'inversify';
import type { NatsConnection } from 'nats';
import { createLogger, createMetricsRegistry, ServiceHost, type ConnectionFactory, type HostConnection, type HostOverrides, type Logger, type Registry } from '@meshbus/runtime';
import type { NamespaceLookup } from './admission.js';
import type { InjectorConfig } from './config.js';
import { InjectorServiceImpl, type InjectorAdapters, type InjectorService, type StartedLookup } from './injector-service.js';
import { FolderNamespaceLookup } from './namespace-lookup.js';
import { BusPodEvents, type PodEventSink } from './pod-events.js';
import { TrustMaterialFiles } from './trust-material.js';

/**
 * Dependencies a test (or an embedding process) may replace: `logger`, `registry`, `nc` (the
 * connection the events are published on), `now` (the events' time), and the injector's adapters.
 */
export interface InjectorOverrides extends HostOverrides<NatsConnection> {
  /** Where namespaces (and their annotations) are looked up instead of the configured source. */
  namespaces?: NamespaceLookup;
  /** Where pod-injection events go instead of NATS. */
  events?: PodEventSink;
  /** The Kubernetes client configuration in kubernetes mode. @default from `config.namespaces.kubeconfig`, else in-cluster */
  kubeConfig?: KubeConfig;
}

const ids = {
  config: Symbol('InjectorConfig'),
  logger: Symbol('Logger'),
  registry: Symbol('Registry'),
  now: Symbol('Clock'),
  nc: Symbol('NatsConnection'),
  events: Symbol('PodEventSink'),
  connection: Symbol('ConnectionFactory'),
  host: Symbol('ServiceHost'),
  kubeConfig: Symbol('KubeConfig'),
  namespaces: Symbol('NamespaceLookup'),
  trust: Symbol('TrustMaterialFiles'),
  service: Symbol('InjectorService'),
} as const;

type Lazy<T> = () => Promise<T>;

/** An open connection to publish the events on, when the caller gave one. */
interface GivenConnection {
  readonly nc?: NatsConnection;
}

/** Events switched off (`MESHBUS_INJECTOR_EVENTS=false`). */
const noEvents: PodEventSink = { offer: () => undefined };

/** Logger, metrics, clock and the service host with its admin server. */
function adminModule(config: InjectorConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<Logger>(ids.logger).toDynamicValue(() => createLogger({ service: 'injector', level: config.logLevel }));
    bind<Registry>(ids.registry).toDynamicValue(() => createMetricsRegistry('injector'));
    bind<() => Date>(ids.now).toConstantValue(() => new Date());
    bind<ServiceHost<PodEventSink>>(ids.host).toDynamicValue(
      (ctx) =>
        new ServiceHost({
          service: 'injector',
          replicaId: config.replicaId,
          admin: config.admin,
          logger: ctx.get<Logger>(ids.logger),
          registry: ctx.get<Registry>(ids.registry),
          connect: ctx.get<ConnectionFactory<PodEventSink>>(ids.connection),
        }),
    );
  });
}

/**
 * The pod-injection events: a publisher connecting to NATS in the background (or on the
 * connection given), as the host's connection. Admission never waits for NATS, so the service
 * replaces the host's bus readiness check by a detail line.
 */
function eventsModule(config: InjectorConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<GivenConnection>(ids.nc).toConstantValue({});
    bind<PodEventSink>(ids.events).toDynamicValue((ctx) => {
      if (!config.events.enabled) return noEvents;
      const { nc } = ctx.get<GivenConnection>(ids.nc);
      return new BusPodEvents({
        bus: config.events.bus,
        ...(nc ? { nc } : {}),
        now: ctx.get<() => Date>(ids.now),
        capacity: config.events.capacity,
        source: `/meshbus/injector/${config.replicaId}`,
        registry: ctx.get<Registry>(ids.registry),
        logger: ctx.get<Logger>(ids.logger).child({ replica: config.replicaId, component: 'events' }),
      });
    });
    bind<ConnectionFactory<PodEventSink>>(ids.connection).toDynamicValue((ctx) => eventsConnection(ctx.get<PodEventSink>(ids.events)));
  });
}

/** Where namespaces come from: the manifests folder in local mode, an informer in a cluster. Made when the service starts. */
function namespacesModule(config: InjectorConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    // Loaded in kubernetes mode only: the client is large, and `meshbus inject` imports this package.
    bind<Lazy<KubeConfig>>(ids.kubeConfig).toConstantValue(
      once(async () => {
        const { KubeConfig } = await import('@kubernetes/client-node');
        const kc = new KubeConfig();
        const source = config.namespaces;
        if (source.kind === 'kubernetes' && source.kubeconfig !== undefined) kc.loadFromFile(source.kubeconfig);
        else kc.loadFromCluster();
        return kc;
      }),
    );
    bind<Lazy<StartedLookup>>(ids.namespaces).toDynamicValue((ctx) => {
      const kubeConfig = ctx.get<Lazy<KubeConfig>>(ids.kubeConfig);
      const logger = ctx.get<ServiceHost<PodEventSink>>(ids.host).logger.child({ component: 'namespaces' });
      return once(async () => {
        const source = config.namespaces;
        if (source.kind === 'manifests') {
          const lookup = new FolderNamespaceLookup(source.manifestsDir);
          await lookup.start();
          return lookup;
        }
        const { KubernetesNamespaceLookup } = await import('./namespace-lookup-kubernetes.js');
        const lookup = new KubernetesNamespaceLookup({ kubeConfig: await kubeConfig(), logger });
        lookup.start();
        return lookup;
      });
    });
  });
}

/** The trust files handed to injected proxies, read again while the service runs. */
function trustModule(config: InjectorConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<TrustMaterialFiles>(ids.trust).toDynamicValue(
      (ctx) =>
        new TrustMaterialFiles({
          anchorsFile: config.trustAnchorsFile,
          ...(config.gatewayCaFile !== undefined ? { gatewayCaFile: config.gatewayCaFile } : {}),
          intervalMs: config.trustReloadMs,
          logger: ctx.get<ServiceHost<PodEventSink>>(ids.host).logger.child({ component: 'trust' }),
        }),
    );
  });
}

/** What a test passed instead of the defaults. */
function overridesModule(overrides: InjectorOverrides): ContainerModule {
  return new ContainerModule(({ rebind }) => {
    if (overrides.logger) rebind<Logger>(ids.logger).toConstantValue(overrides.logger);
    if (overrides.registry) rebind<Registry>(ids.registry).toConstantValue(overrides.registry);
    if (overrides.now) rebind<() => Date>(ids.now).toConstantValue(overrides.now);
    if (overrides.nc) rebind<GivenConnection>(ids.nc).toConstantValue({ nc: overrides.nc });
    if (overrides.events) rebind<PodEventSink>(ids.events).toConstantValue(overrides.events);
    const { kubeConfig, namespaces } = overrides;
    if (kubeConfig) rebind<Lazy<KubeConfig>>(ids.kubeConfig).toConstantValue(async () => kubeConfig);
    if (namespaces) rebind<Lazy<StartedLookup>>(ids.namespaces).toConstantValue(async () => namespaces);
  });
}

/**
 * Creates the injector: the HTTPS admission webhook, its event publisher and the admin server.
 * Nothing happens until `start()`.
 */
export function createInjectorService(config: InjectorConfig, overrides: InjectorOverrides = {}): InjectorService {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<InjectorConfig>(ids.config).toConstantValue(config);
  container.load(adminModule(config), eventsModule(config), namespacesModule(config), trustModule(config), overridesModule(overrides));
  container.bind<InjectorService>(ids.service).toDynamicValue((ctx) => {
    const adapters: InjectorAdapters = {
      events: ctx.get<PodEventSink>(ids.events),
      namespaces: ctx.get<Lazy<StartedLookup>>(ids.namespaces),
      trust: ctx.get<TrustMaterialFiles>(ids.trust),
    };
    return new InjectorServiceImpl(ctx.get<InjectorConfig>(ids.config), ctx.get<ServiceHost<PodEventSink>>(ids.host), adapters);
  });
  return container.get<InjectorService>(ids.service);
}

/** The host's connection: the event sink, a publisher that connects in the background. */
function eventsConnection(events: PodEventSink): ConnectionFactory<PodEventSink> {
  return async (): Promise<HostConnection<PodEventSink>> => {
    if (events instanceof BusPodEvents) events.start();
    return {
      client: events,
      get connected() {
        return events instanceof BusPodEvents ? events.connected : true;
      },
      onReconnect: () => undefined,
      release: async () => {
        if (events instanceof BusPodEvents) await events.stop();
      },
    };
  };
}

/** Runs `make` on the first call only; later calls share its promise. */
function once<T>(make: () => Promise<T>): Lazy<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}
