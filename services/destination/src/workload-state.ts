import type { BusEvent, Publisher } from '@meshbus/bus';
import { parseStateSubject, subjects, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { canonicalJson, Counter, errorMessage, type Logger, type Registry } from '@meshbus/runtime';
import type { RegistrationTracker } from './registrations.js';

/** Options of {@link WorkloadState}. */
export interface WorkloadStateOptions {
  tracker: RegistrationTracker;
  /** Where the leader writes; undefined until the service is connected. */
  publisher: () => Publisher | undefined;
  isLeader: () => boolean;
  logger: Logger;
  registry: Registry;
  /** @default Date.now */
  now?: () => number;
}

/** What a register request did to the stored state. */
export type PutOutcome = 'registered' | 'updated' | 'unchanged';

/**
 * The registered workloads as the destination holds them, and the only writer of
 * `meshbus.v1.state.workloads.<ns>.<name>`.
 *
 * Reading side: a state message is accepted only when it is a valid registration naming the
 * namespace and name of its own subject; anything else is refused (logged with subject and
 * reason, counted) and never replaces the last valid registration. While leader, a refused
 * message is overwritten at once with the registration held (or a tombstone when none is);
 * subjects refused while standby are restored when this replica is elected.
 *
 * Writing side (leader only): registrations are written when they change, heartbeats only
 * restart the allowance in memory, deregistrations write a tombstone. Writes for one workload
 * happen one at a time.
 */
export class WorkloadState {
  private readonly refusedTotal: Counter<'reason'>;
  private readonly now: () => number;
  /**
   * Subjects whose newest bus message was refused, not yet overwritten, each with a mark of that
   * refusal: a write that started before a later refusal must not clear it.
   */
  private readonly tainted = new Map<string, object>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: WorkloadStateOptions) {
    this.now = options.now ?? Date.now;
    this.refusedTotal = new Counter({
      name: 'meshbus_destination_workload_state_refused_total',
      help: 'Messages on workload state subjects refused (malformed, or naming another workload), by reason.',
      labelNames: ['reason'],
      registers: [options.registry],
    });
  }

  /** A valid CloudEvent (or a deletion) seen on a workload state subject. */
  observe(subject: string, event: BusEvent | undefined): void {
    const key = parseStateSubject(subject)?.key;
    if (!event) {
      this.tainted.delete(subject);
      this.options.tracker.observe(subject, undefined, this.now());
      return;
    }
    const data = event.data as WorkloadRegistration;
    const [namespace, name, ...rest] = key ?? [];
    if (rest.length > 0 || data.namespace !== namespace || data.name !== name) {
      this.refuse(subject, 'wrong-key', `the data names ${data.namespace}/${data.name}, not ${namespace ?? '?'}/${name ?? '?'}`);
      return;
    }
    this.tainted.delete(subject);
    this.options.tracker.observe(subject, data, this.now());
  }

  /** A message on a workload state subject that is not a valid CloudEvent (malformed, schema). */
  rejected(subject: string, reason: string, detail: string): void {
    if (parseStateSubject(subject)?.kind !== 'workloads') return;
    this.refuse(subject, reason, detail);
  }

  /** After election: overwrite what was refused while this replica was a standby. */
  restoreRefused(): void {
    for (const subject of this.tainted.keys()) this.restore(subject);
  }

  /** The registration held for a workload, if any. */
  get(namespace: string, name: string): WorkloadRegistration | undefined {
    return this.options.tracker.get(subjects.workload(namespace, name));
  }

  /** Stores a registration unless the same is already stored; restarts its allowance either way. */
  put(registration: WorkloadRegistration): Promise<PutOutcome> {
    const subject = subjects.workload(registration.namespace, registration.name);
    return this.serially(subject, async () => {
      const { tracker } = this.options;
      const stored = tracker.get(subject);
      if (stored && canonicalJson(stored) === canonicalJson(registration) && !this.tainted.has(subject)) {
        tracker.renew(subject, this.now());
        return 'unchanged';
      }
      const mark = this.tainted.get(subject);
      await this.writer().publish('workloadRegistered', subject, `${registration.namespace}/${registration.name}`, registration);
      this.clearTaint(subject, mark);
      tracker.observe(subject, registration, this.now());
      return stored ? 'updated' : 'registered';
    });
  }

  /** Counts a heartbeat; false when the workload is not registered. */
  renew(namespace: string, name: string): boolean {
    return this.options.tracker.renew(subjects.workload(namespace, name), this.now());
  }

  /** Writes the tombstone of a workload; false when it was not registered. */
  remove(namespace: string, name: string, reason: string): Promise<boolean> {
    const subject = subjects.workload(namespace, name);
    return this.serially(subject, async () => {
      if (!this.options.tracker.get(subject)) return false;
      await this.writer().publish('workloadDeregistered', subject, `${namespace}/${name}`, { reason });
      this.options.tracker.observe(subject, undefined, this.now());
      return true;
    });
  }

  /**
   * After this replica's own write: the subject is clean unless a message was refused meanwhile
   * (a rogue write that landed after ours, seen before our publish was acknowledged), which its
   * own restore must then overwrite.
   */
  private clearTaint(subject: string, mark: object | undefined): void {
    if (this.tainted.get(subject) === mark) this.tainted.delete(subject);
  }

  private writer(): Publisher {
    const publisher = this.options.publisher();
    if (!publisher) throw new Error('not connected to the bus yet');
    return publisher;
  }

  private refuse(subject: string, reason: string, detail: string): void {
    this.refusedTotal.inc({ reason });
    this.tainted.set(subject, {});
    const held = this.options.tracker.get(subject) !== undefined;
    this.options.logger.warn({ subject, reason, detail, keeping: held ? 'the last valid registration' : 'nothing' }, 'refused workload state message');
    if (this.options.isLeader()) this.restore(subject);
  }

  /** Overwrites a refused message with the registration held, or a tombstone. */
  private restore(subject: string): void {
    void this.serially(subject, async () => {
      const mark = this.tainted.get(subject);
      if (!mark || !this.options.isLeader()) return;
      const held = this.options.tracker.get(subject);
      const [namespace = '', name = ''] = parseStateSubject(subject)?.key ?? [];
      const key = `${namespace}/${name}`;
      if (held) await this.writer().publish('workloadRegistered', subject, key, held);
      else await this.writer().publish('workloadDeregistered', subject, key, { reason: 'refused state message removed' });
      this.clearTaint(subject, mark);
      this.options.logger.info({ subject, restored: held ? 'registration' : 'tombstone' }, 'restored workload state after a refused message');
    }).catch((error: unknown) => {
      this.options.logger.warn({ subject, err: errorMessage(error) }, 'could not restore workload state; retrying at the next election or refused message');
    });
  }

  private serially<T>(subject: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(subject) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.queues.set(subject, settled);
    void settled.then(() => {
      if (this.queues.get(subject) === settled) this.queues.delete(subject);
    });
    return next;
  }
}
