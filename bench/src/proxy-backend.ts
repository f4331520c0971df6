/*
 * The backend of the proxy benchmark, run as its own process so that it does
 * not share an event loop with anything it is measured against. It speaks
 * just enough HTTP/1.1 for the benchmark: every request head (up to its blank
 * line) gets the same pre-encoded 200 answer on the same keep-alive
 * connection. A request that announces a body (Content-Length other than 0,
 * or Transfer-Encoding) gets 400 and the connection is closed: the benchmark
 * sends only GETs without a body, so such a request means a proxy changed
 * the request. About three times the requests per second of a minimal
 * `node:http` server on the same machine.
 *
 * Addresses come from the environment: BENCH_BACKEND_HOSTS (comma-separated
 * IPs) and BENCH_BACKEND_PORT. Over IPC the parent asks {type:'count'} and
 * gets the requests answered, connections accepted and reads, per
 * listening address.
 */
import { createServer, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

export const BACKEND_BODY = 'hello from the backend\n';
const answer = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(BACKEND_BODY)}\r\n\r\n${BACKEND_BODY}`, 'latin1');
const refusal = Buffer.from('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', 'latin1');
const bodyHeader = /\r\n(?:content-length:(?![ \t]*0[ \t]*\r\n)|transfer-encoding:)/i;

/** Whether a request head (through the CRLF of its last header line) announces a body. */
export function announcesBody(head: string): boolean {
  return bodyHeader.test(head);
}

export type BackendCommand = { type: 'count' };
export type BackendReport =
  | { type: 'listening' }
  /** Requests answered, connections accepted and reads (data events) per listening address, since the start. */
  | { type: 'count'; byHost: Record<string, number>; connections: Record<string, number>; reads: Record<string, number> }
  | { type: 'failed'; message: string };

interface Counts {
  readonly requests: Map<string, number>;
  readonly connections: Map<string, number>;
  readonly reads: Map<string, number>;
}
const bump = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

function serve(socket: Socket, counts: Counts, host: string): void {
  socket.setNoDelay(true);
  bump(counts.connections, host);
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    bump(counts.reads, host);
    pending = pending.length === 0 ? chunk.toString('latin1') : pending + chunk.toString('latin1');
    let answered = 0;
    let start = 0;
    for (;;) {
      const end = pending.indexOf('\r\n\r\n', start);
      if (end === -1) break;
      if (announcesBody(pending.slice(start, end + 2))) {
        socket.end(refusal);
        pending = '';
        return;
      }
      answered++;
      start = end + 4;
    }
    if (answered === 0) return;
    pending = start === pending.length ? '' : pending.slice(start);
    bump(counts.requests, host, answered);
    socket.write(answered === 1 ? answer : Buffer.concat(Array.from({ length: answered }, () => answer)));
  });
  socket.on('error', () => socket.destroy());
}

async function main(): Promise<void> {
  const hosts = (process.env.BENCH_BACKEND_HOSTS ?? '').split(',').filter((h) => h !== '');
  const port = Number(process.env.BENCH_BACKEND_PORT);
  if (hosts.length === 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error('BENCH_BACKEND_HOSTS and BENCH_BACKEND_PORT must be set');
  const counts: Counts = { requests: new Map(), connections: new Map(), reads: new Map() };
  await Promise.all(
    hosts.map(
      (host) =>
        new Promise<void>((resolve, reject) => {
          const server = createServer((socket) => serve(socket, counts, host));
          server.once('error', reject);
          server.listen({ host, port, backlog: 1024 }, resolve);
        }),
    ),
  );
  process.on('message', (m: BackendCommand) => {
    if (m.type === 'count') {
      process.send!({
        type: 'count',
        byHost: Object.fromEntries(counts.requests),
        connections: Object.fromEntries(counts.connections),
        reads: Object.fromEntries(counts.reads),
      } satisfies BackendReport);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'listening' } satisfies BackendReport);
}

// Run only as the backend process, not when a test imports the module.
if (process.send && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.send!({ type: 'failed', message: (err as Error).message } satisfies BackendReport);
    process.exit(1);
  });
}
