import { readFile } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { ConnectionHealth, ensureStreams, serviceConnection, StateView } from '@meshbus/bus';
import { busValidator, subjects } from '@meshbus/bus-schemas';
import {
  AdminServer,
  createLogger,
  createMetricsRegistry,
  Gauge,
  ResourceStack,
  type Logger,
  type Registry,
  type Service,
  type ServiceState,
} from '@meshbus/runtime';
import type { GatewayConfig } from './config.js';
import { DestinationIndex } from './destination-index.js';
import { createDestinationHandlers, destinationServiceDefinition, type DestinationHandlers } from './destination-server.js';
import { createIdentityHandler, identityServiceDefinition } from './identity-forwarder.js';

/** Dependencies a test may replace. */
export interface GatewayOverrides {
  logger?: Logger;
  nc?: NatsConnection;
}

/** The running gateway. */
export interface Gateway extends Service {
  readonly state: ServiceState;
  /** Bound gRPC port (after start). */
  readonly grpcPort: number;
  readonly adminUrl: string;
  readonly openStreams: number;
}

/**
 * Creates the gateway: a materialized view of the bus state served to proxies
 * as gRPC watch streams. It holds nothing that cannot be rebuilt from the bus.
 */
export function createGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Gateway {
  const logger = (overrides.logger ?? createLogger({ service: 'gateway', level: config.logLevel })).child({ replica: config.replicaId });
  return new GatewayImpl(config, overrides, logger, createMetricsRegistry('gateway'));
}

class GatewayImpl implements Gateway {
  state: ServiceState = 'initialized';
  grpcPort = 0;
  private readonly resources: ResourceStack;
  private readonly admin: AdminServer;
  private view: StateView | undefined;
  private handlers: DestinationHandlers | undefined;
  private connection: ConnectionHealth | undefined;
  private serving = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly overrides: GatewayOverrides,
    private readonly logger: Logger,
    private readonly registry: Registry,
  ) {
    this.resources = new ResourceStack(logger);
    this.admin = new AdminServer({ ...config.admin, registry, logger, readiness: () => this.readiness() });
  }

  get adminUrl(): string {
    return this.admin.url;
  }

  get openStreams(): number {
    return this.handlers?.openStreams ?? 0;
  }

  private readiness() {
    const reasons: string[] = [];
    if (this.state !== 'started') reasons.push(`service ${this.state}`);
    if (!this.connection?.connected) reasons.push('not connected to NATS');
    if (!this.view?.ready) reasons.push('bus state not synced');
    if (!this.serving) reasons.push('gRPC not serving');
    return { ready: reasons.length === 0, reasons };
  }

  async start(): Promise<void> {
    if (this.state !== 'initialized') throw new Error(`cannot start a ${this.state} gateway`);
    const { config, logger } = this;
    await this.admin.start();
    this.resources.use(this.admin);

    const nc = await serviceConnection(config.bus, logger.child({ component: 'bus' }), this.resources, this.overrides.nc);
    this.connection = new ConnectionHealth(nc);
    if (config.ensureStreams) await ensureStreams(await nc.jetstreamManager(), { replicas: config.streamReplicas });

    let index: DestinationIndex | undefined;
    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator: busValidator(),
      logger: logger.child({ component: 'state-view' }),
      registry: this.registry,
      onChange: (subject, value) => index?.onStateChange(subject, value),
    });
    index = new DestinationIndex((s) => view.get(s));
    this.view = view;
    new Gauge({
      name: 'meshbus_gateway_watched_topics',
      help: 'Keys watched by at least one stream.',
      registers: [this.registry],
      collect() {
        this.set(index.topicCount);
      },
    });
    new Gauge({
      name: 'meshbus_gateway_state_keys',
      help: 'Keys in the materialized view of the bus state.',
      registers: [this.registry],
      collect() {
        this.set(view.size);
      },
    });

    const handlers = createDestinationHandlers({ index, clusterDomain: config.clusterDomain, logger: logger.child({ component: 'destination' }), registry: this.registry });
    this.handlers = handlers;
    const server = new Server({ 'grpc.max_concurrent_streams': 100_000, 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 });
    server.addService(destinationServiceDefinition, handlers.implementation);
    server.addService(
      identityServiceDefinition,
      createIdentityHandler({
        nc,
        validator: busValidator(),
        source: `/meshbus/gateway/${config.replicaId}`,
        logger: logger.child({ component: 'identity' }),
        registry: this.registry,
      }),
    );
    const credentials = config.tls
      ? ServerCredentials.createSsl(null, [{ cert_chain: await readFile(config.tls.certFile), private_key: await readFile(config.tls.keyFile) }], false)
      : ServerCredentials.createInsecure();
    if (!config.tls) logger.warn('gRPC listener without TLS (set MESHBUS_TLS_CERT and MESHBUS_TLS_KEY outside local development)');
    const host = config.grpc.host.includes(':') ? `[${config.grpc.host}]` : config.grpc.host;
    this.grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${config.grpc.port}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.resources.defer(server, () => this.shutdownServer(server));
    this.serving = true;

    // Streams opened before the view caught up get their first message once it has.
    void view.start().then(() => {
      index.goLive();
      logger.info({ keys: view.size }, 'bus state synced');
    });
    this.resources.defer(view, () => view.stop());
    this.state = 'started';
    logger.info({ grpc: `${host}:${this.grpcPort}`, tls: Boolean(config.tls) }, 'gateway serving');
  }

  private async shutdownServer(server: Server): Promise<void> {
    this.serving = false;
    this.handlers?.closeAll('gateway shutting down; reconnect to another replica');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.config.drainMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    await this.resources.disposeAll();
  }
}
