import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';

/** What /ready reports: ready, or not yet with the reasons why. */
export interface Readiness {
  ready: boolean;
  reasons?: string[];
  /** Conditions worth an operator's attention that do not make the service unready; printed one per line. */
  details?: string[];
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
}

/**
 * The admin HTTP endpoint every meshbus process serves: `/live` (the process
 * answers), `/ready` (it has synced and can serve), `/metrics` (Prometheus).
 */
export class AdminServer {
  private readonly server: Server;
  private readonly options: AdminServerOptions;

  constructor(options: AdminServerOptions) {
    this.options = options;
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/live') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('live\n');
      } else if (path === '/ready') {
        const r = this.options.readiness();
        res
          .writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' })
          .end(`${r.ready ? 'ready' : `not ready: ${(r.reasons ?? []).join('; ')}`}\n${(r.details ?? []).map((d) => `${d}\n`).join('')}`);
      } else if (path === '/metrics') {
        this.options.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.options.registry.contentType }).end(text),
          (err: unknown) => {
            this.options.logger.error({ err }, 'metrics collection failed');
            res.writeHead(500).end();
          },
        );
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
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
