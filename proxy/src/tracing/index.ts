/*
 * Distributed tracing in the proxy: W3C and B3 context propagation, and
 * spans exported over OTLP/HTTP when a collector is configured.
 */
import { Counter, type Registry } from 'prom-client';
import type { meta } from '@meshbus/proxy-api';
import { otlpSpanSink } from './otlp-export.js';
import { RequestTracer } from './request-tracer.js';
import type { TracingConfig } from './config.js';
import type { TraceFormat } from './trace-context.js';

export { tracingConfigFromEnv, type TracingConfig } from './config.js';
export { endAttributes, isErrorEnd, otlpSpanSink, startAttributes, traceServiceName, tracesUrl, type OtlpSinkOptions } from './otlp-export.js';
export { RequestTracer, type ConnectionKind, type OpenSpan, type RequestTrace, type RequestTracerOptions, type SpanDirection, type SpanEnd, type SpanSink, type SpanStart } from './request-tracer.js';
export { decideTrace, deniedHeaders, rootFormats, type TraceDecision } from './sampling.js';
export { parseB3Multi, parseB3Single, parseTraceparent, parseTracestate, readTraceContext, traceFormats, traceHeaderNames, writeTraceContext, type IncomingTrace, type SpanContext, type TraceFormat, type TraceHeaders } from './trace-context.js';

/** The tracer of a proxy from its configuration: spans exported when a collector is set, invalid headers counted in `registry`. */
export function createRequestTracer(config: TracingConfig, context: { registry: Registry; workload: { namespace: string; name: string }; version: string }): RequestTracer {
  const invalid = new Counter({
    name: 'trace_context_invalid_total',
    help: 'Requests whose trace context headers were invalid and ignored, by header format (w3c, b3, b3multi).',
    labelNames: ['format'],
    registers: [context.registry],
  });
  const sink =
    config.collector === undefined
      ? undefined
      : otlpSpanSink({ collector: config.collector, workload: context.workload, version: context.version, maxQueueSize: config.maxQueueSize, batchDelayMs: config.batchDelayMs, exportTimeoutMs: config.exportTimeoutMs });
  return new RequestTracer({ samplingRatio: config.samplingRatio, sink, onInvalid: (format: TraceFormat) => invalid.inc({ format }) });
}

/** A route policy's name on a span: `<namespace>/<name>` of its resource, or the default's name. */
export function policyRouteName(ref: meta.Metadata): string | undefined {
  const kind = ref.kind;
  if (kind === undefined) return undefined;
  return kind.$case === 'default' ? kind.default : `${kind.resource.namespace}/${kind.resource.name}`;
}
