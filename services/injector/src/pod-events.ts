import { connect, createInbox, type Msg, type MsgHdrs, type NatsConnection, type NatsError } from 'nats';
import { busValidator, SchemaValidationError, subjects, type BusValidator, type PodInjection } from '@meshbus/bus-schemas';
import { ConnectionHealth, encodeEvent, MalformedEventError, type BusConnectionConfig } from '@meshbus/bus';
import { Counter, errorMessage, Gauge, type Logger, type Registry } from '@meshbus/runtime';
import type { AdmissionAnswer } from './admission.js';
import { MeshbusError } from '@meshbus/core';

/** One pod-injection event: its CloudEvents subject (`<namespace>/<name>`) and data. */
export interface PodInjectionEvent {
  readonly key: string;
  readonly data: PodInjection;
}

/** Where the webhook hands the event of each answer. Never blocks and never throws. */
export interface PodEventSink {
  offer(event: PodInjectionEvent): void;
}

const maxMessage = 1024;

/**
 * The event of an admission answer, or undefined when the answer was about no pod creation (an
 * unreadable body, another kind or operation). A pure function.
 */
export function podInjectionEvent(answer: AdmissionAnswer, context: { readonly replica: string; readonly proxyVersion: string }): PodInjectionEvent | undefined {
  const { result, pod, request } = answer;
  if (!result || !pod || !request) return undefined;
  const message = result.kind === 'refused' ? result.message : result.reason;
  const data: PodInjection = {
    namespace: pod.namespace,
    ...(pod.podName !== undefined ? { name: pod.podName } : {}),
    ...(pod.generateName !== undefined ? { generateName: pod.generateName } : {}),
    ...(pod.owner ? { owner: { kind: pod.owner.kind, name: pod.owner.name } } : {}),
    result: result.kind,
    reason: {
      code: result.code,
      message: message.length > maxMessage ? `${message.slice(0, maxMessage - 1)}…` : message,
      ...(result.kind === 'refused' ? { annotation: result.annotation } : {}),
    },
    proxyVersion: result.kind === 'injected' ? result.proxyVersion : context.proxyVersion,
    dryRun: request.dryRun,
    uid: request.uid,
    replica: context.replica,
  };
  return { key: `${pod.namespace}/${pod.name}`, data };
}

/** Why an event was not published. */
export type DropReason = 'buffer-full' | 'publish-failed' | 'invalid';

/** Options of {@link BusPodEvents}. */
export interface BusPodEventsOptions {
  /** How to reach NATS; the first connection is tried again until it succeeds or the sink stops. */
  readonly bus: BusConnectionConfig;
  /** An open connection to publish on instead of connecting with `bus`; {@link BusPodEvents.stop} leaves it open. */
  readonly nc?: NatsConnection;
  /** The clock of the events' CloudEvents `time`. @default () => new Date() */
  readonly now?: () => Date;
  /** Events held while NATS is unreachable or slow; more are dropped. @default 1000 */
  readonly capacity?: number;
  /** Publications awaiting JetStream's acknowledgement at once. @default 64 */
  readonly maxInFlight?: number;
  /** CloudEvents `source`. */
  readonly source: string;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly validator?: BusValidator;
  /** Pause between first-connection attempts. @default 1000 */
  readonly retryMs?: number;
  /** How long an offered event waits for others to be published with it. @default 5 */
  readonly batchMs?: number;
  /** How long {@link BusPodEvents.stop} waits for held events to be published. @default 2000 */
  readonly drainMs?: number;
}

/** A JetStream publication that got no acknowledgement, or a refusal. */
export class EventNotStoredError extends MeshbusError {
  override readonly name = 'EventNotStoredError';
  constructor(message: string) {
    super('EventNotStored', message);
  }
}

/**
 * JetStream publications without a request per message: one reply subscription for all of
 * them, one reply subject per event (`<inbox>.<n>`), one timer sweeping the unanswered. nats.js
 * builds a timer, a request entry and an error object for each request, several times the cost of
 * the publication itself, and the injector publishes one event per admission.
 */
