import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import { streams } from '@meshbus/bus-schemas';
import { ConfigError, MeshbusError, envByteSize, envDuration, type Env } from '@meshbus/runtime';

/** Limits of the traffic-summary stream MESHBUS_METRICS. */
export interface MetricsRetention {
  /** Summaries older than this are dropped. */
  maxAgeMs: number;
  /** Past this many bytes the oldest summaries are dropped. */
  maxBytes: number;
}

/** What a new MESHBUS_METRICS gets when nobody says otherwise: one hour, at most 1 GiB. */
export const defaultMetricsRetention: MetricsRetention = { maxAgeMs: 3_600_000, maxBytes: 2 ** 30 };

/** The shortest retention: the stream's duplicate window (one minute) must fit in it. */
const minMetricsMaxAgeMs = 60_000;
/** The smallest size: a few thousand summaries. */
const minMetricsMaxBytes = 2 ** 20;

/**
 * JetStream has too little file storage for a stream: a stream with a size
 * limit (MESHBUS_METRICS) reserves all of it up front, on every server that
 * holds a replica.
 */
export class StreamStorageError extends MeshbusError {
  override name = 'StreamStorageError';
  constructor(
    readonly stream: string,
    readonly maxBytes: number | undefined,
    cause: unknown,
  ) {
    super(
      'StreamStorage',
      `JetStream cannot reserve storage for stream ${stream}` +
        (maxBytes === undefined || maxBytes < 0 ? '' : ` (max_bytes ${maxBytes})`) +
        `: ${String((cause as { message?: string })?.message ?? cause)}; raise max_file_store of the NATS servers (${streams.metrics.name} reserves MESHBUS_METRICS_MAX_BYTES up front) or lower MESHBUS_METRICS_MAX_BYTES`,
    );
  }
}

/** Reads `MESHBUS_METRICS_MAX_AGE` (at least 1m) and `MESHBUS_METRICS_MAX_BYTES` (at least 1MiB). */
export function metricsRetentionFromEnv(env: Env): MetricsRetention {
  const maxAgeMs = envDuration(env, 'MESHBUS_METRICS_MAX_AGE', defaultMetricsRetention.maxAgeMs);
  if (maxAgeMs < minMetricsMaxAgeMs) throw new ConfigError(`MESHBUS_METRICS_MAX_AGE must be at least 1m, got ${JSON.stringify(env['MESHBUS_METRICS_MAX_AGE'])}`);
  const maxBytes = envByteSize(env, 'MESHBUS_METRICS_MAX_BYTES', defaultMetricsRetention.maxBytes);
  if (maxBytes < minMetricsMaxBytes) throw new ConfigError(`MESHBUS_METRICS_MAX_BYTES must be at least 1MiB, got ${JSON.stringify(env['MESHBUS_METRICS_MAX_BYTES'])}`);
  return { maxAgeMs, maxBytes };
}

/** Options of {@link ensureStreams}. */
export interface StreamOptions {
  /** JetStream replicas of each stream (1, or 3 in a cluster). @default 1 */
  replicas?: number;
  /**
   * How long events are kept. When absent, a new events stream gets 7 days
   * and an existing one keeps its setting: a service without this setting
   * (the gateway) must not reset what another one configured.
   */
  eventsMaxAgeMs?: number;
  /**
   * Age and size limits of the traffic summaries. When absent, a new metrics
   * stream gets {@link defaultMetricsRetention} and an existing one keeps its
   * limits, as for `eventsMaxAgeMs`.
   */
  metrics?: MetricsRetention;
  /** Told about each JetStream request that timed out and is being tried again. */
  onRetry?: (stream: string, attempt: number, err: unknown) => void;
  /** Where each retry is logged (at warn), when no `onRetry` is given. */
  logger?: { warn(obj: object, msg: string): void };
}

/** The retry report of a service's logger. */
function logRetry(logger: NonNullable<StreamOptions['logger']>): NonNullable<StreamOptions['onRetry']> {
  return (stream, attempt) => logger.warn({ stream, attempt }, 'JetStream did not answer in time while ensuring the stream; trying again');
}

/**
 * Creates the meshbus streams, or updates their settings. Every service calls
 * it at start; it is idempotent, so replicas may race.
 */
