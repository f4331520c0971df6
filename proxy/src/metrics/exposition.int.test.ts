/// <reference path="./parse-prometheus-text-format.d.ts" />
// The /metrics exposition after real HTTP traffic through a recording front
// server: promtool finds no problems, and a Prometheus text parser sees the
// label sets Linkerd dashboards query.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import parsePrometheusTextFormat, { type ParsedSample } from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityMetrics, ProxyMetrics, registerProcessMetrics, type InboundLabels } from './index.js';

const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

/** Linkerd's own names that promtool's naming lint flags; kept for compatibility with Linkerd dashboards. */
const linkerdNamesPromtoolFlags = ['identity_cert_refresh_count', 'response_latency_ms', 'tcp_connection_duration_ms'];

/**
 * The series of a histogram as plain samples (`<name>_bucket` with `le`,
 * `_sum`, `_count`): the parser merges labelled histograms into one, so its
 * TYPE line is dropped and the series are read untyped.
 */
function histogramSeries(text: string, name: string): Map<string, ParsedSample[]> {
  const untyped = text
    .split('\n')
    .filter((l) => l !== `# TYPE ${name} histogram`)
    .join('\n');
  // prom-client writes each label set's buckets, sum and count together, so a name repeats.
  const series = new Map<string, ParsedSample[]>();
  for (const f of parsePrometheusTextFormat(untyped)) {
    if (f.name.startsWith(`${name}_`)) series.set(f.name, [...(series.get(f.name) ?? []), ...f.metrics]);
  }
  return series;
}

const clientId = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

interface Running {
  readonly metricsUrl: string;
  readonly frontUrl: string;
  close(): Promise<void>;
}

