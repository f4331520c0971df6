/*
 * The dashboard's HTTP server: the static page, the view as JSON
 * (/api/view), the view pushed on every change over Server-Sent Events
 * (/api/stream), and tapped requests (/api/tap) when a tap feed is wired.
 * Requests naming another host are refused; no CORS headers are sent.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MeshbusError } from '@meshbus/runtime';
import { isAllowedHost } from './host-check.js';
import { UsageError } from '../errors.js';
import { parseTapAuthority, parseTapMethod, parseTapPath, parseTapTarget } from '../tap-args.js';
import type { TapFeed, TapFilter } from './tap-feed.js';
import type { DashboardView } from './view-model.js';

/** The dashboard could not listen on its address. */
export class DashboardListenError extends MeshbusError {
  override name = 'DashboardListenError';
  constructor(message: string) {
    super('DashboardListenFailed', message);
  }
}

/** Where the page's files are: cli/static/dashboard, next to both src/ and dist/. */
const staticDir = fileURLToPath(new URL('../../static/dashboard/', import.meta.url));
const files: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

const securityHeaders = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

/** The filter of `/api/tap?workload=<namespace>/<workload>&path=…&method=…&authority=…`; empty parameters are left out. Throws {@link UsageError}. */
export function tapFilterOf(q: URLSearchParams): TapFilter {
  const given = (name: string) => q.get(name) || undefined;
  const target = parseTapTarget(given('workload') ?? '', 'workload');
  const path = given('path');
  const method = given('method');
  const authority = given('authority');
  return {
    ...target,
    ...(path !== undefined ? { path: parseTapPath(path, 'path') } : {}),
    ...(method !== undefined ? { method: parseTapMethod(method, 'method') } : {}),
    ...(authority !== undefined ? { authority: parseTapAuthority(authority, 'authority') } : {}),
  };
}

/** Options of {@link startDashboardServer}. */
export interface DashboardServerOptions {
  address: string;
  /** 0 picks a free port. */
  port: number;
  /** The current view. */
  view(): DashboardView;
  /** Where /api/tap gets its records; unset, the page says tap is not available. */
  tap?: TapFeed;
}

export interface DashboardServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** Sends the current view to every open page. */
  push(): void;
}

export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const streams = new Set<ServerResponse>();
  const taps = new Set<() => void>();
  let bound = { address: options.address, port: options.port };
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => {
    res.writeHead(status, { ...securityHeaders, 'content-type': type });
    res.end(body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!isAllowedHost(req.headers.host, bound)) return send(res, 403, 'text/plain; charset=utf-8', 'this dashboard answers only to its own address (Host header refused)\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'only GET\n');
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    const file = files[path];
    if (file) return send(res, 200, file.type, await readFile(staticDir + file.file));
    if (path === '/api/view') return send(res, 200, 'application/json', JSON.stringify(options.view()));
    if (path === '/api/stream') {
      res.writeHead(200, { ...securityHeaders, 'content-type': 'text/event-stream' });
      res.write(`event: view\ndata: ${JSON.stringify(options.view())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (path === '/api/tap') {
      if (!options.tap) return send(res, 404, 'application/json', JSON.stringify({ error: 'tap not available' }));
      let filter: TapFilter;
      try {
        filter = tapFilterOf(new URL(req.url ?? '/', 'http://dashboard').searchParams);
      } catch (err) {
        if (err instanceof UsageError) return send(res, 400, 'application/json', JSON.stringify({ error: err.message }));
        throw err;
      }
      res.writeHead(200, { ...securityHeaders, 'content-type': 'text/event-stream' });
      const stop = options.tap.start(filter, {
        record: (r) => res.write(`event: tap\ndata: ${JSON.stringify(r)}\n\n`),
        notice: (text) => res.write(`event: notice\ndata: ${JSON.stringify(text)}\n\n`),
      });
      taps.add(stop);
      req.on('close', () => {
        taps.delete(stop);
        stop();
      });
      return;
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${String(err)}\n`);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${options.address}:${options.port}`;
      if (err.code === 'EADDRINUSE') reject(new DashboardListenError(`port ${options.port} on ${options.address} is taken: pass another with --port`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new DashboardListenError(`${options.address} is not an address of this machine (--address)`));
      else reject(new DashboardListenError(`cannot listen on ${where}: ${err.message}`));
    });
    server.listen(options.port, options.address, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  bound = { address: options.address, port };
  const host = options.address.includes(':') ? `[${options.address}]` : options.address;
  return {
    url: `http://${host}:${port}/`,
    port,
    push() {
      if (streams.size === 0) return;
      const frame = `event: view\ndata: ${JSON.stringify(options.view())}\n\n`;
      for (const res of streams) res.write(frame);
    },
    async [Symbol.asyncDispose]() {
      for (const stop of taps) stop();
      taps.clear();
      for (const res of streams) res.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
