/*
 * The tracing settings of the proxy, from its environment (a pure function).
 */
import { ConfigError } from '@meshbus/core';
import { envDuration, envInt, envString, type Env } from '@meshbus/runtime';

/** How the proxy traces requests (docs/proxy-tracing.md). */
export interface TracingConfig {
  /** The collector's OTLP/HTTP address; `undefined`: spans are not exported, context is still propagated. */
  readonly collector: string | undefined;
  /** Probability that a request arriving without a sampling decision starts a sampled trace. */
  readonly samplingRatio: number;
  readonly maxQueueSize: number;
  readonly batchDelayMs: number;
  readonly exportTimeoutMs: number;
}

const P = 'MESHBUS_PROXY_TRACE_';

/**
 * `MESHBUS_PROXY_TRACE_COLLECTOR`, `_SAMPLING_RATIO` (default 1 with a collector, 0 without),
 * `_QUEUE_SIZE` (2048), `_BATCH_DELAY` (5s), `_EXPORT_TIMEOUT` (10s). Errors name the variable.
 */
export function tracingConfigFromEnv(env: Env): TracingConfig {
  const collectorText = envString(env, `${P}COLLECTOR`);
  let collector: string | undefined;
  if (collectorText !== undefined) {
    let url: URL;
    try {
      url = new URL(collectorText.trim());
    } catch {
      throw new ConfigError(`${P}COLLECTOR: ${JSON.stringify(collectorText)} is not a URL such as http://collector:4318`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${P}COLLECTOR: ${JSON.stringify(collectorText)} must be http:// or https:// (OTLP/HTTP)`);
    collector = url.toString();
  }
  const ratioText = envString(env, `${P}SAMPLING_RATIO`);
  let samplingRatio = collector !== undefined ? 1 : 0;
  if (ratioText !== undefined) {
    samplingRatio = Number(ratioText.trim());
    if (!/^\d*\.?\d+$/.test(ratioText.trim()) || !(samplingRatio >= 0 && samplingRatio <= 1)) throw new ConfigError(`${P}SAMPLING_RATIO must be a number in [0, 1], got ${JSON.stringify(ratioText)}`);
  }
  const maxQueueSize = envInt(env, `${P}QUEUE_SIZE`, 2048, { min: 1, max: 1_000_000 });
  const batchDelayMs = envDuration(env, `${P}BATCH_DELAY`, 5_000);
  if (batchDelayMs <= 0) throw new ConfigError(`${P}BATCH_DELAY must be longer than 0`);
  const exportTimeoutMs = envDuration(env, `${P}EXPORT_TIMEOUT`, 10_000);
  if (exportTimeoutMs <= 0) throw new ConfigError(`${P}EXPORT_TIMEOUT must be longer than 0`);
  return { collector, samplingRatio, maxQueueSize, batchDelayMs, exportTimeoutMs };
}