export async function ensureStreams(jsm: JetStreamManager, options: StreamOptions = {}): Promise<void> {
  const replicas = options.replicas ?? 1;
  const onRetry = options.onRetry ?? (options.logger ? logRetry(options.logger) : undefined);
  const configs: Partial<StreamConfig>[] = [
    {
      name: streams.state.name,
      subjects: [...streams.state.subjects],
      retention: RetentionPolicy.Limits,
      max_msgs_per_subject: 1,
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: nanos(60_000),
      description: 'meshbus state: the newest snapshot of every key',
    },
    {
      name: streams.events.name,
      subjects: [...streams.events.subjects],
      retention: RetentionPolicy.Limits,
      max_age: nanos(options.eventsMaxAgeMs ?? 7 * 24 * 3_600_000),
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: nanos(60_000),
      description: 'meshbus events: one-off facts kept for replay',
    },
    {
      name: streams.metrics.name,
      subjects: [...streams.metrics.subjects],
      retention: RetentionPolicy.Limits,
      max_age: nanos((options.metrics ?? defaultMetricsRetention).maxAgeMs),
      max_bytes: (options.metrics ?? defaultMetricsRetention).maxBytes,
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: nanos(60_000),
      description: 'meshbus metrics: the proxies\' traffic summaries, kept for a short while',
    },
  ];
  for (const cfg of configs) {
    await ensureStreamConfig(jsm, cfg, { keep: keptSettings(cfg.name!, options), onRetry });
  }
}

/**
 * Creates one stream, or brings an existing one to `cfg` except for the
 * settings in `keep`; a request that times out is tried again.
 */
export async function ensureStreamConfig(
  jsm: JetStreamManager,
  cfg: Partial<StreamConfig>,
  options: { keep?: (keyof StreamConfig)[]; onRetry?: StreamOptions['onRetry']; logger?: StreamOptions['logger'] } = {},
): Promise<void> {
  const onRetry = options.onRetry ?? (options.logger ? logRetry(options.logger) : undefined);
  // A JetStream cluster busy creating a replicated stream drops concurrent
  // create/update requests for it (replicas starting together): those time
  // out, and trying again once the stream exists succeeds.
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureStream(jsm, cfg, options.keep ?? []);
      return;
    } catch (err) {
      if (isInsufficientStorage(err)) throw new StreamStorageError(cfg.name!, cfg.max_bytes, err);
      if (!isTimeout(err) || attempt >= timeoutAttempts) throw err;
      onRetry?.(cfg.name!, attempt, err);
    }
  }
}

/** The settings of an existing stream that a service without an opinion on them leaves as they are. */
function keptSettings(stream: string, options: StreamOptions): (keyof StreamConfig)[] {
  if (stream === streams.events.name && options.eventsMaxAgeMs === undefined) return ['max_age'];
  if (stream === streams.metrics.name && options.metrics === undefined) return ['max_age', 'max_bytes'];
  return [];
}

/** A JetStream busy electing leaders or under load answers within a few tries; past that the service gives up and says why. */
const timeoutAttempts = 6;

/** Creates the stream, or brings an existing one to `cfg` except for the settings in `keep`. */
async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig>, keep: (keyof StreamConfig)[]): Promise<void> {
  try {
    const info = await jsm.streams.info(cfg.name!);
    const wanted: Partial<StreamConfig> = { ...cfg, ...Object.fromEntries(keep.map((k) => [k, info.config[k]])) };
    // An update is a cluster-wide proposal; skip it when nothing would change.
    if (!sameSettings(info.config, wanted)) await jsm.streams.update(cfg.name!, wanted);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(cfg);
    } catch (addErr) {
      // Another replica created it between our look-up and our add.
      if (!String(addErr).includes('already in use')) throw addErr;
    }
  }
}

/** True when every setting in `wanted` already has that value in `current`. */
function sameSettings(current: StreamConfig, wanted: Partial<StreamConfig>): boolean {
  return Object.entries(wanted).every(([k, v]) => JSON.stringify(current[k as keyof StreamConfig]) === JSON.stringify(v));
}

/** JetStream's error 10047: the servers' storage limit leaves no room for the stream. */
function isInsufficientStorage(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10047 || String(e?.message ?? err).includes('insufficient storage');
}

function isTimeout(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'TIMEOUT';
}

export function isNotFound(err: unknown): boolean {
  const s = String((err as { message?: string })?.message ?? err);
  return s.includes('not found');
}
