import { streams, type EventKind } from '@meshbus/bus-schemas';
import type { BusEvent } from './cloudevents.js';
import { isTombstone } from './cloudevents.js';
import { busMetrics, type BusMetrics } from './metrics.js';
import { StreamReader, type StreamReaderOptions } from './stream-reader.js';

/** A change of one key of a {@link StateView}: the new value, or undefined when deleted. */
export type StateChange = (natsSubject: string, value: BusEvent | undefined) => void;

/** A write the view refused because a newer leader of its role had already written. */
export interface FencedWrite {
  event: BusEvent;
  role: string;
  /** The term of the refused write. */
  term: number;
  /** The highest term seen from that role. */
  highest: number;
}

/** Options of {@link StateView}. */
export type StateViewOptions = Omit<StreamReaderOptions, 'stream' | 'from' | 'onEvent' | 'onReset' | 'onCaughtUp'> & {
  /** The last-value stream to read. @default MESHBUS_STATE */
  stream?: string;
  /** Called after each key change, once the view has caught up; also during resyncs. */
  onChange?: StateChange;
  /** Called for every write refused by fencing (also during the initial read). */
  onFenced?(write: FencedWrite): void;
};

/** The writer role named by a CloudEvents source `/meshbus/<role>/<replica>`, if it has that shape. */
export function writerRole(source: string): string | undefined {
  const m = /^\/meshbus\/([^/]+)\//.exec(source);
  return m?.[1];
}

/**
 * The materialized view of meshbus state: the newest snapshot of every key in
 * the state stream (filtered), tombstones removed. Rebuilt from the bus alone.
 *
 * Writes are fenced by leader term: a write carrying a term lower than the
 * highest term already read from writers of the same role (the role in its
 * `ce-source`) comes from a deposed leader and is ignored, counted and
 * logged, and the key keeps its previous value. Terms are learnt in stream
 * order, so a view rebuilt from the stream refuses the same writes. Writes
 * without a term (writers that do not lead) are not fenced.
 */
export class StateView {
  private entries = new Map<string, BusEvent>();
  private rebuilding: Map<string, BusEvent> | undefined;
  private highestTerm = new Map<string, number>();
  private readonly reader: StreamReader;
  private readonly onChange?: StateChange;
  private readonly metrics?: BusMetrics;

  constructor(private readonly options: StateViewOptions) {
    this.onChange = options.onChange;
    if (options.registry) this.metrics = busMetrics(options.registry);
    this.reader = new StreamReader({
      ...options,
      stream: options.stream ?? streams.state.name,
      from: 'all',
      onEvent: (e) => this.apply(e),
      onReset: () => {
        // A recreated stream starts a new history, terms included.
        this.rebuilding = new Map();
        this.highestTerm = new Map();
      },
      onCaughtUp: () => this.finishRebuild(),
    });
  }

  /** Resolves once the view holds everything stored at start. */
  async start(): Promise<void> {
    await this.reader.start();
  }

  get ready(): boolean {
    return this.reader.isCaughtUp;
  }

  get sequence(): number {
    return this.reader.sequence;
  }

  get(natsSubject: string): BusEvent | undefined {
    return this.entries.get(natsSubject);
  }

  /** Current entries, optionally of one kind. */
  *values(kind?: EventKind): IterableIterator<BusEvent> {
    for (const e of this.entries.values()) if (!kind || e.kind === kind) yield e;
  }

  get size(): number {
    return this.entries.size;
  }

  async stop(): Promise<void> {
    await this.reader.stop();
  }

  /** The highest writer term seen from a role, if any. */
  termOf(role: string): number | undefined {
    return this.highestTerm.get(role);
  }

  /** False (and the write reported) when a newer leader of the writer's role has already written. */
  private admit(event: BusEvent): boolean {
    if (event.term === undefined) return true;
    const role = writerRole(event.source);
    if (role === undefined) return true;
    const highest = this.highestTerm.get(role) ?? 0;
    if (event.term >= highest) {
      this.highestTerm.set(role, event.term);
      return true;
    }
    this.metrics?.fenced.inc({ stream: streams.state.name, role });
    this.options.logger.warn(
      { subject: event.natsSubject, seq: event.seq, source: event.source, role, term: event.term, highestTerm: highest },
      'ignored a state write from a deposed leader',
    );
    this.options.onFenced?.({ event, role, term: event.term, highest });
    return false;
  }

  private apply(event: BusEvent): void {
    if (!this.admit(event)) return;
    if (this.rebuilding) {
      this.applyRebuild(event);
      return;
    }
    const tomb = isTombstone(event);
    const had = this.entries.has(event.natsSubject);
    if (tomb) {
      if (!had) return;
      this.entries.delete(event.natsSubject);
      this.onChange?.(event.natsSubject, undefined);
    } else {
      this.entries.set(event.natsSubject, event);
      this.onChange?.(event.natsSubject, event);
    }
  }

  /** During a resync: collect into a fresh map, then swap and report the differences. */
  private applyRebuild(event: BusEvent): void {
    const next = this.rebuilding!;
    if (isTombstone(event)) next.delete(event.natsSubject);
    else next.set(event.natsSubject, event);
  }

  /** Ends a resync once the reader has consumed the recreated stream's backlog. */
  private finishRebuild(): void {
    const next = this.rebuilding;
    if (!next) return;
    this.rebuilding = undefined;
    const old = this.entries;
    this.entries = next;
    for (const [k, v] of next) if (old.get(k)?.id !== v.id) this.onChange?.(k, v);
    for (const k of old.keys()) if (!next.has(k)) this.onChange?.(k, undefined);
  }
}
