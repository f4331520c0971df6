import { EventEmitter } from 'node:events';
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import type { StreamLimits } from './config.js';
import type { GatewayClients, GatewayPool } from './gateway-pool.js';
import { DEFAULT_RECONNECT_BACKOFF, firstGatewayIndex, reconnectDelayMs, streamExpiry, streamLifetimeMs, type BackoffOptions, type StreamExpiry } from './schedule.js';

/** The API a watch stream belongs to, as the metrics label it. */
export type ControlApi = 'destination' | 'profile' | 'inbound' | 'outbound';

/** Why a stream was replaced, as the metrics label it. */
export type ReconnectReason = StreamExpiry | 'error' | 'ended';

/** What the watches report about their connections; see control-metrics.ts. */
export interface WatchObserver {
  /** A stream on `gateway` got its first message (+1), or that stream closed (-1). */
  connected(api: ControlApi, gateway: string, delta: 1 | -1): void;
  /** A stream was closed and another will be opened. */
  reconnect(api: ControlApi, reason: ReconnectReason): void;
  /** A watch holds a state but has no live stream (+1), or has one again (-1). */
  stale(api: ControlApi, delta: 1 | -1): void;
}

const noObserver: WatchObserver = { connected() {}, reconnect() {}, stale() {} };

/** What every watch stream needs, beside its own request. */
export interface WatchContext {
  readonly pool: GatewayPool;
  /** Stream limits. @default idle 5m, lifetime 1h with 20% jitter, first message within 3s */
  readonly limits?: StreamLimits;
  /** @default 250 ms doubling to 10 s */
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
  readonly observer?: WatchObserver;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** A number in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Defaults of {@link StreamLimits} for watches. */
export const DEFAULT_STREAM_LIMITS: StreamLimits = { idleTimeoutMs: 5 * 60_000, maxLifetimeMs: 60 * 60_000, lifetimeJitter: 0.2, initialTimeoutMs: 3_000 };

/** How one kind of watch opens its stream and folds its messages into a state. */
export interface WatchSpec<M, S> {
  readonly api: ControlApi;
  /** What is watched, for logs: a path, a port, a target. */
  readonly what: string;
  open(clients: GatewayClients): ClientReadableStream<M>;
  /** The state a new stream starts from, before its first message. */
  initial(): S;
  reduce(state: S, message: M): S;
  /**
   * A status that is an answer rather than a failure (an outbound target the control plane does
   * not know: NOT_FOUND): the state it means, kept until a later stream says otherwise.
   */
  answer?(code: status): S | undefined;
}

/** Events of a {@link WatchStream}. */
export interface WatchEvents<S> {
  /** A new state: the first one, or a change (also the difference a reconnect brought). */
  change: [state: S];
  /** A stream on `gateway` got its first message. */
  connected: [gateway: string];
  /** The stream was lost; the last state stays in `current`. */
  disconnected: [reason: string];
}

/** A message-less or errored stream's outcome. */
type StreamOutcome = { kind: 'ended' } | { kind: 'error'; error: ServiceError | Error } | { kind: 'expired'; reason: StreamExpiry } | { kind: 'closed' };

/**
 * One watch on the gateways, kept open for as long as it is wanted: opens a stream on a gateway,
 * folds its messages into `current`, and when the stream fails or ends opens another on the next
 * gateway, after a backoff with jitter (at once after a clean end or an expiry). While it has no
 * stream, `current` keeps the last state. A stream that received nothing for the idle timeout,
 * or lived its lifetime (less a random jitter), is closed and replaced, so that proxies spread
 * over the gateway replicas again after one came back.
 */
export class WatchStream<M, S> extends EventEmitter<WatchEvents<S>> {
  private readonly spec: WatchSpec<M, S>;
  private readonly pool: GatewayPool;
  private readonly limits: StreamLimits;
  private readonly backoff: BackoffOptions;
  private readonly logger: Logger;
  private readonly observer: WatchObserver;
  private readonly now: () => number;
  private readonly random: () => number;
  private state: S | undefined;
  private gatewayIndex: number;
  private connectedTo: string | undefined;
  private isStale = false;
  private closed = false;
  private cancelCurrent: (() => void) | undefined;
  /** An expired stream, cancelled once its replacement is live (or fails). */
  private retiring: ClientReadableStream<M> | undefined;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;
  /** Streams opened so far (for tests and logs). */
  streamsOpened = 0;

