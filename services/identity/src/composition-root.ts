import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { Container, ContainerModule } from 'inversify';
import type { NatsConnection } from 'nats';
import { natsConnectionFactory } from '@meshbus/bus';
import {
  ConfigError,
  createLogger,
  createMetricsRegistry,
  errorMessage,
  ServiceHost,
  type ConnectionFactory,
  type HostOverrides,
  type Logger,
  type Registry,
} from '@meshbus/runtime';
import type { IdentityConfig } from './config.js';
import { IdentityServiceImpl, type IdentityAdapters, type IdentityService } from './identity-service.js';
import { FileIssuerSource } from './issuer-source-file.js';
import type { IssuerSource } from './issuer-source.js';
import { WorkloadTokenValidator, type TokenValidator } from '@meshbus/trust';

/** Dependencies a test (or an embedding process) may supply: `logger`, `registry`, `nc`, `now`, and the identity adapters. */
export interface IdentityServiceOverrides extends HostOverrides<NatsConnection> {
  readonly issuerSource?: IssuerSource;
  readonly tokenValidator?: TokenValidator;
  /** Kubernetes client configuration in cluster mode. @default from `config.mode.kubeconfig`, else in-cluster */
  readonly kubeConfig?: KubeConfig;
}

const ids = {
  config: Symbol('IdentityConfig'),
  logger: Symbol('Logger'),
  registry: Symbol('Registry'),
  now: Symbol('Clock'),
  connection: Symbol('ConnectionFactory'),
  host: Symbol('ServiceHost'),
  kubeConfig: Symbol('KubeConfig'),
  tokenValidator: Symbol('TokenValidator'),
  issuerSource: Symbol('IssuerSource'),
  service: Symbol('IdentityService'),
} as const;

type Lazy<T> = () => Promise<T>;

