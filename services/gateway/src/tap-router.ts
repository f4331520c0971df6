/*
 * Tap sessions as one gateway replica sees them: which sessions run, which
 * connected proxies each was sent to, and when each ends. Pure: the clock is
 * a parameter and commands go out through each proxy's `send`.
 */
import type { TapRequest } from '@meshbus/bus-schemas';

/** What the gateway tells a proxy (the shape of `meshbus.tap.v1.GatewayCommand`). */
export type TapCommand =
  | { kind: 'start'; sessionId: string; filter: TapFilter; maxRps: number; expiresInMs: number }
  | { kind: 'renew'; sessionId: string; expiresInMs: number }
  | { kind: 'stop'; sessionId: string };

export interface TapFilter {
  readonly path?: string;
  readonly method?: string;
  readonly authority?: string;
}

/** A proxy with a Watch stream, with the workload its certificate proved. */
export interface TapProxy {
  readonly namespace: string;
  readonly workload: string;
  send(command: TapCommand): void;
}

/** A running session. */
export interface TapSession {
  readonly sessionId: string;
  readonly namespace: string;
  readonly workload: string;
  filter: TapFilter;
  maxRps: number;
  expiresAtMs: number;
  /** The proxies it was started on. */
  readonly proxies: Set<TapProxy>;
}

/** What became of a bus request. */
export type RequestOutcome = 'started' | 'renewed' | 'stopped' | 'unknown_session' | 'conflict';

/** Most sessions one replica keeps; further start requests are refused. */
export const maxGatewaySessions = 256;

function sameFilter(a: TapFilter, b: TapFilter): boolean {
  return a.path === b.path && a.method === b.method && a.authority === b.authority;
}

export class TapRouter {
  private readonly sessions = new Map<string, TapSession>();
  private readonly proxies = new Set<TapProxy>();

  constructor(private readonly now: () => number = Date.now) {}

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Proxies with an open, verified Watch stream. */
  get proxyCount(): number {
    return this.proxies.size;
  }

  /** A session by id, if it runs. */
  session(sessionId: string): TapSession | undefined {
    return this.sessions.get(sessionId);
  }

  /** Applies a validated tap request; ends expired sessions first. */
  apply(request: TapRequest): RequestOutcome | 'too_many_sessions' {
    this.expire();
    const existing = this.sessions.get(request.sessionId);
    if (existing && (existing.namespace !== request.namespace || existing.workload !== request.workload)) return 'conflict';
    if (request.action === 'stop') {
      if (!existing) return 'unknown_session';
      this.end(existing);
      return 'stopped';
    }
    const filter: TapFilter = { ...request.filter };
    const expiresAtMs = this.now() + request.expiresInMs;
    if (!existing) {
      if (this.sessions.size >= maxGatewaySessions) return 'too_many_sessions';
      const session: TapSession = { sessionId: request.sessionId, namespace: request.namespace, workload: request.workload, filter, maxRps: request.maxRps, expiresAtMs, proxies: new Set() };
      this.sessions.set(session.sessionId, session);
      for (const proxy of this.proxies) if (this.targets(session, proxy)) this.startOn(session, proxy);
      return 'started';
    }
    const changed = !sameFilter(existing.filter, filter) || existing.maxRps !== request.maxRps;
    existing.filter = filter;
    existing.maxRps = request.maxRps;
    existing.expiresAtMs = expiresAtMs;
    for (const proxy of existing.proxies) {
      proxy.send(changed ? this.startCommand(existing) : { kind: 'renew', sessionId: existing.sessionId, expiresInMs: request.expiresInMs });
    }
    return 'renewed';
  }

  /** A proxy opened a Watch stream: it gets a start for every running session of its workload. */
  connect(proxy: TapProxy): void {
    this.expire();
    this.proxies.add(proxy);
    for (const session of this.sessions.values()) if (this.targets(session, proxy)) this.startOn(session, proxy);
  }

  /** The proxy's stream ended: nothing more is sent to it. */
  disconnect(proxy: TapProxy): void {
    this.proxies.delete(proxy);
    for (const session of this.sessions.values()) session.proxies.delete(proxy);
  }

  /** The session a record from this proxy may belong to: running, and started on it. */
  accepts(proxy: TapProxy, sessionId: string): TapSession | undefined {
    const session = this.sessions.get(sessionId);
    if (!session || session.expiresAtMs <= this.now() || !session.proxies.has(proxy)) return undefined;
    return session;
  }

  /** Ends every session whose expiry has passed, sending stop to its proxies. Returns how many ended. */
  expire(): number {
    const nowMs = this.now();
    let ended = 0;
    for (const session of [...this.sessions.values()]) {
      if (session.expiresAtMs <= nowMs) {
        this.end(session);
        ended++;
      }
    }
    return ended;
  }

  private targets(session: TapSession, proxy: TapProxy): boolean {
    return session.namespace === proxy.namespace && session.workload === proxy.workload;
  }

  private startCommand(session: TapSession): TapCommand {
    return { kind: 'start', sessionId: session.sessionId, filter: session.filter, maxRps: session.maxRps, expiresInMs: Math.max(1, session.expiresAtMs - this.now()) };
  }

  private startOn(session: TapSession, proxy: TapProxy): void {
    session.proxies.add(proxy);
    proxy.send(this.startCommand(session));
  }

  private end(session: TapSession): void {
    this.sessions.delete(session.sessionId);
    for (const proxy of session.proxies) proxy.send({ kind: 'stop', sessionId: session.sessionId });
  }
}
