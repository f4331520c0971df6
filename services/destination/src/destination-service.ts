import type { NatsConnection } from 'nats';
import {
  ConnectionHealth,
  serviceConnection,
  ensureStreams,
  JetStreamPublisher,
  LeaderElection,
  StateView,
  type BusEvent,
  type Publisher,
} from '@meshbus/bus';
import { busValidator, parseStateSubject, subjects, type WorkloadRegistration } from '@meshbus/bus-schemas';
import {
  AdminServer,
  createLogger,
  createMetricsRegistry,
  errorMessage,
  Gauge,
  ResourceStack,
  type Logger,
  type Registry,
  type Service,
  type ServiceState,
} from '@meshbus/runtime';
import type { DestinationConfig } from './config.js';
import { Reconciler } from './reconciler.js';
import { busStateReader, failingKeysReadiness } from './reconciler-adapters.js';
import { RegistrationTracker } from './registrations.js';
import { folderResourceSource, type ResourceSource } from './resource-source.js';

/** Dependencies a test (or another mode) may replace. */
export interface DestinationOverrides {
  logger?: Logger;
  source?: ResourceSource;
  nc?: NatsConnection;
}

/** The running destination service. */
export interface DestinationService extends Service {
  readonly state: ServiceState;
  readonly isLeader: boolean;
  /** URL of the admin server (/live, /ready, /metrics), once started. */
  readonly adminUrl: string;
}

/**
 * Creates the destination service: it reads mesh resources, computes every
 * endpoint set and profile, and — when it holds the leader lease — publishes
 * what differs from the bus state. Standbys compute the same and stay warm.
 */
export function createDestinationService(config: DestinationConfig, overrides: DestinationOverrides = {}): DestinationService {
  const logger = (overrides.logger ?? createLogger({ service: 'destination', level: config.logLevel })).child({ replica: config.replicaId });
  const registry = createMetricsRegistry('destination');
  return new DestinationServiceImpl(config, overrides, logger, registry);
}

class DestinationServiceImpl implements DestinationService {
  state: ServiceState = 'initialized';
  private readonly resources: ResourceStack;
  private readonly admin: AdminServer;
  private readonly tracker = new RegistrationTracker();
  private readonly reconciler: Reconciler;
  private view: StateView | undefined;
  private publisher: Publisher | undefined;
  private election: LeaderElection | undefined;
  private connection: ConnectionHealth | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly metrics: { leader: Gauge };

  constructor(
    private readonly config: DestinationConfig,
    private readonly overrides: DestinationOverrides,
    private readonly logger: Logger,
    private readonly registry: Registry,
  ) {
    this.resources = new ResourceStack(logger);
    this.admin = new AdminServer({ ...config.admin, registry, logger, readiness: () => this.readiness() });
    this.metrics = {
      leader: new Gauge({ name: 'meshbus_destination_leader', help: '1 while this replica holds the destination lease.', registers: [registry] }),
    };
    this.reconciler = new Reconciler({
      destination: config,
      publisher: () => this.publisher,
      bus: busStateReader(() => this.view),
      tracker: this.tracker,
      mayPublish: () => this.isLeader && (this.view?.ready ?? false) && (this.connection?.connected ?? false),
      logger: logger.child({ component: 'reconciler' }),
      registry,
    });
  }

  get isLeader(): boolean {
    return this.election?.isLeader ?? false;
  }

  get adminUrl(): string {
    return this.admin.url;
  }

  private readiness() {
    const reasons: string[] = [];
    if (this.state !== 'started') reasons.push(`service ${this.state}`);
    if (!this.connection?.connected) reasons.push('not connected to NATS');
    if (!this.view?.ready) reasons.push('bus state not synced');
    if (!this.reconciler.hasResources) reasons.push('manifests not read');
    return { ready: reasons.length === 0, reasons, ...failingKeysReadiness(this.reconciler.failing) };
  }

  async start(): Promise<void> {
    if (this.state !== 'initialized') throw new Error(`cannot start a ${this.state} service`);
    const { config, logger } = this;
    await this.admin.start();
    this.resources.use(this.admin);

    const nc = await serviceConnection(config.bus, logger.child({ component: 'bus' }), this.resources, this.overrides.nc);
    this.connection = new ConnectionHealth(nc, () => this.scheduleReconcile());
    await ensureStreams(await nc.jetstreamManager(), { replicas: config.streamReplicas, eventsMaxAgeMs: config.eventsMaxAgeMs });
    const validator = busValidator();
    this.publisher = new JetStreamPublisher({ js: nc.jetstream(), validator, source: `/meshbus/destination/${config.replicaId}`, registry: this.registry });

    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator,
      logger: logger.child({ component: 'state-view' }),
      registry: this.registry,
      onChange: (subject, value) => this.onBusChange(subject, value),
    });
    this.view = view;
    await view.start();
    this.resources.defer(view, () => view.stop());

    const source = this.overrides.source ?? folderResourceSource(config.manifestsDir, logger, { quietMs: config.manifestsQuietMs });
    await source.start((resources, problems) => this.reconciler.resourcesChanged(resources, problems, this.isLeader));
    this.resources.use(source);

    const election = new LeaderElection({
      nc,
      role: 'destination',
      holder: config.replicaId,
      leaseMs: config.leaseMs,
      replicas: config.streamReplicas,
      logger: logger.child({ component: 'leader-election' }),
      onElected: (term) => this.onElected(term),
      onDeposed: () => {
        this.metrics.leader.set(0);
        this.reconciler.deposed();
      },
    });
    this.election = election;
    await election.start();
    this.resources.defer(election, () => election.stop());

    this.expiryTimer = setInterval(() => this.scheduleReconcile(), 1000);
    this.resources.defer(null, () => clearInterval(this.expiryTimer));
    this.state = 'started';
    logger.info({ manifests: config.manifestsDir }, 'destination started');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'destroyed') return;
    this.state = 'destroyed';
    // Let a reconciliation in progress finish its publications before the connection drains.
    await this.reconciler.stop();
    await this.resources.disposeAll();
  }


  private onBusChange(subject: string, value: BusEvent | undefined): void {
    const parsed = parseStateSubject(subject);
    if (!parsed) return;
    if (parsed.kind === 'workloads') {
      this.tracker.observe(subject, value?.data as WorkloadRegistration | undefined, Date.now());
      this.reconciler.schedule();
    } else {
      this.reconciler.busChanged(subject);
    }
  }

  private async onElected(term: number): Promise<void> {
    this.metrics.leader.set(1);
    this.tracker.refreshAll(Date.now());
    this.reconciler.elected();
    void this.announceLeadership(term);
  }

  private scheduleReconcile(): void {
    this.reconciler.schedule();
  }

  /** Publishes leader.changed; the bus may be electing stream leaders itself, so retry for a while. */
  private async announceLeadership(term: number): Promise<void> {
    for (let attempt = 1; attempt <= 10 && this.isLeader && this.state !== 'destroyed'; attempt++) {
      try {
        await this.publisher!.publish('leaderChanged', subjects.leader('destination'), 'destination', { role: 'destination', holder: this.config.replicaId, term });
        return;
      } catch (err) {
        this.logger.warn({ err: errorMessage(err), attempt }, 'could not publish leader.changed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }
}
