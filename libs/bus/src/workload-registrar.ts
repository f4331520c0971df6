import { subjects, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { errorMessage, MeshbusError, type Logger } from '@meshbus/runtime';
import type { Publisher } from './publisher.js';

/** The registrar was used out of order (started twice, or after it stopped). */
export class WorkloadRegistrarStateError extends MeshbusError {
  override name = 'WorkloadRegistrarStateError';
  constructor(message: string) {
    super('InvalidRegistrarState', message);
  }
}

/** The outcome of one heartbeat, as reported to {@link WorkloadRegistrarOptions.onHeartbeat}. */
export type HeartbeatResult = { ok: true; seq: number } | { ok: false; error: unknown };

/** Options of {@link WorkloadRegistrar}. */
export interface WorkloadRegistrarOptions {
  publisher: Publisher;
  /** The workload to announce. `heartbeatIntervalMs` is set from {@link intervalMs}. */
  registration: Omit<WorkloadRegistration, 'heartbeatIntervalMs'>;
  /** Time between two announcements; the destination removes the workload after three missed ones. @default 5000 */
  intervalMs?: number;
  logger: Logger;
  /** Called after every heartbeat after the first, whether it was stored or not. */
  onHeartbeat?(result: HeartbeatResult): void;
}

/**
 * Keeps a workload outside Kubernetes registered on the bus: publishes a
 * `workload.registered` snapshot at start and then every interval, and a
 * `workload.deregistered` tombstone when stopped. A heartbeat that fails (NATS
 * unreachable) is logged and the next one is tried on schedule; the first
 * announcement must succeed for {@link start} to resolve.
 */
export class WorkloadRegistrar implements AsyncDisposable {
  /** NATS subject of this workload's state. */
  readonly subject: string;
  /** CloudEvents subject (the key): `<namespace>/<name>`. */
  readonly key: string;
  private readonly intervalMs: number;
  private readonly data: WorkloadRegistration;
  private state: 'initialized' | 'started' | 'stopped' = 'initialized';
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: WorkloadRegistrarOptions) {
    this.intervalMs = options.intervalMs ?? 5000;
    const { namespace, name } = options.registration;
    this.subject = subjects.workload(namespace, name);
    this.key = `${namespace}/${name}`;
    this.data = { ...options.registration, heartbeatIntervalMs: this.intervalMs };
  }

  /** The announcement as published, heartbeat interval included. */
  get registration(): WorkloadRegistration {
    return this.data;
  }

  /** Publishes the first announcement and starts the heartbeat. */
  async start(): Promise<void> {
    if (this.state !== 'initialized') throw new WorkloadRegistrarStateError(`cannot start a registrar that is ${this.state}`);
    this.state = 'started';
    try {
      await this.options.publisher.publish('workloadRegistered', this.subject, this.key, this.data);
    } catch (err) {
      this.state = 'stopped';
      throw err;
    }
    this.options.logger.info({ workload: this.key, intervalMs: this.intervalMs }, 'workload registered');
    this.schedule();
  }

  /**
   * Stops the heartbeat and publishes the tombstone, after any heartbeat
   * still in flight, so the tombstone is the last word. Idempotent.
   */
  async stop(reason = 'workload deregistered'): Promise<void> {
    if (this.state !== 'started') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    clearTimeout(this.timer);
    await this.inFlight;
    await this.options.publisher.publish('workloadDeregistered', this.subject, this.key, { reason });
    this.options.logger.info({ workload: this.key, reason }, 'workload deregistered');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.inFlight = this.beat().finally(() => {
        this.inFlight = undefined;
        if (this.state === 'started') this.schedule();
      });
    }, this.intervalMs);
  }

  private async beat(): Promise<void> {
    try {
      const seq = await this.options.publisher.publish('workloadRegistered', this.subject, this.key, this.data);
      this.options.onHeartbeat?.({ ok: true, seq });
    } catch (error) {
      this.options.logger.warn({ workload: this.key, err: errorMessage(error) }, 'heartbeat not published; retrying at the next interval');
      this.options.onHeartbeat?.({ ok: false, error });
    }
  }
}
