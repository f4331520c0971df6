import type { NatsConnection } from 'nats';
import {
  ensureStreams,
  JetStreamPublisher,
  LeaderElection,
  NotLeaderError,
  StateView,
  type BusEvent,
  type Publisher,
} from '@meshbus/bus';
import {
  busValidator,
  parseStateSubject,
  subjects,
  type EndpointSet,
  type ServiceProfileState,
} from '@meshbus/bus-schemas';
import type { ManifestProblem, MeshResources } from '@meshbus/manifests';
import {
  canonicalJson,
  Counter,
  errorMessage,
  Gauge,
  Histogram,
  type Logger,
  type Registry,
  type ResourceStack,
  type Service,
  type ServiceHost,
  type ServiceState,
} from '@meshbus/runtime';
import { computeDestinationState } from './compute.js';
import type { DestinationConfig } from './config.js';
import { diffState } from './diff.js';
import { RegistrationTracker } from './registrations.js';
import type { ResourceSource } from './resource-source.js';
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

type StateData = EndpointSet | ServiceProfileState;

const publishBatch = 256;

/**
 * The destination service: it reads mesh resources, computes every endpoint
 * set and profile, and — when it holds the leader lease — publishes what
 * differs from the bus state. Standbys compute the same and stay warm.
 * Built by `createDestinationService`; runs on a {@link ServiceHost}.
 */
export class DestinationServiceImpl implements DestinationService {
  private readonly resources: ResourceStack;
  private readonly logger: Logger;
  private readonly registry: Registry;
  private readonly tracker = new RegistrationTracker();
  /** What this leader published and the view has not confirmed yet; null is a tombstone. */
  private readonly overlay = new Map<string, StateData | null>();
  /** Keys whose last write on the bus came from a deposed leader (refused by the view): the leader writes them again. */
  private readonly fenced = new Set<string>();
  private reportedProblems = new Set<string>();
  private readonly unpublishedProblems: ManifestProblem[] = [];
  private meshResources: MeshResources | undefined;
  private view: StateView | undefined;
  private publisher: Publisher | undefined;
  private election: LeaderElection | undefined;
  private reconciling = false;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private workloadState: WorkloadState | undefined;
  private registration: RegistrationResponder | undefined;
  private readonly metrics: {
    leader: Gauge;
    published: Counter<'kind'>;
    reconcile: Histogram;
    problems: Gauge;
    failures: Counter;
  };

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
    host.readiness.add('manifests', () => (this.meshResources ? undefined : 'manifests not read'));
    this.metrics = {
      leader: new Gauge({ name: 'meshbus_destination_leader', help: '1 while this replica holds the destination lease.', registers: [registry] }),
      published: new Counter({ name: 'meshbus_destination_published_total', help: 'State snapshots and tombstones published, by kind.', labelNames: ['kind'], registers: [registry] }),
      reconcile: new Histogram({
        name: 'meshbus_destination_reconcile_duration_seconds',
        help: 'Time to compute the desired state and publish its differences.',
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers: [registry],
      }),
      problems: new Gauge({ name: 'meshbus_destination_manifest_problems', help: 'Manifest files or resources currently refused.', registers: [registry] }),
      failures: new Counter({ name: 'meshbus_destination_publish_failures_total', help: 'Reconciliations that failed to publish and will be retried.', registers: [registry] }),
    };
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

  /** The bus connection's health, as the host follows it. */
  private get connection(): { readonly connected: boolean } {
    return this.host;
  }

  async start(): Promise<void> {
    await this.host.start((nc) => this.startOnBus(nc));
    if (this.state === 'started') this.logger.info({ manifests: this.config.manifestsDir }, 'destination started');
  }

