/*
 * Sends the proxy's traffic summaries to a gateway, one signed report per
 * interval on a `Telemetry/Report` client stream. A failed stream is opened
 * again on the next gateway. Reports are written only on a connected channel;
 * while there is none they wait in a small queue (the oldest are dropped past
 * it). Best effort: a report written just before a connection breaks can be
 * lost, and the data path never waits for any of it.
 */
import { connectivityState, type ChannelCredentials, type ChannelOptions, type ClientWritableStream } from '@grpc/grpc-js';
import { telemetry } from '@meshbus/proxy-api';
import { ConfigError, errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import { signReport, summaryMessage, type SigningCertificate } from './report.js';
import type { TrafficSummarizer } from './summarizer.js';

const retryDelayMs = 1000;

/** @default 10 seconds */
export const DEFAULT_TELEMETRY_INTERVAL_MS = 10_000;

export interface TelemetryReporterOptions {
  readonly gateways: readonly string[];
  readonly credentials: ChannelCredentials;
  readonly channelOptions?: ChannelOptions;
  readonly summarizer: TrafficSummarizer;
  /** Called before each summary is taken, so open connections' bytes are counted (ProxyMetrics.flushConnectionBytes). */
  readonly beforeDrain?: () => void;
  /** The proxy's current certificate; no report is sent before there is one. */
  readonly certificate: () => SigningCertificate | undefined;
  /** The pod or host the proxy runs beside, as reports name it. */
  readonly instance: string;
  /** @default 10000 */
  readonly intervalMs?: number;
  /** Reports kept while no gateway takes them. @default 6 */
  readonly maxQueued?: number;
  readonly logger?: Logger;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** Summarizes and reports every interval until closed. */
export class TelemetryReporter {
  private readonly options: TelemetryReporterOptions;
  private readonly intervalMs: number;
  private readonly maxQueued: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly queue: telemetry.SignedReport[] = [];
  private timer: NodeJS.Timeout | undefined;
  private intervalStart: number;
  private gatewayIndex = 0;
  private client: telemetry.TelemetryClient | undefined;
  private stream: ClientWritableStream<telemetry.SignedReport> | undefined;
  private closed = false;
  private watching = false;
  private retry: NodeJS.Timeout | undefined;
  /** Reports written to a stream so far. */
  sent = 0;

  constructor(options: TelemetryReporterOptions) {
    if (options.gateways.length === 0) throw new ConfigError('telemetry needs at least one gateway address');
    const intervalMs = options.intervalMs ?? DEFAULT_TELEMETRY_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs < 100 || intervalMs > 3_600_000) {
      throw new ConfigError(`the telemetry interval must be 100..3600000 milliseconds, got ${intervalMs}`);
    }
    this.options = options;
    this.intervalMs = intervalMs;
    this.maxQueued = options.maxQueued ?? 6;
    this.logger = options.logger ?? silentLogger();
    this.now = options.now ?? Date.now;
    this.intervalStart = this.now();
  }

  start(): void {
    if (this.timer || this.closed) return;
    this.intervalStart = this.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes the interval's summary and sends it with whatever waits. Called by the timer; public for tests and shutdown. */
  tick(): void {
    this.options.beforeDrain?.();
    const now = this.now();
    const summary = this.options.summarizer.drain(this.intervalStart, now);
    this.intervalStart = now;
    const certificate = this.options.certificate();
    if (certificate === undefined) return;
    try {
      this.queue.push(signReport(summaryMessage(summary, this.options.instance), certificate));
    } catch (error) {
      this.logger.warn({ err: errorMessage(error) }, 'traffic summary not signed');
      return;
    }
    while (this.queue.length > this.maxQueued) this.queue.shift();
    this.flush();
  }

  /** Reports waiting for a connected gateway. */
  get queued(): number {
    return this.queue.length;
  }

  private flush(): void {
    if (this.closed || this.queue.length === 0) return;
    const client = (this.client ??= this.newClient());
    const channel = client.getChannel();
    const state = channel.getConnectivityState(true);
    if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) {
      this.nextGateway();
      this.retryLater();
      return;
    }
    if (state !== connectivityState.READY) {
      if (!this.watching) {
        // Write as soon as the channel connects, or try the next gateway if it fails.
        this.watching = true;
        channel.watchConnectivityState(state, Date.now() + this.intervalMs, () => {
          this.watching = false;
          if (this.client === client) this.flush();
        });
      }
      return;
    }
    const stream = this.stream ?? this.open(client);
    while (this.queue.length > 0 && this.stream === stream) {
      stream.write(this.queue.shift()!);
      this.sent++;
    }
  }

  /** Tries the (next) gateway again in a second, so queued reports need not wait a whole interval. */
  private retryLater(): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, retryDelayMs);
    this.retry.unref();
  }

  private newClient(): telemetry.TelemetryClient {
    const address = this.options.gateways[this.gatewayIndex % this.options.gateways.length]!;
    return new telemetry.TelemetryClient(address, this.options.credentials, this.options.channelOptions ?? {});
  }

  private nextGateway(): void {
    this.stream = undefined;
    this.client?.close();
    this.client = undefined;
    this.gatewayIndex++;
  }

  private open(client: telemetry.TelemetryClient): ClientWritableStream<telemetry.SignedReport> {
    const address = this.options.gateways[this.gatewayIndex % this.options.gateways.length]!;
    const stream = client.report((error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (error && !this.closed) {
        this.logger.info({ gateway: address, err: error.message }, 'telemetry stream ended; reporting to the next gateway');
        this.nextGateway();
      }
    });
    this.stream = stream;
    return stream;
  }

  /** Sends the last partial interval and ends the stream (waiting at most `graceMs`). */
  async close(graceMs = 1000): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.tick();
    this.closed = true;
    const stream = this.stream;
    if (stream) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        stream.on('status', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.end();
      });
    }
    this.client?.close();
  }
}
