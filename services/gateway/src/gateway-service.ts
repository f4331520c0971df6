import type { Server, ServerCredentials } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { ensureStreams, StateView } from '@meshbus/bus';
import { busValidator, subjects } from '@meshbus/bus-schemas';
import { Gauge, type Logger, type Registry, type ResourceStack, type Service, type ServiceHost, type ServiceState } from '@meshbus/runtime';
import type { GatewayConfig } from './config.js';
import { AddressIndex } from './address-index.js';
import { DestinationIndex } from './destination-index.js';
import { createDestinationHandlers, destinationServiceDefinition, type DestinationHandlers } from './destination-server.js';
import { addReflection, GatewayHealth } from './grpc-introspection.js';
import { createIdentityHandler, identityServiceDefinition } from './identity-forwarder.js';
import { PolicyIndex } from './policy-index.js';
import { createTelemetryHandlers, telemetryServiceDefinition, trustFromBundle } from './telemetry-server.js';
import { createTapService, tapServiceDefinition, type TapService } from './tap-server.js';
import { createPolicyHandlers, inboundPolicyServiceDefinition, outboundPolicyServiceDefinition, type PolicyHandlers } from './policy-server.js';

/** The running gateway. */
export interface Gateway extends Service {
  readonly state: ServiceState;
  /** Bound gRPC port (after start). */
  readonly grpcPort: number;
  readonly adminUrl: string;
  readonly openStreams: number;
  /** `MESHBUS_DRAIN_MS`: how long open streams get at shutdown; the shutdown deadline follows it. */
  readonly drainMs: number;
}

/** The gRPC side of the gateway, as the composition root builds it. */
export interface GatewayGrpc {
  /** A new, empty gRPC server. */
  createServer(): Server;
  /** TLS credentials from the configured files, or plaintext. */
  credentials(): Promise<ServerCredentials>;
}

/**
 * The gateway: a materialized view of the bus state served to proxies as gRPC
 * watch streams. It holds nothing that cannot be rebuilt from the bus.
 * Built by `createGateway`; runs on a {@link ServiceHost}.
 */
export class GatewayImpl implements Gateway {
  grpcPort = 0;
  private readonly resources: ResourceStack;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private view: StateView | undefined;
  private handlers: DestinationHandlers | undefined;
  private policyHandlers: PolicyHandlers | undefined;
  private policyIndex: PolicyIndex | undefined;
  private tapService: TapService | undefined;
  private serving = false;
  private readonly health = new GatewayHealth();

  constructor(
    private readonly config: GatewayConfig,
    private readonly host: ServiceHost<NatsConnection>,
    private readonly grpc: GatewayGrpc,
    /** The clock that the age of telemetry reports and tap hellos is judged by. */
    private readonly now: () => Date,
  ) {
    this.resources = host.resources;
    this.logger = host.logger;
    this.registry = host.registry;
    host.readiness.add('state', () => (this.view?.ready ? undefined : 'bus state not synced'));
    host.readiness.add('policy', () => (this.view?.ready && this.policyIndex?.live ? undefined : 'policy state not synced'));
    host.readiness.add('grpc', () => (this.serving ? undefined : 'gRPC not serving'));
  }

  get state(): ServiceState {
    return this.host.state;
  }

  get adminUrl(): string {
    return this.host.adminUrl;
  }

  get drainMs(): number {
    return this.config.drainMs;
  }

  get openStreams(): number {
    return (this.handlers?.openStreams ?? 0) + (this.policyHandlers?.openStreams ?? 0);
  }

  async start(): Promise<void> {
    await this.host.start((nc) => this.startOnBus(nc));
  }

