/*
 * A reference for the proxy benchmark: the least an HTTP/1.1 proxy built on
 * node:http does for a request, in its own process. It takes absolute-form
 * and origin-form requests like the outbound listener, and sends each one to
 * one fixed upstream on a keep-alive pool, piping the request and the
 * answer, with hop-by-hop headers left out. No routing, balancing, metrics,
 * retries or timeouts: what it costs is what node:http itself costs, the
 * floor under any proxy written on it.
 *
 * BENCH_REFERENCE_LISTEN (host:port) and BENCH_REFERENCE_UPSTREAM (host:port)
 * come from the environment; it prints "listening" once it listens.
 */
import { Agent, createServer, request } from 'node:http';

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function hostPort(text: string | undefined, name: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(text ?? '');
  if (!m) throw new Error(`${name} must be host:port, got ${JSON.stringify(text)}`);
  return { host: m[1]!, port: Number(m[2]) };
}

const listen = hostPort(process.env.BENCH_REFERENCE_LISTEN, 'BENCH_REFERENCE_LISTEN');
const upstream = hostPort(process.env.BENCH_REFERENCE_UPSTREAM, 'BENCH_REFERENCE_UPSTREAM');
const agent = new Agent({ keepAlive: true });

const server = createServer((req, res) => {
  const target = req.url ?? '/';
  const path = target.startsWith('/') ? target : new URL(target).pathname;
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !hopByHop.has(k)) headers[k] = v;
  const up = request({ host: upstream.host, port: upstream.port, method: req.method, path, headers, agent }, (answer) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !hopByHop.has(k)) out[k] = v;
    res.writeHead(answer.statusCode ?? 502, out);
    answer.pipe(res);
  });
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
});
server.listen(listen.port, listen.host, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
