/*
 * The proxy's Prometheus metrics (Linkerd's names and labels) and its
 * optional access log. See docs/proxy-metrics.md.
 */
export {
  ProxyMetrics,
  latencyBucketsMs,
  requestErrorKinds,
  type ProxyMetricsOptions,
  type TrafficSink,
  type RequestRecorder,
  type ConnectionRecorder,
  type RequestErrorKind,
} from './proxy-metrics.js';
export {
  noTlsReasons,
  dstLabelKeys,
  classify,
  type Direction,
  type NoTlsReason,
  type TlsStatus,
  type PolicyRef,
  type InboundLabels,
  type OutboundLabels,
  type TrafficLabels,
  type TcpLabels,
} from './labels.js';
export { registerProcessMetrics, IdentityMetrics, type ProcessMetricsOptions } from './process-metrics.js';
export {
  AccessLog,
  parseAccessLogConfig,
  accessLogFormats,
  loggableHeaders,
  type AccessLogConfig,
  type AccessLogEntry,
  type AccessLogFormat,
  type AccessLogSink,
  type LoggableHeader,
} from './access-log.js';
