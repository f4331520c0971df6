import type { Duration } from '@meshbus/proxy-api';

/** A protobuf Duration in milliseconds; undefined when unset. Negative durations count as zero. */
export function durationMs(d: Duration | undefined): number | undefined {
  if (!d) return undefined;
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  return ms > 0 ? ms : 0;
}

/** The clock and the random source the outbound logic reads; injected so that tests drive them. */
export interface Environment {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** A draw in [0, 1). */
  random(): number;
}