class AcknowledgedPublications {
  private readonly inbox: string;
  private readonly waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void; at: number }>();
  private next = 0;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    inboxPrefix: string | undefined,
    private readonly timeoutMs = 5000,
  ) {
    this.inbox = createInbox(inboxPrefix);
    nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.answer(err, msg) });
    this.sweep = setInterval(() => this.expire(), Math.min(1000, timeoutMs));
    this.sweep.unref();
  }

  /** Resolves once the stream has stored the message (or knew its id already). */
  publish(subject: string, headers: MsgHdrs, payload: Uint8Array): Promise<void> {
    const token = (this.next++).toString(36);
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, at: Date.now() });
      try {
        this.nc.publish(subject, payload, { headers, reply: `${this.inbox}.${token}` });
      } catch (error) {
        this.waiting.delete(token);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  close(): void {
    clearInterval(this.sweep);
    for (const w of this.waiting.values()) w.reject(new EventNotStoredError('the connection closed before the stream acknowledged'));
    this.waiting.clear();
  }

  private answer(err: NatsError | null, msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const w = this.waiting.get(token);
    if (!w) return;
    this.waiting.delete(token);
    if (err) return w.reject(err);
    // The server answers 503 when nothing subscribes to the subject: no stream stores it.
    if (msg.headers?.hasError) return w.reject(new EventNotStoredError(`no stream stores it (${msg.headers.code} ${msg.headers.description})`));
    let ack: { error?: { description?: string } };
    try {
      ack = JSON.parse(new TextDecoder().decode(msg.data)) as { error?: { description?: string } };
    } catch {
      return w.reject(new EventNotStoredError('the acknowledgement is not JSON'));
    }
    if (ack.error) return w.reject(new EventNotStoredError(`the stream refused it: ${ack.error.description ?? 'no reason given'}`));
    w.resolve();
  }

  private expire(): void {
    const limit = Date.now() - this.timeoutMs;
    for (const [token, w] of this.waiting) {
      if (w.at > limit) break; // in order of publication
      this.waiting.delete(token);
      w.reject(new EventNotStoredError(`no acknowledgement within ${this.timeoutMs} ms`));
    }
  }
}

/** A drop is logged at once, then at most every this many milliseconds with the count since. */
const dropLogIntervalMs = 10_000;

/**
 * Publishes pod-injection events to JetStream, off the admission path: {@link offer} queues the
 * event in a bounded buffer and returns; publishing happens on a later turn of the event loop.
 * While NATS is unreachable events wait in the buffer; once it is full, new ones are dropped,
 * counted in `meshbus_injector_events_dropped_total{reason}` and logged. Nothing here ever makes
 * the injector unready.
 */
export class BusPodEvents implements PodEventSink {
  private readonly queue: PodInjectionEvent[] = [];
  private readonly capacity: number;
  private readonly maxInFlight: number;
  private readonly validator: BusValidator;
  private readonly dropped: Counter<'reason'>;
  private readonly published: Counter;
  private readonly abort = new AbortController();
  private readonly now: () => Date;
  private nc: NatsConnection | undefined;
  private health: ConnectionHealth | undefined;
  private publisher: AcknowledgedPublications | undefined;
  private connecting: Promise<void> | undefined;
  private inFlight = 0;
  private pumpScheduled = false;
  private idle: (() => void) | undefined;
  private dropLog = { at: 0, count: 0 };

  constructor(private readonly options: BusPodEventsOptions) {
    this.capacity = options.capacity ?? 1000;
    this.maxInFlight = options.maxInFlight ?? 64;
    this.validator = options.validator ?? busValidator();
    this.now = options.now ?? (() => new Date());
    this.dropped = new Counter({
      name: 'meshbus_injector_events_dropped_total',
      help: 'Pod-injection events not published, by reason (buffer-full: NATS unreachable or slow; publish-failed; invalid).',
      labelNames: ['reason'],
      registers: [options.registry],
    });
    for (const reason of ['buffer-full', 'publish-failed', 'invalid'] as const) this.dropped.inc({ reason }, 0);
    this.published = new Counter({ name: 'meshbus_injector_events_published_total', help: 'Pod-injection events stored by the events stream.', registers: [options.registry] });
    const queue = this.queue;
    new Gauge({
      name: 'meshbus_injector_events_buffered',
      help: 'Pod-injection events waiting to be published.',
      registers: [options.registry],
      collect() {
        this.set(queue.length);
      },
    });
  }

  /** Whether the connection to NATS is up. */
  get connected(): boolean {
    return this.health?.connected ?? false;
  }

  /** Events waiting or being published. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Starts connecting in the background (or takes the given connection); returns at once. */
  start(): void {
    const given = this.options.nc;
    if (given && !this.connecting) {
      this.connecting = Promise.resolve();
      this.attach(given);
    }
    this.connecting ??= this.connectLoop();
  }

