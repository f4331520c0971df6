import { fileURLToPath } from 'node:url';

export * as destination from './gen/destination.js';
export * as identity from './gen/identity.js';
export * as inbound from './gen/inbound.js';
export * as outbound from './gen/outbound.js';
export * as net from './gen/net.js';
export * as meta from './gen/meta.js';
export * as httpRoute from './gen/http_route.js';
export * as httpTypes from './gen/http_types.js';
export * as grpcRoute from './gen/grpc_route.js';
export * as opaqueRoute from './gen/opaque_route.js';
export * as tlsRoute from './gen/tls_route.js';
/** `meshbus.telemetry.v1`: the traffic summaries proxies report (a meshbus extension). */
export * as telemetry from './gen/telemetry.js';
/** `meshbus.tap.v1`: live request metadata on demand (a meshbus extension). */
export * as tap from './gen/tap.js';
/** `google.protobuf.Duration`, the type of every timeout and interval in the messages above. */
export { Duration } from './gen/google/protobuf/duration.js';

/**
 * Absolute path of the folder holding the proxy API `.proto` files (the import
 * root: `destination.proto`, `identity.proto`, ...), for tools such as grpcurl
 * or protoc that need the schema.
 */
export const protoDir: string = fileURLToPath(new URL('../proto', import.meta.url));

/**
 * What a `meshbus.telemetry.v1.SignedReport` signature covers: these bytes, then the encoded
 * summary. The prefix keeps such a signature from standing for anything else the key signs.
 */
export const telemetrySignaturePrefix: Uint8Array = new TextEncoder().encode('meshbus.telemetry.v1.summary\n');

/**
 * What a `meshbus.tap.v1.Hello` signature covers: these bytes, then the encoded claim. Distinct
 * from {@link telemetrySignaturePrefix}, so neither signature can be replayed as the other.
 */
export const tapHelloSignaturePrefix: Uint8Array = new TextEncoder().encode('meshbus.tap.v1.hello\n');

/**
 * The upper bounds, in milliseconds, of the latency buckets of a `meshbus.telemetry.v1`
 * summary (those of the proxy's `response_latency_ms`): each request row has one count per
 * bound, then one for larger latencies. Fixed, so summaries of any proxies add up.
 */
export const telemetryLatencyBoundsMs: readonly number[] = Object.freeze([
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
]);
