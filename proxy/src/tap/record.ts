/*
 * What of a finished request a tap record carries, and how gateway commands
 * act on the sessions. Pure: the record is cut to the bounds of the bus's
 * tap-event schema here, so that the gateway never has to drop it.
 */
import { tap } from '@meshbus/proxy-api';
import { tappedHeaders, type TapSessions } from './sessions.js';

/** Header values as the data path holds them. */
export type TapHeaderValues = Readonly<Record<string, string | readonly string[] | undefined>>;

/** One finished request, as the data path hands it to the tap at the response's end. */
export interface TapRequestRecord {
  readonly direction: 'inbound' | 'outbound';
  readonly method: string;
  readonly authority: string;
  /** The request target; its query string is never recorded. */
  readonly path: string;
  /** When the request started, epoch milliseconds. */
  readonly startedAtMs: number;
  /** The HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The grpc-status of the response's trailers (or headers), when it has one. */
  readonly grpcStatus?: number | undefined;
  /** From the start of the request to the end of the response. */
  readonly latencyMs: number;
  /** Whether the request came or went over mesh TLS. */
  readonly tls: boolean;
  /** The peer's mesh identity: the client's inbound, the server's outbound; undefined when unknown. */
  readonly peerIdentity?: string | undefined;
  readonly requestHeaders: TapHeaderValues;
  readonly responseHeaders?: TapHeaderValues | undefined;
}

/** What the data path sees of the tap: a cheap check, and the call at a response's end. */
export interface TapRecorder {
  /** False while no session runs: then the data path does nothing for the tap. */
  readonly tapping: boolean;
  record(request: TapRequestRecord): void;
}

/** Bounds of `tap-event.schema.json` (bus-schemas) that a record from the proxy must keep. */
export const TAP_RECORD_LIMITS = {
  method: 16,
  authority: 260,
  path: 1024,
  peerIdentity: 253,
  headers: 32,
  headerValue: 1024,
  status: 999,
  latencyMs: 3_600_000,
} as const;

/** At most `max` characters (UTF-16 units, so never more code points than the schema counts). */
const cut = (text: string, max: number): string => (text.length <= max ? text : text.slice(0, max));

const clampInt = (n: number, max: number): number => (Number.isFinite(n) ? Math.min(max, Math.max(0, Math.round(n))) : 0);

function grpcStatusOf(headers: TapHeaderValues | undefined): number | undefined {
  const v = headers?.['grpc-status'];
  const text = typeof v === 'string' ? v : v?.[0];
  return text !== undefined && /^\d{1,2}$/.test(text) ? Number(text) : undefined;
}

/** The path without its query string or fragment. */
export function pathOnly(target: string): string {
  const end = target.search(/[?#]/);
  return end < 0 ? target : target.slice(0, end);
}

/** The request's identifying facts, as filters see them (the path without its query). */
export function tapRequestInfo(record: TapRequestRecord): { direction: 'inbound' | 'outbound'; method: string; authority: string; path: string } {
  return { direction: record.direction, method: record.method, authority: record.authority, path: pathOnly(record.path) };
}

/**
 * The protobuf record of a request for one session: allowlisted headers only
 * (request headers, then response headers and trailers, which win for a name
 * in both), the grpc-status when there is one, every field within the schema's bounds.
 */
export function tapRecordMessage(sessionId: string, record: TapRequestRecord, allowedHeaders: ReadonlySet<string>): tap.TapRecord {
  const headers: Record<string, string> = { ...tappedHeaders(record.requestHeaders as Record<string, string | string[] | undefined>, allowedHeaders) };
  if (record.responseHeaders !== undefined) Object.assign(headers, tappedHeaders(record.responseHeaders as Record<string, string | string[] | undefined>, allowedHeaders));
  // Part of the status, not a header value: recorded whatever the allowlist says.
  const grpcStatus = record.grpcStatus ?? grpcStatusOf(record.responseHeaders);
  if (grpcStatus !== undefined) headers['grpc-status'] = String(grpcStatus);
  const bounded: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (count++ >= TAP_RECORD_LIMITS.headers) break;
    bounded[name] = cut(value, TAP_RECORD_LIMITS.headerValue);
  }
  const method = cut(record.method, TAP_RECORD_LIMITS.method);
  return {
    sessionId,
    startedAtMs: BigInt(clampInt(record.startedAtMs, Number.MAX_SAFE_INTEGER)),
    direction: record.direction === 'inbound' ? tap.TapDirection.INBOUND : tap.TapDirection.OUTBOUND,
    method: method === '' ? 'GET' : method,
    authority: cut(record.authority, TAP_RECORD_LIMITS.authority),
    path: cut(pathOnly(record.path), TAP_RECORD_LIMITS.path),
    status: clampInt(record.status, TAP_RECORD_LIMITS.status),
    latencyMs: clampInt(record.latencyMs, TAP_RECORD_LIMITS.latencyMs),
    tls: record.tls,
    peerIdentity: cut(record.peerIdentity ?? '', TAP_RECORD_LIMITS.peerIdentity),
    headers: bounded,
  };
}

/** What a gateway command did to the sessions. */
export type CommandOutcome = 'started' | 'renewed' | 'stopped' | 'unknown_session' | 'too_many_sessions' | 'bad_request';

/** Applies one gateway command to the sessions. An empty filter field matches every request; a rate of 0 is the default rate. */
export function applyTapCommand(sessions: TapSessions, command: tap.GatewayCommand): CommandOutcome {
  const kind = command.kind;
  switch (kind?.$case) {
    case 'start': {
      const { sessionId, filter, maxRps, expiresInMs } = kind.start;
      const result = sessions.start({
        sessionId,
        filter: {
          ...(filter?.path ? { path: filter.path } : {}),
          ...(filter?.method ? { method: filter.method.toUpperCase() } : {}),
          ...(filter?.authority ? { authority: filter.authority } : {}),
        },
        ...(maxRps > 0 ? { maxRps } : {}),
        expiresInMs,
      });
      return result.ok ? 'started' : result.reason;
    }
    case 'renew':
      return sessions.renew(kind.renew.sessionId, kind.renew.expiresInMs) ? 'renewed' : 'unknown_session';
    case 'stop':
      sessions.stop(kind.stop.sessionId);
      return 'stopped';
    default:
      return 'bad_request';
  }
}
