/*
 * Messages between the fan-out benchmark (parent) and its two kinds of child
 * process, over the Node.js IPC channel. Timestamps are process.hrtime.bigint()
 * values as decimal strings (see fanout-clients.ts for why that clock).
 */

/**
 * Parent → client process. Streams are opened in named groups (one per server
 * under test), so both servers can hold their N streams at once and be measured
 * in alternating rounds.
 */
export type ClientCommand =
  | { type: 'clock'; parentNs: string }
  | { type: 'open'; group: string; address: string; path: string; streams: number; perConnection: number }
  | { type: 'arm'; group: string; round: number; marker: string; timeoutMs: number }
  | { type: 'close'; group: string };

/** Client process → parent. */
export type ClientReport =
  | { type: 'clock'; parentNs: string; childNs: string }
  | { type: 'opened'; group: string; streams: number; connections: number; elapsedMs: number; errors: string[] }
  | { type: 'armed'; group: string; round: number }
  | {
      type: 'arrived';
      group: string;
      round: number;
      /** Arrival time of the update carrying the marker on each stream that got it. */
      baseNs: string;
      /** Per stream that got the marker: arrival − baseNs, in nanoseconds. */
      offsetsNs: number[];
      /** Streams that did not get it before the timeout. */
      missing: number;
      /** Messages without the marker received after arming (should be 0). */
      otherMessages: number;
      /** The marker-carrying message of one stream, base64, to check both servers sent the same bytes. */
      sample: string;
      errors: string[];
    }
  | { type: 'closed'; group: string }
  | { type: 'failed'; message: string };

/** Parent → bare grpc-js server process. */
export type BareCommand =
  /** Messages written to every stream when it opens (the full endpoint set). */
  | { type: 'initial'; messages: string[] }
  /** Pre-encoded messages the next broadcast writes, base64. */
  | { type: 'prepare'; messages: string[] }
  | { type: 'broadcast' }
  | { type: 'memory' };

/** Bare grpc-js server process → parent. */
export type BareReport =
  | { type: 'listening'; port: number }
  | { type: 'ready' }
  | { type: 'broadcasted'; streams: number; loopMs: number }
  | { type: 'memory'; rss: number; heapUsed: number };
