import type { NatsConnection } from 'nats';
import { ensureStreams, failingKeysReadiness, JetStreamPublisher, LeaderElection, StateView, type BusEvent, type Publisher } from '@meshbus/bus';
import { busValidator, parseStateSubject, subjects, type MirroredService } from '@meshbus/bus-schemas';
import {
  errorMessage,
  Gauge,
  type Logger,
  type Registry,
  type ResourceStack,
  type Service,
  type ServiceHost,
  type ServiceState,
} from '@meshbus/runtime';
import type { DestinationConfig } from './config.js';
import { Reconciler } from './reconciler.js';
import { busStateReader } from './reconciler-adapters.js';
import { RegistrationTracker } from './registrations.js';
import type { ResourceSource } from '@meshbus/manifests';
import type { RegistrationResponder } from './registration-responder.js';
import { registrationTokenValidator, startRegistrationResponder } from './registration-wiring.js';
import { WorkloadState } from './workload-state.js';

/** The running destination service. */
export interface DestinationService extends Service {
  readonly state: ServiceState;
  readonly isLeader: boolean;
  /** URL of the admin server (/live, /ready, /metrics), once started. */
  readonly adminUrl: string;
}

/**
 * The destination service: it reads mesh resources, computes every endpoint
 * set and profile, and — when it holds the leader lease — publishes what
 * differs from the bus state (through the {@link Reconciler}). Standbys
 * compute the same and stay warm. Built by `createDestinationService`; runs on
 * a {@link ServiceHost}.
 */
export class DestinationServiceImpl implements DestinationService {
  private readonly resources: ResourceStack;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly tracker = new RegistrationTracker();
  private readonly reconciler: Reconciler;
  private view: StateView | undefined;
  private publisher: Publisher | undefined;
  private election: LeaderElection | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private workloadState: WorkloadState | undefined;
  private registration: RegistrationResponder | undefined;
  private readonly metrics: { leader: Gauge };

  constructor(
    private readonly config: DestinationConfig,
    private readonly host: ServiceHost<NatsConnection>,
    private readonly source: ResourceSource,
    private readonly now: () => Date,
  ) {
    this.resources = host.resources;
    this.logger = host.logger;
    const registry = (this.registry = host.registry);
    host.readiness.add('state', () => (this.view?.ready ? undefined : 'bus state not synced'));
    host.readiness.add('manifests', () => (this.reconciler.hasResources ? undefined : 'manifests not read'));
    host.readiness.addDetails('publishing', () => failingKeysReadiness(this.reconciler.failing).details ?? []);
    this.metrics = {
      leader: new Gauge({ name: 'meshbus_destination_leader', help: '1 while this replica holds the destination lease.', registers: [registry] }),
    };
    this.reconciler = new Reconciler({
      destination: config,
      publisher: () => this.publisher,
      bus: busStateReader(() => this.view),
      tracker: this.tracker,
      mayPublish: () => this.isLeader && (this.view?.ready ?? false) && this.host.connected,
      logger: this.logger.child({ component: 'reconciler' }),
      registry,
      now: () => this.now().getTime(),
    });
  }

  get isLeader(): boolean {
    return this.election?.isLeader ?? false;
  }

  get state(): ServiceState {
    return this.host.state;
  }

  get adminUrl(): string {
    return this.host.adminUrl;
  }

  async start(): Promise<void> {
    await this.host.start((nc) => this.startOnBus(nc));
    if (this.state === 'started') this.logger.info({ manifests: this.config.manifestsDir }, 'destination started');
  }