  private async startOnBus(nc: NatsConnection): Promise<void> {
    const { config, logger } = this;
    this.host.onReconnect(() => this.scheduleReconcile());
    await ensureStreams(await nc.jetstreamManager(), { replicas: config.streamReplicas, eventsMaxAgeMs: config.eventsMaxAgeMs });
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
        if (parseStateSubject(event.natsSubject)?.kind === 'workloads') return;
        this.fenced.add(event.natsSubject);
        this.scheduleReconcile();
      },
      onRejected: (subject, error) => workloadState.rejected(subject, error.reason, error.message),
    });
    this.view = view;
    await view.start();
    this.resources.defer(view, () => view.stop());

    const source = this.source;
    await source.start((resources, problems) => {
      this.meshResources = resources;
      this.reportProblems(problems);
      this.scheduleReconcile();
    });
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
        this.overlay.clear();
      },
    });
    this.election = election;
    await election.start();
    this.resources.defer(election, () => election.stop());

    const registration = await startRegistrationResponder({
      nc, config, validator, tokens: registrationTokens, state: workloadState, isLeader: () => this.isLeader, ready: () => view.ready, logger: logger.child({ component: 'registration' }), registry: this.registry,
    });
    this.registration = registration;
    this.resources.defer(registration, () => registration.stop());

    this.expiryTimer = setInterval(() => this.scheduleReconcile(), 1000);
    this.resources.defer(null, () => clearInterval(this.expiryTimer));
    this.resources.defer(null, () => clearTimeout(this.retryTimer));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.host.stop(async () => {
      // Let a reconciliation in progress finish its publications before the connection drains.
      while (this.reconciling) await new Promise((r) => setTimeout(r, 10));
    });
  }


  private onBusChange(subject: string, value: BusEvent | undefined): void {
    const parsed = parseStateSubject(subject);
    if (!parsed) return;
    this.fenced.delete(subject);
    if (parsed.kind === 'workloads') {
      this.workloadState?.observe(subject, value);
    } else {
      this.overlay.delete(subject);
    }
    this.scheduleReconcile();
  }

  private async onElected(term: number): Promise<void> {
    this.metrics.leader.set(1);
    this.overlay.clear();
    this.tracker.refreshAll(this.now().getTime());
    this.registration?.leadershipChanged();
    this.workloadState?.restoreRefused();
    this.scheduleReconcile();
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

  private reportProblems(problems: readonly ManifestProblem[]): void {
    this.metrics.problems.set(problems.length);
    const current = new Set<string>();
    for (const p of problems) {
      const key = canonicalJson(p);
      current.add(key);
      if (this.reportedProblems.has(key)) continue;
      this.logger.warn({ file: p.file, kind: p.kind, namespace: p.namespace, name: p.name, reason: p.reason }, 'manifest refused');
      if (this.isLeader) this.unpublishedProblems.push(p);
    }
    this.reportedProblems = current;
  }

  /** Publishes refused manifests; one that fails stays queued for the next reconciliation. */
  private async publishProblems(): Promise<void> {
    while (this.unpublishedProblems.length > 0) {
      const p = this.unpublishedProblems[0]!;
      const data = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as ManifestProblem;
      await this.publisher!.publish('manifestRejected', subjects.manifestRejected, p.file, data);
      this.unpublishedProblems.shift();
    }
  }

  private scheduleReconcile(): void {
    this.dirty = true;
    if (this.reconciling || this.state === 'destroyed') return;
    this.reconciling = true;
    setImmediate(() => void this.reconcileLoop());
  }

  private async reconcileLoop(): Promise<void> {
    try {
      while (this.dirty && this.state !== 'destroyed') {
        this.dirty = false;
        const end = this.metrics.reconcile.startTimer();
        await this.reconcileOnce();
        end();
      }
    } catch (err) {
      // Deposed in the middle of a reconciliation is no failure: look again at once (nothing to do
      // unless elected again meanwhile).
      const deposed = err instanceof NotLeaderError;
      if (deposed) {
        this.logger.debug('stepped down during a reconciliation');
      } else {
        this.metrics.failures.inc();
        this.logger.warn({ err: errorMessage(err) }, 'publishing failed; retrying');
      }
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.scheduleReconcile(), deposed ? 0 : 1000);
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    const view = this.view;
    if (!this.isLeader || !this.meshResources || !view?.ready || !this.connection?.connected) return;
    const publisher = this.publisher!;
    const now = this.now().getTime();
    await this.publishProblems();

    for (const expired of this.tracker.expired(now)) {
      const { namespace, name } = expired.registration;
      await publisher.publish('workloadDeregistered', expired.subject, `${namespace}/${name}`, { reason: 'heartbeat expired' });
      await publisher.publish('workloadExpired', subjects.workloadExpired, `${namespace}/${name}`, {
        namespace,
        name,
        lastHeartbeat: new Date(expired.lastSeen).toISOString(),
      });
      this.tracker.observe(expired.subject, undefined, now);
      this.logger.info({ namespace, name }, 'registered workload expired');
    }

    const desiredState = computeDestinationState(this.meshResources, this.tracker.live(now), {
      controlNamespace: this.config.controlNamespace,
      trustDomain: this.config.trustDomain,
      inboundProxyPort: this.config.inboundProxyPort,
      clusterDomain: this.config.clusterDomain,
    });
    const desired = new Map<string, StateData>([...desiredState.endpointSets, ...desiredState.profiles]);
    const current = new Map<string, StateData>();
    for (const e of view.values('endpointSet')) current.set(e.natsSubject, e.data as EndpointSet);
    for (const e of view.values('serviceProfile')) current.set(e.natsSubject, e.data as ServiceProfileState);
    // A value no desired state equals: the key is published again (or deleted again).
    for (const k of this.fenced) current.set(k, {} as StateData);
    for (const [k, v] of this.overlay) {
      if (v === null) current.delete(k);
      else current.set(k, v);
    }
    const { upserts, deletes } = diffState(desired, current);
    const jobs: (() => Promise<unknown>)[] = [];
    for (const [subject, data] of upserts) {
      const parsed = parseStateSubject(subject)!;
      const key = parsed.key.join('/');
      jobs.push(async () => {
        if (parsed.kind === 'endpoints') await publisher.publish('endpointSet', subject, key, data as EndpointSet);
        else await publisher.publish('serviceProfile', subject, key, data as ServiceProfileState);
        this.overlay.set(subject, data);
        this.metrics.published.inc({ kind: parsed.kind });
      });
    }
    for (const subject of deletes) {
      const parsed = parseStateSubject(subject)!;
      const key = parsed.key.join('/');
      jobs.push(async () => {
        const kind = parsed.kind === 'endpoints' ? 'endpointSetDeleted' : 'serviceProfileDeleted';
        await publisher.publish(kind, subject, key, { reason: 'service removed' });
        this.overlay.set(subject, null);
        this.metrics.published.inc({ kind: `${parsed.kind}-deleted` });
      });
    }
    for (let i = 0; i < jobs.length; i += publishBatch) {
      await Promise.all(jobs.slice(i, i + publishBatch).map((j) => j()));
    }
    if (jobs.length > 0) this.logger.info({ upserts: upserts.length, deletes: deletes.length }, 'published state changes');
  }
}
