/*
 * Messages between the policy benchmark (parent) and its WatchPort client
 * process, over the Node.js IPC channel. Timestamps are process.hrtime.bigint()
 * values as decimal strings (one clock for both processes, see fanout-clients.ts).
 */
import type { ClockCommand, ClockReport } from './ipc-child.js';

/** Parent → client process. */
export type WatchCommand =
  | ClockCommand
  /** Opens one InboundServerPolicies.WatchPort stream per workload string, all on `port`. */
  | { type: 'open'; address: string; workloads: string[]; port: number; perConnection: number; timeoutMs: number }
  /** The next change should reach the streams at `expected` (indexes into the opened workloads) and no other. */
  | { type: 'arm'; round: number; expected: number[]; timeoutMs: number }
  | { type: 'close' };

/** Client process → parent. */
export type WatchReport =
  | ClockReport
  | {
      type: 'opened';
      streams: number;
      connections: number;
      /** From the first call to every stream holding its first (full) policy. */
      elapsedMs: number;
      /** Streams without a first policy when the open timed out. */
      waiting: number;
      /** gRPC status codes and messages of streams that failed, a few. */
      errors: { code: number; message: string }[];
    }
  | { type: 'armed'; round: number }
  | {
      type: 'arrived';
      round: number;
      /** Arrival of the first update on each expected stream that got one; '' for those that did not. */
      arrivalsNs: string[];
      /** Updates received after arming by streams the change should not reach. */
      otherMessages: number;
      /** Bytes of the first expected update, base64, so the parent can check what it says. */
      sample: string;
      errors: { code: number; message: string }[];
    }
  | { type: 'closed'; otherMessagesBetweenRounds: number }
  | { type: 'failed'; message: string };
