import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReadinessChecks, silentLogger, type Logger, type Readiness, type Registry } from '@meshbus/runtime';

/** Whether a peer address is the local host (127.0.0.0/8, ::1, or IPv4-mapped 127.x). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** Options of {@link ProxyAdmin}. */
export interface ProxyAdminOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 4191 */
  port?: number;
  registry: Registry;
  /** What /ready reports; see {@link proxyReadiness}. */
  readiness: () => Readiness;
  /** Called once, on the first POST /shutdown from the local host: starts the graceful shutdown. */
  onShutdown: () => void;
  logger?: Logger;
}

/** What the proxy must hold before it is ready. */
export interface ProxyReadinessSources {
  /** The certificate client (or anything with the certificate held now). */
  certificate: { readonly current: unknown };
  /** The inbound policy watches of the workload's ports, by port. */
  inboundPolicies: ReadonlyMap<number, { readonly current: unknown }>;
}

/**
 * The proxy's readiness: not ready until it holds its identity certificate and has received the
 * inbound policy of every configured port. Once held, they stay: losing the control plane later
 * does not make the proxy unready (it serves from what it has).
 */
export function proxyReadiness(sources: ProxyReadinessSources): ReadinessChecks {
  const checks = new ReadinessChecks();
  checks.add('identity', () => (sources.certificate.current === undefined ? 'no identity certificate yet' : undefined));
  checks.add('inbound-policy', () => {
    const missing = [...sources.inboundPolicies].filter(([, w]) => w.current === undefined).map(([port]) => port);
    return missing.length === 0 ? undefined : `no inbound policy yet for port${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  });
  return checks;
}

/**
 * The proxy's admin listener: `GET /live`, `GET /ready` (200 or 503 with the reasons),
 * `GET /metrics` (Prometheus text), `POST /shutdown` (from the local host only: starts the
 * graceful shutdown, answers 202).
 */
export class ProxyAdmin {
  private readonly server: Server;
  private readonly options: ProxyAdminOptions;
  private readonly logger: Logger;
  private shutdownRequested = false;

  constructor(options: ProxyAdminOptions) {
    this.options = options;
    this.logger = (options.logger ?? silentLogger()).child({ component: 'admin' });
    this.server = createServer((req, res) => this.route(req, res));
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/shutdown') {
      this.shutdown(req, res);
      return;
    }
    if (path !== '/live' && path !== '/ready' && path !== '/metrics') {
      text(res, 404, 'not found: /live, /ready, /metrics, /shutdown (POST)\n');
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
      text(res, r.ready ? 200 : 503, r.ready ? 'ready\n' : `not ready: ${(r.reasons ?? []).join('; ')}\n`);
    } else {
      this.options.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.options.registry.contentType }).end(body),
        (err: unknown) => {
          this.logger.error({ err }, 'metrics collection failed');
          text(res, 500, 'metrics collection failed\n');
        },
      );
    }
  }

  private shutdown(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') {
      text(res.setHeader('allow', 'POST'), 405, `${req.method} is not allowed on /shutdown: POST starts the shutdown\n`);
      return;
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      this.logger.warn({ peer: req.socket.remoteAddress }, 'refused a shutdown request from another host');
      text(res, 403, 'shutdown is accepted from the local host only\n');
      return;
    }
    text(res, 202, 'shutting down\n');
    if (this.shutdownRequested) return;
    this.shutdownRequested = true;
    this.logger.info('shutdown requested through the admin server');
    try {
      this.options.onShutdown();
    } catch (err) {
      this.logger.error({ err }, 'the shutdown handler failed');
    }
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 4191, this.options.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.logger.info({ address: this.url }, 'admin server listening');
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
