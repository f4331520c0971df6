import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proxy, proxyProcessConfig } from '@meshbus/proxy';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { meshIdentity, meshProxyEnv, repoRoot, startMesh, viaProxy, type Mesh, type MeshProxySpec } from './harness.js';

// Tracing end to end on the real control plane: A calls b through two proxies that export spans
// to an OTLP/HTTP receiver in this test; C calls d through two proxies without a collector.

const ns = 'tracing';
const hosts = { a: '127.0.0.111', b: '127.0.0.112', c: '127.0.0.113', d: '127.0.0.114' } as const;
const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });

function manifests(appPort: number): string {
  const workload = (name: string, sa: string, address: string) =>
    `---\napiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: {name: ${name}, namespace: ${ns}, labels: {app: ${sa}}}\nspec:\n  address: ${address}\n  ports: [{name: http, port: ${appPort}}]\n  serviceAccount: ${sa}\n`;
  const service = (name: string) => `---\napiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {app: ${name}}\n  ports: [{name: http, port: 80, targetPort: http}]\n`;
  return `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n${['a', 'b', 'c', 'd'].map((sa) => `---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${sa}, namespace: ${ns}}\n`).join('')}${workload('a-1', 'a', hosts.a)}${workload('b-1', 'b', hosts.b)}${workload('c-1', 'c', hosts.c)}${workload('d-1', 'd', hosts.d)}${service('b')}${service('d')}`;
}

/** OTLP/JSON, the parts the test reads. */
interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number; message?: string };
}
interface ExportRequest {
  resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}
/** A span as received, with its resource's attributes. */
interface ReceivedSpan extends OtlpSpan {
  resource: Record<string, string>;
  attrs: Record<string, string | number>;
}

const SERVER = 2;
const CLIENT = 3;

/** An OTLP/HTTP receiver: decodes the JSON export requests sent to /v1/traces. */
class Collector {
  readonly spans: ReceivedSpan[] = [];
  readonly requests: { contentType: string | undefined }[] = [];
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        this.requests.push({ contentType: req.headers['content-type'] });
        const decoded = JSON.parse(body) as ExportRequest;
        for (const rs of decoded.resourceSpans) {
          const resource = Object.fromEntries(rs.resource.attributes.map((a) => [a.key, a.value.stringValue ?? String(a.value.intValue)]));
          for (const ss of rs.scopeSpans)
            for (const span of ss.spans)
              this.spans.push({ ...span, resource, attrs: Object.fromEntries(span.attributes.map((a) => [a.key, a.value.stringValue ?? Number(a.value.intValue)])) });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
  }