  constructor(spec: WatchSpec<M, S>, context: WatchContext) {
    super();
    this.spec = spec;
    this.pool = context.pool;
    this.limits = context.limits ?? DEFAULT_STREAM_LIMITS;
    this.backoff = context.backoff ?? DEFAULT_RECONNECT_BACKOFF;
    this.logger = (context.logger ?? silentLogger()).child({ component: 'control', api: spec.api, watch: spec.what });
    this.observer = context.observer ?? noObserver;
    this.now = context.now ?? Date.now;
    this.random = context.random ?? Math.random;
    this.gatewayIndex = firstGatewayIndex(this.pool.addresses.length, this.random());
    this.loop = this.run().catch((error: unknown) => this.logger.error({ err: error }, 'watch stopped unexpectedly'));
  }

  /** The last state received, kept while disconnected; undefined before the first message. */
  get current(): S | undefined {
    return this.state;
  }

  /** The gateway of the live stream, undefined while disconnected. */
  get gateway(): string | undefined {
    return this.connectedTo;
  }

  /** Resolves with the first state (at once when there is one). */
  first(): Promise<S> {
    if (this.state !== undefined) return Promise.resolve(this.state);
    return new Promise((resolve) => this.once('change', resolve));
  }

  /** Closes the stream and stops reconnecting. `current` stays readable. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelCurrent?.();
    this.wake?.();
    await this.loop;
    this.dropRetiring();
    if (this.isStale) this.observer.stale(this.spec.api, -1);
    this.isStale = false;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      const gateway = this.pool.addresses[this.gatewayIndex]!;
      const { outcome, gotMessage } = await this.streamOnce(gateway);
      if (this.closed || outcome.kind === 'closed') return;
      this.gatewayIndex = (this.gatewayIndex + 1) % this.pool.addresses.length;
      const next = this.pool.addresses[this.gatewayIndex]!;
      if (gotMessage) failures = 0;
      let delay = 0;
      if (outcome.kind === 'error') {
        const code = (outcome.error as Partial<ServiceError>).code;
        const answered = code === undefined ? undefined : this.spec.answer?.(code);
        if (answered !== undefined) {
          this.setState(answered);
        }
        delay = reconnectDelayMs(failures++, this.backoff, this.random());
        this.observer.reconnect(this.spec.api, 'error');
        const message = `stream on ${gateway} failed (${code === undefined ? errorMessage(outcome.error) : `${status[code]}: ${(outcome.error as ServiceError).details}`}); reconnecting to ${next} in ${delay} ms`;
        if (answered !== undefined) {
          // The gateway answered: the state is current, not a leftover of a lost stream.
          this.logger.debug(message);
          if (this.isStale) {
            this.isStale = false;
            this.observer.stale(this.spec.api, -1);
          }
        } else {
          this.logger.warn({ gateway, next, retryInMs: delay, keepsState: this.state !== undefined }, message);
          this.markStale(message);
        }
      } else if (outcome.kind === 'ended') {
        // A gateway that ends streams without error is draining; a stream that ends before any
        // message is a failure, or a gateway could make us spin.
        if (!gotMessage) delay = reconnectDelayMs(failures++, this.backoff, this.random());
        this.observer.reconnect(this.spec.api, 'ended');
        this.logger.info({ gateway, next, retryInMs: delay }, `stream on ${gateway} ended; reconnecting to ${next}`);
        this.markStale(`stream on ${gateway} ended`);
      } else {
        if (outcome.reason === 'initial-timeout') delay = reconnectDelayMs(failures++, this.backoff, this.random());
        this.observer.reconnect(this.spec.api, outcome.reason);
        this.logger.debug({ gateway, next, reason: outcome.reason }, `stream on ${gateway} reached its ${outcome.reason} limit; reopening on ${next}`);
        if (outcome.reason === 'initial-timeout') this.markStale(`no message from ${gateway} within ${this.limits.initialTimeoutMs} ms`);
      }
      if (delay > 0) await this.sleep(delay);
    }
  }

  private streamOnce(gateway: string): Promise<{ outcome: StreamOutcome; gotMessage: boolean }> {
    let call: ClientReadableStream<M>;
    try {
      call = this.spec.open(this.pool.clients(gateway));
    } catch (error) {
      return Promise.resolve({ outcome: { kind: 'error', error: error as Error }, gotMessage: false });
    }
    this.streamsOpened++;
    const openedAt = this.now();
    const lifetimeMs = streamLifetimeMs(this.limits.maxLifetimeMs, this.limits.lifetimeJitter, this.random());
    let lastMessageAt: number | undefined;
    let streamState: S | undefined;
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: StreamOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.cancelCurrent = undefined;
        call.removeAllListeners('data');
        if (outcome.kind === 'expired') {
          // Make before break: the gateway keeps what it watches for us until the new stream is live.
          this.dropRetiring();
          this.retiring = call;
        } else if (outcome.kind === 'closed') {
          call.cancel();
        }
        if (outcome.kind !== 'expired') this.dropRetiring();
        if (this.connectedTo === gateway) {
          this.connectedTo = undefined;
          this.observer.connected(this.spec.api, gateway, -1);
        }
        resolve({ outcome, gotMessage: lastMessageAt !== undefined });
      };
      const check = () => {
        const verdict = streamExpiry({ openedAt, lastMessageAt, lifetimeMs, idleTimeoutMs: this.limits.idleTimeoutMs, initialTimeoutMs: this.limits.initialTimeoutMs }, this.now());
        if (verdict.expired !== undefined) {
          finish({ kind: 'expired', reason: verdict.expired });
          return;
        }
        timer = setTimeout(check, verdict.waitMs);
      };
      this.cancelCurrent = () => finish({ kind: 'closed' });
      call.on('data', (message: M) => {
        if (settled) return;
        const firstMessage = lastMessageAt === undefined;
        lastMessageAt = this.now();
        try {
          streamState = this.spec.reduce(streamState ?? this.spec.initial(), message);
        } catch (error) {
          this.logger.error({ err: error, gateway }, `a message from ${gateway} could not be applied; reopening the stream`);
          finish({ kind: 'error', error: error as Error });
          return;
        }
        if (firstMessage) {
          // The idle deadline may fall before the initial one the timer waits for.
          clearTimeout(timer);
          check();
          if (settled) return;
          this.dropRetiring();
          this.connectedTo = gateway;
          this.observer.connected(this.spec.api, gateway, 1);
          if (this.isStale) {
            this.isStale = false;
            this.observer.stale(this.spec.api, -1);
          }
          this.logger.debug({ gateway }, `stream on ${gateway} is live`);
          this.emit('connected', gateway);
        }
        this.setState(streamState);
      });
      call.on('error', (error: ServiceError) => finish({ kind: 'error', error }));
      call.on('end', () => finish({ kind: 'ended' }));
      check();
    });
  }

  private dropRetiring(): void {
    this.retiring?.cancel();
    this.retiring = undefined;
  }

  private setState(state: S): void {
    this.state = state;
    try {
      this.emit('change', state);
    } catch (error) {
      this.logger.error({ err: error }, 'a watch listener failed');
    }
  }

  private markStale(reason: string): void {
    if (this.state !== undefined && !this.isStale) {
      this.isStale = true;
      this.observer.stale(this.spec.api, 1);
    }
    this.emit('disconnected', reason);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
