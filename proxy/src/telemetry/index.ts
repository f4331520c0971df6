/*
 * The proxy's traffic summaries for the bus: collected beside the metrics,
 * signed with the mesh certificate, sent to the gateway's Telemetry API.
 * See docs/observability.md.
 */
export { TrafficSummarizer, latencyBucket, type RequestKey, type RequestRow, type TcpRow, type TrafficSummary, type SummarizerOptions } from './summarizer.js';
export { signReport, summaryMessage, pemCertificatesToDer, type SigningCertificate } from './report.js';
export { TelemetryReporter, DEFAULT_TELEMETRY_INTERVAL_MS, type TelemetryReporterOptions } from './reporter.js';
