import { subjects, type EventDataMap, type EventKind } from '@meshbus/bus-schemas';
import { Counter, errorMessage, Gauge, type Histogram, type Logger, type Readiness, type Registry } from '@meshbus/runtime';
import { NotLeaderError, type Publisher } from './publisher.js';
import { defaultRetryPolicy, recordFailure, type PublishFailure, type PublishFailures, type RetryPolicy } from './publish-retries.js';
import type { StateLookup, StatePlan, StatePublication } from './state-plan.js';

/** Keyed state that can also list its subjects. */
export interface StateSource<T> extends StateLookup<T> {
  /** Every subject holding a value. */
  subjects(): Iterable<string>;
}

/** What one slice of a reconciliation pass is planned from. */
export interface StateSliceInput<T> {
  readonly desired: StateLookup<T>;
  /** The bus, with this leader's writes not yet seen there applied, and fenced keys made to differ. */
  readonly bus: StateLookup<T>;
  readonly keys: readonly string[];
  readonly failures: PublishFailures;
  readonly now: number;
  /** Whether this is the first slice of the pass (the one that carries the writer's own publications). */
  readonly first: boolean;
}

/**
 * How the writer's own publications (announcements, actions on a key) are
 * made; the state snapshots and tombstones the reconciler makes itself.
 */
export interface OwnPublications<P> {
  /** Publishes one; resolves to the kind counted in `published_total`, or undefined when it is not counted. */
  publish(publisher: Publisher, p: P): Promise<EventKind | undefined>;
  /**
   * How a failed one is retried: under its key, with that key's backoff (and
   * announced in publish.failed, like a state key); or, for an announcement,
   * put back with `requeue` and tried again after the first retry delay.
   */
  retry(p: P): { readonly kind: EventKind; readonly key: { readonly subject: string; readonly fingerprint: string } } | { readonly kind: EventKind; requeue(error: string): void };
}

/** Options of {@link StateReconciler}. */
export interface StateReconcilerOptions<T, P> {
  /** The desired state, kept current by `refresh`. */
  readonly desired: StateSource<T>;
  /** The values of this writer's kinds on the bus. */
  readonly bus: StateSource<T>;
  /**
   * Brings the desired state up to date at the start of a pass; resolves to
   * the subjects whose desired value changed, or to undefined while there is
   * no desired state yet (nothing is published).
   */
  readonly refresh: (now: number) => Promise<Iterable<string> | undefined> | Iterable<string> | undefined;
  /** The pure plan of one slice of keys: the state publications and the writer's own. */
  readonly plan: (input: StateSliceInput<T>) => StatePlan<StatePublication<T> | P>;
  readonly own: OwnPublications<P>;
  readonly publisher: () => Publisher | undefined;
  /** Whether this replica may publish now (leader, connected, bus state synced). */
  readonly mayPublish: () => boolean;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly metrics: {
    /** Metric names start with it, e.g. `meshbus_destination`. */
    readonly prefix: string;
    /** Help of `<prefix>_published_total`. */
    readonly publishedHelp: string;
    /** Times each pass, when given. */
    readonly passDuration?: Histogram;
  };
  /** Logged after a pass that published something. */
  readonly publishedMessage: string;
  /** @default Date.now */
  readonly now?: () => number;
  readonly retryPolicy?: RetryPolicy;
  /** Keys planned and published between two yields to the event loop. @default all keys at once */
  readonly sliceSize?: number;
}

/** Publications in flight at once. */
const publishBatch = 256;

/** Stands in for a fenced key's value: no desired value equals it, so the key is written again. */
const fencedValue = {};

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const isState = <T, P>(p: StatePublication<T> | P): p is StatePublication<T> => {
  const type = (p as { type?: unknown }).type;
  return type === 'upsert' || type === 'tombstone';
};

/**
 * The leader side of a state writer: keeps the keys that may differ between
 * the desired state and the bus, and while this replica may publish, writes
 * each of them that differs, with the writer's own publications first. Its
 * own writes count as on the bus until the bus shows them; a key the bus
 * fenced (a deposed leader's late write) is written again. A key whose
 * publication fails is retried with backoff and announced in publish.failed,
 * without holding back any other. Passes are serialised: requests made during
 * one are served by the next.
 */
