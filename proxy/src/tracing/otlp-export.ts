/*
 * The OTLP/HTTP span sink: spans of sampled requests, batched in a bounded
 * queue and sent by the OpenTelemetry SDK's exporter. A collector that is
 * slow, refuses or is gone costs dropped spans, never the request: ending a
 * span only puts it in the queue, and a full queue drops it.
 */
import { context, trace, SpanKind, SpanStatusCode, TraceFlags, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVER_ADDRESS, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { ConnectionKind, OpenSpan, SpanEnd, SpanSink, SpanStart } from './request-tracer.js';

/** The service name of the proxy's spans. */
export const traceServiceName = 'meshbus-proxy';

/** Options of {@link otlpSpanSink}. */
export interface OtlpSinkOptions {
  /** The collector's OTLP/HTTP base address, such as `http://collector:4318`; spans go to `/v1/traces` under it. */
  readonly collector: string;
  /** The workload the proxy runs beside: resource attributes of every span. */
  readonly workload: { readonly namespace: string; readonly name: string };
  readonly version: string;
  /** Spans waiting to be sent at most; beyond, new ones are dropped. @default 2048 */
  readonly maxQueueSize?: number;
  /** Spans per export request at most. @default 512 */
  readonly maxBatchSize?: number;
  /** How long a span waits for its batch. @default 5 s */
  readonly batchDelayMs?: number;
  /** How long one export request may take. @default 10 s */
  readonly exportTimeoutMs?: number;
}

/** The address spans are posted to: the collector's `/v1/traces`, unless the address names a path already. */
export function tracesUrl(collector: string): string {
  const url = new URL(collector);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/traces';
  return url.toString();
}

/** Span attributes of a finished request. */
export function endAttributes(end: SpanEnd): Attributes {
  const a: Attributes = {};
  if (end.status !== undefined) a[ATTR_HTTP_RESPONSE_STATUS_CODE] = end.status;
  if (end.route !== undefined) a[ATTR_HTTP_ROUTE] = end.route;
  if (end.authority !== undefined) a[ATTR_SERVER_ADDRESS] = end.authority;
  if (end.peerIdentity !== undefined) a['meshbus.peer.identity'] = end.peerIdentity;
  if (end.targetAddr !== undefined) a['meshbus.target.addr'] = end.targetAddr;
  if (end.grpcStatus !== undefined) a['rpc.grpc.status_code'] = end.grpcStatus;
  if (end.bytesRead !== undefined) a['meshbus.bytes.read'] = end.bytesRead;
  if (end.bytesWritten !== undefined) a['meshbus.bytes.written'] = end.bytesWritten;
  if (end.protocol !== undefined) a['network.protocol.name'] = end.protocol;
  if (end.clientAddr !== undefined) a['client.address'] = end.clientAddr;
  if (end.error !== undefined) a[ATTR_ERROR_TYPE] = end.error;
  else if (end.status !== undefined && end.status >= 500) a[ATTR_ERROR_TYPE] = String(end.status);
  return a;
}

/**
 * Whether a finished request counts as an error: no response, a broken one, a 5xx, or a gRPC
 * failure. A CONNECT tunnel or opaque TCP has no status: it is an error when it failed (`error`).
 */
export function isErrorEnd(end: SpanEnd, connection?: ConnectionKind): boolean {
  if (connection === 'tcp' || connection === 'connect') return end.error !== undefined || (end.status !== undefined && end.status >= 500);
  return end.error !== undefined || end.status === undefined || end.status >= 500 || (end.grpcStatus !== undefined && end.grpcStatus !== 0);
}

/** The span attributes known when a span begins. */
export function startAttributes(start: SpanStart): Attributes {
  const a: Attributes = { 'meshbus.direction': start.direction };
  if (start.connection !== 'tcp') a[ATTR_HTTP_REQUEST_METHOD] = start.method;
  if (start.connection !== undefined) {
    a['meshbus.connection.kind'] = start.connection;
    a['network.transport'] = 'tcp';
  }
  return a;
}

/** The OTLP/HTTP (JSON) span sink. */
export function otlpSpanSink(options: OtlpSinkOptions): SpanSink {
  const exporter = new OTLPTraceExporter({ url: tracesUrl(options.collector), timeoutMillis: options.exportTimeoutMs ?? 10_000 });
  const processor = new BatchSpanProcessor(exporter, {
    maxQueueSize: options.maxQueueSize ?? 2048,
    maxExportBatchSize: Math.min(options.maxBatchSize ?? 512, options.maxQueueSize ?? 2048),
    scheduledDelayMillis: options.batchDelayMs ?? 5_000,
    exportTimeoutMillis: options.exportTimeoutMs ?? 10_000,
  });
  const provider = new BasicTracerProvider({
    // The proxy decides sampling itself (it honours the caller's flag); the SDK records what it is given.
    sampler: new AlwaysOnSampler(),
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: traceServiceName,
      [ATTR_SERVICE_VERSION]: options.version,
      'service.instance.id': `${options.workload.namespace}/${options.workload.name}`,
      'k8s.namespace.name': options.workload.namespace,
      'meshbus.workload.namespace': options.workload.namespace,
      'meshbus.workload.name': options.workload.name,
    }),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer('meshbus-proxy', options.version);
  return {
    begin(start: SpanStart): OpenSpan {
      const parent = start.parent
        ? trace.setSpanContext(context.active(), { traceId: start.parent.traceId, spanId: start.parent.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true })
        : trace.deleteSpan(context.active());
      const span = tracer.startSpan(
        start.method,
        { kind: start.direction === 'outbound' ? SpanKind.CLIENT : SpanKind.SERVER, startTime: start.startTime, root: start.parent === undefined, attributes: startAttributes(start) },
        parent,
      );
      const { traceId, spanId } = span.spanContext();
      return {
        traceId,
        spanId,
        end(end: SpanEnd, endTime: number): void {
          span.setAttributes(endAttributes(end));
          if (end.route !== undefined) span.updateName(`${start.method} ${end.route}`);
          else if (start.connection !== undefined && start.connection !== 'upgrade' && end.authority !== undefined) span.updateName(`${start.method} ${end.authority}`);
          if (isErrorEnd(end, start.connection)) span.setStatus({ code: SpanStatusCode.ERROR, ...(end.error !== undefined ? { message: end.error } : {}) });
          span.end(endTime);
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
