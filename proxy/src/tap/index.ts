/* The proxy's side of `meshbus tap`: sessions, filters, header allowlist, records and the Watch stream. See docs/proxy.md. */
export * from './sessions.js';
export { applyTapCommand, pathOnly, tapRecordMessage, tapRequestInfo, TAP_RECORD_LIMITS, type CommandOutcome, type TapHeaderValues, type TapRecorder, type TapRequestRecord } from './record.js';
export { signHello, TapClient, type TapClientOptions } from './client.js';
