/*
 * Sends the proxy's traffic summaries to a gateway, one signed report per
 * interval on a `Telemetry/Report` client stream. A failed stream is opened
 * again on the next gateway at the next interval; reports made meanwhile wait
 * in a small queue (the oldest are dropped past it). Best effort: the data
 * path never waits for it.
 */
import type { ChannelCredentials, ChannelOptions, ClientWritableStream } from '@grpc/grpc-js';
import { telemetry } from '@meshbus/proxy-api';
import { ConfigError, errorMessage, silentLogger, type Logger } from '@meshbus/runtime';
import { signReport, summaryMessage, type SigningCertificate } from './report.js';
import type { TrafficSummarizer } from './summarizer.js';

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

  private flush(): void {
    if (this.closed) return;
    const stream = this.stream ?? this.open();
    while (this.queue.length > 0 && this.stream === stream) {
      stream.write(this.queue.shift()!);
      this.sent++;
    }
  }

  private open(): ClientWritableStream<telemetry.SignedReport> {
    const address = this.options.gateways[this.gatewayIndex % this.options.gateways.length]!;
    this.client?.close();
    this.client = new telemetry.TelemetryClient(address, this.options.credentials, this.options.channelOptions ?? {});
    const stream = this.client.report((error) => {
      if (this.stream === stream) this.stream = undefined;
      if (error && !this.closed) {
        this.gatewayIndex++;
        this.logger.info({ gateway: address, err: error.message }, 'telemetry stream ended; reporting to the next gateway at the next interval');
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
