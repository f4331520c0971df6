import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { AdminServer, isLoopback } from './admin-server.js';
import { createMetricsRegistry } from './metrics.js';
import { silentLogger } from './logger.js';

const externalIpv4 = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

async function post(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { method: 'POST' });
  return { status: r.status, body: await r.text() };
}

describe('AdminServer POST /shutdown', () => {
  it('is served only when a shutdown hook is given', async () => {
    await using admin = new AdminServer({ port: 0, registry: createMetricsRegistry('test'), readiness: () => ({ ready: true }), logger: silentLogger() });
    await admin.start();
    const r = await post(`${admin.url}/shutdown`);
    expect(r.status).toBe(405);
    expect((await fetch(`${admin.url}/nope`)).status).toBe(404);
  });

  it('calls the hook once for local requests', async () => {
    let calls = 0;
    await using admin = new AdminServer({ port: 0, registry: createMetricsRegistry('test'), readiness: () => ({ ready: true }), logger: silentLogger(), onShutdown: () => calls++ });
    await admin.start();
    expect(await post(`${admin.url}/shutdown`)).toEqual({ status: 202, body: 'shutting down\n' });
    expect(await post(`${admin.url}/shutdown`)).toEqual({ status: 202, body: 'shutting down\n' });
    expect(calls).toBe(1);
    expect((await fetch(`${admin.url}/shutdown`)).status).toBe(405);
  });

  it.skipIf(externalIpv4 === undefined)('refuses a request from another address than the local host', async () => {
    let calls = 0;
    await using admin = new AdminServer({ host: '0.0.0.0', port: 0, registry: createMetricsRegistry('test'), readiness: () => ({ ready: true }), logger: silentLogger(), onShutdown: () => calls++ });
    await admin.start();
    const r = await post(`http://${externalIpv4}:${admin.port}/shutdown`);
    expect(r.status).toBe(403);
    expect(calls).toBe(0);
  });

  it('knows the loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', undefined].some((a) => isLoopback(a))).toBe(false);
  });
});
