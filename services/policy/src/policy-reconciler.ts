import { NotLeaderError, StateReconciler, type Publisher, type PublishFailure, type RetryPolicy } from '@meshbus/bus';
import { subjects, type FailoverChanged, type PolicyRejected } from '@meshbus/bus-schemas';
import type { ManifestProblem, MeshResources, Service, Workload } from '@meshbus/manifests';
import type { PolicyComputation } from '@meshbus/policy';
import { Counter, errorMessage, Gauge, Histogram, type Logger, type Registry } from '@meshbus/runtime';
import { failoverStates } from './failover-events.js';
import { changedSubjects, desiredPolicyState, type PolicyStateData, type PolicyStateLookup } from './policy-state.js';
import { failoverFingerprint, newRejections, planPublications, type FailoverPublication, type RejectionPublication } from './publish-plan.js';
import type { PolicyServiceInputs } from './manifest-problems.js';

/** What the reconciler reads of the bus. */
export interface PolicyBusReader extends PolicyStateLookup {
  /** Every subject of the four policy kinds the bus holds a value for. */
  subjects(): Iterable<string>;
}

/** Options of {@link PolicyReconciler}. */
export interface PolicyReconcilerOptions {
  readonly computation: PolicyComputation;
  readonly publisher: () => Publisher | undefined;
  readonly bus: PolicyBusReader;
  /** Whether this replica holds the lease (rejections found meanwhile are announced). */
  readonly isLeader: () => boolean;
  /** Whether this replica may publish now (leader, connected, bus state synced). */
  readonly mayPublish: () => boolean;
  readonly logger: Logger;
  readonly registry: Registry;
  /** @default Date.now */
  readonly now?: () => number;
  readonly retryPolicy?: RetryPolicy;
  /** Failover changes held while the bus does not store them; the oldest is dropped beyond. @default 1000 */
  readonly failoverCapacity?: number;
}

/** What the reconciler publishes besides the policy state. */
type OwnPolicyPublication = RejectionPublication | FailoverPublication;

const routeOf = (c: FailoverChanged) => `${c.namespace}/${c.route}`;

/**
 * The policy service's side of the leader's {@link StateReconciler}: feeds
 * the computation every change of its inputs, and announces each rejected
 * resource once beside the policy subjects {@link planPublications} asks to
 * write. Standbys compute the same and stay warm.
 */
export class PolicyReconciler {
  readonly #options: PolicyReconcilerOptions;
  readonly #logger: Logger;
  readonly #state: StateReconciler<PolicyStateData, OwnPolicyPublication>;
  #resources: MeshResources | undefined;
  #registered: readonly Workload[] = [];
  #problems: readonly ManifestProblem[] = [];
  #mirrors: readonly Service[] = [];
  #readiness: ReadonlyMap<string, boolean> | undefined;
  /** Where each failover route's rule stands, by the keys of `failoverStates`. */
  #failovers = new Map<string, FailoverChanged>();
  #merged: { resources: MeshResources; mirrors: readonly Service[]; value: MeshResources } | undefined;
  #inputsChanged = false;
  #computed = false;
  #knownRejections = new Set<string>();
  #unannounced: PolicyRejected[] = [];
  /** Failover changes announced while leading and not yet stored, oldest first. */
  #failoverQueue: FailoverPublication[] = [];
  readonly #metrics: { recompute: Histogram; rejected: Gauge; failoversDropped: Counter };

