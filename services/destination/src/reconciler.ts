import { NotLeaderError, type Publisher } from '@meshbus/bus';
import { subjects, type EndpointSet, type ServiceProfileState, type WorkloadRegistration } from '@meshbus/bus-schemas';
import type { ManifestProblem, MeshResources } from '@meshbus/manifests';
import { canonicalJson, Counter, errorMessage, Gauge, Histogram, type Logger, type Registry } from '@meshbus/runtime';
import { DesiredStateIndex } from './desired-state.js';
import type { DestinationOptions } from './options.js';
import { defaultRetryPolicy, recordFailure, type PublishFailure, type RetryPolicy } from '@meshbus/bus';
import { expiryFingerprint, planReconcile, type Publication, type StateData, type StateLookup } from './reconcile.js';
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

/** Publications in flight at once. */
const publishBatch = 256;

const fencedValue = {} as StateData;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Drives the pure core: keeps the desired state current, asks
 * {@link planReconcile} what to publish, publishes it and records the
 * outcome of each key. Work is cut into slices with a yield between them, so
 * that a big change never starves the lease renewals sharing the event loop.
 */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #desired: DesiredStateIndex;
  /** What this leader published and the view has not confirmed yet; null is a tombstone. */
  readonly #overlay = new Map<string, StateData | null>();
  readonly #failures = new Map<string, PublishFailure>();
  /** Keys whose last write on the bus came from a deposed leader (refused by the view): written again. */
  readonly #fenced = new Set<string>();
  #dirtyKeys = new Set<string>();
  #everything = false;
  #resources: MeshResources | undefined;
  #reportedProblems = new Set<string>();
  #unpublishedProblems: ManifestProblem[] = [];
  #running = false;
  #again = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt = Infinity;
  readonly #metrics: {
    published: Counter<'kind'>;
    failures: Counter<'kind'>;
    failing: Gauge;
    reconcile: Histogram;
    problems: Gauge;
    recomputed: Counter;
  };

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    this.#desired = new DesiredStateIndex(options.destination);
    const registers = [options.registry];
    this.#metrics = {
      published: new Counter({ name: 'meshbus_destination_published_total', help: 'State snapshots and tombstones published, by kind.', labelNames: ['kind'], registers }),
      failures: new Counter({
        name: 'meshbus_destination_publish_failures_total',
        help: 'Failed publications (each is retried with backoff), by kind.',
        labelNames: ['kind'],
        registers,
      }),
      failing: new Gauge({ name: 'meshbus_destination_publish_failing_keys', help: 'Subjects whose last publication failed and that wait for a retry.', registers }),
      reconcile: new Histogram({
        name: 'meshbus_destination_reconcile_duration_seconds',
        help: 'Time to bring the desired state up to date and publish its differences.',
        buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers,
      }),
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
    return this.#failures;
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
    this.#overlay.delete(subject);
    this.#fenced.delete(subject);
    this.#dirtyKeys.add(subject);
    this.schedule();
  }

  /**
   * The view refused the newest write of `subject` (a deposed leader's late
   * write): whatever the bus holds there, the leader writes its desired state
   * (or a tombstone) again.
   */
  fenced(subject: string): void {
    this.#fenced.add(subject);
    this.#overlay.delete(subject);
    this.#dirtyKeys.add(subject);
    this.schedule();
  }

  /** This replica became leader: compare everything once. */
  elected(): void {
    this.#overlay.clear();
    this.#failures.clear();
    this.#metrics.failing.set(0);
    this.#dirtyKeys = new Set();
    this.#everything = true;
    this.schedule();
  }

  deposed(): void {
    this.#overlay.clear();
    this.#failures.clear();
    this.#metrics.failing.set(0);
    this.#unpublishedProblems = [];
  }

  /** Asks for a reconciliation soon; several requests made meanwhile are served by one. */
  schedule(): void {
    this.#again = true;
    if (this.#running || this.#stopped) return;
    this.#running = true;
    setImmediate(() => void this.#loop());
  }

  /** Stops scheduling and waits for a reconciliation in progress to finish its publications. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    while (this.#running) await new Promise((r) => setTimeout(r, 10));
  }

  async #loop(): Promise<void> {
    try {
      while (this.#again && !this.#stopped) {
        this.#again = false;
        const end = this.#metrics.reconcile.startTimer();
        try {
          await this.#reconcileOnce();
        } catch (err) {
          this.#logger.error({ err: errorMessage(err) }, 'reconciliation failed; retrying');
          this.#armRetry(this.#now() + 1000);
        }
        end();
      }
    } finally {
      this.#running = false;
    }
  }

  async #reconcileOnce(): Promise<void> {
    const resources = this.#resources;
    if (!resources) return;
    const now = this.#now();
    const tracker = this.#options.tracker;
    const recomputed = await this.#updateDesired(resources, tracker.live(now));
    this.#metrics.recomputed.inc(recomputed);
    for (const subject of this.#desired.takeChanged()) this.#dirtyKeys.add(subject);
    const publisher = this.#options.publisher();
    if (!publisher || !this.#options.mayPublish()) return;

    let keys: string[];
    if (this.#everything) {
      const all = new Set<string>(this.#desired.subjects());
      for (const subject of this.#options.bus.subjects()) all.add(subject);
      keys = [...all];
      this.#everything = false;
    } else {
      keys = [...this.#dirtyKeys];
    }
    this.#dirtyKeys = new Set();
    keys.sort();

    const bus: StateLookup = {
      get: (subject) => {
        const own = this.#overlay.get(subject);
        if (own !== undefined) return own ?? undefined;
        // A value no desired state equals, so that the key is written (or deleted) again.
        if (this.#fenced.has(subject)) return fencedValue;
        return this.#options.bus.get(subject);
      },
    };
    const sliceSize = this.#options.sliceSize ?? 64;
    let retryAt = Infinity;
    let published = 0;
    for (let i = 0; i === 0 || i < keys.length; i += sliceSize) {
      const plan = planReconcile({
        desired: this.#desired,
        bus,
        keys: keys.slice(i, i + sliceSize),
        expired: i === 0 ? tracker.expired(now) : [],
        problems: i === 0 ? this.#unpublishedProblems.splice(0) : [],
        failures: this.#failures,
        now,
      });
      for (const subject of plan.settled) this.#failures.delete(subject);
      for (const subject of plan.postponed) this.#dirtyKeys.add(subject);
      if (plan.retryAt !== undefined) retryAt = Math.min(retryAt, plan.retryAt);
      published += await this.#publishAll(publisher, plan.publications);
      if (i + sliceSize < keys.length) await yieldToEventLoop();
    }
    for (const f of this.#failures.values()) retryAt = Math.min(retryAt, f.nextAttemptAt);
    this.#metrics.failing.set(this.#failures.size);
    if (retryAt < Infinity) this.#armRetry(retryAt);
    if (published > 0) this.#logger.info({ published, failing: this.#failures.size }, 'published state changes');
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

  async #publishAll(publisher: Publisher, publications: readonly Publication[]): Promise<number> {
    let published = 0;
    for (let i = 0; i < publications.length; i += publishBatch) {
      const outcomes = await Promise.all(publications.slice(i, i + publishBatch).map((p) => this.#publishOne(publisher, p)));
      published += outcomes.filter(Boolean).length;
    }
    return published;
  }

  /** Publishes one publication; a failure is recorded against its subject and never thrown. */
  async #publishOne(publisher: Publisher, p: Publication): Promise<boolean> {
    try {
      switch (p.type) {
        case 'manifestRejected': {
          const data = Object.fromEntries(Object.entries(p.problem).filter(([, v]) => v !== undefined)) as unknown as ManifestProblem;
          await publisher.publish('manifestRejected', subjects.manifestRejected, p.problem.file, data);
          return true;
        }
        case 'expiry': {
          const key = `${p.namespace}/${p.name}`;
          await publisher.publish('workloadDeregistered', p.subject, key, { reason: 'heartbeat expired' });
          await publisher.publish('workloadExpired', subjects.workloadExpired, key, { namespace: p.namespace, name: p.name, lastHeartbeat: p.lastHeartbeat });
          this.#options.tracker.observe(p.subject, undefined, this.#now());
          this.#failures.delete(p.subject);
          this.#logger.info({ namespace: p.namespace, name: p.name }, 'registered workload expired');
          return true;
        }
        case 'upsert':
          if (p.kind === 'endpointSet') await publisher.publish('endpointSet', p.subject, p.key, p.data as EndpointSet);
          else await publisher.publish('serviceProfile', p.subject, p.key, p.data as ServiceProfileState);
          this.#overlay.set(p.subject, p.data);
          this.#fenced.delete(p.subject);
          break;
        case 'tombstone':
          await publisher.publish(p.kind, p.subject, p.key, { reason: p.reason });
          this.#overlay.set(p.subject, null);
          this.#fenced.delete(p.subject);
          break;
      }
      this.#metrics.published.inc({ kind: p.kind });
      if (this.#failures.delete(p.subject)) this.#logger.info({ subject: p.subject }, 'publishing succeeded again');
      return true;
    } catch (err) {
      this.#failed(publisher, p, err);
      return false;
    }
  }

  #failed(publisher: Publisher, p: Publication, err: unknown): void {
    // Deposed during the reconciliation: no failure of the key; the next leader compares everything.
    if (err instanceof NotLeaderError) return;
    const error = errorMessage(err);
    const now = this.#now();
    if (p.type === 'manifestRejected') {
      this.#metrics.failures.inc({ kind: 'manifestRejected' });
      this.#unpublishedProblems.push(p.problem);
      this.#logger.warn({ file: p.problem.file, err: error }, 'could not publish manifest.rejected; retrying');
      this.#armRetry(now + (this.#options.retryPolicy ?? defaultRetryPolicy).initialDelayMs);
      return;
    }
    const kind = p.type === 'expiry' ? 'workloadDeregistered' : p.kind;
    const previous = this.#failures.get(p.subject);
    const fingerprint = p.type === 'expiry' ? expiryFingerprint : p.fingerprint;
    const failure = recordFailure(previous, { error, fingerprint, now }, this.#options.retryPolicy);
    this.#failures.set(p.subject, failure);
    this.#dirtyKeys.add(p.subject);
    this.#metrics.failures.inc({ kind });
    this.#logger.warn(
      { subject: p.subject, kind, attempts: failure.attempts, retryInMs: failure.nextAttemptAt - now, err: error },
      `publishing ${p.subject} failed; retrying this key with backoff, others continue`,
    );
    if (previous === undefined || previous.error !== error) {
      publisher
        .publish('publishFailed', subjects.publishFailed, p.subject, {
          subject: p.subject,
          kind,
          reason: error.slice(0, 4000),
          attempts: failure.attempts,
          since: new Date(failure.since).toISOString(),
        })
        .catch((e: unknown) => this.#logger.warn({ subject: p.subject, err: errorMessage(e) }, 'could not publish publish.failed'));
    }
  }

  #armRetry(at: number): void {
    if (this.#stopped) return;
    if (this.#retryTimer !== undefined && at >= this.#retryAt) return;
    clearTimeout(this.#retryTimer);
    this.#retryAt = at;
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined;
        this.#retryAt = Infinity;
        this.schedule();
      },
      Math.max(0, at - this.#now()),
    );
  }
}
