/*
 * The optional access log: one line per request, in Apache's common log
 * format (with authority and duration appended) or as JSON. Off unless a
 * format is configured. Query strings and header values outside a small
 * allowlist are never written.
 */
import { ConfigError } from '@meshbus/core';

export const accessLogFormats = ['apache', 'json'] as const;
export type AccessLogFormat = (typeof accessLogFormats)[number];

/** Request headers whose values the access log may write; all others are never logged. */
export const loggableHeaders = ['user-agent', 'referer', 'x-request-id', 'traceparent', 'content-type'] as const;
export type LoggableHeader = (typeof loggableHeaders)[number];

export interface AccessLogConfig {
  readonly format: AccessLogFormat;
  /**
   * Which allowlisted headers to write (JSON: as fields; Apache: `referer` and
   * `user-agent` as in the combined format, others ignored).
   * @default []
   */
  readonly headers?: readonly LoggableHeader[];
}

/** One finished request. */
export interface AccessLogEntry {
  /** When the request started. */
  readonly time: Date;
  readonly direction: 'inbound' | 'outbound';
  /** The client's `ip:port`. */
  readonly clientAddr: string;
  /** The client's mesh identity, when the connection was mutual TLS. */
  readonly clientId?: string;
  readonly method: string;
  readonly authority: string;
  /** The request target; the query string is dropped before writing. */
  readonly path: string;
  /** `HTTP/1.1`, `HTTP/2.0`. */
  readonly protocol: string;
  /** The response status; absent when the request failed before a response. */
  readonly status?: number;
  readonly grpcStatus?: number;
  /** Response body bytes sent to the client. */
  readonly bytes: number;
  readonly durationMs: number;
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** Where lines go (a stream's write, a logger); each call is one line without its newline. */
export type AccessLogSink = (line: string) => void;

/**
 * The access log configuration from its textual setting: absent or `off` is
 * none; otherwise `apache` or `json`. `field` names the setting in errors.
 */
export function parseAccessLogConfig(value: string | undefined, field: string): AccessLogConfig | undefined {
  if (value === undefined || value === '' || value === 'off') return undefined;
  if ((accessLogFormats as readonly string[]).includes(value)) return { format: value as AccessLogFormat };
  throw new ConfigError(`${field}: access log format must be off, apache or json, got ${JSON.stringify(value)}`);
}

/** Writes access log lines in the configured format. */
export class AccessLog {
  private readonly format: AccessLogFormat;
  private readonly headers: readonly LoggableHeader[];

  constructor(
    config: AccessLogConfig,
    private readonly sink: AccessLogSink,
  ) {
    this.format = config.format;
    for (const h of config.headers ?? []) {
      if (!(loggableHeaders as readonly string[]).includes(h)) throw new ConfigError(`accessLog.headers: ${JSON.stringify(h)} is not one of ${loggableHeaders.join(', ')}`);
    }
    this.headers = config.headers ?? [];
  }

  /** Writes one request's line. */
  record(entry: AccessLogEntry): void {
    this.sink(this.format === 'json' ? this.json(entry) : this.apache(entry));
  }

  private json(e: AccessLogEntry): string {
    const line: Record<string, unknown> = {
      time: e.time.toISOString(),
      direction: e.direction,
      client_addr: e.clientAddr,
      client_id: e.clientId ?? null,
      method: e.method,
      authority: e.authority,
      path: withoutQuery(e.path),
      protocol: e.protocol,
      status: e.status ?? null,
      bytes: e.bytes,
      duration_ms: Math.round(e.durationMs * 1000) / 1000,
    };
    if (e.grpcStatus !== undefined) line.grpc_status = e.grpcStatus;
    for (const h of this.headers) {
      const v = headerValue(e.headers, h);
      if (v !== undefined) line[h.replace(/-/g, '_')] = v;
    }
    return JSON.stringify(line);
  }

  private apache(e: AccessLogEntry): string {
    const { ip } = splitClient(e.clientAddr);
    const request = `${e.method} ${withoutQuery(e.path)} ${e.protocol}`;
    const parts = [
      ip,
      '-',
      e.clientId === undefined || e.clientId === '' ? '-' : clfToken(e.clientId),
      `[${clfTime(e.time)}]`,
      `"${clfQuoted(request)}"`,
      e.status === undefined ? '-' : String(e.status),
      e.bytes > 0 ? String(e.bytes) : '-',
    ];
    if (this.headers.includes('referer') || this.headers.includes('user-agent')) {
      parts.push(quotedOrDash(this.headers.includes('referer') ? headerValue(e.headers, 'referer') : undefined));
      parts.push(quotedOrDash(this.headers.includes('user-agent') ? headerValue(e.headers, 'user-agent') : undefined));
    }
    parts.push(`"${clfQuoted(e.authority)}"`, String(Math.round(e.durationMs)));
    return parts.join(' ');
  }
}

function withoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function headerValue(headers: AccessLogEntry['headers'], name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

function splitClient(addr: string): { ip: string } {
  if (addr.startsWith('[')) return { ip: addr.slice(1, Math.max(1, addr.indexOf(']'))) };
  const colon = addr.lastIndexOf(':');
  return { ip: colon > 0 && addr.indexOf(':') === colon ? addr.slice(0, colon) : addr };
}

/** Escapes a value for a double-quoted field: quotes, backslashes and control bytes as `\xHH`. */
function clfQuoted(value: string): string {
  return value.replace(/[\\"\x00-\x1f\x7f]/g, (c) => (c === '"' ? '\\"' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

function clfToken(value: string): string {
  return clfQuoted(value).replace(/ /g, '\\x20');
}

function quotedOrDash(value: string | undefined): string {
  return value === undefined ? '"-"' : `"${clfQuoted(value)}"`;
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `02/Dec/2026:00:04:35 +0000`, in UTC. */
function clfTime(t: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(t.getUTCDate())}/${months[t.getUTCMonth()]}/${t.getUTCFullYear()}:${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())} +0000`;
}
