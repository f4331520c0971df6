import { NotLeaderError, type Publisher } from '@meshbus/bus';
import { subjects, type EventDataMap, type PolicyRejected } from '@meshbus/bus-schemas';
import type { MeshResources, Workload } from '@meshbus/manifests';
import type { PolicyComputation } from '@meshbus/policy';
import { Counter, errorMessage, Gauge, Histogram, type Logger, type Registry } from '@meshbus/runtime';
import { changedSubjects, desiredPolicyState, type PolicyStateData, type PolicyStateLookup } from './policy-state.js';
import { newRejections, planPublications, type PolicyPublication } from './publish-plan.js';
import { defaultRetryPolicy, recordFailure, type PublishFailure, type RetryPolicy } from './publish-retries.js';

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
}

/** Publications in flight at once. */
const publishBatch = 256;

/** Stands in for a fenced key's value: no desired value equals it, so the key is written again. */
const fencedValue = {} as PolicyStateData;

/**
 * Drives the policy computation and the pure {@link planPublications}: feeds
 * the computation every change of its inputs, and while this replica may
 * publish, writes each subject whose desired value differs from the bus's,
 * with per-key retries. Standbys compute the same and stay warm.
 */
export class PolicyReconciler {
  readonly #options: PolicyReconcilerOptions;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #desired: ReturnType<typeof desiredPolicyState>;
  /** What this leader published and the view has not confirmed yet; null is a tombstone. */
  readonly #overlay = new Map<string, PolicyStateData | null>();
  readonly #failures = new Map<string, PublishFailure>();
  readonly #fenced = new Set<string>();
  #dirtyKeys = new Set<string>();
  #everything = false;
  #resources: MeshResources | undefined;
  #registered: readonly Workload[] = [];
  #inputsChanged = false;
  #computed = false;
  #knownRejections = new Set<string>();
  #unannounced: PolicyRejected[] = [];
  #running = false;
  #again = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt = Infinity;
  readonly #metrics: {
    published: Counter<'kind'>;
    failures: Counter<'kind'>;
    failing: Gauge;
    recompute: Histogram;
    rejected: Gauge;
  };

  constructor(options: PolicyReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    this.#desired = desiredPolicyState(() => options.computation.result);
    const registers = [options.registry];
    this.#metrics = {
      published: new Counter({ name: 'meshbus_policy_published_total', help: 'Policy snapshots, tombstones and rejections published, by kind.', labelNames: ['kind'], registers }),
      failures: new Counter({ name: 'meshbus_policy_publish_failures_total', help: 'Failed publications (each is retried with backoff), by kind.', labelNames: ['kind'], registers }),
      failing: new Gauge({ name: 'meshbus_policy_publish_failing_keys', help: 'Subjects whose last publication failed and that wait for a retry.', registers }),
      recompute: new Histogram({
        name: 'meshbus_policy_recompute_duration_seconds',
        help: 'Time the policy computation took to take in one change of its inputs.',
        buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        registers,
      }),
      rejected: new Gauge({ name: 'meshbus_policy_rejected_resources', help: 'Policy and route resources currently rejected.', registers }),
    };
  }

  /** Whether the manifests have been read and the policy computed from them. */
  get hasResources(): boolean {
    return this.#computed;
  }

  /** Subjects whose publication is failing, with the last error, for /ready. */
  get failing(): ReadonlyMap<string, PublishFailure> {
    return this.#failures;
  }

  /** New resources from the source. */
  resourcesChanged(resources: MeshResources): void {
    this.#resources = resources;
    this.#inputsChanged = true;
    this.schedule();
  }

  /** The registered workloads changed on the bus. */
  registeredChanged(workloads: readonly Workload[]): void {
    this.#registered = workloads;
    this.#inputsChanged = true;
    this.schedule();
  }

  /** A policy subject changed on the bus (or went away). */
  busChanged(subject: string): void {
    this.#overlay.delete(subject);
    this.#fenced.delete(subject);
    this.#dirtyKeys.add(subject);
    this.schedule();
  }

  /** The view refused the newest write of `subject` (a deposed leader's): write the desired value again. */
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
    this.#unannounced = [];
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
        try {
          await this.#reconcileOnce();
        } catch (err) {
          this.#logger.error({ err: errorMessage(err) }, 'reconciliation failed; retrying');
          this.#armRetry(this.#now() + 1000);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #recompute(resources: MeshResources): void {
    const end = this.#metrics.recompute.startTimer();
    const changes = this.#options.computation.update({ resources, registered: this.#registered });
    end();
    this.#computed = true;
    for (const subject of changedSubjects(changes)) this.#dirtyKeys.add(subject);
    const rejected = this.#options.computation.result.rejected;
    this.#metrics.rejected.set(rejected.length);
    const { fresh, known } = newRejections(this.#knownRejections, rejected);
    this.#knownRejections = known;
    for (const r of fresh) {
      this.#logger.warn({ file: r.file, kind: r.kind, namespace: r.namespace, name: r.name, reason: r.reason, code: r.code }, 'policy resource rejected');
      if (this.#options.isLeader()) this.#unannounced.push(r);
    }
  }

  async #reconcileOnce(): Promise<void> {
    const resources = this.#resources;
    if (!resources) return;
    if (this.#inputsChanged) {
      this.#inputsChanged = false;
      this.#recompute(resources);
    }
    const publisher = this.#options.publisher();
    if (!publisher || !this.#options.mayPublish()) return;

    let keys: Set<string>;
    if (this.#everything) {
      keys = new Set(this.#desired.subjects());
      for (const subject of this.#options.bus.subjects()) keys.add(subject);
      this.#everything = false;
    } else {
      keys = this.#dirtyKeys;
    }
    this.#dirtyKeys = new Set();
    const now = this.#now();
    const plan = planPublications({
      desired: this.#desired,
      bus: {
        get: (subject) => {
          const own = this.#overlay.get(subject);
          if (own !== undefined) return own ?? undefined;
          if (this.#fenced.has(subject)) return fencedValue;
          return this.#options.bus.get(subject);
        },
      },
      keys,
      rejections: this.#unannounced.splice(0),
      failures: this.#failures,
      now,
    });
    for (const subject of plan.settled) this.#failures.delete(subject);
    for (const subject of plan.postponed) this.#dirtyKeys.add(subject);
    let published = 0;
    for (let i = 0; i < plan.publications.length; i += publishBatch) {
      const outcomes = await Promise.all(plan.publications.slice(i, i + publishBatch).map((p) => this.#publishOne(publisher, p)));
      published += outcomes.filter(Boolean).length;
    }
    let retryAt = plan.retryAt ?? Infinity;
    for (const f of this.#failures.values()) retryAt = Math.min(retryAt, f.nextAttemptAt);
    this.#metrics.failing.set(this.#failures.size);
    if (retryAt < Infinity) this.#armRetry(retryAt);
    if (published > 0) this.#logger.info({ published, failing: this.#failures.size }, 'published policy changes');
  }

  /** Publishes one publication; a failure is recorded against its subject and never thrown. */
  async #publishOne(publisher: Publisher, p: PolicyPublication): Promise<boolean> {
    try {
      switch (p.type) {
        case 'rejected': {
          const data = Object.fromEntries(Object.entries(p.rejection).filter(([, v]) => v !== undefined)) as unknown as PolicyRejected;
          await publisher.publish('policyRejected', subjects.policyRejected, `${p.rejection.namespace}/${p.rejection.kind}/${p.rejection.name}`, data);
          this.#metrics.published.inc({ kind: 'policyRejected' });
          return true;
        }
        case 'upsert':
          await publisher.publish(p.kind, p.subject, p.key, p.data as EventDataMap[typeof p.kind]);
          this.#overlay.set(p.subject, p.data);
          break;
        case 'tombstone':
          await publisher.publish(p.kind, p.subject, p.key, { reason: p.reason } as EventDataMap[typeof p.kind]);
          this.#overlay.set(p.subject, null);
          break;
      }
      this.#fenced.delete(p.subject);
      this.#metrics.published.inc({ kind: p.kind });
      if (this.#failures.delete(p.subject)) this.#logger.info({ subject: p.subject }, 'publishing succeeded again');
      return true;
    } catch (err) {
      this.#failed(publisher, p, err);
      return false;
    }
  }

  #failed(publisher: Publisher, p: PolicyPublication, err: unknown): void {
    // Deposed meanwhile: not a failure of the key; the next leader compares everything.
    if (err instanceof NotLeaderError) return;
    const error = errorMessage(err);
    const now = this.#now();
    if (p.type === 'rejected') {
      this.#metrics.failures.inc({ kind: 'policyRejected' });
      this.#unannounced.push(p.rejection);
      this.#logger.warn({ file: p.rejection.file, err: error }, 'could not publish policy.rejected; retrying');
      this.#armRetry(now + (this.#options.retryPolicy ?? defaultRetryPolicy).initialDelayMs);
      return;
    }
    const previous = this.#failures.get(p.subject);
    const failure = recordFailure(previous, { error, fingerprint: p.fingerprint, now }, this.#options.retryPolicy);
    this.#failures.set(p.subject, failure);
    this.#dirtyKeys.add(p.subject);
    this.#metrics.failures.inc({ kind: p.kind });
    this.#logger.warn(
      { subject: p.subject, kind: p.kind, attempts: failure.attempts, retryInMs: failure.nextAttemptAt - now, err: error },
      `publishing ${p.subject} failed; retrying this key with backoff, others continue`,
    );
    if (previous === undefined || previous.error !== error) {
      publisher
        .publish('publishFailed', subjects.publishFailed, p.subject, {
          subject: p.subject,
          kind: p.kind,
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
