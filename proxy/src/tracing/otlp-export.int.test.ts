import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '@meshbus/testing';
import { otlpSpanSink, tracesUrl } from './otlp-export.js';

/** An OTLP/HTTP receiver counting the spans of the JSON export requests it gets. */
async function receiver(): Promise<{ url: string; spans: () => number; server: Server }> {
  let spans = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const decoded = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
      for (const rs of decoded.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, spans: () => spans, server };
}

const workload = { namespace: 'shop', name: 'web-1' };
const start = { direction: 'outbound' as const, method: 'GET', parent: undefined, startTime: Date.now() };

describe('the OTLP span sink', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('posts to /v1/traces under the collector address unless it names a path', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('https://otel.example/custom/traces')).toBe('https://otel.example/custom/traces');
  });

  it('sends what is still queued when it shuts down', async () => {
    const r = await receiver();
    servers.push(r.server);
    const sink = otlpSpanSink({ collector: r.url, workload, version: 'test', batchDelayMs: 60_000 });
    for (let i = 0; i < 3; i++) sink.begin(start).end({ status: 200 }, Date.now());
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(r.spans()).toBe(0);
    await sink.shutdown();
    expect(r.spans()).toBe(3);
  });

  it('a collector that is gone costs spans, not time: ending spans stays fast, the queue stays bounded, shutdown ends', async () => {
    const port = await freePort();
    const sink = otlpSpanSink({ collector: `http://127.0.0.1:${port}`, workload, version: 'test', maxQueueSize: 100, batchDelayMs: 10, exportTimeoutMs: 500 });
    const began = performance.now();
    for (let i = 0; i < 20_000; i++) sink.begin(start).end({ status: 200 }, Date.now());
    const elapsed = performance.now() - began;
    // 20,000 spans into a queue of 100: the rest are dropped, at a cost of microseconds each.
    expect(elapsed).toBeLessThan(5_000);
    const stopped = performance.now();
    // The last flush fails (the proxy logs it and stops all the same).
    await sink.shutdown().catch((error: unknown) => expect(String(error)).toMatch(/ECONNREFUSED/));
    expect(performance.now() - stopped).toBeLessThan(5_000);
  });
});