export class StateReconciler<T, P = never> {
  readonly #options: StateReconcilerOptions<T, P>;
  readonly #now: () => number;
  readonly #logger: Logger;
  /** What this leader published and the view has not confirmed yet; null is a tombstone. */
  readonly #overlay = new Map<string, T | null>();
  readonly #failures = new Map<string, PublishFailure>();
  /** Keys whose last write on the bus came from a deposed leader (refused by the view): written again. */
  readonly #fenced = new Set<string>();
  #dirtyKeys = new Set<string>();
  #everything = false;
  #running = false;
  #again = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt = Infinity;
  readonly #metrics: { published: Counter<'kind'>; failures: Counter<'kind'>; failing: Gauge };

  constructor(options: StateReconcilerOptions<T, P>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    const registers = [options.registry];
    const { prefix, publishedHelp } = options.metrics;
    this.#metrics = {
      published: new Counter({ name: `${prefix}_published_total`, help: publishedHelp, labelNames: ['kind'], registers }),
      failures: new Counter({ name: `${prefix}_publish_failures_total`, help: 'Failed publications (each is retried with backoff), by kind.', labelNames: ['kind'], registers }),
      failing: new Gauge({ name: `${prefix}_publish_failing_keys`, help: 'Subjects whose last publication failed and that wait for a retry.', registers }),
    };
  }

  /** Subjects whose publication is failing, with the last error, for /ready. */
  get failing(): ReadonlyMap<string, PublishFailure> {
    return this.#failures;
  }

  /** A subject of this writer changed on the bus (or went away). */
  busChanged(subject: string): void {
    this.#overlay.delete(subject);
    this.#fenced.delete(subject);
    this.#dirtyKeys.add(subject);
    this.schedule();
  }

  /**
   * The view refused the newest write of `subject` (a deposed leader's late
   * write): whatever the bus holds there, the leader writes its desired value
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
    this.#forgetWrites();
    this.#dirtyKeys = new Set();
    this.#everything = true;
    this.schedule();
  }

  /** This replica lost the lease: what it wrote and what failed are the next leader's to find out. */
  deposed(): void {
    this.#forgetWrites();
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

  #forgetWrites(): void {
    this.#overlay.clear();
    this.#failures.clear();
    this.#metrics.failing.set(0);
  }

  async #loop(): Promise<void> {
    try {
      while (this.#again && !this.#stopped) {
        this.#again = false;
        const end = this.#options.metrics.passDuration?.startTimer();
        try {
          await this.#reconcileOnce();
        } catch (err) {
          this.#logger.error({ err: errorMessage(err) }, 'reconciliation failed; retrying');
          this.#armRetry(this.#now() + 1000);
        }
        end?.();
      }
    } finally {
      this.#running = false;
    }
  }

  async #reconcileOnce(): Promise<void> {
    const options = this.#options;
    const now = this.#now();
    const changed = await options.refresh(now);
    if (changed === undefined) return;
    for (const subject of changed) this.#dirtyKeys.add(subject);
    const publisher = options.publisher();
    if (!publisher || !options.mayPublish()) return;

    let keys: string[];
    if (this.#everything) {
      const all = new Set<string>(options.desired.subjects());
      for (const subject of options.bus.subjects()) all.add(subject);
      keys = [...all];
      this.#everything = false;
    } else {
      keys = [...this.#dirtyKeys];
    }
    this.#dirtyKeys = new Set();
    keys.sort();

    const bus: StateLookup<T> = {
      get: (subject) => {
        const own = this.#overlay.get(subject);
        if (own !== undefined) return own ?? undefined;
        if (this.#fenced.has(subject)) return fencedValue as T;
        return options.bus.get(subject);
      },
    };
    const sliceSize = options.sliceSize ?? Infinity;
    let retryAt = Infinity;
    let published = 0;
    for (let i = 0; i === 0 || i < keys.length; i += sliceSize) {
      const plan = options.plan({ desired: options.desired, bus, keys: keys.slice(i, i + sliceSize), failures: this.#failures, now, first: i === 0 });
      for (const subject of plan.settled) this.#failures.delete(subject);
      for (const subject of plan.postponed) this.#dirtyKeys.add(subject);
      if (plan.retryAt !== undefined) retryAt = Math.min(retryAt, plan.retryAt);
      published += await this.#publishAll(publisher, plan.publications);
      if (i + sliceSize < keys.length) await yieldToEventLoop();
    }
    for (const f of this.#failures.values()) retryAt = Math.min(retryAt, f.nextAttemptAt);
    this.#metrics.failing.set(this.#failures.size);
    if (retryAt < Infinity) this.#armRetry(retryAt);
    if (published > 0) this.#logger.info({ published, failing: this.#failures.size }, options.publishedMessage);
  }

  async #publishAll(publisher: Publisher, publications: readonly (StatePublication<T> | P)[]): Promise<number> {
    let published = 0;
    for (let i = 0; i < publications.length; i += publishBatch) {
      const batch = publications.slice(i, i + publishBatch).map((p) => (isState(p) ? this.#publishState(publisher, p) : this.#publishOwn(publisher, p)));
      published += (await Promise.all(batch)).filter(Boolean).length;
    }
    return published;
  }

  /** Publishes one snapshot or tombstone; a failure is recorded against its subject and never thrown. */
  async #publishState(publisher: Publisher, p: StatePublication<T>): Promise<boolean> {
    try {
      if (p.type === 'upsert') {
        await publisher.publish(p.kind, p.subject, p.key, p.data as EventDataMap[typeof p.kind]);
        this.#overlay.set(p.subject, p.data);
      } else {
        await publisher.publish(p.kind, p.subject, p.key, { reason: p.reason } as EventDataMap[typeof p.kind]);
        this.#overlay.set(p.subject, null);
      }
      this.#fenced.delete(p.subject);
      this.#metrics.published.inc({ kind: p.kind });
      if (this.#failures.delete(p.subject)) this.#logger.info({ subject: p.subject }, 'publishing succeeded again');
      return true;
    } catch (err) {
      this.#keyFailed(publisher, { subject: p.subject, kind: p.kind, fingerprint: p.fingerprint }, err);
      return false;
    }
  }

  /** Publishes one of the writer's own publications; a failure is retried as its {@link OwnPublications.retry} says, and never thrown. */
  async #publishOwn(publisher: Publisher, p: P): Promise<boolean> {
    try {
      const counted = await this.#options.own.publish(publisher, p);
      if (counted !== undefined) this.#metrics.published.inc({ kind: counted });
      const retry = this.#options.own.retry(p);
      if ('key' in retry) this.#failures.delete(retry.key.subject);
      return true;
    } catch (err) {
      // Deposed during the reconciliation: no failure; the next leader compares everything.
      if (err instanceof NotLeaderError) return false;
      const retry = this.#options.own.retry(p);
      if ('key' in retry) {
        this.#keyFailed(publisher, { ...retry.key, kind: retry.kind }, err);
      } else {
        this.#metrics.failures.inc({ kind: retry.kind });
        retry.requeue(errorMessage(err));
        this.#armRetry(this.#now() + (this.#options.retryPolicy ?? defaultRetryPolicy).initialDelayMs);
      }
      return false;
    }
  }

  #keyFailed(publisher: Publisher, p: { subject: string; kind: EventKind; fingerprint: string }, err: unknown): void {
    // Deposed during the reconciliation: no failure of the key; the next leader compares everything.
    if (err instanceof NotLeaderError) return;
    const error = errorMessage(err);
    const now = this.#now();
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

/** Failing keys listed on /ready at most. */
const maxListed = 20;

/**
 * The /ready details for keys whose publication keeps failing. The replica
 * stays ready: every other key is still published, and a restart would not
 * make the bus accept the refused value.
 */
export function failingKeysReadiness(failing: PublishFailures): Pick<Readiness, 'details'> {
  if (failing.size === 0) return {};
  const details = [...failing].slice(0, maxListed).map(([subject, f]) => `publishing ${subject} failing (${f.attempts} attempts): ${f.error}`);
  if (failing.size > maxListed) details.push(`and ${failing.size - maxListed} more failing keys`);
  return { details };
}
