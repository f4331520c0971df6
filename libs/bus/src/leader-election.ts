import type { KV, KvEntry, NatsConnection, QueuedIterator } from 'nats';
import { errorMessage, type Logger } from '@meshbus/runtime';
import {
  initialLeaseState,
  leaseSettings,
  leaseValue,
  stepLease,
  type LeaseAction,
  type LeaseObservation,
  type LeaseRecord,
  type LeaseSettings,
  type LeaseState,
} from './lease.js';

/** Options of {@link LeaderElection}. */
export interface LeaderElectionOptions {
  nc: NatsConnection;
  /** The single-writer role, e.g. `destination`. One key in the lease bucket. */
  role: string;
  /** This replica's id. */
  holder: string;
  /**
   * A lease not renewed for this long may be taken over. The leader renews
   * every quarter of it and steps down at 80 % without a renewal.
   * @default 1500
   */
  leaseMs?: number;
  /** JetStream replicas of the lease bucket. @default 1 */
  replicas?: number;
  logger: Logger;
  /** Called when this replica becomes leader, with its term (the revision of the write that took the lease). */
  onElected(term: number): void | Promise<void>;
  /** Called when this replica stops being leader (lost, expired or released). */
  onDeposed(): void;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

/** Name of the JetStream KV bucket holding one lease per role. */
export const leaseBucket = 'meshbus-leases';

/** Default lease duration. */
export const defaultLeaseMs = 1500;


const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Leader election through a JetStream KV compare-and-set lease: the I/O
 * driver of the pure state machine in `lease.ts`. It feeds the machine what
 * the bus answers (reads, a KV watch of the lease key, results of
 * compare-and-set writes, timers) and carries out what the machine decides.
 */
export class LeaderElection {
  private kv: KV | undefined;
  private state: LeaseState = initialLeaseState();
  private readonly settings: LeaseSettings;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private watch: QueuedIterator<KvEntry> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(private readonly options: LeaderElectionOptions) {
    this.settings = leaseSettings(options.holder, options.leaseMs ?? defaultLeaseMs);
    this.now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.state.phase === 'leader';
  }

  /** The term of the current leadership, or undefined when not leading. */
  get term(): number | undefined {
    return this.state.phase === 'leader' ? this.state.term : undefined;
  }

