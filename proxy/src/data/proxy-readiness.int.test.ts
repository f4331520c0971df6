import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { proxyConfigFromEnv } from '../control/index.js';
import { Proxy } from '../proxy.js';
import { createTestMesh } from '../tls/test-fixtures.js';

// A proxy whose control plane cannot be reached: it serves /live and /ready,
// is not ready (no certificate), and stops cleanly while it still waits.

describe('a proxy without its certificate', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-ready-'));
    await writeFile(join(dir, 'ca.crt'), createTestMesh().anchor.certificatePem);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is live, not ready, binds no data listener, takes /shutdown, and stops while waiting', async () => {
    const unreachable = await freePort();
    const config = proxyConfigFromEnv({
      MESHBUS_PROXY_GATEWAYS: `127.0.0.1:${unreachable}`,
      MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
      MESHBUS_PROXY_NAMESPACE: 'shop',
      MESHBUS_PROXY_WORKLOAD_NAME: 'web-1',
      MESHBUS_PROXY_SERVICE_ACCOUNT: 'web',
      MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'ca.crt'),
      MESHBUS_PROXY_IDENTITY_TOKEN: 'token',
      MESHBUS_PROXY_INBOUND_PORTS: '8080',
      MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '100ms',
    });
    const proxy = new Proxy({ ...config, listeners: { outbound: { host: '127.0.0.1', port: 0 }, inbound: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } });
    const started = proxy.start().then(
      () => 'started',
      () => 'gave up',
    );
    await waitFor(async () => (await httpGet(`${proxy.adminUrl}/live`).catch(() => ({ status: 0 }))).status === 200, { what: 'admin listener' });
    const ready = await httpGet(`${proxy.adminUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('no identity certificate yet');
    expect(() => proxy.ports).toThrow(/not started/);
    // POST /shutdown asks for the graceful stop that main.ts runs.
    let asked = false;
    void proxy.shutdown.then(() => (asked = true));
    expect((await fetch(`${proxy.adminUrl}/shutdown`, { method: 'POST' })).status).toBe(202);
    await waitFor(() => asked, { what: 'the shutdown request' });
    await proxy.stop();
    expect(await started).toBe('gave up');
  });

  it('takes the trust anchors from MESHBUS_PROXY_TRUST_ANCHORS_PEM, as an injected pod has them', async () => {
    const pem = createTestMesh().anchor.certificatePem;
    const config = proxyConfigFromEnv({
      MESHBUS_PROXY_GATEWAYS: `127.0.0.1:${await freePort()}`,
      MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
      MESHBUS_PROXY_NAMESPACE: 'shop',
      MESHBUS_PROXY_WORKLOAD_NAME: 'web-1',
      MESHBUS_PROXY_SERVICE_ACCOUNT: 'web',
      MESHBUS_PROXY_TRUST_ANCHORS_PEM: pem,
      MESHBUS_PROXY_IDENTITY_TOKEN: 'token',
      MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '100ms',
    });
    const proxy = new Proxy({ ...config, listeners: { outbound: { host: '127.0.0.1', port: 0 }, inbound: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } });
    const started = proxy.start().catch(() => undefined);
    await waitFor(async () => (await httpGet(`${proxy.adminUrl}/ready`).catch(() => ({ status: 0, body: '' }))).body.includes('no identity certificate yet'), { what: 'waiting for its certificate' });
    expect(proxy.tls.trustAnchorsPem).toBe(pem);
    await proxy.stop();
    await started;
  });
});