  private async startOnBus(nc: NatsConnection): Promise<void> {
    const { config, logger } = this;
    if (config.ensureStreams) await ensureStreams(await nc.jetstreamManager(), { replicas: config.streamReplicas, logger });

    const addresses = new AddressIndex();
    let index: DestinationIndex | undefined;
    let policyIndex: PolicyIndex | undefined;
    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator: busValidator(),
      logger: logger.child({ component: 'state-view' }),
      registry: this.registry,
      onChange: (subject, value) => {
        // The address index first: both indexes answer addresses from it.
        const changed = addresses.apply(subject, value?.data);
        index?.onStateChange(subject, value, changed);
        policyIndex?.onStateChange(subject, value, changed);
      },
    });
    index = new DestinationIndex((s) => view.get(s), { addresses, clusterDomain: config.clusterDomain });
    policyIndex = new PolicyIndex((s) => view.get(s), addresses);
    this.policyIndex = policyIndex;
    this.view = view;
    new Gauge({
      name: 'meshbus_gateway_watched_topics',
      help: 'Keys watched by at least one stream.',
      registers: [this.registry],
      collect() {
        this.set(index.topicCount + policyIndex.topicCount);
      },
    });
    new Gauge({
      name: 'meshbus_gateway_known_addresses',
      help: 'IP and port pairs the gateway answers for by address, by kind (service cluster IP, endpoint).',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        const size = addresses.size;
        this.set({ kind: 'service' }, size.services);
        this.set({ kind: 'endpoint' }, size.endpoints);
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
    const server = this.grpc.createServer();
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
    const policyHandlers = createPolicyHandlers({ index: policyIndex, clusterDomain: config.clusterDomain, logger: logger.child({ component: 'policy' }), registry: this.registry });
    this.policyHandlers = policyHandlers;
    server.addService(inboundPolicyServiceDefinition, policyHandlers.inbound);
    server.addService(outboundPolicyServiceDefinition, policyHandlers.outbound);
    const trust = trustFromBundle();
    server.addService(
      telemetryServiceDefinition,
      createTelemetryHandlers({
        nc,
        validator: busValidator(),
        trust: () => trust(view.get(subjects.trustBundle)),
        source: `/meshbus/gateway/${config.replicaId}`,
        logger,
        registry: this.registry,
        now: () => this.now().getTime(),
      }),
    );
    // Tap: every replica takes every tap request (no queue group); each proxy is connected to one replica.
    const tapService = createTapService({
      nc,
      validator: busValidator(),
      trust: () => trust(view.get(subjects.trustBundle)),
      source: `/meshbus/gateway/${config.replicaId}`,
      logger,
      registry: this.registry,
      now: () => this.now().getTime(),
    });
    this.tapService = tapService;
    server.addService(tapServiceDefinition, tapService.handlers);
    this.resources.defer(tapService, () => tapService.close());
    this.health.addToServer(server);
    addReflection(server);
    const credentials = await this.grpc.credentials();
    if (!config.tls) logger.warn('gRPC listener without TLS (set MESHBUS_TLS_CERT and MESHBUS_TLS_KEY outside local development)');
    const bindHost = config.grpc.host.includes(':') ? `[${config.grpc.host}]` : config.grpc.host;
    this.grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${bindHost}:${config.grpc.port}`, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.resources.defer(server, () => this.shutdownServer(server));
    this.serving = true;
    // The health service follows readiness: SERVING once the bus state is synced, NOT_SERVING when anything fails.
    const followReadiness = () => this.health.set(this.host.readiness.evaluate().ready);
    const healthTimer = setInterval(followReadiness, 1000);
    healthTimer.unref();
    this.resources.defer(healthTimer, () => clearInterval(healthTimer));

    // Streams opened before the view caught up get their first message once it has.
    void view.start().then(() => {
      index.goLive();
      policyIndex.goLive();
      followReadiness();
      logger.info({ keys: view.size }, 'bus state synced');
    });
    this.resources.defer(view, () => view.stop());
    logger.info({ grpc: `${bindHost}:${this.grpcPort}`, tls: Boolean(config.tls) }, 'gateway serving');
  }

  private async shutdownServer(server: Server): Promise<void> {
    this.serving = false;
    this.health.set(false);
    this.handlers?.closeAll('gateway shutting down; reconnect to another replica');
    this.policyHandlers?.closeAll('gateway shutting down; reconnect to another replica');
    this.tapService?.close();
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
    await this.host.stop();
  }
}