  async start(): Promise<void> {
    const js = this.options.nc.jetstream();
    // A JetStream cluster still electing stream leaders, or busy creating the
    // other replicated streams, can let the bucket's look-up time out: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        this.kv = await js.views.kv(leaseBucket, { history: 1, replicas: this.options.replicas ?? 1 });
        break;
      } catch (err) {
        if ((err as { code?: unknown })?.code !== 'TIMEOUT' || attempt >= 6 || this.stopped) throw err;
        this.options.logger.warn({ bucket: leaseBucket, attempt }, 'JetStream did not answer in time while opening the lease bucket; trying again');
      }
    }
    void this.runWatch();
    // The watch tells a standby of every renewal at once; a read now and then
    // covers a watch whose consumer was lost with a NATS node.
    this.poller = setInterval(() => {
      if (this.state.phase === 'standby' && this.state.pending === undefined) this.perform({ type: 'read' });
    }, Math.max(50, Math.floor(this.settings.leaseMs / 2)));
    this.feed({ type: 'tick' });
  }

  /** Stops campaigning; a leader steps down and releases its lease so a standby takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.feed({ type: 'shutdown' });
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.poller);
    this.watch?.stop();
    // Let the release (bounded by its timeout) and requests in flight finish; a renewal landing
    // late leads to one more release.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private feed(obs: LeaseObservation): void {
    const { state, actions } = stepLease(this.settings, this.state, obs, this.now());
    this.state = state;
    for (const a of actions) this.perform(a);
  }

  private perform(action: LeaseAction): void {
    const { logger, role } = this.options;
    switch (action.type) {
      case 'wait-until':
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.feed({ type: 'tick' }), Math.max(0, action.at - this.now()));
        return;
      case 'read':
        this.request(async () => this.feed({ type: 'lease-read', record: toRecord(await this.kv!.get(role)) }), (reason) => this.feed({ type: 'read-failed', reason }));
        return;
      case 'try-acquire': {
        const sentAt = this.now();
        this.request(
          async () => {
            const revision =
              action.expectRevision === 0 ? await this.kv!.create(role, this.leaseBytes()) : await this.kv!.update(role, this.leaseBytes(), action.expectRevision);
            this.feed({ type: 'acquired', revision, sentAt });
          },
          (reason, conflict) => this.feed({ type: 'acquire-failed', reason, conflict }),
        );
        return;
      }
      case 'renew': {
        const sentAt = this.now();
        this.request(
          async () => this.feed({ type: 'renewed', revision: await this.kv!.update(role, this.leaseBytes(), action.expectRevision), sentAt }),
          (reason, conflict) => this.feed({ type: 'renew-failed', reason, conflict }),
        );
        return;
      }
      case 'elected':
        logger.info({ role, term: action.term }, 'became leader');
        this.track(
          (async () => {
            try {
              await this.options.onElected(action.term);
            } catch (err) {
              logger.error({ err }, 'leader start-up failed; stepping down');
              this.feed({ type: 'start-failed', reason: errorMessage(err) });
            }
          })(),
        );
        return;
      case 'step-down':
        logger.warn({ role, reason: action.reason }, 'no longer leader');
        this.options.onDeposed();
        return;
      case 'release':
        // With NATS unreachable the release cannot happen; the lease then simply expires.
        this.request(
          () => this.kv!.delete(role, { previousSeq: action.expectRevision }),
          (reason) => logger.warn({ role, err: reason }, 'lease release failed'),
        );
        return;
    }
  }

  /** Runs one lease request with a timeout; `failed` gets the reason and whether it was a compare-and-set conflict. */
  private request(run: () => Promise<unknown>, failed: (reason: string, conflict: boolean) => void): void {
    // One renewal period: a leader whose renewal hangs still has time for another try before its step-down point.
    const requestTimeoutMs = Math.max(100, this.settings.renewEveryMs);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${requestTimeoutMs} ms`)), requestTimeoutMs);
    });
    this.track(
      Promise.race([run(), timeout])
        .catch((err: unknown) => {
          const reason = errorMessage(err);
          failed(reason, isConflict(reason));
        })
        .finally(() => clearTimeout(timer)),
    );
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Follows the lease key; restarted whenever it ends (connection or node lost). */
  private async runWatch(): Promise<void> {
    while (!this.stopped) {
      try {
        const watch = await this.kv!.watch({ key: this.options.role });
        this.watch = watch;
        if (this.stopped) watch.stop();
        for await (const e of watch) this.feed({ type: 'lease-read', record: toRecord(e) });
      } catch (err) {
        if (!this.stopped) this.options.logger.debug({ err: errorMessage(err) }, 'lease watch interrupted; restarting');
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, 250));
    }
  }

  private leaseBytes(): Uint8Array {
    return encoder.encode(JSON.stringify(leaseValue(this.settings)));
  }
}

/** A compare-and-set that lost: the key's revision was not the one expected, or it already existed. */
function isConflict(reason: string): boolean {
  return reason.includes('wrong last sequence') || reason.includes('key exists');
}

function toRecord(e: KvEntry | null): LeaseRecord {
  if (!e) return undefined;
  if (e.operation !== 'PUT') return { revision: e.revision, deleted: true };
  let holder = '';
  try {
    const v = JSON.parse(decoder.decode(e.value)) as { holder?: unknown };
    if (typeof v.holder === 'string') holder = v.holder;
  } catch {
    // A lease written by something else still counts as held; only its holder is unknown.
  }
  return { revision: e.revision, holder };
}
