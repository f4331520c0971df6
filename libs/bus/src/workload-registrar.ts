import type { WorkloadRegistration } from '@meshbus/bus-schemas';
import { errorMessage, MeshbusError, type Logger } from '@meshbus/runtime';
import { WorkloadRegistrationError, type RegistrationAnswer, type RegistrationTransport } from './registration-client.js';

/** The registrar was used out of order (started twice, or after it stopped). */
export class WorkloadRegistrarStateError extends MeshbusError {
  override name = 'WorkloadRegistrarStateError';
  constructor(message: string) {
    super('InvalidRegistrarState', message);
  }
}

/** The outcome of one heartbeat, as reported to {@link WorkloadRegistrarOptions.onHeartbeat}. */
export type HeartbeatResult = { ok: true; outcome: RegistrationAnswer['outcome'] } | { ok: false; error: unknown };

/** Options of {@link WorkloadRegistrar}. */
export interface WorkloadRegistrarOptions {
  /** Carries the requests to the destination replicas (usually a `NatsRegistrationTransport`). */
  transport: RegistrationTransport;
  /**
   * The workload's token (local workload token or Kubernetes service-account token), asked for
   * before every request so that a rotated token file is picked up.
   */
  token: () => string | Promise<string>;
  /** The workload to register. `heartbeatIntervalMs` is set from {@link intervalMs}. */
  registration: Omit<WorkloadRegistration, 'heartbeatIntervalMs'>;
  /** Time between two heartbeats; the destination removes the workload after three missed ones. @default 5000 */
  intervalMs?: number;
  /** How long {@link WorkloadRegistrar.start} retries while no leader answers. @default 30000 */
  startTimeoutMs?: number;
  logger: Logger;
  /** Called after every heartbeat, whether it was counted or not. */
  onHeartbeat?(result: HeartbeatResult): void;
}

const namePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Keeps a workload outside Kubernetes registered: asks the destination replicas to register it
 * at start, sends a heartbeat every interval (registering again when the destination no longer
 * knows it), and deregisters it when stopped. The workload never writes bus state itself.
 * A heartbeat that fails is logged and the next one is sent on schedule; {@link start}
 * resolves once the registration is stored and rejects with a {@link WorkloadRegistrationError}
 * naming what to fix.
 */
export class WorkloadRegistrar implements AsyncDisposable {
  /** `<namespace>/<name>`. */
  readonly key: string;
  private readonly intervalMs: number;
  private readonly data: WorkloadRegistration;
  private state: 'initialized' | 'started' | 'stopped' = 'initialized';
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: WorkloadRegistrarOptions) {
    this.intervalMs = options.intervalMs ?? 5000;
    const { namespace, name } = options.registration;
    for (const [what, value] of [['namespace', namespace], ['name', name]] as const) {
      if (!namePattern.test(value)) throw new WorkloadRegistrationError('InvalidRequest', `${what} ${JSON.stringify(value)} is not a DNS-1123 label`, false, `/registration/${what}`);
    }
    this.key = `${namespace}/${name}`;
    this.data = { ...options.registration, heartbeatIntervalMs: this.intervalMs };
  }

  /** The registration as sent, heartbeat interval included. */
  get registration(): WorkloadRegistration {
    return this.data;
  }

  /** Registers the workload (retrying while the destination is unavailable) and starts the heartbeat. */
  async start(): Promise<RegistrationAnswer> {
    if (this.state !== 'initialized') throw new WorkloadRegistrarStateError(`cannot start a registrar that is ${this.state}`);
    this.state = 'started';
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 30_000);
    let delay = 250;
    for (;;) {
      try {
        const answer = await this.register();
        this.options.logger.info({ workload: this.key, intervalMs: this.intervalMs, outcome: answer.outcome }, 'workload registered');
        this.schedule();
        return answer;
      } catch (error) {
        const retry = error instanceof WorkloadRegistrationError && error.retryable && Date.now() + delay < deadline && this.state === 'started';
        if (!retry) {
          this.state = 'stopped';
          throw error;
        }
        this.options.logger.warn({ workload: this.key, code: error.code, err: error.message }, 'registration not accepted yet; retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /**
   * Stops the heartbeat and deregisters, after any heartbeat still in flight, so that the
   * deregistration is the last word. Idempotent. Rejects when the destination could not be told
   * (the workload then expires after three missed heartbeats).
   */
  async stop(reason = 'workload deregistered'): Promise<void> {
    if (this.state !== 'started') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    clearTimeout(this.timer);
    await this.inFlight;
    const { namespace, name } = this.data;
    const send = async () => this.options.transport.request('workloadDeregisterRequest', { token: await this.options.token(), namespace, name, reason });
    let answer: RegistrationAnswer;
    try {
      answer = await send();
    } catch (error) {
      if (!(error instanceof WorkloadRegistrationError && error.retryable)) throw error;
      await new Promise((r) => setTimeout(r, 500));
      answer = await send();
    }
    this.options.logger.info({ workload: this.key, reason, outcome: answer.outcome }, 'workload deregistered');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private async register(): Promise<RegistrationAnswer> {
    return this.options.transport.request('workloadRegisterRequest', { token: await this.options.token(), registration: this.data });
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
    const { namespace, name } = this.data;
    try {
      let answer: RegistrationAnswer;
      try {
        answer = await this.options.transport.request('workloadHeartbeatRequest', { token: await this.options.token(), namespace, name });
      } catch (error) {
        if (!(error instanceof WorkloadRegistrationError && error.code === 'NotRegistered')) throw error;
        this.options.logger.warn({ workload: this.key }, 'the destination no longer knows this workload; registering again');
        answer = await this.register();
      }
      this.options.onHeartbeat?.({ ok: true, outcome: answer.outcome });
    } catch (error) {
      const code = error instanceof MeshbusError ? error.code : undefined;
      this.options.logger.warn({ workload: this.key, code, err: errorMessage(error) }, 'heartbeat not accepted; retrying at the next interval');
      this.options.onHeartbeat?.({ ok: false, error });
    }
  }
}
