import type { NatsConnection } from 'nats';
import { ensureStreams, failingKeysReadiness, JetStreamPublisher, LeaderElection, StateView, type BusEvent, type Publisher } from '@meshbus/bus';
import { busValidator, parseStateSubject, subjects } from '@meshbus/bus-schemas';
import type { PolicyComputation } from '@meshbus/policy';
import { errorMessage, Gauge, type Logger, type Service, type ServiceHost, type ServiceState } from '@meshbus/runtime';
import type { PolicyConfig } from './config.js';
import { policyStateKind, policyStateKinds, type PolicyStateData } from './policy-state.js';
import { PolicyReconciler } from './policy-reconciler.js';
import { BusServices } from './bus-services.js';
import { RegisteredWorkloads } from './registered-workloads.js';
import type { ResourceSource } from '@meshbus/manifests';

/** The running policy service. */
export interface PolicyService extends Service {
  readonly state: ServiceState;
  readonly isLeader: boolean;
  /** URL of the admin server (/live, /ready, /metrics), once started. */
  readonly adminUrl: string;
}

/**
 * The policy service: it reads policy and route resources and the registered
 * workloads, computes every inbound and outbound policy, and — when it holds
 * the `policy` lease — publishes what differs from the bus state. Standbys
 * compute the same and stay warm. Built by `createPolicyService`; runs on a
 * {@link ServiceHost}.
 */
export class PolicyServiceImpl implements PolicyService {
  private readonly logger: Logger;
  private readonly reconciler: PolicyReconciler;
  private readonly registered = new RegisteredWorkloads();
  private readonly busServices = new BusServices();
  private readonly leaderGauge: Gauge;
  private view: StateView | undefined;
  private publisher: Publisher | undefined;
  private election: LeaderElection | undefined;
  private manifestsRead = false;

  constructor(
    private readonly config: PolicyConfig,
    private readonly host: ServiceHost<NatsConnection>,
    private readonly source: ResourceSource,
    computation: PolicyComputation,
    now: () => Date,
  ) {
    this.logger = host.logger;
    host.readiness.add('state', () => (this.view?.ready ? undefined : 'bus state not synced'));
    host.readiness.add('manifests', () => (this.manifestsRead && this.reconciler.hasResources ? undefined : 'manifests not read'));
    host.readiness.addDetails('publishing', () => failingKeysReadiness(this.reconciler.failing).details ?? []);
    this.leaderGauge = new Gauge({ name: 'meshbus_policy_leader', help: '1 while this replica holds the policy lease.', registers: [host.registry] });
    this.reconciler = new PolicyReconciler({
      computation,
      publisher: () => this.publisher,
      bus: {
        get: (subject) => this.view?.get(subject)?.data as PolicyStateData | undefined,
        subjects: () => this.policySubjectsOnBus(),
      },
      isLeader: () => this.isLeader,
      mayPublish: () => this.isLeader && (this.view?.ready ?? false) && this.host.connected,
      logger: this.logger.child({ component: 'reconciler' }),
      registry: host.registry,
      now: () => now().getTime(),
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
    if (this.state === 'started') this.logger.info({ manifests: this.config.manifestsDir }, 'policy started');
  }

  private async startOnBus(nc: NatsConnection): Promise<void> {
    const { config, logger } = this;
    const resources = this.host.resources;
    this.host.onReconnect(() => this.reconciler.schedule());
    await ensureStreams(await nc.jetstreamManager(), {
      replicas: config.streamReplicas,
      eventsMaxAgeMs: config.eventsMaxAgeMs,
      metrics: config.metricsRetention,
      logger,
    });
    const validator = busValidator();
    this.publisher = new JetStreamPublisher({
      js: nc.jetstream(),
      validator,
      source: `/meshbus/policy/${config.replicaId}`,
      registry: this.host.registry,
      term: () => this.election?.term,
    });

    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator,
      logger: logger.child({ component: 'state-view' }),
      registry: this.host.registry,
      onChange: (subject, value) => this.onBusChange(subject, value),
      onFenced: ({ event }) => {
        if (policyStateKind(event.natsSubject)) this.reconciler.fenced(event.natsSubject);
      },
    });
    this.view = view;
    await view.start();
    resources.defer(view, () => view.stop());
    // The workloads already registered, before the first computation.
    for (const e of view.values('workloadRegistered')) this.registered.observe(e.natsSubject, e);
    this.reconciler.registeredChanged(this.registered.workloads);
    // Mirrored services and the readiness of service ports, likewise.
    for (const kind of ['mirroredService', 'endpointSet'] as const) for (const e of view.values(kind)) this.busServices.observe(e.natsSubject, e);
    this.reconciler.busServicesChanged(this.busServices.services, this.busServices.readiness);

    const source = this.source;
    await source.start((meshResources, problems) => {
      // The destination announces every manifest problem; the policy or route resources among them also get a status and a policy.rejected.
      if (problems.length > 0) logger.debug({ problems: problems.length }, 'manifests with problems');
      this.manifestsRead = true;
      this.reconciler.resourcesChanged(meshResources, problems);
    });
    resources.use(source);

    const election = new LeaderElection({
      nc,
      role: 'policy',
      holder: config.replicaId,
      leaseMs: config.leaseMs,
      replicas: config.streamReplicas,
      logger: logger.child({ component: 'leader-election' }),
      onElected: (term) => this.onElected(term),
      onDeposed: () => {
        this.leaderGauge.set(0);
        this.reconciler.deposed();
      },
    });
    this.election = election;
    await election.start();
    resources.defer(election, () => election.stop());

    // A look once a second covers a bus view that came back from a resync without any change to report.
    const timer = setInterval(() => this.reconciler.schedule(), 1000);
    resources.defer(null, () => clearInterval(timer));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Let a reconciliation in progress finish its publications before the connection drains.
    await this.host.stop(() => this.reconciler.stop());
  }

  private *policySubjectsOnBus(): Iterable<string> {
    const view = this.view;
    if (!view) return;
    for (const entry of Object.values(policyStateKinds)) for (const e of view.values(entry.snapshot)) yield e.natsSubject;
  }

  private onBusChange(subject: string, value: BusEvent | undefined): void {
    const kind = parseStateSubject(subject)?.kind;
    if (kind === 'workloads') {
      if (this.registered.observe(subject, value)) this.reconciler.registeredChanged(this.registered.workloads);
    } else if (kind === 'mirrors' || kind === 'endpoints') {
      if (this.busServices.observe(subject, value)) this.reconciler.busServicesChanged(this.busServices.services, this.busServices.readiness);
    } else if (policyStateKind(subject)) {
      this.reconciler.busChanged(subject);
    }
  }

  private onElected(term: number): void {
    this.leaderGauge.set(1);
    this.reconciler.elected();
    void this.announceLeadership(term);
  }

  /** Publishes leader.changed; the bus may be electing stream leaders itself, so retry for a while. */
  private async announceLeadership(term: number): Promise<void> {
    for (let attempt = 1; attempt <= 10 && this.isLeader && this.state !== 'destroyed'; attempt++) {
      try {
        await this.publisher!.publish('leaderChanged', subjects.leader('policy'), 'policy', { role: 'policy', holder: this.config.replicaId, term });
        return;
      } catch (err) {
        this.logger.warn({ err: errorMessage(err), attempt }, 'could not publish leader.changed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }
}
