import { streams, type EventKind } from '@meshbus/bus-schemas';
import type { BusEvent } from './cloudevents.js';
import { isTombstone } from './cloudevents.js';
import { StreamReader, type StreamReaderOptions } from './stream-reader.js';

/** A change of one key of a {@link StateView}: the new value, or undefined when deleted. */
export type StateChange = (natsSubject: string, value: BusEvent | undefined) => void;

/** Options of {@link StateView}. */
export type StateViewOptions = Omit<StreamReaderOptions, 'stream' | 'from' | 'onEvent' | 'onReset' | 'onCaughtUp'> & {
  /** Called after each key change, once the view has caught up; also during resyncs. */
  onChange?: StateChange;
};

/**
 * The materialized view of meshbus state: the newest snapshot of every key in
 * the state stream (filtered), tombstones removed. Rebuilt from the bus alone.
 */
export class StateView {
  private entries = new Map<string, BusEvent>();
  private rebuilding: Map<string, BusEvent> | undefined;
  private readonly reader: StreamReader;
  private readonly onChange?: StateChange;

  constructor(options: StateViewOptions) {
    this.onChange = options.onChange;
    this.reader = new StreamReader({
      ...options,
      stream: streams.state.name,
      from: 'all',
      onEvent: (e) => this.apply(e),
      onReset: () => {
        this.rebuilding = new Map();
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

  private apply(event: BusEvent): void {
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