  offer(event: PodInjectionEvent): void {
    if (this.abort.signal.aborted) return;
    if (this.queue.length >= this.capacity) {
      this.drop('buffer-full', event, 'the event buffer is full (NATS unreachable or slow)');
      return;
    }
    this.queue.push(event);
    this.schedulePump();
  }

  /** Publishes what it can within the drain time, then closes the connection. */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    const drainMs = this.options.drainMs ?? 2000;
    if (this.connected && this.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.abort.abort();
    this.publisher?.close();
    const left = this.queue.length;
    this.queue.length = 0;
    if (left > 0) {
      this.dropped.inc({ reason: 'publish-failed' }, left);
      this.options.logger.warn({ dropped: left }, 'stopping with pod-injection events unpublished');
    }
    await this.connecting;
    const nc = this.nc;
    this.nc = undefined;
    if (nc && nc !== this.options.nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  private async connectLoop(): Promise<void> {
    const { bus, logger } = this.options;
    const signal = this.abort.signal;
    let attempts = 0;
    while (!signal.aborted) {
      try {
        const nc = await connect({
          servers: bus.servers.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean),
          name: bus.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 250,
          pingInterval: 10_000,
          timeout: 5_000,
          ...(bus.user ? { user: bus.user } : {}),
          ...(bus.password ? { pass: bus.password } : {}),
          ...(bus.token ? { token: bus.token } : {}),
          ...(bus.inboxPrefix ? { inboxPrefix: bus.inboxPrefix } : {}),
        });
        if (signal.aborted) {
          await nc.close();
          return;
        }
        logger.info({ server: nc.getServer(), attempts: attempts + 1 }, 'connected to NATS; publishing pod-injection events');
        this.attach(nc);
        return;
      } catch (error) {
        attempts++;
        // Once, then every minute or so: admission goes on whatever NATS does.
        if (attempts === 1 || attempts % 60 === 0) logger.warn({ attempts, error: errorMessage(error), servers: bus.servers }, 'cannot reach NATS; admitting pods without events until it answers');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.retryMs ?? 1000);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
      }
    }
  }

  /** Publishes on `nc` from now on. */
  private attach(nc: NatsConnection): void {
    const { logger } = this.options;
    this.nc = nc;
    this.health = new ConnectionHealth(nc, () => this.schedulePump());
    this.publisher = new AcknowledgedPublications(nc, this.options.bus.inboxPrefix);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') logger.warn({ event: s.type }, s.type === 'disconnect' ? 'NATS connection lost; pod-injection events wait in the buffer' : 'NATS connection back');
      }
    })();
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // A few milliseconds later: the admission answer that offered the event goes out first, and
    // the events of those milliseconds leave in one socket write (and their acknowledgements
    // arrive together) instead of one each.
    setTimeout(() => {
      this.pumpScheduled = false;
      this.pump();
    }, this.options.batchMs ?? 5);
  }

  private pump(): void {
    const publisher = this.publisher;
    while (publisher && this.connected && !this.abort.signal.aborted && this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const event = this.queue.shift()!;
      const subject = subjects.podInjection(event.data.result);
      let encoded: ReturnType<typeof encodeEvent<'podInjection'>>;
      try {
        encoded = encodeEvent('podInjection', subject, event.data, { source: this.options.source, subject: event.key, time: this.now() }, this.validator);
      } catch (error) {
        if (error instanceof SchemaValidationError || error instanceof MalformedEventError) {
          this.drop('invalid', event, error.message);
          continue;
        }
        throw error;
      }
      // JetStream drops a second copy of the same id (a publication retried by the client).
      encoded.headers.set('Nats-Msg-Id', encoded.id);
      this.inFlight++;
      publisher
        .publish(subject, encoded.headers, encoded.payload)
        .then(
          () => this.published.inc(),
          (error: unknown) => this.drop('publish-failed', event, errorMessage(error)),
        )
        .finally(() => {
          this.inFlight--;
          if (this.pending === 0) this.idle?.();
          else this.schedulePump();
        });
    }
  }

  private drop(reason: DropReason, event: PodInjectionEvent, why: string): void {
    this.dropped.inc({ reason });
    const now = Date.now();
    this.dropLog.count++;
    if (now - this.dropLog.at >= dropLogIntervalMs) {
      this.options.logger.warn({ reason, dropped: this.dropLog.count, pod: event.key, result: event.data.result, error: why }, 'pod-injection event dropped');
      this.dropLog = { at: now, count: 0 };
    }
  }
}
