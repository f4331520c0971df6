import type { destination, meta, outbound } from '@meshbus/proxy-api';
import { durationMs } from './durations.js';

/** How a balancer estimates endpoint load (from BalanceP2c's load). */
export interface LoadConfig {
  /** Latency assumed for an endpoint before one is observed. */
  readonly defaultRttMs: number;
  /** Averaging window of the latency EWMA. */
  readonly decayMs: number;
  /** Latency added for an overload answer (429, 503); 0 turns penalties off (plain peak EWMA). */
  readonly penaltyMs: number;
  /** Longest Retry-After hint counted as penalty. */
  readonly maxRetryAfterMs: number;
  /** Window over which a penalty fades. */
  readonly penaltyDecayMs: number;
}

/** Waiting for an endpoint (from Backend.queue). */
export interface QueueConfig {
  /** Requests that may wait at once; more fail at once. */
  readonly capacity: number;
  /** How long a request waits for a ready endpoint before it fails. */
  readonly failfastTimeoutMs: number;
}

/** Defaults when the control plane leaves a field unset (the gateway's own values). */
export const defaultLoad: LoadConfig = { defaultRttMs: 30, decayMs: 10_000, penaltyMs: 0, maxRetryAfterMs: 0, penaltyDecayMs: 10_000 };
export const defaultQueue: QueueConfig = { capacity: 100, failfastTimeoutMs: 3_000 };

/** Where a route backend sends its requests. */
export type BackendTarget =
  /** Endpoints discovered with Destination.Get on `path`, balanced by P2C. */
  | { readonly kind: 'balancer'; readonly metadata?: meta.Metadata | undefined; readonly path: string; readonly load: LoadConfig; readonly queue: QueueConfig }
  /** One address, used as is. */
  | { readonly kind: 'forward'; readonly metadata?: meta.Metadata | undefined; readonly endpoint: destination.WeightedAddr; readonly queue: QueueConfig }
  /** Nothing to send to: the control plane pairs this with a failure filter; alone its requests fail with 500. */
  | { readonly kind: 'invalid'; readonly metadata?: meta.Metadata | undefined; readonly reason: string };

function toLoad(b: outbound.Backend_BalanceP2c): LoadConfig {
  switch (b.load?.$case) {
    case 'peakEwma':
      return { ...defaultLoad, defaultRttMs: durationMs(b.load.peakEwma.defaultRtt) ?? defaultLoad.defaultRttMs, decayMs: durationMs(b.load.peakEwma.decay) ?? defaultLoad.decayMs };
    case 'penaltyPeakEwma': {
      const p = b.load.penaltyPeakEwma;
      return {
        defaultRttMs: durationMs(p.defaultRtt) ?? defaultLoad.defaultRttMs,
        decayMs: durationMs(p.decay) ?? defaultLoad.decayMs,
        penaltyMs: durationMs(p.penalty) ?? 0,
        maxRetryAfterMs: durationMs(p.maxRetryAfter) ?? 0,
        penaltyDecayMs: durationMs(p.penaltyDecay) ?? durationMs(p.decay) ?? defaultLoad.penaltyDecayMs,
      };
    }
    case undefined:
      return defaultLoad;
  }
}

function toQueue(q: outbound.Queue | undefined): QueueConfig {
  if (!q) return defaultQueue;
  return { capacity: q.capacity > 0 ? q.capacity : defaultQueue.capacity, failfastTimeoutMs: durationMs(q.failfastTimeout) ?? defaultQueue.failfastTimeoutMs };
}

/** Reads a proxy API Backend. */
export function toBackendTarget(b: outbound.Backend | undefined): BackendTarget {
  if (!b) return { kind: 'invalid', reason: 'route backend has no backend' };
  switch (b.kind?.$case) {
    case 'balancer': {
      const d = b.kind.balancer.discovery?.kind;
      if (d?.$case !== 'dst' || d.dst.path === '') return { kind: 'invalid', metadata: b.metadata, reason: 'balancer backend has no Destination path' };
      return { kind: 'balancer', metadata: b.metadata, path: d.dst.path, load: toLoad(b.kind.balancer), queue: toQueue(b.queue) };
    }
    case 'forward':
      if (!b.kind.forward.addr) return { kind: 'invalid', metadata: b.metadata, reason: 'forward backend has no address' };
      return { kind: 'forward', metadata: b.metadata, endpoint: b.kind.forward, queue: toQueue(b.queue) };
    case undefined:
      return { kind: 'invalid', metadata: b.metadata, reason: 'backend has no kind' };
  }
}
