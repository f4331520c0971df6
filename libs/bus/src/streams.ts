import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';
import { streams } from '@meshbus/bus-schemas';

/** Options of {@link ensureStreams}. */
export interface StreamOptions {
  /** JetStream replicas of each stream (1, or 3 in a cluster). @default 1 */
  replicas?: number;
  /** How long events are kept. @default 7 days */
  eventsMaxAgeMs?: number;
}

/**
 * Creates the meshbus streams, or updates their settings. Every service calls
 * it at start; it is idempotent, so replicas may race.
 */
export async function ensureStreams(jsm: JetStreamManager, options: StreamOptions = {}): Promise<void> {
  const replicas = options.replicas ?? 1;
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
    // A JetStream cluster busy creating a replicated stream drops concurrent
    // create/update requests for it (replicas starting together): those time
    // out, and trying again once the stream exists succeeds.
    for (let attempt = 1; ; attempt++) {
      try {
        await ensureStream(jsm, cfg);
        break;
      } catch (err) {
        if (!isTimeout(err) || attempt >= timeoutAttempts) throw err;
      }
    }
  }
}

const timeoutAttempts = 4;

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig>): Promise<void> {
  try {
    await jsm.streams.info(cfg.name!);
    await jsm.streams.update(cfg.name!, cfg);
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

function isTimeout(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'TIMEOUT';
}

export function isNotFound(err: unknown): boolean {
  const s = String((err as { message?: string })?.message ?? err);
  return s.includes('not found');
}
