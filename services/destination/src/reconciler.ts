import { StateReconciler, type Publisher, type RetryPolicy, type PublishFailure } from '@meshbus/bus';
import { subjects, type MirroredService, type WorkloadRegistration } from '@meshbus/bus-schemas';
import type { ManifestProblem, MeshResources } from '@meshbus/manifests';
import { canonicalJson, Counter, Gauge, Histogram, type Logger, type Registry } from '@meshbus/runtime';
import { DesiredStateIndex } from './desired-state.js';
import type { DestinationOptions } from './options.js';
import { expiryFingerprint, planReconcile, type OwnPublication, type StateData, type StateLookup } from './reconcile.js';
import type { RegistrationTracker } from './registrations.js';

/** What the reconciler reads of the bus. */
export interface BusStateReader {
  /** The stored value of a state subject; undefined when absent or a tombstone. */
  get(subject: string): StateData | undefined;
  /** Every endpoint-set and profile subject the bus holds. */
  subjects(): Iterable<string>;
}

/** Options of {@link Reconciler}. */
export interface ReconcilerOptions {
  readonly destination: DestinationOptions;
  readonly publisher: () => Publisher | undefined;
  readonly bus: BusStateReader;
  readonly tracker: RegistrationTracker;
  /** Whether this replica may publish now (leader, connected, bus state synced). */
  readonly mayPublish: () => boolean;
  readonly logger: Logger;
  readonly registry: Registry;
  /** @default Date.now */
  readonly now?: () => number;
  readonly retryPolicy?: RetryPolicy;
  /** Keys planned and published between two yields to the event loop. @default 64 */
  readonly sliceSize?: number;
}