  constructor(options: PolicyReconcilerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    const registers = [options.registry];
    this.#state = new StateReconciler<PolicyStateData, OwnPolicyPublication>({
      desired: desiredPolicyState(() => options.computation.result),
      bus: options.bus,
      refresh: () => this.#refresh(),
      plan: (slice) =>
        planPublications({ ...slice, rejections: slice.first ? this.#unannounced.splice(0) : [], ...(slice.first ? { failovers: this.#failoverQueue } : {}) }),
      own: {
        publish: (publisher, p) => (p.type === 'rejected' ? this.#announce(publisher, p) : this.#announceFailover(publisher, p)),
        retry: (p) =>
          p.type === 'failover'
            ? { kind: 'policyFailoverChanged', key: { subject: p.subject, fingerprint: failoverFingerprint } }
            : {
                kind: 'policyRejected',
                requeue: (error) => {
                  this.#unannounced.push(p.rejection);
                  this.#logger.warn({ file: p.rejection.file, err: error }, 'could not publish policy.rejected; retrying');
                },
              },
      },
      publisher: options.publisher,
      mayPublish: options.mayPublish,
      logger: options.logger,
      registry: options.registry,
      metrics: { prefix: 'meshbus_policy', publishedHelp: 'Policy snapshots, tombstones and rejections published, by kind.' },
      publishedMessage: 'published policy changes',
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.retryPolicy === undefined ? {} : { retryPolicy: options.retryPolicy }),
    });
    this.#metrics = {
      recompute: new Histogram({
        name: 'meshbus_policy_recompute_duration_seconds',
        help: 'Time the policy computation took to take in one change of its inputs.',
        buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers,
      }),
      rejected: new Gauge({ name: 'meshbus_policy_rejected_resources', help: 'Policy and route resources currently rejected.', registers }),
      failoversDropped: new Counter({
        name: 'meshbus_policy_failover_events_dropped_total',
        help: 'policy.failover-changed events given up on: more were waiting for the bus than the service holds.',
        registers,
      }),
    };
  }

  /** Whether the manifests have been read and the policy computed from them. */
  get hasResources(): boolean {
    return this.#computed;
  }

  /** Subjects whose publication is failing, with the last error, for /ready. */
  get failing(): ReadonlyMap<string, PublishFailure> {
    return this.#state.failing;
  }

  /** New resources from the source. */
  resourcesChanged(resources: MeshResources, problems: readonly ManifestProblem[] = []): void {
    this.#resources = resources;
    this.#problems = problems;
    this.#inputsChanged = true;
    this.schedule();
  }

  /** The registered workloads changed on the bus. */
  registeredChanged(workloads: readonly Workload[]): void {
    this.#registered = workloads;
    this.#inputsChanged = true;
    this.schedule();
  }

  /** The mirrored services (as Services) or the readiness of service ports changed on the bus. */
  busServicesChanged(mirrors: readonly Service[], readiness: ReadonlyMap<string, boolean>): void {
    this.#mirrors = mirrors;
    this.#readiness = readiness;
    this.#inputsChanged = true;
    this.schedule();
  }

  /** A policy subject changed on the bus (or went away). */
  busChanged(subject: string): void {
    this.#state.busChanged(subject);
  }

  /** The view refused the newest write of `subject` (a deposed leader's): write the desired value again. */
  fenced(subject: string): void {
    this.#state.fenced(subject);
  }

  /** This replica became leader: compare everything once. */
  elected(): void {
    this.#state.elected();
  }

  deposed(): void {
    this.#state.deposed();
    this.#unannounced = [];
    this.#failoverQueue = [];
  }

  /** Asks for a reconciliation soon; several requests made meanwhile are served by one. */
  schedule(): void {
    this.#state.schedule();
  }

  /** Stops scheduling and waits for a reconciliation in progress to finish its publications. */
  stop(): Promise<void> {
    return this.#state.stop();
  }

  /** Recomputes when an input changed; the subjects the computation changed. */
  #refresh(): Iterable<string> | undefined {
    const resources = this.#resources;
    if (!resources) return undefined;
    if (!this.#inputsChanged) return [];
    this.#inputsChanged = false;
    return this.#recompute(resources);
  }

  #recompute(resources: MeshResources): string[] {
    const end = this.#metrics.recompute.startTimer();
    const inputs: PolicyServiceInputs = {
      resources: this.#withMirrors(resources),
      registered: this.#registered,
      problems: this.#problems,
      ...(this.#readiness ? { readiness: this.#readiness } : {}),
    };
    const changes = this.#options.computation.update(inputs);
    end();
    this.#computed = true;
    const rejected = this.#options.computation.result.rejected;
    this.#metrics.rejected.set(rejected.length);
    const { fresh, known } = newRejections(this.#knownRejections, rejected);
    this.#knownRejections = known;
    for (const r of fresh) {
      this.#logger.warn({ file: r.file, kind: r.kind, namespace: r.namespace, name: r.name, reason: r.reason, code: r.code }, 'policy resource rejected');
      if (this.#options.isLeader()) this.#unannounced.push(r);
    }
    this.#failoverChanges(changes.outbound, inputs.resources);
    return changedSubjects(changes);
  }

  /** Announces each failover route's rule that failed over or came back (while leading). */
  #failoverChanges(outbound: ReadonlySet<string>, resources: MeshResources): void {
    const result = this.#options.computation.result;
    for (const key of outbound) {
      const now = failoverStates(key, result.outbound.get(key), resources);
      for (const id of [...this.#failovers.keys()]) if (id.startsWith(`${key}|`) && !now.has(id)) this.#failovers.delete(id);
      for (const [id, state] of now) {
        const before = this.#failovers.get(id);
        this.#failovers.set(id, state);
        if ((before?.failedOver ?? false) === state.failedOver) continue;
        this.#logger.info({ route: `${state.namespace}/${state.route}`, rule: state.rule, service: `${state.serviceNamespace}/${state.service}:${state.port}`, failedOver: state.failedOver }, state.failedOver ? 'failed over from the primary backend' : 'primary backend back');
        if (this.#options.isLeader()) this.#queueFailover({ type: 'failover', subject: subjects.policyFailoverChanged(state.namespace, state.route), change: state });
      }
    }
  }

  /** Holds a failover change until the bus stores it (published by the reconciliation this recomputation belongs to). */
  #queueFailover(p: FailoverPublication): void {
    const capacity = this.#options.failoverCapacity ?? 1000;
    while (this.#failoverQueue.length >= capacity) {
      const dropped = this.#failoverQueue.shift()!;
      this.#metrics.failoversDropped.inc();
      this.#logger.error(
        { route: routeOf(dropped.change), rule: dropped.change.rule, failedOver: dropped.change.failedOver, waiting: capacity },
        'dropped a policy.failover-changed event the bus has not stored: too many are waiting',
      );
    }
    this.#failoverQueue.push(p);
  }

  /** Publishes a failover change; once stored it leaves the queue. A failure is logged and thrown, to be retried with the route's backoff. */
  async #announceFailover(publisher: Publisher, p: FailoverPublication): Promise<'policyFailoverChanged'> {
    const c = p.change;
    const failure = this.#state.failing.get(p.subject);
    try {
      await publisher.publish('policyFailoverChanged', p.subject, `${c.namespace}/${c.kind}/${c.route}`, c);
    } catch (err) {
      if (err instanceof NotLeaderError) throw err;
      this.#logger.warn(
        { route: routeOf(c), rule: c.rule, failedOver: c.failedOver, attempts: (failure?.attempts ?? 0) + 1, err: errorMessage(err) },
        'could not publish policy.failover-changed; retrying with backoff',
      );
      throw err;
    }
    const i = this.#failoverQueue.indexOf(p);
    if (i >= 0) this.#failoverQueue.splice(i, 1);
    if (failure) this.#logger.info({ route: routeOf(c), rule: c.rule, failedOver: c.failedOver, failedAttempts: failure.attempts }, 'published policy.failover-changed after failed attempts');
    return 'policyFailoverChanged';
  }

  /** The resources with the mirrored services among their Services (a local Service of the same name wins). */
  #withMirrors(resources: MeshResources): MeshResources {
    const mirrors = this.#mirrors;
    if (mirrors.length === 0) return resources;
    const held = this.#merged;
    if (held?.resources === resources && held.mirrors === mirrors) return held.value;
    const local = new Set(resources.services.map((s) => `${s.namespace}/${s.name}`));
    const services = [...resources.services, ...mirrors.filter((m) => !local.has(`${m.namespace}/${m.name}`))];
    const value = { ...resources, services };
    this.#merged = { resources, mirrors, value };
    return value;
  }

  async #announce(publisher: Publisher, p: RejectionPublication): Promise<'policyRejected'> {
    const data = Object.fromEntries(Object.entries(p.rejection).filter(([, v]) => v !== undefined)) as unknown as PolicyRejected;
    await publisher.publish('policyRejected', subjects.policyRejected, `${p.rejection.namespace}/${p.rejection.kind}/${p.rejection.name}`, data);
    return 'policyRejected';
  }
}
