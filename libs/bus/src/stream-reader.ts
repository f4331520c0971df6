import { consumerOpts, type ConsumerOptsBuilder, type JetStreamSubscription, type JsMsg, type NatsConnection } from 'nats';
import type { BusValidator } from '@meshbus/bus-schemas';
import { errorMessage, type Logger, type Registry } from '@meshbus/runtime';
import { decodeEvent, MalformedEventError, type BusEvent } from './cloudevents.js';
import { busMetrics, type BusMetrics } from './metrics.js';

/** Where a {@link StreamReader} starts. */
export type StartPosition = 'all' | 'new' | { seq: number } | { time: Date };

/** Options of {@link StreamReader}. */
export interface StreamReaderOptions {
  nc: NatsConnection;
  /** JetStream stream name. */
  stream: string;
  /** Subject filter within the stream (wildcards allowed). */
  filter: string;
  /** @default 'all' */
  from?: StartPosition;
  validator: BusValidator;
  logger: Logger;
  registry?: Registry;
  /** Called for every valid event, in stream order. */
  onEvent(event: BusEvent): void;
  /**
   * Called when the stream was recreated (its creation time changed, e.g. a
   * NATS server without persistence restarted): the reader starts over from
   * the beginning and the caller must be ready to rebuild what it derived.
   */
  onReset?(): void;
  /** Called each time the reader reaches the end of the stream after (re)starting. */
  onCaughtUp?(): void;
}

/**
 * Reads a JetStream stream in order with an ordered consumer, validates each
 * message, and follows it live. Survives disconnects: the consumer resumes
 * after the last sequence it saw, and a recreated stream is read again from
 * the start. Malformed messages are logged, counted and skipped.
 */
export class StreamReader {
  private lastSeq = 0;
  private streamCreated: string | undefined;
  private stopped = false;
  private current: JetStreamSubscription | undefined;
  private caughtUp = false;
  private caughtUpResolve!: () => void;
  private readonly caughtUpPromise = new Promise<void>((r) => (this.caughtUpResolve = r));
  private loop: Promise<void> | undefined;
  private readonly metrics?: BusMetrics;

  constructor(private readonly options: StreamReaderOptions) {
    if (options.registry) this.metrics = busMetrics(options.registry);
  }

  /** Starts reading; resolves once everything stored at start has been read. */
  async start(): Promise<void> {
    this.loop = this.run();
    void this.watchReconnects().catch(() => undefined);
    await this.caughtUpPromise;
  }

  /** True once the backlog present at start has been read. */
  get isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Sequence of the last message handled (0 before any). */
  get sequence(): number {
    return this.lastSeq;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.unsubscribe();
    this.caughtUpResolve();
    await this.loop;
    // The status watch ends with the connection or at its next status event; nothing to wait for.
  }

  private pendingCatchUp = true;

  private markCaughtUp(): void {
    if (!this.pendingCatchUp) return;
    this.pendingCatchUp = false;
    this.options.onCaughtUp?.();
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.caughtUpResolve();
  }

  /** Ordered push consumer options: resume after the last sequence seen, else the configured start. */
  private consumerOptions(): { opts: ConsumerOptsBuilder; fromStart: boolean; onlyNew: boolean } {
    const opts = consumerOpts();
    opts.orderedConsumer();
    const from = this.options.from ?? 'all';
    if (this.lastSeq > 0) {
      opts.startSequence(this.lastSeq + 1);
      return { opts, fromStart: false, onlyNew: false };
    }
    if (from === 'all') opts.deliverAll();
    else if (from === 'new') opts.deliverNew();
    else if ('seq' in from) opts.startSequence(from.seq);
    else opts.startTime(from.time);
    return { opts, fromStart: from === 'all', onlyNew: from === 'new' };
  }

  private async run(): Promise<void> {
    const { nc, stream, logger } = this.options;
    let backoff = 100;
    while (!this.stopped) {
      try {
        const jsm = await nc.jetstreamManager();
        const info = await jsm.streams.info(stream);
        if (this.streamCreated !== undefined && info.created !== this.streamCreated) {
          logger.warn({ stream }, 'stream was recreated; reading it again from the start');
          this.metrics?.resyncs.inc({ stream });
          this.lastSeq = 0;
          this.pendingCatchUp = true;
          this.options.onReset?.();
        }
        this.streamCreated = info.created;
        const { opts, fromStart, onlyNew } = this.consumerOptions();
        const backlog = !onlyNew && (await this.hasBacklog(fromStart));
        const messages = await nc.jetstream().subscribe(this.options.filter, opts);
        this.current = messages;
        if (!backlog) this.markCaughtUp();
        backoff = 100;
        for await (const m of messages) {
          this.handle(m);
          if (this.stopped) break;
        }
      } catch (err) {
        if (this.stopped) break;
        logger.warn({ stream, err: errorMessage(err) }, 'stream reader interrupted; retrying');
      }
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  /**
   * Whether there are stored messages to read before the reader is caught up.
   * Messages report how many are still pending after them; with none to read
   * there is no message to carry that count, so the stream is asked.
   */
  private async hasBacklog(fromStart: boolean): Promise<boolean> {
    const jsm = await this.options.nc.jetstreamManager();
    const info = await jsm.streams.info(this.options.stream, { subjects_filter: this.options.filter });
    const counts = info.state.subjects ?? {};
    for (const subject in counts) if ((counts[subject] ?? 0) > 0) return fromStart || this.lastSeq < info.state.last_seq;
    return false;
  }

  private handle(m: JsMsg): void {
    const { stream, logger } = this.options;
    this.lastSeq = m.seq;
    this.metrics?.lag.set({ stream }, m.info.pending);
    try {
      const event = decodeEvent(m.subject, m.headers, m.data, this.options.validator, m.seq);
      this.metrics?.received.inc({ stream });
      this.options.onEvent(event);
    } catch (err) {
      if (err instanceof MalformedEventError) {
        this.metrics?.rejected.inc({ reason: err.reason, stream });
        logger.warn({ stream, subject: m.subject, seq: m.seq, reason: err.reason, error: err.message }, 'dropped malformed bus message');
      } else {
        logger.error({ stream, subject: m.subject, seq: m.seq, err }, 'bus message handler failed');
      }
    }
    if (m.info.pending === 0) this.markCaughtUp();
  }

  /** After a reconnect, checks whether the stream was recreated while we were away. */
  private async watchReconnects(): Promise<void> {
    for await (const s of this.options.nc.status()) {
      if (this.stopped) return;
      if (s.type !== 'reconnect') continue;
      try {
        const jsm = await this.options.nc.jetstreamManager();
        const info = await jsm.streams.info(this.options.stream);
        if (this.streamCreated !== undefined && info.created !== this.streamCreated) this.current?.unsubscribe();
      } catch {
        this.current?.unsubscribe();
      }
    }
  }
}
