// What web.mjs, api.mjs and store.mjs share: their settings, the HTTP server,
// and the call to the next service through the proxy's outbound listener.
// Node.js only, no dependencies.
import { request, createServer } from 'node:http';
import { parseArgs } from 'node:util';

/**
 * Settings from the command line, else the environment, else the defaults:
 *   --listen host:port   LISTEN     where the program listens      (default 127.0.0.1:8080)
 *   --name name          NAME       the instance, in every answer  (default the service)
 *   --upstream host      UPSTREAM   the service it calls           (default per program; "" for none)
 *   --proxy url          HTTP_PROXY the proxy's outbound listener  (meshbus run sets it)
 */
export function settings(service, defaultUpstream) {
  const { values } = parseArgs({
    options: { listen: { type: 'string' }, name: { type: 'string' }, upstream: { type: 'string' }, proxy: { type: 'string' } },
  });
  const env = process.env;
  const listen = values.listen ?? env.LISTEN ?? '127.0.0.1:8080';
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(listen);
  if (!m) fail(`--listen ${JSON.stringify(listen)} is not host:port`);
  const proxyText = values.proxy ?? env.HTTP_PROXY ?? env.http_proxy ?? '';
  let proxy;
  if (proxyText !== '') {
    try {
      proxy = new URL(proxyText);
    } catch {
      fail(`--proxy ${JSON.stringify(proxyText)} is not a URL such as http://127.0.0.1:4140`);
    }
  }
  return {
    service,
    host: m[1],
    port: Number(m[2]),
    name: values.name ?? env.NAME ?? service,
    upstream: values.upstream ?? env.UPSTREAM ?? defaultUpstream,
    proxy,
  };
}

/** `web-1 (web)`, or `web` when the instance has no name of its own. */
function who(config) {
  return config.name === config.service ? config.name : `${config.name} (${config.service})`;
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/**
 * GET http://<authority><path>: through the proxy when there is one (an
 * absolute-form request, as any HTTP_PROXY client sends it), else directly.
 */
export function get(config, authority, path) {
  const target = config.proxy
    ? { host: config.proxy.hostname, port: Number(config.proxy.port || 80), path: `http://${authority}${path}` }
    : { host: authority.replace(/:\d+$/, ''), port: Number(/:(\d+)$/.exec(authority)?.[1] ?? 80), path };
  return new Promise((resolve) => {
    const req = request({ ...target, headers: { host: authority }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, proxyError: res.headers['l5d-proxy-error'] }));
      res.on('error', (error) => resolve({ status: 0, body: '', proxyError: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (error) => resolve({ status: 0, body: '', proxyError: error.message }));
    req.end();
  });
}

/**
 * Serves every request with one line about itself (who answered, and the
 * caller's mesh identity as the proxy vouches for it in l5d-client-id), then
 * `extra(req)`'s lines indented: the upstream's answer. GET /healthz answers ok.
 */
export function serve(config, extra) {
  const server = createServer(async (req, res) => {
    if (req.url === '/healthz') {
      res.end('ok\n');
      return;
    }
    const started = Date.now();
    const caller = req.headers['l5d-client-id'] ?? 'no mesh identity';
    const { status, lines } = await extra(req);
    const text = [`${who(config)} answered ${req.method} ${req.url}; caller: ${caller}`, ...lines.map((l) => `  ${l}`)].join('\n');
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-demo-instance': config.name });
    res.end(`${text}\n`);
    process.stdout.write(`${config.name}: ${req.method} ${req.url} from ${caller} -> ${status} (${Date.now() - started} ms)\n`);
  });
  server.listen(config.port, config.host, () => {
    const via = config.upstream ? `; calls ${config.upstream}${config.proxy ? ` through ${config.proxy.origin}` : ' directly (no HTTP_PROXY)'}` : '';
    process.stdout.write(`${who(config)} listening on ${config.host}:${config.port}${via}\n`);
  });
  server.on('error', (error) => fail(`${config.name}: ${error.message}`));
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

/** Calls the upstream with the same path, and turns its answer into lines and a status. */
export async function callUpstream(config, req) {
  if (!config.upstream) return { status: 200, lines: [] };
  const answer = await get(config, config.upstream, req.url ?? '/');
  if (answer.status >= 200 && answer.status < 300) return { status: 200, lines: answer.body.trimEnd().split('\n') };
  // A proxy says why in l5d-proxy-error; a program's own error answer shows where the chain broke.
  const head = `${config.upstream} failed: ${answer.status === 0 ? 'no answer' : `HTTP ${answer.status}`}${answer.proxyError ? ` (${answer.proxyError})` : ''}`;
  const rest = answer.proxyError || answer.status === 0 ? [] : answer.body.trimEnd().split('\n');
  return { status: 502, lines: [head, ...rest] };
}
