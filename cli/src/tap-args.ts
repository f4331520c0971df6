/*
 * The command-line side of a tap session: the workload to tap, its filter,
 * rate and duration, checked against the bounds of the tap-request schema
 * before anything reaches the bus.
 */
import { randomBytes } from 'node:crypto';
import type { TapRequest } from '@meshbus/bus-schemas';
import { isDnsLabel } from '@meshbus/core';
import { UsageError } from './errors.js';
import { parseDurationFlag } from './flags.js';

/** The workload a tap session asks for: the namespace and service account of its proxies. */
export interface TapTarget {
  readonly namespace: string;
  readonly workload: string;
}

/** Which requests to record; an absent field matches every request. */
export type TapRequestFilter = TapRequest['filter'];

/** Records per second per proxy the CLI asks for unless told otherwise. */
export const defaultTapMaxRps = 10;
/** The bounds of `maxRps` in the tap-request schema. */
export const tapMaxRpsBounds = { min: 1, max: 100 } as const;
/** Longest `--duration`: a tap is a look at live traffic, not a recorder. */
export const maxTapDurationMs = 24 * 3_600_000;

/** Parses `<namespace>/<workload>` (the workload is the service account of the proxies' identity). */
export function parseTapTarget(text: string, what = 'target'): TapTarget {
  const parts = text.split('/');
  const [namespace = '', workload = ''] = parts;
  if (parts.length !== 2 || !isDnsLabel(namespace) || !isDnsLabel(workload)) {
    throw new UsageError(`${what} ${JSON.stringify(text)} must be <namespace>/<workload>, DNS labels such as shop/web (the workload is the service account of its proxies)`);
  }
  return { namespace, workload };
}

/** Parses an HTTP method; `get` is taken as `GET`. */
export function parseTapMethod(text: string, what = '--method'): string {
  const method = text.toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(method)) throw new UsageError(`${what} ${JSON.stringify(text)} must be an HTTP method such as GET or POST (letters only, at most 16)`);
  return method;
}

/** Parses a path prefix: starts with `/`, at most 1024 characters. */
export function parseTapPath(text: string, what = '--path'): string {
  if (!text.startsWith('/')) throw new UsageError(`${what} ${JSON.stringify(text)} must be a path prefix starting with /, such as /api/`);
  if (text.length > 1024) throw new UsageError(`${what} has ${text.length} characters; at most 1024 are accepted`);
  if (/\s/.test(text)) throw new UsageError(`${what} ${JSON.stringify(text)} must not contain whitespace`);
  return text;
}

/** Parses an authority (`host` or `host:port`), compared by the proxy without regard to case. */
export function parseTapAuthority(text: string, what = '--authority'): string {
  if (text === '' || /[\s/]/.test(text)) throw new UsageError(`${what} ${JSON.stringify(text)} must be a host or host:port, such as web.shop.svc.cluster.local:80`);
  if (text.length > 260) throw new UsageError(`${what} has ${text.length} characters; at most 260 are accepted`);
  return text;
}

/** Parses `--max-rps`: a whole number from 1 to 100. */
export function parseTapMaxRps(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new UsageError(`--max-rps must be a whole number from ${tapMaxRpsBounds.min} to ${tapMaxRpsBounds.max}, got ${JSON.stringify(text)}`);
  const n = Number(t);
  if (n < tapMaxRpsBounds.min || n > tapMaxRpsBounds.max) throw new UsageError(`--max-rps ${n} is out of range (${tapMaxRpsBounds.min} to ${tapMaxRpsBounds.max} records per second per proxy)`);
  return n;
}

/** Parses `--duration`: how long to tap before stopping by itself, 1s to 24h. */
export function parseTapDuration(text: string): number {
  return parseDurationFlag(text, '--duration', { minMs: 1000, maxMs: maxTapDurationMs });
}

/** The filter of a request from the flags given; flags not given are left out. */
export function tapFilter(flags: { path?: string; method?: string; authority?: string }): TapRequestFilter {
  return {
    ...(flags.path !== undefined ? { path: flags.path } : {}),
    ...(flags.method !== undefined ? { method: flags.method } : {}),
    ...(flags.authority !== undefined ? { authority: flags.authority } : {}),
  };
}

/** A fresh session id: 16 URL-safe characters (96 random bits), within `^[A-Za-z0-9_-]{8,64}$`. */
export function newTapSessionId(): string {
  return randomBytes(12).toString('base64url');
}
