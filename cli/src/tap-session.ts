/*
 * One tap session as the requester runs it, for `meshbus tap` and the
 * dashboard alike: subscribe to the session's records first, then ask for
 * them (start), ask again well inside the expiry (a repeated start renews
 * the session at the gateway), and stop. The bus and the timers are seams.
 */
import type { MsgHdrs } from 'nats';
import { decodeEvent, encodeEvent, MalformedEventError } from '@meshbus/bus';
import { subjects, type BusValidator, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { errorMessage } from '@meshbus/runtime';
import { newTapSessionId, type TapRequestFilter, type TapTarget } from './tap-args.js';

/** A message as it arrived on the session's subject. */
export interface TapMessage {
  readonly subject: string;
  readonly headers?: MsgHdrs;
  readonly data: Uint8Array;
}

/** What a session needs of the bus. */
export interface TapBus {
  /** Subscribes; resolves once the server has the subscription, so nothing published after is missed. */
  subscribe(subject: string, onMessage: (msg: TapMessage) => void): Promise<{ unsubscribe(): void }>;
  /** Publishes; resolves once the server has taken the message. */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs): Promise<void>;
}

/** Timers, so that tests can run a session's schedule by hand. Each returns its cancel function. */
export interface TapTimers {
  every(ms: number, run: () => void): () => void;
  after(ms: number, run: () => void): () => void;
}

/** `setInterval`/`setTimeout`, not keeping the process alive by themselves. */
export const realTapTimers: TapTimers = {
  every(ms, run) {
    const t = setInterval(run, ms);
    t.unref();
    return () => clearInterval(t);
  },
  after(ms, run) {
    const t = setTimeout(run, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** How long a session lives at the gateway and the proxies without a renewal. */
export const defaultTapExpiresInMs = 15_000;
/** With no record after this long, the user is told what may be wrong. */
export const defaultTapHintAfterMs = 5_000;

/** How often to renew a session that expires `expiresInMs` after each request: three times within the expiry, at most every 5 s. */
export function tapRenewEveryMs(expiresInMs: number): number {
  return Math.max(250, Math.min(5_000, Math.floor(expiresInMs / 3)));
}

/** What a session tells its user besides records. */
export interface TapSessionListener {
  /** A record of the session, schema-checked. */
  record(event: TapEvent): void;
  /** A message on the session's subject that is not a record of it; it was skipped. */
  malformed(subject: string, reason: string): void;
  /** Something the user may want to know (no record yet, a renewal that failed). */
  notice(text: string): void;
}

/** Options of {@link TapSession.start}. */
export interface TapSessionOptions {
  bus: TapBus;
  validator: BusValidator;
  /** CloudEvents `source` of the requests. */
  source: string;
  target: TapTarget;
  filter: TapRequestFilter;
  maxRps: number;
  /** @default a fresh random id */
  sessionId?: string;
  /** @default {@link defaultTapExpiresInMs} */
  expiresInMs?: number;
  /** @default {@link defaultTapHintAfterMs} */
  hintAfterMs?: number;
  /** @default {@link realTapTimers} */
  timers?: TapTimers;
  listener: TapSessionListener;
}

export class TapSession {
  private readonly cancels: (() => void)[] = [];
  private subscription?: { unsubscribe(): void };
  private stopping?: Promise<void>;
  private received = 0;

  readonly sessionId: string;
  readonly expiresInMs: number;
  readonly renewEveryMs: number;

  private constructor(private readonly options: TapSessionOptions) {
    this.sessionId = options.sessionId ?? newTapSessionId();
    this.expiresInMs = options.expiresInMs ?? defaultTapExpiresInMs;
    this.renewEveryMs = tapRenewEveryMs(this.expiresInMs);
  }

  /** Subscribes to the session's records, then publishes the start request and schedules the renewals. */
  static async start(options: TapSessionOptions): Promise<TapSession> {
    const session = new TapSession(options);
    await session.open();
    return session;
  }

  /** Records received so far. */
  get records(): number {
    return this.received;
  }

  /** The request data for `action`. */
  request(action: TapRequest['action']): TapRequest {
    const { target, filter, maxRps } = this.options;
    return { sessionId: this.sessionId, action, namespace: target.namespace, workload: target.workload, filter: { ...filter }, maxRps, expiresInMs: this.expiresInMs };
  }

  /** Publishes stop and unsubscribes; the same promise on every call. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async open(): Promise<void> {
    const { bus, timers = realTapTimers, listener, target } = this.options;
    this.subscription = await bus.subscribe(subjects.tapEvents(this.sessionId), (msg) => this.receive(msg));
    try {
      await this.send('start');
    } catch (error) {
      this.subscription.unsubscribe();
      throw error;
    }
    this.cancels.push(
      timers.every(this.renewEveryMs, () => {
        this.send('start').catch((error: unknown) => listener.notice(`could not renew tap session ${this.sessionId}: ${errorMessage(error)}`));
      }),
    );
    this.cancels.push(
      timers.after(this.options.hintAfterMs ?? defaultTapHintAfterMs, () => {
        if (this.received > 0) return;
        const secs = Math.round((this.options.hintAfterMs ?? defaultTapHintAfterMs) / 1000);
        listener.notice(
          `no record after ${secs}s: either no proxy of ${target.namespace}/${target.workload} is connected to a gateway (is the workload meshed, and is its service account ${target.workload}?), ` +
            'or no request matched the filter; still tapping',
        );
      }),
    );
  }

  private async send(action: TapRequest['action']): Promise<void> {
    const { target, source, validator, bus } = this.options;
    const subject = subjects.tapRequest(target.namespace, target.workload);
    const encoded = encodeEvent('tapRequest', subject, this.request(action), { source, subject: `${target.namespace}/${target.workload}` }, validator);
    await bus.publish(subject, encoded.payload, encoded.headers);
  }

  private receive(msg: TapMessage): void {
    if (this.stopping) return;
    const { listener, validator } = this.options;
    let event: TapEvent;
    try {
      const decoded = decodeEvent(msg.subject, msg.headers, msg.data, validator);
      if (decoded.kind !== 'tapEvent') throw new MalformedEventError('unknown-type', `${decoded.type} is not a tap record`);
      event = decoded.data as TapEvent;
      if (event.sessionId !== this.sessionId) throw new MalformedEventError('subject', `the record names session ${event.sessionId}, not ${this.sessionId}`);
    } catch (error) {
      listener.malformed(msg.subject, error instanceof MalformedEventError ? `${error.reason}: ${error.message}` : errorMessage(error));
      return;
    }
    this.received++;
    listener.record(event);
  }

  private async close(): Promise<void> {
    for (const cancel of this.cancels.splice(0)) cancel();
    try {
      await this.send('stop');
    } finally {
      this.subscription?.unsubscribe();
    }
  }
}
