/*
 * The proxy's side of `meshbus tap`: which tap sessions are active, which
 * requests they want, and what of a request may leave the proxy. Pure: no
 * timers, no I/O; the clock is injected. A session lives only until its
 * expiry; without renewal it ends by itself, so a tapping CLI killed with -9
 * cannot leave the proxy tapping for ever.
 */

/** Header names whose values a tap record may carry. Nothing else, never bodies. */
export const DEFAULT_TAP_HEADERS: readonly string[] = ['content-type', 'user-agent', 'grpc-status', 'grpc-message', 'x-request-id'];
/** Header names a tap record never carries, whatever the settings say. */
const NEVER_TAPPED = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

export const MAX_SESSIONS_PER_PROXY = 8;
export const DEFAULT_MAX_RPS = 100;
export const MAX_RPS = 100;
/** Longest a session lives without renewal. */
export const MAX_EXPIRY_MS = 60_000;

export interface TapFilter {
  /** Path prefix. */
  readonly path?: string;
  /** Upper-case HTTP method. */
  readonly method?: string;
  /** Exact authority, compared case-insensitively. */
  readonly authority?: string;
}

export interface TapSessionRequest {
  readonly sessionId: string;
  readonly filter: TapFilter;
  readonly maxRps?: number;
  /** How long from now the session lives without renewal. */
  readonly expiresInMs: number;
}

export interface TapRequestInfo {
  readonly direction: 'inbound' | 'outbound';
  readonly method: string;
  readonly authority: string;
  readonly path: string;
}

/** Whether a request matches a filter; an absent field matches anything. */
export function matchesFilter(filter: TapFilter, request: TapRequestInfo): boolean {
  if (filter.method !== undefined && filter.method.toUpperCase() !== request.method.toUpperCase()) return false;
  if (filter.authority !== undefined && filter.authority.toLowerCase() !== request.authority.toLowerCase()) return false;
  if (filter.path !== undefined && !request.path.startsWith(filter.path)) return false;
  return true;
}

/**
 * The header allowlist from the proxy setting `MESHBUS_PROXY_TAP_HEADERS`
 * (comma separated). The setting can only narrow the default list: names
 * outside it are reported as rejected, never tapped.
 */
export function tapHeaderAllowlist(setting: string | undefined): { allowed: Set<string>; rejected: string[] } {
  if (setting === undefined) return { allowed: new Set(DEFAULT_TAP_HEADERS), rejected: [] };
  const allowed = new Set<string>();
  const rejected: string[] = [];
  for (const raw of setting.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    if (DEFAULT_TAP_HEADERS.includes(name) && !NEVER_TAPPED.has(name)) allowed.add(name);
    else rejected.push(name);
  }
  return { allowed, rejected };
}

/** The allowed header values of a header map; multiple values are joined with ", ". */
export function tappedHeaders(headers: Readonly<Record<string, string | string[] | undefined>>, allowed: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (value === undefined || NEVER_TAPPED.has(name) || !allowed.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

interface Session {
  readonly sessionId: string;
  filter: TapFilter;
  maxRps: number;
  expiresAtMs: number;
  /** Token bucket: tokens left and when it was last refilled. */
  tokens: number;
  refilledAtMs: number;
}

export type StartResult = { ok: true } | { ok: false; reason: 'too_many_sessions' | 'bad_request' };

export interface TapCounters {
  sent: number;
  dropped: number;
}

/** The active tap sessions of one proxy. */
export class TapSessions {
  private readonly sessions = new Map<string, Session>();
  readonly counters: TapCounters = { sent: 0, dropped: 0 };

  constructor(private readonly now: () => number = Date.now, private readonly maxSessions = MAX_SESSIONS_PER_PROXY) {}

  /** Starts or renews a session; renewal may change its filter and rate. */
  start(request: TapSessionRequest): StartResult {
    if (request.sessionId === '' || !Number.isFinite(request.expiresInMs) || request.expiresInMs <= 0) return { ok: false, reason: 'bad_request' };
    const now = this.now();
    this.expire(now);
    const maxRps = Math.max(1, Math.min(MAX_RPS, Math.floor(request.maxRps ?? DEFAULT_MAX_RPS)));
    const expiresAtMs = now + Math.min(request.expiresInMs, MAX_EXPIRY_MS);
    const existing = this.sessions.get(request.sessionId);
    if (existing !== undefined) {
      existing.filter = request.filter;
      existing.maxRps = maxRps;
      existing.expiresAtMs = expiresAtMs;
      existing.tokens = Math.min(existing.tokens, maxRps);
      return { ok: true };
    }
    if (this.sessions.size >= this.maxSessions) return { ok: false, reason: 'too_many_sessions' };
    this.sessions.set(request.sessionId, { sessionId: request.sessionId, filter: request.filter, maxRps, expiresAtMs, tokens: maxRps, refilledAtMs: now });
    return { ok: true };
  }

  /** Keeps a running session going for `expiresInMs` more; false when it is not running (ended, expired or never started). */
  renew(sessionId: string, expiresInMs: number): boolean {
    if (!Number.isFinite(expiresInMs) || expiresInMs <= 0) return false;
    const now = this.now();
    this.expire(now);
    const session = this.sessions.get(sessionId);
    if (session === undefined) return false;
    session.expiresAtMs = now + Math.min(expiresInMs, MAX_EXPIRY_MS);
    return true;
  }

  stop(sessionId: string): void {
    this.sessions.delete(sessionId);
  }

  /** Ends every session (the stream they came on is gone). */
  clear(): void {
    this.sessions.clear();
  }

  /** Ids of the sessions still alive. */
  active(): string[] {
    this.expire(this.now());
    return [...this.sessions.keys()];
  }

  /** Cheap check for the request path: is anyone tapping at all? */
  get tapping(): boolean {
    if (this.sessions.size === 0) return false;
    return this.active().length > 0;
  }

  /**
   * The sessions that get a record of this request: matching, alive and
   * within their rate. Matching requests past a session's rate are counted as
   * dropped.
   */
  route(request: TapRequestInfo): string[] {
    const now = this.now();
    this.expire(now);
    const out: string[] = [];
    for (const s of this.sessions.values()) {
      if (!matchesFilter(s.filter, request)) continue;
      s.tokens = Math.min(s.maxRps, s.tokens + ((now - s.refilledAtMs) / 1000) * s.maxRps);
      s.refilledAtMs = now;
      if (s.tokens >= 1) {
        s.tokens -= 1;
        this.counters.sent += 1;
        out.push(s.sessionId);
      } else {
        this.counters.dropped += 1;
      }
    }
    return out;
  }

  private expire(now: number): void {
    for (const [id, s] of this.sessions) if (s.expiresAtMs <= now) this.sessions.delete(id);
  }
}
