import type { Logger } from 'pino';

/** A long-running meshbus component: started once, disposed once. */
export interface Service {
  start(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

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

/** Options of {@link runUntilSignalled}. */
export interface RunOptions {
  logger: Logger;
  /** Longest time a drain may take before the process gives up waiting. @default 20000 */
  drainTimeoutMs?: number;
}

/**
 * Used by a service's main.ts only: starts the service, and on SIGTERM or
 * SIGINT disposes it (draining streams and connections). Sets the exit code
 * instead of calling process.exit(), so pending writes are flushed.
 */
export async function runUntilSignalled(service: Service, options: RunOptions): Promise<void> {
  const { logger } = options;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('drain timed out');
      process.exit(1);
    }, options.drainTimeoutMs ?? 20_000);
    timer.unref();
    service[Symbol.asyncDispose]().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    await service.start();
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    process.exitCode = 1;
    await service[Symbol.asyncDispose]().catch(() => undefined);
  }
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
