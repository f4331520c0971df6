import { consumerOpts, type ConsumerOptsBuilder, type JetStreamManager, type JetStreamSubscription, type JsMsg, type NatsConnection } from 'nats';
import type { BusValidator } from '@meshbus/bus-schemas';
import { errorMessage, type Logger, type Registry } from '@meshbus/runtime';
import { decodeEvent, MalformedEventError, type BusEvent } from './cloudevents.js';
import { busMetrics, type BusMetrics } from './metrics.js';

/** Heartbeat interval of the reader's consumer: a lost consumer is recreated after a few missed beats. */
const idleHeartbeatMs = 1000;

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
  /** Called for every message refused as malformed (after it is logged and counted), in stream order. */
  onRejected?(natsSubject: string, error: MalformedEventError): void;
}

/**
 * Reads a JetStream stream in order with an ordered consumer, validates each
 * message, and follows it live. Survives disconnects: the consumer resumes
 * after the last sequence it saw, and a recreated stream is read again from
 * the start. Malformed messages are logged, counted and skipped.
 */
export class StreamReader {
  private lastSeq = 0;
  /**
   * Sequences at or below this precede the start position ('new', `{ seq }`).
   * nats.js recreates a lost ordered consumer from the last sequence *it*
   * delivered plus one, which is the stream's first message when the
   * consumer had delivered nothing yet; such redeliveries are skipped.
   */
  private floor = 0;
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

  /** The sequence before the configured start position, given the stream's last sequence now. */
  private startFloor(lastSeq: number): number {
    const from = this.options.from ?? 'all';
    if (from === 'new') return lastSeq;
    if (typeof from === 'object' && 'seq' in from) return Math.max(0, from.seq - 1);
    return 0;
  }

  /** Ordered push consumer options: resume after the last sequence seen, else the configured start. */
  private consumerOptions(): { opts: ConsumerOptsBuilder; fromStart: boolean; onlyNew: boolean } {
    const opts = consumerOpts();
    opts.orderedConsumer();
    // Bound to the stream by name: a subject may be held by more than one stream
    // (a cluster's exports, and the same subjects sourced from a linked cluster).
    opts.bindStream(this.options.stream);
    // A consumer lost with its server (or a gap after a reconnect) is noticed
    // by missing heartbeats; at the nats.js default of 5 s that took ~15 s.
    opts.idleHeartbeat(idleHeartbeatMs);
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
        const jsm = await this.manager();
        const info = await jsm.streams.info(stream);
        if (this.streamCreated !== undefined && info.created !== this.streamCreated) {
          logger.warn({ stream }, 'stream was recreated; reading it again from the start');
          this.metrics?.resyncs.inc({ stream });
          this.lastSeq = 0;
          this.floor = 0;
          this.pendingCatchUp = true;
          this.options.onReset?.();
        }
        if (this.streamCreated === undefined) this.floor = this.startFloor(info.state.last_seq);
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
    const jsm = await this.manager();
    const info = await jsm.streams.info(this.options.stream, { subjects_filter: this.options.filter });
    const counts = info.state.subjects ?? {};
    for (const subject in counts) if ((counts[subject] ?? 0) > 0) return fromStart || this.lastSeq < info.state.last_seq;
    return false;
  }

  private handle(m: JsMsg): void {
    const { stream, logger } = this.options;
    if (m.seq <= Math.max(this.lastSeq, this.floor) || this.beforeStartTime(m)) {
      // Delivered again by a recreated consumer: already handled, or before the start.
      if (m.info.pending === 0) this.markCaughtUp();
      return;
    }
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
        this.options.onRejected?.(m.subject, err);
      } else {
        logger.error({ stream, subject: m.subject, seq: m.seq, err }, 'bus message handler failed');
      }
    }
    if (m.info.pending === 0) this.markCaughtUp();
  }

  /** Before the first message, a `{ time }` start skips what a recreated consumer delivers from earlier. */
  private beforeStartTime(m: JsMsg): boolean {
    const from = this.options.from;
    return this.lastSeq === 0 && typeof from === 'object' && 'time' in from && m.info.timestampNanos < from.time.getTime() * 1e6;
  }

  /**
   * The JetStream API without the account check that `jetstreamManager()`
   * makes by default: that request needs the JetStream meta leader, which a
   * cluster may be electing just when the reader has to recover.
   */
  private manager(): Promise<JetStreamManager> {
    return this.options.nc.jetstreamManager({ checkAPI: false });
  }

  /** After each reconnect, checks whether the stream was recreated while we were away. */
  private async watchReconnects(): Promise<void> {
    for await (const s of this.options.nc.status()) {
      if (this.stopped) return;
      if (s.type === 'reconnect') void this.checkRecreated();
    }
  }

  private checking = false;

  /**
   * Asks until JetStream answers whether the stream was recreated, and only
   * then starts over. A consumer lost with a server recovers by itself (see
   * the heartbeat); tearing it down merely because JetStream is still
   * electing leaders would restart the reader at the worst moment.
   */
  private async checkRecreated(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (let delay = 250; !this.stopped; delay = Math.min(delay * 2, 5000)) {
        const sub = this.current;
        try {
          const info = await (await this.manager()).streams.info(this.options.stream);
          if (this.streamCreated !== undefined && info.created !== this.streamCreated && sub === this.current) sub?.unsubscribe();
          return;
        } catch {
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.checking = false;
    }
  }
}