  private async startOnBus(nc: NatsConnection): Promise<void> {
    const { config, logger } = this;
    this.host.onReconnect(() => this.reconciler.schedule());
    await ensureStreams(await nc.jetstreamManager(), { replicas: config.streamReplicas, eventsMaxAgeMs: config.eventsMaxAgeMs, metrics: config.metricsRetention, logger });
    const validator = busValidator();
    this.publisher = new JetStreamPublisher({
      js: nc.jetstream(),
      validator,
      source: `/meshbus/destination/${config.replicaId}`,
      registry: this.registry,
      term: () => this.election?.term,
    });

    const workloadState = new WorkloadState({ tracker: this.tracker, publisher: () => this.publisher, isLeader: () => this.isLeader, logger: logger.child({ component: 'workload-state' }), registry: this.registry });
    this.workloadState = workloadState;
    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator,
      logger: logger.child({ component: 'state-view' }),
      registry: this.registry,
      onChange: (subject, value) => this.onBusChange(subject, value),
      onFenced: ({ event }) => {
        // Workload state is restored by the workload-state guard; endpoint sets and profiles by the reconciler.
        // Mirrored services are the multicluster leader's to restore.
        const kind = parseStateSubject(event.natsSubject)?.kind;
        if (kind === 'workloads' || kind === 'mirrors') return;
        this.reconciler.fenced(event.natsSubject);
      },
      onRejected: (subject, error) => workloadState.rejected(subject, error.reason, error.message),
    });
    this.view = view;
    await view.start();
    this.resources.defer(view, () => view.stop());

    const source = this.source;
    await source.start((resources, problems) => this.reconciler.resourcesChanged(resources, problems, this.isLeader));
    this.resources.use(source);

    const registrationTokens = await registrationTokenValidator(config);
    const election = new LeaderElection({
      nc,
      role: 'destination',
      holder: config.replicaId,
      leaseMs: config.leaseMs,
      replicas: config.streamReplicas,
      logger: logger.child({ component: 'leader-election' }),
      onElected: (term) => this.onElected(term),
      onDeposed: () => {
        this.registration?.leadershipChanged();
        this.metrics.leader.set(0);
        this.reconciler.deposed();
      },
    });
    this.election = election;
    await election.start();
    this.resources.defer(election, () => election.stop());

    const registration = await startRegistrationResponder({
      nc,
      config,
      validator,
      tokens: registrationTokens,
      state: workloadState,
      isLeader: () => this.isLeader,
      ready: () => view.ready,
      logger: logger.child({ component: 'registration' }),
      registry: this.registry,
    });
    this.registration = registration;
    this.resources.defer(registration, () => registration.stop());

    // Heartbeat expiry is checked once a second.
    this.expiryTimer = setInterval(() => this.reconciler.schedule(), 1000);
    this.resources.defer(null, () => clearInterval(this.expiryTimer));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Let a reconciliation in progress finish its publications before the connection drains.
    await this.host.stop(() => this.reconciler.stop());
  }

  private onBusChange(subject: string, value: BusEvent | undefined): void {
    const parsed = parseStateSubject(subject);
    if (!parsed) return;
    if (parsed.kind === 'workloads') {
      this.workloadState?.observe(subject, value);
      this.reconciler.schedule();
    } else if (parsed.kind === 'mirrors') {
      this.onMirrorChange(subject, parsed.key, value);
    } else {
      this.reconciler.busChanged(subject);
    }
  }

  /** A mirrored service as the multicluster leader wrote it: served unless its subject and body disagree. */
  private onMirrorChange(subject: string, key: readonly string[], value: BusEvent | undefined): void {
    if (key.length !== 2) return;
    const name = `${key[0]}/${key[1]}`;
    if (value === undefined) {
      this.reconciler.mirrorChanged(name, undefined);
      return;
    }
    if (value.kind !== 'mirroredService') return;
    const mirror = value.data as MirroredService;
    if (`${mirror.namespace}/${mirror.service}` !== name) {
      this.logger.warn({ subject, namespace: mirror.namespace, service: mirror.service }, 'ignored a mirrored service published under another name');
      this.reconciler.mirrorChanged(name, undefined);
      return;
    }
    this.reconciler.mirrorChanged(name, mirror);
  }

  private async onElected(term: number): Promise<void> {
    this.metrics.leader.set(1);
    this.tracker.refreshAll(this.now().getTime());
    this.registration?.leadershipChanged();
    this.workloadState?.restoreRefused();
    this.reconciler.elected();
    void this.announceLeadership(term);
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