/** Logger, metrics, clock and the service host with its admin server. */
function adminModule(config: IdentityConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<Logger>(ids.logger).toDynamicValue(() => createLogger({ service: 'identity', level: config.logLevel }));
    bind<Registry>(ids.registry).toDynamicValue(() => createMetricsRegistry('identity'));
    bind<() => Date>(ids.now).toConstantValue(() => new Date());
    bind<ServiceHost<NatsConnection>>(ids.host).toDynamicValue(
      (ctx) =>
        new ServiceHost({
          service: 'identity',
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
function busModule(config: IdentityConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ConnectionFactory<NatsConnection>>(ids.connection).toDynamicValue(() => natsConnectionFactory(config.bus));
  });
}

/**
 * How workloads prove who they are and where the issuer comes from: files and
 * signed workload tokens in local mode, a Secret and TokenReview in a cluster.
 * Each is made once, when the service starts.
 */
function identitySourcesModule(config: IdentityConfig): ContainerModule {
  return new ContainerModule(({ bind }) => {
    // The Kubernetes client is loaded only in cluster mode: it is large, and the identity core is
    // imported by processes that never talk to Kubernetes.
    bind<Lazy<KubeConfig>>(ids.kubeConfig).toConstantValue(
      once(async () => {
        const { KubeConfig } = await import('@kubernetes/client-node');
        const kc = new KubeConfig();
        const mode = config.mode;
        if (mode.kind === 'kubernetes' && mode.kubeconfig !== undefined) kc.loadFromFile(mode.kubeconfig);
        else kc.loadFromCluster();
        return kc;
      }),
    );
    bind<Lazy<TokenValidator>>(ids.tokenValidator).toDynamicValue((ctx) => {
      const kubeConfig = ctx.get<Lazy<KubeConfig>>(ids.kubeConfig);
      const now = ctx.get<() => Date>(ids.now);
      return once(() => tokenValidatorFor(config, kubeConfig, now));
    });
    bind<Lazy<IssuerSource>>(ids.issuerSource).toDynamicValue((ctx) => {
      const kubeConfig = ctx.get<Lazy<KubeConfig>>(ids.kubeConfig);
      const logger = ctx.get<ServiceHost<NatsConnection>>(ids.host).logger.child({ component: 'issuer-source' });
      return once(() => issuerSourceFor(config, kubeConfig, logger));
    });
  });
}

/** What a test passed instead of the defaults. */
function overridesModule(config: IdentityConfig, overrides: IdentityServiceOverrides): ContainerModule {
  return new ContainerModule(({ rebind }) => {
    if (overrides.logger) rebind<Logger>(ids.logger).toConstantValue(overrides.logger);
    if (overrides.registry) rebind<Registry>(ids.registry).toConstantValue(overrides.registry);
    if (overrides.now) rebind<() => Date>(ids.now).toConstantValue(overrides.now);
    if (overrides.nc) rebind<ConnectionFactory<NatsConnection>>(ids.connection).toConstantValue(natsConnectionFactory(config.bus, overrides.nc));
    const { kubeConfig, tokenValidator, issuerSource } = overrides;
    if (kubeConfig) rebind<Lazy<KubeConfig>>(ids.kubeConfig).toConstantValue(async () => kubeConfig);
    if (tokenValidator) rebind<Lazy<TokenValidator>>(ids.tokenValidator).toConstantValue(async () => tokenValidator);
    if (issuerSource) rebind<Lazy<IssuerSource>>(ids.issuerSource).toConstantValue(async () => issuerSource);
  });
}

/**
 * Builds the identity service: the mesh certificate authority answering certificate requests
 * from the bus. Nothing happens until `start()`.
 */
export function createIdentityService(config: IdentityConfig, overrides: IdentityServiceOverrides = {}): IdentityService {
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind<IdentityConfig>(ids.config).toConstantValue(config);
  container.load(adminModule(config), busModule(config), identitySourcesModule(config), overridesModule(config, overrides));
  container.bind<IdentityService>(ids.service).toDynamicValue((ctx) => {
    const adapters: IdentityAdapters = {
      tokenValidator: ctx.get<Lazy<TokenValidator>>(ids.tokenValidator),
      issuerSource: ctx.get<Lazy<IssuerSource>>(ids.issuerSource),
    };
    return new IdentityServiceImpl(ctx.get<IdentityConfig>(ids.config), ctx.get<ServiceHost<NatsConnection>>(ids.host), adapters, ctx.get<() => Date>(ids.now));
  });
  return container.get<IdentityService>(ids.service);
}

async function tokenValidatorFor(config: IdentityConfig, kubeConfig: Lazy<KubeConfig>, now: () => Date): Promise<TokenValidator> {
  const { mode } = config;
  if (mode.kind === 'kubernetes') {
    const { TokenReviewValidator } = await import('@meshbus/trust/kubernetes');
    return new TokenReviewValidator({ kubeConfig: await kubeConfig(), audiences: mode.tokenAudiences });
  }
  let pem: string;
  try {
    pem = await readFile(mode.tokenPublicKeyFile, 'utf8');
  } catch (error) {
    throw new ConfigError(`the workload token public key ${mode.tokenPublicKeyFile} cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return new WorkloadTokenValidator({ publicKey: createPublicKey(pem), audience: mode.tokenAudience, now });
  } catch (error) {
    throw new ConfigError(`the workload token public key ${mode.tokenPublicKeyFile} is not a PEM key: ${errorMessage(error)}`, { cause: error });
  }
}

async function issuerSourceFor(config: IdentityConfig, kubeConfig: Lazy<KubeConfig>, logger: Logger): Promise<IssuerSource> {
  const { mode, issuerRecheckIntervalMs } = config;
  if (mode.kind === 'local') return new FileIssuerSource({ files: mode.files, recheckIntervalMs: issuerRecheckIntervalMs, logger });
  const { KubernetesIssuerSource } = await import('./issuer-source-kubernetes.js');
  return new KubernetesIssuerSource({
    kubeConfig: await kubeConfig(),
    secret: mode.issuerSecret,
    ...(mode.trustAnchors === undefined ? {} : { trustAnchors: mode.trustAnchors }),
    recheckIntervalMs: issuerRecheckIntervalMs,
    logger,
  });
}

/** Runs `make` on the first call only; later calls share its promise. */
function once<T>(make: () => Promise<T>): Lazy<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}
