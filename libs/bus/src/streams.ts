import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import { streams } from '@meshbus/bus-schemas';

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
  ];
  for (const cfg of configs) {
    const keep: (keyof StreamConfig)[] = cfg.name === streams.events.name && options.eventsMaxAgeMs === undefined ? ['max_age'] : [];
    await ensureStreamConfig(jsm, cfg, { keep, onRetry });
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
      if (!isTimeout(err) || attempt >= timeoutAttempts) throw err;
      onRetry?.(cfg.name!, attempt, err);
    }
  }
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

function isTimeout(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'TIMEOUT';
}

export function isNotFound(err: unknown): boolean {
  const s = String((err as { message?: string })?.message ?? err);
  return s.includes('not found');
}
