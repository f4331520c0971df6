#!/usr/bin/env node
/*
 * The proxy process: configuration from the environment (docs/proxy.md),
 * JSON logs on stdout, SIGTERM, SIGINT or POST /shutdown drain it. Exit
 * codes: 0 after a clean stop, 1 when it failed to start or to stop, 2 for
 * an invalid configuration. `meshbus proxy` runs the same function.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLogger, type Env, type LoggerOptions } from '@meshbus/runtime';
import { Proxy, proxyProcessConfig } from './proxy.js';

/** Exit codes of the proxy process. */
export const PROXY_PROCESS_EXIT = { ok: 0, failed: 1, invalidConfiguration: 2 } as const;

/** What {@link runProxyProcess} uses of the process it runs in. */
export interface ProxyProcessIo {
  /** Where the one line about an invalid configuration goes. */
  readonly stderr: (text: string) => void;
  /** Aborted on SIGTERM or SIGINT: the proxy drains and the run ends. */
  readonly signal: AbortSignal;
  /** Where the JSON log lines go. @default stdout */
  readonly logDestination?: LoggerOptions['destination'];
}

/**
 * Runs a proxy configured from `env` (the MESHBUS_PROXY_* variables) until
 * `io.signal` is aborted or `POST /shutdown` asks it to stop, then drains it.
 * Resolves with the exit code; never rejects.
 */
export async function runProxyProcess(env: Env, io: ProxyProcessIo): Promise<number> {
  let loaded: ReturnType<typeof proxyProcessConfig>;
  try {
    loaded = proxyProcessConfig(env);
  } catch (err) {
    io.stderr(`${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service: 'proxy', msg: `invalid configuration: ${(err as Error).message}` })}\n`);
    return PROXY_PROCESS_EXIT.invalidConfiguration;
  }
  const { config, options } = loaded;
  const logger = createLogger({ service: 'proxy', level: config.log.level, ...(io.logDestination ? { destination: io.logDestination } : {}) });
  const proxy = new Proxy(config, options, { logger });

  let stopRequested = false;
  const stopAsked = new Promise<string>((resolve) => {
    const onAbort = () => resolve(String(io.signal.reason ?? 'signal'));
    if (io.signal.aborted) onAbort();
    else io.signal.addEventListener('abort', onAbort, { once: true });
    // POST /shutdown drains like SIGTERM does.
    void proxy.shutdown.then(() => resolve('POST /shutdown'));
  }).then((reason) => {
    stopRequested = true;
    return reason;
  });

  let exitCode: number = PROXY_PROCESS_EXIT.ok;
  const started = proxy.start().then(
    () => true,
    (err: unknown) => {
      if (stopRequested) return false;
      logger.fatal({ err }, 'start failed');
      exitCode = PROXY_PROCESS_EXIT.failed;
      return false;
    },
  );
  const outcome = await Promise.race([started.then((ok) => (ok ? stopAsked : undefined)), stopAsked]);
  if (outcome !== undefined) logger.info({ signal: outcome }, 'shutting down');

  const drainTimeoutMs = config.shutdownGraceMs + 5_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), drainTimeoutMs)));
  try {
    const stopped = await Promise.race([proxy[Symbol.asyncDispose]().then(() => 'stopped' as const), timedOut]);
    if (stopped === 'timeout') {
      logger.error('drain timed out');
      exitCode = PROXY_PROCESS_EXIT.failed;
    } else if (exitCode === PROXY_PROCESS_EXIT.ok) {
      logger.info('stopped');
    }
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    exitCode = PROXY_PROCESS_EXIT.failed;
  } finally {
    clearTimeout(timer);
  }
  logger.flush?.();
  return exitCode;
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort('SIGTERM'));
  process.once('SIGINT', () => controller.abort('SIGINT'));
  const code = await runProxyProcess(process.env, { stderr: (t) => process.stderr.write(t), signal: controller.signal });
  process.exitCode = code;
  // A stop that timed out may leave sockets open: do not wait for them for long.
  if (code !== PROXY_PROCESS_EXIT.ok) setTimeout(() => process.exit(code), 1_000).unref();
}