/** An upstream app, a front server recording each request and connection like the inbound side of a proxy, and an admin /metrics. */
async function start(): Promise<Running> {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  registerProcessMetrics(registry, { version: '0.1.0-test' });
  new IdentityMetrics(registry).certificateObtained(new Date(Date.now() + 24 * 3600_000));

  const upstream = http.createServer((req, res) => {
    if (req.url === '/fail') res.writeHead(503).end('unavailable');
    else if (req.url === '/grpc') res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '7' }).end();
    else res.writeHead(200).end('hello');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as AddressInfo).port;

  const front = http.createServer((req, res) => {
    const local = `${req.socket.localAddress}:${req.socket.localPort}`;
    const labels: InboundLabels = {
      direction: 'inbound',
      targetAddr: local,
      tls: { established: true, peerIdentity: clientId },
      server: { kind: { $case: 'resource', resource: { group: 'policy.linkerd.io', kind: 'Server', name: 'web-http', namespace: 'shop', section: '', port: 0 } } },
      authz: { kind: { $case: 'resource', resource: { group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', name: 'web-mesh', namespace: 'shop', section: '', port: 0 } } },
      route: { kind: { $case: 'default', default: 'default' } },
    };
    if (req.url === '/denied') {
      metrics.httpDenied(labels);
      res.writeHead(403).end();
      return;
    }
    metrics.httpAuthorized(labels);
    const rec = metrics.startRequest(labels);
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method }, (upRes) => {
      const grpc = upRes.headers['grpc-status'];
      rec.respond(upRes.statusCode ?? 502, typeof grpc === 'string' ? Number(grpc) : undefined);
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
      upRes.on('end', () => rec.end());
    });
    up.on('error', () => {
      rec.end('unexpected');
      res.writeHead(502).end();
    });
    req.pipe(up);
  });
  front.on('connection', (socket) => {
    const conn = metrics.tcpOpen({
      direction: 'inbound',
      peer: 'src',
      targetAddr: `${socket.localAddress}:${socket.localPort}`,
      tls: { established: true, peerIdentity: clientId },
      server: { kind: { $case: 'default', default: 'all-unauthenticated' } },
    });
    socket.on('data', (b: Buffer) => conn.read(b.length));
    const write = socket.write.bind(socket);
    socket.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      conn.write(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length);
      return write(chunk, ...rest);
    }) as typeof socket.write;
    socket.on('error', (e: NodeJS.ErrnoException) => conn.close(e.code));
    socket.on('close', () => conn.close());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));

  const admin = http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((r) => admin.listen(0, '127.0.0.1', r));

  const port = (s: http.Server): number => (s.address() as AddressInfo).port;
  return {
    metricsUrl: `http://127.0.0.1:${port(admin)}/metrics`,
    frontUrl: `http://127.0.0.1:${port(front)}`,
    async close() {
      for (const s of [admin, front, upstream]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

describe('the /metrics exposition', () => {
  let running: Running;
  let text: string;

  beforeAll(async () => {
    running = await start();
    for (const path of ['/', '/fail', '/grpc', '/denied']) {
      const res = await fetch(`${running.frontUrl}${path}`);
      await res.arrayBuffer();
    }
    // A connection that stays open: its bytes show at scrape time.
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(`${running.frontUrl}/`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    // A connection that closes: tcp_close_total and tcp_connection_duration_ms.
    await new Promise<void>((resolve, reject) => {
      http.get(`${running.frontUrl}/`, { agent: false, headers: { connection: 'close' } }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    const deadline = Date.now() + 5000;
    do {
      text = await (await fetch(running.metricsUrl)).text();
    } while (!text.includes('\ntcp_close_total{') && Date.now() < deadline);
    agent.destroy();
  });

  afterAll(async () => {
    await running.close();
  });

  it.skipIf(promtool === undefined && process.env.CI === undefined)('passes promtool check metrics, apart from Linkerd names promtool flags', () => {
    expect(promtool, 'promtool is not installed (Debian package prometheus; .ci/run installs it)').toBeDefined();
    const run = spawnSync(promtool!, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const problems = `${run.stdout}${run.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const unexpected = problems.filter((l) => !linkerdNamesPromtoolFlags.some((name) => l.startsWith(`${name} `) || l.startsWith(`${name}:`)));
    expect(unexpected).toEqual([]);
    if (problems.length === 0) expect(run.status).toBe(0);
  });

  it('has the Linkerd label sets on request, response, latency and TCP series', () => {
    const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    const samples = (name: string) => families.get(name)?.metrics ?? [];

    const requests = samples('request_total');
    expect(families.get('request_total')?.type).toBe('COUNTER');
    expect(requests).toHaveLength(1);
    const req = requests[0]!;
    expect(req.value).toBe('5');
    expect(req.labels).toMatchObject({
      direction: 'inbound',
      tls: 'true',
      client_id: clientId,
      srv_group: 'policy.linkerd.io',
      srv_kind: 'server',
      srv_name: 'web-http',
      authz_kind: 'authorizationpolicy',
      authz_name: 'web-mesh',
      route_group: '',
      route_kind: 'default',
      route_name: 'default',
      target_ip: '127.0.0.1',
    });
    expect(req.labels?.target_addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(req.labels?.target_port).toBe(req.labels?.target_addr?.split(':')[1]);
    expect(req.labels).not.toHaveProperty('server_id');

    const responses = samples('response_total').map((s) => ({
      status: s.labels?.status_code,
      classification: s.labels?.classification,
      grpc: s.labels?.grpc_status,
      value: s.value,
    }));
    expect(responses).toEqual(
      expect.arrayContaining([
        { status: '200', classification: 'success', grpc: undefined, value: '3' },
        { status: '503', classification: 'failure', grpc: undefined, value: '1' },
        { status: '200', classification: 'failure', grpc: '7', value: '1' },
      ]),
    );

    expect(families.get('response_latency_ms')?.type).toBe('HISTOGRAM');
    const latency = histogramSeries(text, 'response_latency_ms');
    const okBuckets = (latency.get('response_latency_ms_bucket') ?? []).filter((s) => s.labels?.status_code === '200');
    expect(okBuckets.map((s) => s.labels?.le)).toEqual([
      '1', '2', '3', '4', '5', '10', '20', '30', '40', '50', '100', '200', '300', '400', '500',
      '1000', '2000', '3000', '4000', '5000', '10000', '20000', '30000', '40000', '50000', '+Inf',
    ]);
    expect(okBuckets.at(-1)?.value).toBe('4');
    const counts = okBuckets.map((s) => Number(s.value));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    const ok = (latency.get('response_latency_ms_count') ?? []).find((s) => s.labels?.status_code === '200');
    expect(ok?.value).toBe('4');
    expect(ok?.labels).toMatchObject({ direction: 'inbound', client_id: clientId, srv_name: 'web-http' });
    expect(ok?.labels).not.toHaveProperty('classification');

    const deny = samples('inbound_http_authz_deny_total');
    expect(deny).toHaveLength(1);
    expect(deny[0]?.value).toBe('1');
    expect(deny[0]?.labels).toMatchObject({ srv_name: 'web-http', tls: 'true', client_id: clientId });
    expect(deny[0]?.labels).not.toHaveProperty('direction');
    expect(samples('inbound_http_authz_allow_total')[0]?.value).toBe('5');

    const durations = histogramSeries(text, 'tcp_connection_duration_ms').get('tcp_connection_duration_ms_count') ?? [];
    expect(durations.length).toBeGreaterThanOrEqual(1);
    expect(durations.every((s) => s.labels?.errno === '' && s.labels?.peer === 'src')).toBe(true);
    expect(samples('tcp_close_total').every((s) => s.labels?.errno === '')).toBe(true);

    const opened = samples('tcp_open_total');
    expect(Number(opened.reduce((n, s) => n + Number(s.value), 0))).toBeGreaterThanOrEqual(1);
    expect(opened[0]?.labels).toMatchObject({ direction: 'inbound', peer: 'src', tls: 'true', client_id: clientId, srv_kind: 'default', srv_name: 'all-unauthenticated' });
    const read = samples('tcp_read_bytes_total').reduce((n, s) => n + Number(s.value), 0);
    const written = samples('tcp_write_bytes_total').reduce((n, s) => n + Number(s.value), 0);
    expect(read).toBeGreaterThan(6 * 'GET / HTTP/1.1\r\n'.length);
    expect(written).toBeGreaterThan(0);
    const openNow = samples('tcp_open_connections').reduce((n, s) => n + Number(s.value), 0);
    expect(openNow).toBeGreaterThanOrEqual(1);

    expect(families.get('identity_cert_expiration_timestamp_seconds')?.metrics[0]?.value).toMatch(/^\d{10}$/);
    expect(families.get('process_start_time_seconds')).toBeDefined();
    expect(families.get('process_cpu_seconds_total')?.type).toBe('COUNTER');
    expect(families.get('proxy_build_info')?.metrics[0]?.labels?.version).toBe('0.1.0-test');
  });
});
