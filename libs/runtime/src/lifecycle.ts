import type { Logger } from 'pino';

/** A long-running meshbus component: started once, disposed once. */
export interface Service {
  start(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * How long the service's own drain may take at shutdown (the gateway's open streams, from
   * `MESHBUS_DRAIN_MS`). {@link runService} waits this long plus {@link releaseAllowanceMs}
   * before it gives up on the stop. @default 0
   */
  readonly drainMs?: number;
}

/** What {@link runService} allows, beyond the service's own `drainMs`, for releasing everything else at shutdown. */
export const releaseAllowanceMs = 20_000;

/** Lifecycle state of a {@link Service}. */
export type ServiceState = 'initialized' | 'started' | 'destroyed';

type Cleanup = () => unknown;

/**
 * Resources acquired while starting, released in reverse order on dispose.
 * A failing release is logged and does not stop the others.
 */
export class ResourceStack {
  private readonly cleanups: Cleanup[] = [];

  constructor(private readonly logger: Logger) {}

  /** Registers a cleanup; returns the resource for chaining. */
  defer<T>(resource: T, cleanup: Cleanup): T {
    this.cleanups.push(cleanup);
    return resource;
  }

  /** Registers an async-disposable resource. */
  use<T extends AsyncDisposable>(resource: T): T {
    return this.defer(resource, () => resource[Symbol.asyncDispose]());
  }

  async disposeAll(): Promise<void> {
    while (this.cleanups.length > 0) {
      const cleanup = this.cleanups.pop()!;
      try {
        await cleanup();
      } catch (err) {
        this.logger.warn({ err }, 'resource release failed');
      }
    }
  }
}

/** Options of {@link runService} and {@link runUntilSignalled}. */
export interface RunOptions {
  logger: Logger;
  /**
   * Longest time a drain may take before the process gives up waiting.
   * @default the service's `drainMs` plus {@link releaseAllowanceMs} (20 s)
   */
  drainTimeoutMs?: number;
  /** What happens when the drain takes longer than `drainTimeoutMs`. @default process.exit(1) */
  onDrainTimeout?: () => void;
}

/** Options of {@link runService}. */
export interface RunServiceOptions extends RunOptions {
  /** Aborted to stop the service (its reason is logged as the signal). */
  signal: AbortSignal;
}

/**
 * Starts the service, waits until `signal` is aborted (also during start-up), then disposes it
 * (draining streams and connections). Resolves with the exit code: 0 after a clean stop, 1 when
 * it failed to start or to stop; never rejects. A drain that takes longer than `drainTimeoutMs`
 * (by default the service's own `drainMs` plus 20 s) ends the process (see `onDrainTimeout`). The one way every component runs, from its main.ts
 * or from `meshbus serve`.
 */
export async function runService(service: Service, options: RunServiceOptions): Promise<number> {
  const { logger, signal } = options;
  const stopAsked = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let code = 0;
  try {
    await Promise.race([service.start(), stopAsked]);
    await stopAsked;
    logger.info({ signal: String(signal.reason ?? 'signal') }, 'shutting down');
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    code = 1;
  }
  const deadlineMs = options.drainTimeoutMs ?? (service.drainMs ?? 0) + releaseAllowanceMs;
  const timer = setTimeout(() => {
    logger.error({ deadlineMs }, 'drain timed out');
    logger.flush?.();
    (options.onDrainTimeout ?? (() => process.exit(1)))();
  }, deadlineMs);
  timer.unref();
  try {
    await service[Symbol.asyncDispose]();
    logger.info('stopped');
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    code = 1;
  } finally {
    clearTimeout(timer);
  }
  logger.flush?.();
  return code;
}

/**
 * Used by a service's main.ts only: {@link runService} until SIGTERM or SIGINT. Sets the exit
 * code instead of calling process.exit(), so pending writes are flushed.
 */
export async function runUntilSignalled(service: Service, options: RunOptions): Promise<void> {
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort('SIGTERM'));
  process.once('SIGINT', () => controller.abort('SIGINT'));
  process.exitCode = await runService(service, { ...options, signal: controller.signal });
}

/**
 * Used by a service's main.ts only: builds the typed config, or reports why it
 * cannot (one JSON line on stderr naming the bad setting) and sets exit code 2.
 */
export function loadConfig<C>(service: string, build: () => C): C | undefined {
  try {
    return build();
  } catch (err) {
    process.stderr.write(
      JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service, msg: `invalid configuration: ${(err as Error).message}` }) + '\n',
    );
    process.exitCode = 2;
    return undefined;
  }
}
