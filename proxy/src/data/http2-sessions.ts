/*
 * HTTP/2 client sessions kept open and shared by the requests to one
 * destination: a peer proxy over mesh TLS, an endpoint outside the mesh or
 * the workload over h2c. A session that closes, fails or gets a GOAWAY is
 * forgotten, and the next request opens a new one.
 */
import type { ClientHttp2Session } from 'node:http2';
import { errorMessage, type Logger } from '@meshbus/runtime';

/** Open sessions by key. */
export class Http2Sessions {
  private readonly sessions = new Map<string, ClientHttp2Session>();

  constructor(private readonly logger: Logger) {}

  /** The open session of `key`, if there is one. */
  current(key: string): ClientHttp2Session | undefined {
    const session = this.sessions.get(key);
    return session && !session.closed && !session.destroyed ? session : undefined;
  }

  /** The open session of `key`, or a new one from `open`. */
  get(key: string, open: () => ClientHttp2Session): ClientHttp2Session {
    const current = this.sessions.get(key);
    if (current && !current.closed && !current.destroyed) return current;
    const session = open();
    session.on('error', (error) => this.logger.debug({ session: key, err: errorMessage(error) }, 'HTTP/2 client session failed'));
    const forget = (): void => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    };
    session.on('close', forget);
    // The other side is draining: no new streams here; the session closes after the last one.
    session.on('goaway', () => {
      forget();
      session.close();
    });
    this.sessions.set(key, session);
    return session;
  }

  /** Closes every session once its streams have finished. */
  close(): void {
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
  }
}
