import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ProxyMetrics, latencyBucketsMs, type InboundLabels, type OutboundLabels } from '../metrics/index.js';
import { latencyBucket, TrafficSummarizer } from './summarizer.js';

const outbound: OutboundLabels = {
  direction: 'outbound',
  targetAddr: '10.1.0.7:8080',
  tls: { established: true, peerIdentity: 'api.shop.serviceaccount.identity.meshbus.cluster.local' },
  authority: 'api.shop.svc.cluster.local:8080',
  route: { kind: { $case: 'resource', resource: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api-canary', namespace: 'shop', section: '', port: 0 } } },
};

const inbound: InboundLabels = {
  direction: 'inbound',
  targetAddr: '10.1.0.5:8080',
  tls: { established: false, reason: 'no_tls_from_remote' },
};

function setup(options?: ConstructorParameters<typeof TrafficSummarizer>[0]) {
  let t = 1000;
  const summarizer = new TrafficSummarizer(options);
  const metrics = new ProxyMetrics(new Registry(), { now: () => t, sink: summarizer });
  return { summarizer, metrics, advance: (ms: number) => void (t += ms) };
}

describe('latencyBucket', () => {
  it('puts a latency in the first bucket whose bound it does not exceed, else the overflow bucket', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(1.5)).toBe(1);
    expect(latencyBucket(10)).toBe(latencyBucketsMs.indexOf(10));
    expect(latencyBucket(50_000)).toBe(latencyBucketsMs.length - 1);
    expect(latencyBucket(50_001)).toBe(latencyBucketsMs.length);
  });
});

describe('TrafficSummarizer as the metrics sink', () => {
  it('counts requests by direction, authority, route, status class and TLS, with their latencies', () => {
    const { summarizer, metrics, advance } = setup();
    for (const [status, ms] of [
      [200, 3],
      [204, 40],
      [503, 7],
    ] as const) {
      const r = metrics.startRequest(outbound);
      advance(ms);
      r.respond(status);
      r.end();
    }
    const failed = metrics.startRequest(inbound);
    failed.end('timeout');
    const summary = summarizer.drain(0, 10_000);
    expect(summary.intervalMs).toBe(10_000);
    const rows = summary.requests.map(({ latency, ...rest }) => ({ ...rest, latency: latency.reduce((a, b) => a + b, 0) }));
    expect(rows).toEqual(
      expect.arrayContaining([
        { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', route: 'api-canary', statusClass: 2, tls: true, success: 2, failure: 0, latency: 2 },
        { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', route: 'api-canary', statusClass: 5, tls: true, success: 0, failure: 1, latency: 1 },
        // No response headers: a failure without latency.
        { direction: 'inbound', authority: '', route: '', statusClass: 0, tls: false, success: 0, failure: 1, latency: 0 },
      ]),
    );
    expect(rows).toHaveLength(3);
    const ok = summary.requests.find((r) => r.statusClass === 2)!;
    expect(ok.latency[latencyBucket(3)]).toBe(1);
    expect(ok.latency[latencyBucket(40)]).toBe(1);
    expect(ok.latency).toHaveLength(latencyBucketsMs.length + 1);
  });

  it('starts each interval from zero', () => {
    const { summarizer, metrics } = setup();
    const r = metrics.startRequest(outbound);
    r.respond(200);
    r.end();
    expect(summarizer.drain(0, 10).requests).toHaveLength(1);
    expect(summarizer.drain(10, 20).requests).toEqual([]);
  });

  it('follows the route classification the metrics apply', () => {
    const { summarizer, metrics } = setup();
    const r = metrics.startRequest(outbound);
    r.respond(404);
    r.end(undefined, true);
    expect(summarizer.drain(0, 10).requests[0]).toMatchObject({ statusClass: 4, success: 0, failure: 1 });
  });

  it('counts connections, their bytes, and those still open in later intervals', () => {
    const { summarizer, metrics } = setup();
    const a = metrics.tcpOpen({ ...outbound, peer: 'dst' });
    const b = metrics.tcpOpen({ ...outbound, peer: 'dst' });
    a.read(100);
    a.write(7);
    a.close();
    b.write(5);
    metrics.flushConnectionBytes();
    expect(summarizer.drain(0, 10).tcp).toEqual([
      { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', opened: 2, closed: 1, open: 1, readBytes: 100, writeBytes: 12 },
    ]);
    expect(summarizer.drain(10, 20).tcp).toEqual([
      { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', opened: 0, closed: 0, open: 1, readBytes: 0, writeBytes: 0 },
    ]);
    b.close();
    expect(summarizer.drain(20, 30).tcp).toEqual([
      { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', opened: 0, closed: 1, open: 0, readBytes: 0, writeBytes: 0 },
    ]);
    expect(summarizer.drain(30, 40).tcp).toEqual([]);
  });

  it('keeps the rows bounded: past the limit, new keys count without authority and route', () => {
    const { summarizer, metrics } = setup({ maxRequestRows: 3 });
    for (let i = 0; i < 10; i++) {
      const r = metrics.startRequest({ ...outbound, authority: `svc-${i}.shop.svc.cluster.local:80` });
      r.respond(200);
      r.end();
    }
    const rows = summarizer.drain(0, 10).requests;
    expect(rows).toHaveLength(3);
    expect(rows.reduce((n, r) => n + r.success, 0)).toBe(10);
    expect(rows.find((r) => r.authority === '')?.success).toBe(8);
  });
});

describe('the latency buckets of the Telemetry API', () => {
  it('are the bounds of response_latency_ms, which the summarizer counts in', async () => {
    const { telemetryLatencyBoundsMs } = await import('@meshbus/proxy-api');
    expect([...latencyBucketsMs]).toEqual([...telemetryLatencyBoundsMs]);
  });
});
