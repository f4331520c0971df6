/*
 * The proxy's Tap/Watch stream to a gateway. Opened once the proxy has its
 * certificate: a freshly signed hello first, then, while the gateway runs
 * sessions for this workload, one record per matching request. A stream
 * that ends (gateway gone, hello refused) ends every session with it and is
 * opened again on the next gateway, with a new hello. Records are best
 * effort: one the stream cannot take at once is dropped, never queued.
 */
import { sign } from 'node:crypto';
import type { ChannelCredentials, ChannelOptions, ClientDuplexStream } from '@grpc/grpc-js';
import { tap, tapHelloSignaturePrefix } from '@meshbus/proxy-api';
import { ConfigError, Counter, errorMessage, Gauge, silentLogger, type Logger, type Registry } from '@meshbus/runtime';
import { firstGatewayIndex, reconnectDelayMs } from '../control/schedule.js';
import { pemCertificatesToDer, type SigningCertificate } from '../telemetry/report.js';
import { applyTapCommand, tapRecordMessage, tapRequestInfo, type TapRequestRecord } from './record.js';
import { DEFAULT_TAP_HEADERS, TapSessions } from './sessions.js';

/** A signed hello for the start of a Watch stream. */
export function signHello(certificate: SigningCertificate, instance: string, nowMs: number): tap.ProxyMessage {
  const claim = Buffer.from(tap.HelloClaim.encode({ signedAtMs: BigInt(Math.max(0, Math.round(nowMs))), instance }).finish());
  const signature = sign('sha256', Buffer.concat([tapHelloSignaturePrefix, claim]), certificate.privateKeyPem);
  return {
    kind: {
      $case: 'hello',
      hello: { claim, certificateChain: [...pemCertificatesToDer(certificate.certificatePem), ...pemCertificatesToDer(certificate.chainPem)], signature },
    },
  };
}

/** A stream that lived this long, or received a command, was a good one: the next is opened after the base delay. */
const healthyStreamMs = 10_000;

export interface TapClientOptions {
  readonly gateways: readonly string[];
  readonly credentials: ChannelCredentials;
  readonly channelOptions?: ChannelOptions;
  /** The proxy's current certificate; no stream is opened before there is one. */
  readonly certificate: () => SigningCertificate | undefined;
  /** The pod or host the proxy runs beside, as hellos name it. */
  readonly instance: string;
  /** Header names records may carry (from `MESHBUS_PROXY_TAP_HEADERS`). @default DEFAULT_TAP_HEADERS */
  readonly headers?: ReadonlySet<string>;
  /** Where `meshbus_proxy_tap_*` metrics go. */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Epoch milliseconds; sessions expire on this clock. @default Date.now */
  readonly now?: () => number;
  /** Delay before the next stream after one ended (up to half of it is taken off at random), doubling while streams keep failing. @default 1000 */
  readonly retryDelayMs?: number;
  /** Longest delay between streams that keep failing. @default 10000 */
  readonly maxRetryDelayMs?: number;
  /** Source of randomness (first gateway, jitter). @default Math.random */
  readonly random?: () => number;
}

type RecordResult = 'sent' | 'dropped' | 'rate_limited';

/** The Tap/Watch stream of one proxy and the sessions it carries. */
export class TapClient {
  /** The running sessions (they end with the stream they came on). */
  readonly sessions: TapSessions;
  private readonly options: TapClientOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly allowed: ReadonlySet<string>;
  private readonly records: Counter<'result'> | undefined;
  private gatewayIndex = 0;
  private client: tap.TapClient | undefined;
  private stream: ClientDuplexStream<tap.ProxyMessage, tap.GatewayCommand> | undefined;
  /** The stream took the last write without asking to wait (no `drain` pending). */
  private writable = false;
  private openedAt = 0;
  private healthy = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  /** Hellos sent so far: one per stream. */
  hellos = 0;

  constructor(options: TapClientOptions) {
    if (options.gateways.length === 0) throw new ConfigError('tap needs at least one gateway address');
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.gatewayIndex = firstGatewayIndex(options.gateways.length, this.random());
    this.allowed = options.headers ?? new Set(DEFAULT_TAP_HEADERS);
    this.sessions = new TapSessions(this.now);
    if (options.registry) {
      const registers = [options.registry];
      const sessions = this.sessions;
      new Gauge({
        name: 'meshbus_proxy_tap_sessions',
        help: 'Tap sessions this proxy is recording for.',
        registers,
        collect() {
          this.set(sessions.active().length);
        },
      });
      this.records = new Counter({
        name: 'meshbus_proxy_tap_records_total',
        help: 'Records of tapped requests, by result: sent on the Watch stream, dropped (the stream could not take it), or rate_limited (past the session rate).',
        labelNames: ['result'],
        registers,
      });
    }
  }