  async listen(): Promise<void> {
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  of(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const hex = (bytes: number): string => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('');

describe('tracing through two proxies', () => {
  let mesh: Mesh;
  let dir: string;
  const collector = new Collector();
  const proxies: Partial<Record<keyof typeof hosts, Proxy>> = {};
  const apps: Server[] = [];
  /** The headers each server program saw, by path. */
  const seen = new Map<string, IncomingHttpHeaders>();

  async function startProxy(spec: MeshProxySpec): Promise<Proxy> {
    const { config, options } = proxyProcessConfig(await meshProxyEnv(spec));
    const proxy = new Proxy(config, options);
    await proxy.start();
    await waitFor(async () => (await httpGet(`${proxy.adminUrl}/ready`)).status === 200, { what: `the proxy of ${spec.name} ready`, timeoutMs: 20_000 });
    return proxy;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-tracing-'));
    const identityDir = join(dir, 'identity');
    cli(['identity', 'init', '--dir', identityDir]);
    const appPort = await freePort();
    const inboundPort = await freePort();
    const manifestsDir = join(dir, 'manifests');
    await mkdir(manifestsDir);
    await writeFile(join(manifestsDir, 'mesh.yaml'), manifests(appPort));
    await collector.listen();
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: true, manifests: manifestsDir, identityDir });
    const gateways = [`127.0.0.1:${mesh.gateway.grpcPort}`];
    for (const address of [hosts.b, hosts.d]) {
      const app = createServer((req, res) => {
        seen.set(req.url ?? '', req.headers);
        if (req.url === '/fail') res.writeHead(503).end('failing\n');
        else res.end('ok\n');
      });
      // A WebSocket-like endpoint: it switches protocols, then echoes.
      app.on('upgrade', (req: IncomingMessage, socket: Socket) => {
        seen.set(req.url ?? '', req.headers);
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        socket.pipe(socket);
      });
      await new Promise<void>((resolve) => app.listen(appPort, address, resolve));
      apps.push(app);
    }
    const traced = { MESHBUS_PROXY_TRACE_COLLECTOR: `http://127.0.0.1:${collector.port}`, MESHBUS_PROXY_TRACE_BATCH_DELAY: '100ms' };
    const spec = (name: string, sa: string, address: string, env: Record<string, string> = {}): MeshProxySpec => ({ gateways, namespace: ns, name, serviceAccount: sa, identityDir, address, inboundPort, ports: [appPort], env });
    [proxies.a, proxies.b, proxies.c, proxies.d] = await Promise.all([
      startProxy(spec('a-1', 'a', hosts.a, traced)),
      startProxy(spec('b-1', 'b', hosts.b, traced)),
      startProxy(spec('c-1', 'c', hosts.c)),
      startProxy(spec('d-1', 'd', hosts.d)),
    ]);
    // Both routes work before the tests start.
    await waitFor(async () => (await viaProxy(proxies.a!.ports.outbound, `http://b.${ns}/warm`)).status === 200 && (await viaProxy(proxies.c!.ports.outbound, `http://d.${ns}/warm`)).status === 200, {
      what: 'A reaches b and C reaches d',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
    for (const app of apps) {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
    await collector.close();
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('W3C in: the program sees the trace with a new parent, and the collector gets the client and server spans linked', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const answer = await viaProxy(proxies.a!.ports.outbound, `http://b.${ns}/w3c`, { headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'shop=1' } });
    expect(answer.status).toBe(200);
    const headers = seen.get('/w3c')!;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(headers['traceparent']));
    expect(m?.[1]).toBe(traceId);
    const appParent = m![2]!;
    expect(appParent).not.toBe(callerSpan);
    expect(headers['tracestate']).toBe('shop=1');
    expect(headers['b3']).toBeUndefined();

    await waitFor(() => collector.of(traceId).length >= 2, { what: 'two spans of the trace at the collector', timeoutMs: 10_000, intervalMs: 50 });
    const spans = collector.of(traceId);
    expect(spans).toHaveLength(2);
    const client = spans.find((s) => s.kind === CLIENT)!;
    const server = spans.find((s) => s.kind === SERVER)!;
    // caller → A's proxy (CLIENT) → b's proxy (SERVER) → the program.
    expect(client.parentSpanId).toBe(callerSpan);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(server.spanId).toBe(appParent);
    expect(client.resource).toMatchObject({ 'service.name': 'meshbus-proxy', 'meshbus.workload.namespace': ns, 'meshbus.workload.name': 'a-1' });
    expect(server.resource).toMatchObject({ 'service.name': 'meshbus-proxy', 'meshbus.workload.name': 'b-1' });
    expect(client.attrs).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200, 'server.address': `b.${ns}.svc.cluster.local:80`, 'meshbus.peer.identity': meshIdentity(ns, 'b') });
    expect(server.attrs).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200, 'meshbus.peer.identity': meshIdentity(ns, 'a') });
    expect(client.status?.code ?? 0).not.toBe(2);
    expect(collector.requests[0]?.contentType).toMatch(/application\/json/);
  });

  it('starts a trace for a request without one, and marks a failed request as an error on both spans', async () => {
    const answer = await viaProxy(proxies.a!.ports.outbound, `http://b.${ns}/fail`);
    expect(answer.status).toBe(503);
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen.get('/fail')!['traceparent']));
    expect(m).not.toBeNull();
    const traceId = m![1]!;
    await waitFor(() => collector.of(traceId).length >= 2, { what: 'the spans of the new trace', timeoutMs: 10_000, intervalMs: 50 });
    const spans = collector.of(traceId);
    const client = spans.find((s) => s.kind === CLIENT)!;
    expect(client.parentSpanId ?? '').toBe('');
    expect(spans.find((s) => s.kind === SERVER)!.parentSpanId).toBe(client.spanId);
    for (const span of spans) {
      expect(span.status?.code).toBe(2);
      expect(span.attrs['http.response.status_code']).toBe(503);
    }
  });

  it('gives an upgraded connection one span at each proxy, linked, with its bytes and peers', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const message = 'hello over the upgraded connection\n';
    // The handshake through A's outbound listener, as an HTTP proxy client sends it; then one message, echoed.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(proxies.a!.ports.outbound, '127.0.0.1', () =>
        socket.write(`GET http://b.${ns}/ws HTTP/1.1\r\nHost: b.${ns}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\ntraceparent: 00-${traceId}-${callerSpan}-01\r\n\r\n`),
      );
      let got = '';
      socket.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n') && !got.includes(message)) socket.write(message);
        if (got.endsWith(message)) socket.end();
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 101 /);
    expect(answer.endsWith(message)).toBe(true);
    expect(String(seen.get('/ws')!['traceparent'])).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

    await waitFor(() => collector.of(traceId).length >= 2, { what: 'the spans of the upgraded connection', timeoutMs: 10_000, intervalMs: 50 });
    const spans = collector.of(traceId);
    const client = spans.find((s) => s.kind === CLIENT)!;
    const server = spans.find((s) => s.kind === SERVER)!;
    expect(client.parentSpanId).toBe(callerSpan);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(String(seen.get('/ws')!['traceparent']).split('-')[2]).toBe(server.spanId);
    for (const span of [client, server]) {
      expect(span.attrs).toMatchObject({ 'meshbus.connection.kind': 'upgrade', 'network.protocol.name': 'websocket', 'http.response.status_code': 101, 'meshbus.bytes.read': message.length });
      expect(Number(span.attrs['meshbus.bytes.written'])).toBeGreaterThanOrEqual(message.length);
      expect(span.status?.code ?? 0).not.toBe(2);
    }
    expect(client.attrs).toMatchObject({ 'server.address': `b.${ns}.svc.cluster.local:80`, 'meshbus.peer.identity': meshIdentity(ns, 'b') });
    expect(server.attrs).toMatchObject({ 'meshbus.peer.identity': meshIdentity(ns, 'a') });
  });

  it('gives a CONNECT tunnel a span that is the caller\'s child, and the opaque TCP it becomes at the receiving proxy a root span', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const tcpBefore = collector.spans.filter((s) => s.attrs['meshbus.connection.kind'] === 'tcp').length;
    // Bytes that are not HTTP go through the tunnel; the receiving proxy carries them as opaque TCP to the program, which answers 400 and closes.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(proxies.a!.ports.outbound, '127.0.0.1', () =>
        socket.write(`CONNECT b.${ns}:80 HTTP/1.1\r\nHost: b.${ns}:80\r\ntraceparent: 00-${traceId}-${callerSpan}-01\r\n\r\n`),
      );
      let got = '';
      socket.on('data', (c: Buffer) => {
        const first = got === '';
        got += c.toString('latin1');
        if (first && got.startsWith('HTTP/1.1 200')) socket.write('\x16not http\r\n\r\n');
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 400 /);

    await waitFor(() => collector.of(traceId).length >= 1, { what: 'the span of the tunnel', timeoutMs: 10_000, intervalMs: 50 });
    const [tunnel] = collector.of(traceId);
    expect(tunnel).toMatchObject({ kind: CLIENT, parentSpanId: callerSpan, name: `CONNECT b.${ns}.svc.cluster.local:80` });
    expect(tunnel!.attrs).toMatchObject({
      'meshbus.connection.kind': 'connect',
      'http.request.method': 'CONNECT',
      'http.response.status_code': 200,
      'meshbus.bytes.read': '\x16not http\r\n\r\n'.length,
      'server.address': `b.${ns}.svc.cluster.local:80`,
      'meshbus.peer.identity': meshIdentity(ns, 'b'),
    });
    expect(Number(tunnel!.attrs['meshbus.bytes.written'])).toBeGreaterThan(0);

    await waitFor(() => collector.spans.filter((s) => s.attrs['meshbus.connection.kind'] === 'tcp').length > tcpBefore, { what: 'the TCP span of the receiving proxy', timeoutMs: 10_000, intervalMs: 50 });
    const tcp = collector.spans.filter((s) => s.attrs['meshbus.connection.kind'] === 'tcp').at(-1)!;
    expect(tcp).toMatchObject({ kind: SERVER, name: 'TCP' });
    expect(tcp.parentSpanId ?? '').toBe('');
    expect(tcp.traceId).not.toBe(traceId);
    expect(tcp.resource['meshbus.workload.name']).toBe('b-1');
    expect(tcp.attrs).toMatchObject({ 'network.transport': 'tcp', 'meshbus.peer.identity': meshIdentity(ns, 'a'), 'meshbus.bytes.read': '\x16not http\r\n\r\n'.length });
    expect(tcp.attrs['http.request.method']).toBeUndefined();
  });

  it('B3 in, B3 out: the X-B3 headers and the single b3 header keep their format', async () => {
    const traceId = hex(8);
    const callerSpan = hex(8);
    expect((await viaProxy(proxies.a!.ports.outbound, `http://b.${ns}/b3multi`, { headers: { 'X-B3-TraceId': traceId, 'X-B3-SpanId': callerSpan, 'X-B3-Sampled': '1' } })).status).toBe(200);
    const multi = seen.get('/b3multi')!;
    expect(multi['x-b3-traceid']).toBe(traceId);
    expect(multi['x-b3-spanid']).toMatch(/^[0-9a-f]{16}$/);
    expect(multi['x-b3-spanid']).not.toBe(callerSpan);
    expect(multi['x-b3-sampled']).toBe('1');
    expect(multi['traceparent']).toBeUndefined();
    const padded = `0000000000000000${traceId}`;
    await waitFor(() => collector.of(padded).length >= 2, { what: 'the spans of the B3 trace', timeoutMs: 10_000, intervalMs: 50 });
    const server = collector.of(padded).find((s) => s.kind === SERVER)!;
    expect(multi['x-b3-spanid']).toBe(server.spanId);
    expect(multi['x-b3-parentspanid']).toBe(server.parentSpanId);

    const single = hex(16);
    expect((await viaProxy(proxies.a!.ports.outbound, `http://b.${ns}/b3`, { headers: { b3: `${single}-${callerSpan}-0` } })).status).toBe(200);
    const b3 = String(seen.get('/b3')!['b3']).split('-');
    expect(b3[0]).toBe(single);
    expect(b3[1]).not.toBe(callerSpan);
    expect(b3[2]).toBe('0');
    expect(seen.get('/b3')!['traceparent']).toBeUndefined();
    // Not sampled: no span of it is exported.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(collector.of(single)).toHaveLength(0);
  });

  it('without a collector: nothing is exported, the context still goes on, and invalid headers are counted and ignored', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    expect((await viaProxy(proxies.c!.ports.outbound, `http://d.${ns}/plain`, { headers: { traceparent: `00-${traceId}-${callerSpan}-01` } })).status).toBe(200);
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(seen.get('/plain')!['traceparent']));
    expect(m?.[1]).toBe(traceId);
    expect(m?.[2]).not.toBe(callerSpan);

    expect((await viaProxy(proxies.c!.ports.outbound, `http://d.${ns}/invalid`, { headers: { traceparent: 'not-a-trace-parent', b3: 'nonsense' } })).status).toBe(200);
    const invalid = seen.get('/invalid')!;
    // No valid context and no sampling without a collector: no trace headers at all.
    expect(invalid['traceparent']).toBeUndefined();
    expect(invalid['b3']).toBeUndefined();
    const metrics = (await httpGet(`${proxies.c!.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/trace_context_invalid_total\{format="w3c"\} 1/);
    expect(metrics).toMatch(/trace_context_invalid_total\{format="b3"\} 1/);

    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(collector.of(traceId)).toHaveLength(0);
    expect(collector.spans.every((s) => s.resource['meshbus.workload.name'] === 'a-1' || s.resource['meshbus.workload.name'] === 'b-1')).toBe(true);
  });
});
