#!/usr/bin/env node
/*
 * The proxy process: configuration from the environment (docs/proxy.md),
 * JSON logs on stdout, SIGTERM, SIGINT or POST /shutdown drain it. Exit
 * codes: 0 after a clean stop, 1 when it failed to start or to stop, 2 for
 * an invalid configuration.
 */
import { createLogger, loadConfig, runUntilSignalled } from '@meshbus/runtime';
import { Proxy, proxyProcessConfig } from './proxy.js';

const loaded = loadConfig('proxy', () => proxyProcessConfig(process.env));
if (loaded) {
  const logger = createLogger({ service: 'proxy', level: loaded.config.log.level });
  const proxy = new Proxy(loaded.config, loaded.options, { logger });
  // POST /shutdown drains like SIGTERM does.
  void proxy.shutdown.then(() => process.kill(process.pid, 'SIGTERM'));
  await runUntilSignalled(proxy, { logger, drainTimeoutMs: loaded.config.shutdownGraceMs + 5_000 });
}