  /**
   * Whether any session runs: the data path builds no record, and does
   * nothing else for the tap, while this is false.
   */
  get tapping(): boolean {
    return this.sessions.tapping;
  }

  /** Whether a Watch stream is open with its hello sent. */
  get connected(): boolean {
    return this.stream !== undefined;
  }

  /** Opens the first stream (as soon as there is a certificate). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.open();
  }

  /**
   * A finished request: recorded for every session that wants it, within the
   * session's rate, if the stream can take it now. Never blocks.
   */
  record(request: TapRequestRecord): void {
    if (!this.sessions.tapping) return;
    const droppedBefore = this.sessions.counters.dropped;
    const sessionIds = this.sessions.route(tapRequestInfo(request));
    const rateLimited = this.sessions.counters.dropped - droppedBefore;
    if (rateLimited > 0) this.count('rate_limited', rateLimited);
    for (const sessionId of sessionIds) {
      const stream = this.stream;
      if (stream === undefined || !this.writable) {
        this.count('dropped', 1);
        continue;
      }
      let message: tap.ProxyMessage;
      try {
        message = { kind: { $case: 'record', record: tapRecordMessage(sessionId, request, this.allowed) } };
        if (!stream.write(message)) this.writable = false;
      } catch (error) {
        this.logger.debug({ err: errorMessage(error) }, 'tap record not written');
        this.count('dropped', 1);
        continue;
      }
      this.count('sent', 1);
    }
  }

  private count(result: RecordResult, n: number): void {
    this.records?.inc({ result }, n);
  }

  private address(): string {
    return this.options.gateways[this.gatewayIndex % this.options.gateways.length]!;
  }

  private open(): void {
    this.retry = undefined;
    if (this.closed) return;
    const certificate = this.options.certificate();
    if (certificate === undefined) {
      this.later(this.options.retryDelayMs ?? 1000);
      return;
    }
    let hello: tap.ProxyMessage;
    try {
      hello = signHello(certificate, this.options.instance, this.now());
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'tap hello not signed');
      this.later(this.options.maxRetryDelayMs ?? 10_000);
      return;
    }
    const address = this.address();
    const client = new tap.TapClient(address, this.options.credentials, this.options.channelOptions ?? {});
    const stream = client.watch();
    this.client = client;
    this.stream = stream;
    this.writable = true;
    this.healthy = false;
    this.openedAt = Date.now();
    stream.on('data', (command: tap.GatewayCommand) => {
      if (this.stream !== stream) return;
      this.healthy = true;
      const outcome = applyTapCommand(this.sessions, command);
      const sessionId = command.kind?.$case === 'start' ? command.kind.start.sessionId : command.kind?.$case === 'renew' ? command.kind.renew.sessionId : command.kind?.$case === 'stop' ? command.kind.stop.sessionId : undefined;
      if (outcome === 'too_many_sessions' || outcome === 'bad_request') this.logger.warn({ gateway: address, sessionId, outcome }, 'tap command refused');
      else this.logger.debug({ gateway: address, sessionId, outcome }, 'tap command');
    });
    stream.on('drain', () => {
      if (this.stream === stream) this.writable = true;
    });
    stream.on('error', (error: Error) => this.ended(stream, error.message));
    stream.on('status', (status: { details?: string }) => this.ended(stream, status.details ?? 'ended'));
    stream.on('end', () => this.ended(stream, 'ended by the gateway'));
    stream.write(hello);
    this.hellos++;
    this.logger.debug({ gateway: address }, 'tap watch opened');
  }

  /** The stream is over: its sessions end, and the next gateway is tried after a delay. */
  private ended(stream: ClientDuplexStream<tap.ProxyMessage, tap.GatewayCommand>, reason: string): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.writable = false;
    this.sessions.clear();
    this.client?.close();
    this.client = undefined;
    if (this.closed) return;
    if (this.healthy || Date.now() - this.openedAt >= healthyStreamMs) this.failures = 0;
    const delay = reconnectDelayMs(this.failures, { initialMs: this.options.retryDelayMs ?? 1000, maxMs: this.options.maxRetryDelayMs ?? 10_000 }, this.random());
    this.failures++;
    this.logger.info({ gateway: this.address(), reason, retryInMs: delay }, 'tap watch ended; opening it again on the next gateway');
    this.gatewayIndex++;
    this.later(delay);
  }

  private later(delayMs: number): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => this.open(), delayMs);
    this.retry.unref();
  }

  /** Ends the stream and every session. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    const stream = this.stream;
    this.stream = undefined;
    this.writable = false;
    this.sessions.clear();
    stream?.cancel();
    this.client?.close();
    this.client = undefined;
  }
}
