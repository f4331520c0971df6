import type { KV, NatsConnection } from 'nats';
import { errorMessage, type Logger } from '@meshbus/runtime';

/** Options of {@link LeaderElection}. */
export interface LeaderElectionOptions {
  nc: NatsConnection;
  /** The single-writer role, e.g. `destination`. One key in the lease bucket. */
  role: string;
  /** This replica's id. */
  holder: string;
  /** A lease not renewed for this long may be taken over. @default 6000 */
  leaseMs?: number;
  /** JetStream replicas of the lease bucket. @default 1 */
  replicas?: number;
  logger: Logger;
  /** Called when this replica becomes leader, with the lease revision as term. */
  onElected(term: number): void | Promise<void>;
  /** Called when this replica stops being leader (lost, expired or released). */
  onDeposed(): void;
}

const bucketName = 'meshbus-leases';
const encoder = new TextEncoder();

/**
 * Leader election through a JetStream KV compare-and-set lease. The leader
 * renews the lease every leaseMs/3; a standby takes over a lease whose
 * revision has not moved for leaseMs by its own clock (no clock comparison
 * across machines). A leader that cannot renew within leaseMs steps down
 * before anyone else may take over.
 */
export class LeaderElection {
  private kv: KV | undefined;
  private timer: NodeJS.Timeout | undefined;
  private revision = 0;
  private lastRenewed = 0;
  private leader = false;
  private observed: { revision: number; since: number } | undefined;
  private stopped = false;
  private ticking = false;
  private readonly leaseMs: number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseMs = options.leaseMs ?? 6000;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  async start(): Promise<void> {
    const js = this.options.nc.jetstream();
    this.kv = await js.views.kv(bucketName, { history: 1, replicas: this.options.replicas ?? 1 });
    await this.tick();
    this.timer = setInterval(() => {
      this.checkExpiry();
      void this.tick();
    }, Math.max(50, Math.floor(this.leaseMs / 6)));
  }

  /** Stops campaigning; a leader releases its lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.ticking) await new Promise((r) => setTimeout(r, 10));
    if (this.leader && this.kv) {
      try {
        // With NATS unreachable the release cannot happen; the lease then simply expires.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.kv.delete(this.options.role, { previousSeq: this.revision }),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), 1000);
          }),
        ]).finally(() => clearTimeout(timer));
      } catch (err) {
        this.options.logger.warn({ err: errorMessage(err) }, 'lease release failed');
      }
      this.depose('released');
    }
  }

  /**
   * Steps down when the lease has gone unrenewed for most of its duration,
   * even while a renewal request is still hanging: a standby may take over
   * once a whole lease duration has passed on its clock, and by then this
   * replica must have stopped writing.
   */
  private checkExpiry(): void {
    if (this.leader && Date.now() - this.lastRenewed >= this.leaseMs * 0.8) this.depose('lease not renewed in time');
  }

  private lease(): Uint8Array {
    return encoder.encode(JSON.stringify({ holder: this.options.holder, leaseMs: this.leaseMs }));
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped || !this.kv) return;
    this.ticking = true;
    const now = Date.now();
    try {
      if (this.leader) {
        if (now - this.lastRenewed >= this.leaseMs / 3) {
          this.revision = await this.kv.update(this.options.role, this.lease(), this.revision);
          this.lastRenewed = now;
        }
      } else {
        const entry = await this.kv.get(this.options.role);
        if (!entry || entry.operation !== 'PUT') {
          const rev = entry ? await this.kv.update(this.options.role, this.lease(), entry.revision) : await this.kv.create(this.options.role, this.lease());
          await this.elect(rev, now);
        } else if (!this.observed || this.observed.revision !== entry.revision) {
          this.observed = { revision: entry.revision, since: now };
        } else if (now - this.observed.since >= this.leaseMs) {
          const rev = await this.kv.update(this.options.role, this.lease(), entry.revision);
          await this.elect(rev, now);
        }
      }
    } catch (err) {
      if (this.leader) {
        const msg = errorMessage(err);
        if (msg.includes('wrong last sequence')) this.depose('lease taken by another replica');
        else if (now - this.lastRenewed >= this.leaseMs) this.depose(`lease not renewed: ${msg}`);
      }
      // A standby losing a race or a disconnected bus: try again next tick.
    } finally {
      this.ticking = false;
    }
  }

  private async elect(revision: number, now: number): Promise<void> {
    this.revision = revision;
    this.lastRenewed = now;
    this.leader = true;
    this.observed = undefined;
    this.options.logger.info({ role: this.options.role, term: revision }, 'became leader');
    try {
      await this.options.onElected(revision);
    } catch (err) {
      this.options.logger.error({ err }, 'leader start-up failed; stepping down');
      this.depose('start-up failed');
    }
  }

  private depose(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.observed = undefined;
    this.options.logger.warn({ role: this.options.role, reason }, 'no longer leader');
    this.options.onDeposed();
  }
}