/** Longest stretch of computation between two yields to the event loop. */
const sliceMs = 10;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The destination's side of the leader's {@link StateReconciler}: keeps the
 * desired state current, and adds the refused manifests (announced once) and
 * the expiries of registered workloads to what {@link planReconcile} asks to
 * publish. Work is cut into slices with a yield between them, so that a big
 * change never starves the lease renewals sharing the event loop.
 */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #desired: DesiredStateIndex;
  readonly #state: StateReconciler<StateData, OwnPublication>;
  #resources: MeshResources | undefined;
  #reportedProblems = new Set<string>();
  #unpublishedProblems: ManifestProblem[] = [];
  readonly #metrics: { problems: Gauge; recomputed: Counter };

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    this.#desired = new DesiredStateIndex(options.destination, {
      onShadowed: (key, mirror) => this.#logger.warn({ service: key, cluster: mirror.cluster }, 'a local Service hides the mirrored service of its name; the local one is served'),
    });
    const registers = [options.registry];
    const reconcile = new Histogram({
      name: 'meshbus_destination_reconcile_duration_seconds',
      help: 'Time to bring the desired state up to date and publish its differences.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.#state = new StateReconciler<StateData, OwnPublication>({
      desired: this.#desired,
      bus: options.bus,
      refresh: (now) => this.#refresh(now),
      plan: (slice) =>
        planReconcile({
          ...slice,
          expired: slice.first ? options.tracker.expired(slice.now) : [],
          problems: slice.first ? this.#unpublishedProblems.splice(0) : [],
        }),
      own: { publish: (publisher, p) => this.#publishOwn(publisher, p), retry: (p) => this.#retryOf(p) },
      publisher: options.publisher,
      mayPublish: options.mayPublish,
      logger: options.logger,
      registry: options.registry,
      metrics: { prefix: 'meshbus_destination', publishedHelp: 'State snapshots and tombstones published, by kind.', passDuration: reconcile },
      publishedMessage: 'published state changes',
      now: this.#now,
      ...(options.retryPolicy === undefined ? {} : { retryPolicy: options.retryPolicy }),
      sliceSize: options.sliceSize ?? 64,
    });
    this.#metrics = {
      problems: new Gauge({ name: 'meshbus_destination_manifest_problems', help: 'Manifest files or resources currently refused.', registers }),
      recomputed: new Counter({ name: 'meshbus_destination_services_recomputed_total', help: 'Services whose endpoint sets and profile were recomputed.', registers }),
    };
  }

  /** Whether the manifests have been read at least once. */
  get hasResources(): boolean {
    return this.#resources !== undefined;
  }

  /** Subjects whose publication is failing, with the last error, for /ready. */
  get failing(): ReadonlyMap<string, PublishFailure> {
    return this.#state.failing;
  }

  /** The desired state, for inspection. */
  get desired(): StateLookup & { readonly size: number } {
    return this.#desired;
  }

  /** New resources from the source. */
  resourcesChanged(resources: MeshResources, problems: readonly ManifestProblem[], isLeader: boolean): void {
    this.#resources = resources;
    this.#metrics.problems.set(problems.length);
    const current = new Set<string>();
    for (const p of problems) {
      const key = canonicalJson(p);
      current.add(key);
      if (this.#reportedProblems.has(key)) continue;
      this.#logger.warn({ file: p.file, kind: p.kind, namespace: p.namespace, name: p.name, reason: p.reason }, 'manifest refused');
      if (isLeader) this.#unpublishedProblems.push(p);
    }
    this.#reportedProblems = current;
    this.schedule();
  }

  /** A state subject changed on the bus (or went away). */
  busChanged(subject: string): void {
    this.#state.busChanged(subject);
  }

  /** A service mirrored from a linked cluster changed on the bus (undefined: it was removed). */
  mirrorChanged(key: string, mirror: MirroredService | undefined): void {
    this.#desired.setMirror(key, mirror);
    this.schedule();
  }

  /** The view refused the newest write of `subject` (a deposed leader's late write): it is written again. */
  fenced(subject: string): void {
    this.#state.fenced(subject);
  }

  /** This replica became leader: compare everything once. */
  elected(): void {
    this.#state.elected();
  }

  deposed(): void {
    this.#state.deposed();
    this.#unpublishedProblems = [];
  }

  /** Asks for a reconciliation soon; several requests made meanwhile are served by one. */
  schedule(): void {
    this.#state.schedule();
  }

  /** Stops scheduling and waits for a reconciliation in progress to finish its publications. */
  stop(): Promise<void> {
    return this.#state.stop();
  }

  /** Brings the desired state up to date; the subjects it changed. */
  async #refresh(now: number): Promise<Iterable<string> | undefined> {
    const resources = this.#resources;
    if (!resources) return undefined;
    const recomputed = await this.#updateDesired(resources, this.#options.tracker.live(now));
    this.#metrics.recomputed.inc(recomputed);
    return this.#desired.takeChanged();
  }

  /** Recomputes what changed, letting the event loop run at least every {@link sliceMs}. */
  async #updateDesired(resources: MeshResources, registered: WorkloadRegistration[]): Promise<number> {
    const steps = this.#desired.updateInSteps(resources, registered);
    let sliceStart = performance.now();
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      if (performance.now() - sliceStart < sliceMs) continue;
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }

  async #publishOwn(publisher: Publisher, p: OwnPublication): Promise<undefined> {
    if (p.type === 'manifestRejected') {
      const data = Object.fromEntries(Object.entries(p.problem).filter(([, v]) => v !== undefined)) as unknown as ManifestProblem;
      await publisher.publish('manifestRejected', subjects.manifestRejected, p.problem.file, data);
      return undefined;
    }
    const key = `${p.namespace}/${p.name}`;
    await publisher.publish('workloadDeregistered', p.subject, key, { reason: 'heartbeat expired' });
    await publisher.publish('workloadExpired', subjects.workloadExpired, key, { namespace: p.namespace, name: p.name, lastHeartbeat: p.lastHeartbeat });
    this.#options.tracker.observe(p.subject, undefined, this.#now());
    this.#logger.info({ namespace: p.namespace, name: p.name }, 'registered workload expired');
    return undefined;
  }

  #retryOf(p: OwnPublication) {
    if (p.type === 'expiry') return { kind: 'workloadDeregistered', key: { subject: p.subject, fingerprint: expiryFingerprint } } as const;
    return {
      kind: 'manifestRejected',
      requeue: (error: string) => {
        this.#unpublishedProblems.push(p.problem);
        this.#logger.warn({ file: p.problem.file, err: error }, 'could not publish manifest.rejected; retrying');
      },
    } as const;
  }
}
