import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { isLogLevel, logLevels } from './logger.js';
import type { Readiness } from './readiness.js';

export type { Readiness } from './readiness.js';

/** Reads and changes the level of a running service's logger. */
export interface LogLevelControl {
  get(): string;
  /** Called only with a valid level (one of `logLevels`). */
  set(level: string): void;
}

/** Options of {@link AdminServer}. */
export interface AdminServerOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  registry: Registry;
  readiness: () => Readiness;
  logger: Logger;
  /** Serves `GET /log-level` and `PUT /log-level` when given. */
  logLevel?: LogLevelControl;
  /**
   * Serves `POST /shutdown` when given: from the local host only, answers 202
   * and calls this once (later requests are answered but change nothing).
   */
  onShutdown?: () => void;
}

/** Whether a peer address is the local host (127.0.0.0/8, ::1, or IPv4-mapped 127.x). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The longest body PUT /log-level reads; a level name is a few bytes. */
const maxLevelBody = 64;

/**
 * The admin HTTP endpoint every meshbus process serves: `/live` (the process
 * answers), `/ready` (it has synced and can serve, or why not), `/metrics`
 * (Prometheus) and `/log-level` (read or change the log level while running).
 */
export class AdminServer {
  private readonly server: Server;
  private readonly options: AdminServerOptions;
  private shutdownRequested = false;

  constructor(options: AdminServerOptions) {
    this.options = options;
    this.server = createServer((req, res) => this.route(req, res));
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/log-level' && this.options.logLevel) {
      this.logLevel(this.options.logLevel, req, res);
      return;
    }
    if (path === '/shutdown' && this.options.onShutdown) {
      this.shutdown(this.options.onShutdown, req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(res.setHeader('allow', 'GET, HEAD'), 405, `${req.method} is not allowed on ${path}\n`);
      return;
    }
    if (path === '/live') {
      text(res, 200, 'live\n');
    } else if (path === '/ready') {
      const r = this.options.readiness();
      const details = (r.details ?? []).map((d) => `${d}\n`).join('');
      text(res, r.ready ? 200 : 503, `${r.ready ? 'ready' : `not ready: ${(r.reasons ?? []).join('; ')}`}\n${details}`);
    } else if (path === '/metrics') {
      this.options.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.options.registry.contentType }).end(body),
        (err: unknown) => {
          this.options.logger.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
    } else {
      const paths = ['/live', '/ready', '/metrics', ...(this.options.logLevel ? ['/log-level'] : []), ...(this.options.onShutdown ? ['/shutdown (POST)'] : [])];
      text(res, 404, `not found: ${paths.join(', ')}\n`);
    }
  }

  private shutdown(onShutdown: () => void, req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') {
      text(res.setHeader('allow', 'POST'), 405, `${req.method} is not allowed on /shutdown: POST starts the shutdown\n`);
      return;
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      this.options.logger.warn({ peer: req.socket.remoteAddress }, 'refused a shutdown request from another host');
      text(res, 403, 'shutdown is accepted from the local host only\n');
      return;
    }
    text(res, 202, 'shutting down\n');
    if (this.shutdownRequested) return;
    this.shutdownRequested = true;
    this.options.logger.info('shutdown requested through the admin server');
    try {
      onShutdown();
    } catch (err) {
      this.options.logger.error({ err }, 'the shutdown handler failed');
    }
  }

  private logLevel(control: LogLevelControl, req: IncomingMessage, res: ServerResponse): void {
    if (req.method === 'GET' || req.method === 'HEAD') {
      text(res, 200, `${control.get()}\n`);
      return;
    }
    if (req.method !== 'PUT') {
      text(res.setHeader('allow', 'GET, HEAD, PUT'), 405, `${req.method} is not allowed on /log-level: GET reads the level, PUT sets it\n`);
      return;
    }
    let body = '';
    let tooLong = false;
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (tooLong) return;
      body += chunk;
      if (body.length > maxLevelBody) tooLong = true;
    });
    req.on('end', () => {
      if (tooLong) {
        text(res, 413, `the body must be a log level name (${logLevels.join(', ')})\n`);
        return;
      }
      const level = body.trim().toLowerCase();
      if (!isLogLevel(level)) {
        text(res, 400, `${level === '' ? 'no log level given' : `unknown log level ${JSON.stringify(body.trim())}`}: send one of ${logLevels.join(', ')}\n`);
        return;
      }
      const previous = control.get();
      // Said at the more verbose of the two levels, so that the change shows either way.
      const say = () => this.options.logger.info({ from: previous, to: level }, 'log level changed');
      const wasShown = this.options.logger.isLevelEnabled('info');
      if (wasShown) say();
      control.set(level);
      if (!wasShown && this.options.logger.isLevelEnabled('info')) say();
      text(res, 200, `${level}\n`);
    });
    req.on('error', () => res.destroy());
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.options.logger.info({ address: this.url }, 'admin server listening');
  }

  /** The bound port (after {@link start}). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    const host = this.options.host ?? '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}
