import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { connect as http2Connect, constants as http2Constants, createServer as createHttp2Server, type Http2Server, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { inbound } from '@meshbus/proxy-api';
import { silentLogger } from '@meshbus/runtime';
import { waitFor } from '@meshbus/testing';
import { anyone, authz, everywhere, http1Server, inboundHttpRoute, meshed, opaqueServer, prefixMatch, resource } from '../inbound/test-policy.js';
import { ProxyMetrics } from '../metrics/index.js';
import { createTestMesh, TestCertificateSource, type TestMesh } from '../tls/test-fixtures.js';
import { MeshTls } from '../tls/index.js';
import type { WorkloadCertificate } from '@meshbus/identity-client';
import { RequestTracer, type SpanEnd, type SpanSink, type SpanStart } from '../tracing/index.js';
import { InboundProxy } from './inbound-proxy.js';

// The inbound listener on real sockets and real TLS: a workload behind it,
// plain and mesh clients in front, policies set by the test.

const serverId = 'web.shop.serviceaccount.identity.meshbus.test';
const clientId = 'api.shop.serviceaccount.identity.meshbus.test';

describe('the inbound listener', () => {
  let mesh: TestMesh;
  let clientCert: WorkloadCertificate;
  let proxy: InboundProxy;
  let workload: Server;
  let tcpWorkload: NetServer;
  let h2Workload: Http2Server;
  let httpPort: number;
  let tcpPort: number;
  let h2Port: number;
  const seen: IncomingHttpHeaders[] = [];
  const policies = new Map<number, inbound.Server>();
  const registry = new Registry();

  const listen = (server: Server | NetServer | Http2Server): Promise<number> =>
    new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

  beforeAll(async () => {
    mesh = createTestMesh();
    const serverCert = await mesh.certify(serverId);
    clientCert = await mesh.certify(clientId);
    workload = createServer((req, res) => {
      seen.push(req.headers);
      res.end(`workload saw HTTP/${req.httpVersion}\n`);
    });
    httpPort = await listen(workload);
    tcpWorkload = createNetServer((socket) => socket.pipe(socket));
    tcpPort = await listen(tcpWorkload);
    // An h2c workload: it answers with trailers, as a gRPC server does.
    h2Workload = createHttp2Server();
    h2Workload.on('stream', (stream, headers) => {
      seen.push(headers);
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'done' }));
      stream.end('workload saw HTTP/2.0\n');
    });
    h2Port = await listen(h2Workload);
    const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(serverCert) });
    proxy = new InboundProxy({ tls, policy: (port) => policies.get(port), ports: [httpPort, tcpPort, h2Port], metrics: new ProxyMetrics(registry), logger: silentLogger(), detectTimeoutMs: 300 });
    await proxy.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await proxy?.close(100);
    workload?.close();
    tcpWorkload?.close();
    h2Workload?.close();
  });

  const plainGet = (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  /** A request over mesh TLS and HTTP/2, as another proxy sends it: `l5d-orig-proto` when the client spoke HTTP/1.1. */
  const meshRequest = (
    path: string,
    port: number,
    extra: OutgoingHttpHeaders = { 'l5d-orig-proto': 'HTTP/1.1' },
  ): Promise<{ status: number; body: string; headers: Record<string, unknown>; trailers: Record<string, unknown>; endedWithHeaders: boolean }> =>
    new Promise((resolve, reject) => {
      const session = http2Connect(`http://127.0.0.1:${proxy.port}`, {
        createConnection: () =>
          tlsConnect({ host: '127.0.0.1', port: proxy.port, servername: serverId, ca: mesh.anchor.certificatePem, cert: `${clientCert.certificatePem}${clientCert.chainPem}`, key: clientCert.privateKeyPem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
      });
      session.on('error', reject);
      const stream = session.request({ ':path': path, 'l5d-dst-port': String(port), 'l5d-client-id': 'forged.example', ...extra });
      let status = 0;
      let body = '';
      let headers: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      let endedWithHeaders = false;
      stream.on('response', (h, flags) => {
        status = Number(h[':status']);
        headers = h;
        endedWithHeaders = (flags & http2Constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      });
      stream.on('trailers', (t) => (trailers = t));
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (body += c));
      stream.on('end', () => {
        session.close();
        resolve({ status, body, headers, trailers, endedWithHeaders });
      });
      stream.on('error', reject);
      stream.end();
    });
  const meshGet = async (path: string, port: number): Promise<{ status: number; body: string }> => {
    const { status, body } = await meshRequest(path, port);
    return { status, body };
  };

  it('forwards plain HTTP without a client identity, removing forged l5d-client-id', async () => {
    policies.set(httpPort, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')])]));
    const answer = await plainGet('/', { 'l5d-client-id': clientId });
    expect(answer).toEqual({ status: 200, body: 'workload saw HTTP/1.1\n' });
    expect(seen.at(-1)!['l5d-client-id']).toBeUndefined();
  });

  it('restores HTTP/2 from a mesh client to HTTP/1.1 with the verified l5d-client-id', async () => {
    const answer = await meshGet('/x', httpPort);
    expect(answer).toEqual({ status: 200, body: 'workload saw HTTP/1.1\n' });
    expect(seen.at(-1)!['l5d-client-id']).toBe(clientId);
    expect(seen.at(-1)!['l5d-dst-port']).toBeUndefined();
    expect(seen.at(-1)!['l5d-orig-proto']).toBeUndefined();
  });

  it('keeps HTTP/2 that was HTTP/2 from the start: h2c to the workload, trailers relayed', async () => {
    policies.set(h2Port, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')])]));
    const answer = await meshRequest('/h2', h2Port, {});
    expect(answer).toMatchObject({ status: 200, body: 'workload saw HTTP/2.0\n', trailers: { 'x-trailer': 'done' } });
    expect(seen.at(-1)!['l5d-client-id']).toBe(clientId);
    expect(seen.at(-1)!['l5d-dst-port']).toBeUndefined();
  });

  it('accepts HTTP/2 with prior knowledge from a plain client', async () => {
    const plain = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const session = http2Connect(`http://127.0.0.1:${proxy.port}`);
      session.on('error', reject);
      // A plain client names no port: its requests go to the first workload port, which here is HTTP/1.1.
      const stream = session.request({ ':path': '/plain-h2', 'l5d-orig-proto': 'HTTP/1.1' });
      let status = 0;
      let body = '';
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (body += c));
      stream.on('end', () => {
        session.close();
        resolve({ status, body });
      });
      stream.on('error', reject);
      stream.end();
    });
    expect(plain).toEqual({ status: 200, body: 'workload saw HTTP/1.1\n' });
    expect(seen.at(-1)!['l5d-client-id']).toBeUndefined();
  });

  it('refuses a gRPC call with a trailers-only PERMISSION_DENIED', async () => {
    policies.set(h2Port, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'nobody'), [authz(meshed(['other.shop.serviceaccount.identity.meshbus.test']), { networks: everywhere })], [prefixMatch('/')])]));
    const answer = await meshRequest('/pkg.Svc/Call', h2Port, { 'content-type': 'application/grpc', te: 'trailers' });
    expect(answer.status).toBe(200);
    expect(answer.endedWithHeaders).toBe(true);
    expect(answer.headers['grpc-status']).toBe('7');
    expect(String(answer.headers['grpc-message'])).toMatch(/no authorization admits/);
  });

  it('refuses with 403 what the route does not authorize, 404 a port that is not the workload\'s', async () => {
    policies.set(httpPort, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'api-only'), [authz(meshed([clientId]), { networks: everywhere })], [prefixMatch('/')])]));
    expect((await plainGet('/')).status).toBe(403);
    expect((await meshGet('/', httpPort)).status).toBe(200);
    expect((await meshGet('/', 1)).status).toBe(404);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/inbound_http_authz_deny_total\{[^}]*tls="no_identity"[^}]*\} 1/);
  });

  it('runs the route\'s filters before forwarding', async () => {
    const setHeader: inbound.HttpRoute_Filter = { kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { set: { headers: [{ name: 'x-inbound', value: Buffer.from('yes') }] }, remove: [] } } };
    policies.set(httpPort, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')], [setHeader])]));
    expect((await plainGet('/f?q=1')).status).toBe(200);
    expect(seen.at(-1)!['x-inbound']).toBe('yes');
  });

  it('answers 429 over the rate limit', async () => {
    policies.set(httpPort, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')])], { total: { requestsPerSecond: 1 }, overrides: [] }));
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await plainGet('/')).status);
    expect(statuses).toContain(429);
  });

  it('pipes opaque TCP that the policy authorizes, and closes what it does not', async () => {
    // A proxy whose first workload port is the TCP echo server: bytes that name no port go there.
    const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(serverId)) });
    const tcpProxy = new InboundProxy({ tls, policy: (port) => policies.get(port), ports: [tcpPort], metrics: new ProxyMetrics(new Registry()), logger: silentLogger(), detectTimeoutMs: 300 });
    await tcpProxy.listen('127.0.0.1', 0);
    const echo = (): Promise<string> =>
      new Promise((resolve) => {
        const s = netConnect(tcpProxy.port, '127.0.0.1', () => s.write('ping\n'));
        let got = '';
        s.on('data', (c: Buffer) => {
          got += c.toString();
          if (got.includes('\n')) s.end();
        });
        s.on('close', () => resolve(got));
        s.on('error', () => undefined);
      });
    try {
      policies.set(tcpPort, opaqueServer([authz(anyone, { networks: everywhere })]));
      expect(await echo()).toBe('ping\n');
      policies.set(tcpPort, opaqueServer([]));
      expect(await echo()).toBe('');
    } finally {
      await tcpProxy.close(100);
    }
  });
  it('makes one span per upgraded connection and per opaque TCP connection, with the peer and the bytes', async () => {
    const spans: { start: SpanStart; end?: SpanEnd; endTime?: number }[] = [];
    const sink: SpanSink = {
      begin(start) {
        const record: (typeof spans)[number] = { start };
        spans.push(record);
        return { traceId: start.parent?.traceId ?? 'b'.repeat(32), spanId: String(spans.length).padStart(16, '0'), end: (end, endTime) => Object.assign(record, { end, endTime }) };
      },
      shutdown: async () => undefined,
    };
    // The HTTP workload switches protocols on request and then echoes what it gets.
    const upgradesSeen: IncomingHttpHeaders[] = [];
    const onUpgrade = (req: { headers: IncomingHttpHeaders }, socket: Socket): void => {
      upgradesSeen.push(req.headers);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    };
    workload.on('upgrade', onUpgrade);
    const tracer = new RequestTracer({ samplingRatio: 1, sink });
    // Plain clients reach a proxy's first workload port: one proxy in front of the echo server, one in front of the HTTP workload.
    const traced = async (port: number): Promise<InboundProxy> => {
      const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(serverId)) });
      const p = new InboundProxy({ tls, policy: (q) => policies.get(q), ports: [port], metrics: new ProxyMetrics(new Registry()), logger: silentLogger(), detectTimeoutMs: 300, tracer });
      await p.listen('127.0.0.1', 0);
      return p;
    };
    const tcpProxy = await traced(tcpPort);
    const httpProxy = await traced(httpPort);
    const ended = (count: number) => waitFor(() => spans.length >= count && spans.slice(0, count).every((r) => r.end !== undefined), { what: `${count} spans ended` });
    /** Sends `preamble` and `lines` to `proxy`, and resolves with all that came back once the connection closed (the client ends it after `until`). */
    const exchange = (proxy: InboundProxy, preamble: string, lines: string, until: string): Promise<string> =>
      new Promise((resolve) => {
        const s = netConnect(proxy.port, '127.0.0.1', () => s.write(preamble + lines));
        let got = '';
        s.on('data', (c: Buffer) => {
          got += c.toString('latin1');
          if (got.endsWith(until)) s.end();
        });
        s.on('close', () => resolve(got));
        s.on('error', () => undefined);
      });
    try {
      policies.set(tcpPort, opaqueServer([authz(anyone, { networks: everywhere })]));
      policies.set(httpPort, http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')])]));

      // Opaque TCP (no port named: the first workload port, the echo server).
      expect(await exchange(tcpProxy, '', 'ping pong\n', '\n')).toBe('ping pong\n');
      await ended(1);
      expect(spans[0]!.start).toMatchObject({ direction: 'inbound', method: 'TCP', connection: 'tcp', parent: undefined });
      expect(spans[0]!.end).toMatchObject({ targetAddr: `127.0.0.1:${tcpPort}`, clientAddr: expect.stringMatching(/^127\.0\.0\.1:\d+$/), bytesRead: 10, bytesWritten: 10 });
      expect(spans[0]!.end!.error).toBeUndefined();

      // A WebSocket-style upgrade with a caller's context: one span, the caller's child, for the handshake and the bytes after it.
      const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const handshake = `GET /chat HTTP/1.1\r\nHost: web.shop\r\nConnection: Upgrade\r\nUpgrade: websocket\r\ntraceparent: ${parent}\r\n\r\n`;
      const answer = await exchange(httpProxy, handshake, 'hello\n', 'hello\n');
      expect(answer).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(answer.endsWith('hello\n')).toBe(true);
      await ended(2);
      const upgrade = spans[1]!;
      expect(upgrade.start).toMatchObject({ direction: 'inbound', method: 'GET', connection: 'upgrade', parent: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' } });
      expect(upgrade.end).toMatchObject({ status: 101, protocol: 'websocket', authority: 'web.shop', route: 'shop/all', targetAddr: `127.0.0.1:${httpPort}`, bytesRead: 6, bytesWritten: 6 });
      expect(upgrade.endTime!).toBeGreaterThanOrEqual(upgrade.start.startTime);
      // The workload saw the proxy's span as its parent.
      expect(upgradesSeen.at(-1)!.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000002-01');

      // A refused TCP connection: a span marked with why.
      policies.set(tcpPort, opaqueServer([]));
      expect(await exchange(tcpProxy, '', 'ping\n', '\n')).toBe('');
      await ended(3);
      expect(spans[2]!.end).toMatchObject({ error: expect.stringMatching(/^refused: /) });
    } finally {
      workload.off('upgrade', onUpgrade);
      await tcpProxy.close(100);
      await httpProxy.close(100);
    }
  });
});
