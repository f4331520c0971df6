/*
 * The gateway's `meshbus.telemetry.v1.Telemetry` service: each signed report
 * a proxy streams is verified (telemetry-auth.ts), turned into a
 * `metrics-summary` event and published under the identity it proved.
 */
import { X509Certificate } from 'node:crypto';
import { status, type handleClientStreamingCall, type sendUnaryData, type ServerReadableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { encodeEvent, type BusEvent } from '@meshbus/bus';
import { subjects, SchemaValidationError, type BusValidator, type MetricsSummary, type TrustBundle } from '@meshbus/bus-schemas';
import { telemetry, telemetryLatencyBoundsMs } from '@meshbus/proxy-api';
import { Counter, errorMessage, type Logger, type Registry } from '@meshbus/runtime';
import { TelemetryRefused, verifyReport, type ReportSender, type ReportTrust } from './telemetry-auth.js';

/** A report whose interval ended longer ago than this, or later than {@link maxFutureMs} from now, is refused. */
export const maxReportAgeMs = 15 * 60_000;
const maxFutureMs = 2 * 60_000;

/** Reports one stream may send at once, then one per second: a proxy sends one per interval, and its queue after a reconnect. */
const burst = 10;

const invalid = (message: string) => new TelemetryRefused(status.INVALID_ARGUMENT, 'InvalidTelemetryReport', message);

/** Bytes that are not a protobuf SignedReport, kept for the handler (a throwing deserializer would answer INTERNAL). */
class UndecodableReport {
  constructor(readonly reason: string) {}
}

type ReceivedReport = telemetry.SignedReport | UndecodableReport;

/** The Telemetry service definition, with a deserializer that never throws. */
export const telemetryServiceDefinition = {
  report: {
    ...telemetry.TelemetryService.report,
    requestDeserialize: (bytes: Buffer): ReceivedReport => {
      try {
        return telemetry.SignedReport.decode(bytes);
      } catch (error) {
        return new UndecodableReport(errorMessage(error));
      }
    },
  },
} as const;

function count(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} is too large`);
  return Number(value);
}

function direction(d: telemetry.Direction, what: string): 'inbound' | 'outbound' {
  if (d === telemetry.Direction.INBOUND) return 'inbound';
  if (d === telemetry.Direction.OUTBOUND) return 'outbound';
  throw invalid(`${what}.direction is not INBOUND or OUTBOUND`);
}

/**
 * The bus data of a verified report: the summary's counts under the sender's
 * namespace and workload. Throws {@link TelemetryRefused} for a summary that
 * cannot be decoded, has rows of the wrong shape, or is too old or too new.
 */
export function toBusSummary(bytes: Uint8Array, sender: ReportSender, nowMs: number): MetricsSummary {
  let summary: telemetry.MetricsSummary;
  try {
    summary = telemetry.MetricsSummary.decode(bytes);
  } catch (error) {
    throw invalid(`summary is not a protobuf meshbus.telemetry.v1.MetricsSummary: ${errorMessage(error)}`);
  }
  const startMs = count(summary.intervalStartMs, 'interval_start_ms');
  const endMs = startMs + summary.intervalMs;
  if (endMs < nowMs - maxReportAgeMs || endMs > nowMs + maxFutureMs) {
    throw invalid(`the summary's interval ends at ${new Date(endMs).toISOString()}, too far from the gateway's clock (${new Date(nowMs).toISOString()})`);
  }
  const buckets = telemetryLatencyBoundsMs.length + 1;
  return {
    namespace: sender.namespace,
    workload: sender.workload,
    identity: sender.identity,
    instance: summary.instance,
    intervalStart: new Date(startMs).toISOString(),
    intervalMs: summary.intervalMs,
    latencyBoundsMs: [telemetryLatencyBoundsMs[0]!, ...telemetryLatencyBoundsMs.slice(1)],
    requests: summary.requests.map((r, i) => {
      if (r.latencyBuckets.length !== buckets) throw invalid(`requests[${i}].latency_buckets has ${r.latencyBuckets.length} counts; send ${buckets}`);
      return {
        direction: direction(r.direction, `requests[${i}]`),
        authority: r.authority,
        route: r.route,
        statusClass: r.statusClass,
        tls: r.tls,
        success: count(r.success, `requests[${i}].success`),
        failure: count(r.failure, `requests[${i}].failure`),
        latency: r.latencyBuckets.map((n) => count(n, `requests[${i}].latency_buckets`)),
      };
    }),
    tcp: summary.tcp.map((t, i) => ({
      direction: direction(t.direction, `tcp[${i}]`),
      authority: t.authority,
      opened: count(t.opened, `tcp[${i}].opened`),
      closed: count(t.closed, `tcp[${i}].closed`),
      open: count(t.open, `tcp[${i}].open`),
      readBytes: count(t.readBytes, `tcp[${i}].read_bytes`),
      writeBytes: count(t.writeBytes, `tcp[${i}].write_bytes`),
    })),
  };
}

/** The trust a {@link ReportTrust} is made of, from the trust-bundle state; parsed again only when the bundle changes. */
export function trustFromBundle(): (event: BusEvent | undefined) => ReportTrust | undefined {
  let seen: string | undefined;
  let trust: ReportTrust | undefined;
  return (event) => {
    if (event === undefined || event.kind !== 'trustBundle') return undefined;
    if (event.id !== seen) {
      const bundle = event.data as TrustBundle;
      trust = { trustDomain: bundle.trustDomain, anchors: bundle.anchors.map((pem) => new X509Certificate(pem)) };
      seen = event.id;
    }
    return trust;
  };
}

export interface TelemetryHandlerOptions {
  /** Where summaries are published (core NATS: no acknowledgement is awaited). */
  readonly nc: Pick<NatsConnection, 'publish'>;
  readonly validator: BusValidator;
  /** The mesh trust, from the bus state; undefined until it is known. */
  readonly trust: () => ReportTrust | undefined;
  /** CloudEvents `source`, such as `/meshbus/gateway/<replica>`. */
  readonly source: string;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

export interface TelemetryHandlers extends UntypedServiceImplementation {
  report: handleClientStreamingCall<ReceivedReport, telemetry.ReportAck>;
}

const countersByRegistry = new WeakMap<Registry, Counter<'result'>>();

function reportCounter(registry: Registry | undefined): Counter<'result'> {
  const existing = registry && countersByRegistry.get(registry);
  if (existing) return existing;
  const counter = new Counter({
    name: 'meshbus_gateway_telemetry_reports_total',
    help: 'Traffic reports from proxies, by result: published, or the reason they were refused.',
    labelNames: ['result'],
    registers: registry ? [registry] : [],
  });
  if (registry) countersByRegistry.set(registry, counter);
  return counter;
}

/** The gateway's Telemetry/Report: verifies, converts and publishes each report; the first refused one ends the stream. */
export function createTelemetryHandlers(options: TelemetryHandlerOptions): TelemetryHandlers {
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'telemetry' });
  const reports = reportCounter(options.registry);

  function publish(report: ReceivedReport): void {
    if (report instanceof UndecodableReport) throw invalid(`the message is not a protobuf meshbus.telemetry.v1.SignedReport: ${report.reason}`);
    const nowMs = now();
    const sender = verifyReport(report, options.trust(), nowMs);
    const data = toBusSummary(report.summary, sender, nowMs);
    const subject = subjects.metricsSummary(sender.namespace, sender.workload);
    let encoded;
    try {
      encoded = encodeEvent('metricsSummary', subject, data, { source: options.source, subject: sender.identity }, options.validator);
    } catch (error) {
      if (error instanceof SchemaValidationError) throw invalid(`the summary exceeds the bounds of metrics-summary: ${error.message}`);
      throw error;
    }
    options.nc.publish(subject, encoded.payload, { headers: encoded.headers });
  }

  return {
    report(call: ServerReadableStream<ReceivedReport, telemetry.ReportAck>, callback: sendUnaryData<telemetry.ReportAck>) {
      let accepted = 0;
      let tokens = burst;
      let refilledAt = now();
      let done = false;
      const finish = (error: TelemetryRefused | undefined) => {
        if (done) return;
        done = true;
        if (error) callback({ code: error.grpcCode, details: error.message }, null);
        else callback(null, { accepted: BigInt(accepted) });
      };
      call.on('data', (report: ReceivedReport) => {
        if (done) return;
        const t = now();
        tokens = Math.min(burst, tokens + (t - refilledAt) / 1000);
        refilledAt = t;
        try {
          if (tokens < 1) throw new TelemetryRefused(status.RESOURCE_EXHAUSTED, 'TelemetryTooFast', 'more than one report per second; send one per interval');
          tokens--;
          publish(report);
          accepted++;
          reports.inc({ result: 'published' });
        } catch (error) {
          const refusal = error instanceof TelemetryRefused ? error : new TelemetryRefused(status.INTERNAL, 'Internal', `the report could not be published: ${errorMessage(error)}`);
          reports.inc({ result: refusal.code });
          logger.info({ peer: call.getPeer(), code: refusal.code }, `traffic report refused: ${refusal.message}`);
          finish(refusal);
        }
      });
      call.on('end', () => finish(undefined));
      call.on('error', () => finish(undefined));
    },
  };
}
