import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, decodeEvent, encodeEvent, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects, type MetricsSummary, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { createDestinationService, envToConfig as destinationEnv } from '@meshbus/destination';
import { createPolicyService, envToConfig as policyEnv } from '@meshbus/policy-service';
import { ResourceStack, silentLogger } from '@meshbus/runtime';
import { freePort, startNats, waitFor, type RunningProcess } from '@meshbus/testing';
import { runCli } from '../cli-process.js';
import { repoRoot } from '../paths.js';

// The real control plane (nats-server, destination, policy) on a copy of
// examples/manifests, the built `meshbus dashboard`, and headless Chromium
// looking at its page. A Service added to the manifests folder must show up
// on the page within a second.

/** What a function run in the page uses of it (the test is compiled without the DOM types). */
interface PageGlobals {
  document: { querySelector(selector: string): unknown };
}

const validator = busValidator();

function tapRecord(sessionId: string): TapEvent {
  return {
    sessionId,
    namespace: 'shop',
    workload: 'web',
    identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    instance: 'web-1',
    startedAt: '2026-12-01T10:00:01.250Z',
    direction: 'inbound',
    method: 'GET',
    authority: 'web.shop.svc.cluster.local:80',
    path: '/api/cart',
    status: 200,
    latencyMs: 12,
    tls: true,
    peerIdentity: 'front.shop.serviceaccount.identity.meshbus.cluster.local',
    headers: {},
  };
}

/** One proxy interval of web's traffic: `ok` and `failed` inbound requests, and `ok` calls to api. */
function webSummary(intervalStart: Date, ok: number, failed: number): MetricsSummary {
  return {
    namespace: 'shop',
    workload: 'web',
    identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    instance: 'web-1',
    intervalStart: intervalStart.toISOString(),
    intervalMs: 10_000,
    latencyBoundsMs: [1, 5, 10, 50],
    requests: [
      { direction: 'inbound', authority: 'web.shop.svc.cluster.local:80', route: 'default', statusClass: 2, tls: true, success: ok, failure: 0, latency: [0, ok, 0, 0, 0] },
      { direction: 'inbound', authority: 'web.shop.svc.cluster.local:80', route: 'default', statusClass: 5, tls: true, success: 0, failure: failed, latency: [0, 0, failed, 0, 0] },
      { direction: 'outbound', authority: 'api.shop.svc.cluster.local:8080', route: 'default', statusClass: 2, tls: true, success: ok, failure: 0, latency: [0, 0, ok, 0, 0] },
    ],
    tcp: [],
  };
}

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function getStatus(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/view', headers: { host, origin: 'http://rebound.example' } }, (res) => {
      res.resume();
      if (Object.keys(res.headers).some((h) => h.startsWith('access-control-'))) reject(new Error('the dashboard sent CORS headers'));
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('meshbus dashboard in a browser', () => {
  const stack = new ResourceStack(silentLogger());
  let dir: string;
  let natsUrl: string;
  let browser: Browser;
  let dashboard: RunningProcess;
  let port: number;
  let responder: Awaited<ReturnType<typeof connectBus>>;

  beforeAll(async () => {
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`);
    dir = await mkdtemp(join(tmpdir(), 'meshbus-dashboard-'));
    stack.defer(null, () => rm(dir, { recursive: true, force: true }));
    await cp(join(repoRoot, 'examples/manifests'), join(dir, 'manifests'), { recursive: true });
    const nats = await startNats();
    stack.defer(nats, () => nats.stop());
    natsUrl = nats.url;
    responder = await connectBus({ servers: [nats.url], name: 'dashboard-tap-responder' }, silentLogger());
    stack.defer(null, () => responder.close());
    const env = { NATS_URL: nats.url, MESHBUS_ADMIN_ADDR: '127.0.0.1:0', MESHBUS_MANIFESTS_DIR: join(dir, 'manifests'), MESHBUS_LEASE_DURATION: '1s' };
    const destination = createDestinationService(destinationEnv({ ...env, MESHBUS_REPLICA_ID: 'destination-1' }), { logger: silentLogger() });
    stack.use(destination);
    await destination.start();
    const policy = createPolicyService(policyEnv({ ...env, MESHBUS_REPLICA_ID: 'policy-1' }), { logger: silentLogger() });
    stack.use(policy);
    await policy.start();
    port = await freePort('127.0.0.1');
    dashboard = runCli(['dashboard', '--port', String(port), '--nats-url', natsUrl], { cwd: dir });
    stack.defer(null, () => dashboard.stop(10_000));
    await waitFor(() => dashboard.output().includes('dashboard on'), { timeoutMs: 30_000 });
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    stack.defer(null, () => browser.close());
  }, 90_000);

  afterAll(async () => {
    await stack.disposeAll();
  }, 60_000);

  it('shows the services, golden metrics with a chart, policies and events, and a new Service within a second', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('[data-service="shop/web"]').waitFor({ timeout: 20_000 });
    await expect(page.locator('[data-service="shop/web"]').innerText()).resolves.toContain('127.0.0.11');
    await page.locator('#policies h3').first().waitFor({ timeout: 20_000 });

    // Golden metrics: web's proxy reports three intervals, as the gateway would publish them.
    const publisher = new JetStreamPublisher({ js: responder.jetstream(), validator, source: '/meshbus/gateway/dashboard-test' });
    const now = Date.now();
    for (const [ago, ok, failed] of [[40_000, 4, 0], [30_000, 9, 1], [20_000, 16, 0]] as const) {
      const summary = webSummary(new Date(now - ago), ok, failed);
      await publisher.publish('metricsSummary', subjects.metricsSummary('shop', 'web'), summary.identity, summary);
    }
    const webRow = page.locator('#metrics tr', { hasText: 'shop/web' }).first();
    await webRow.locator('svg.spark polyline').waitFor({ state: 'attached', timeout: 10_000 });
    // 29 of 30 requests succeeded.
    await expect(webRow.innerText()).resolves.toMatch(/^shop\/web\s+96\.7%\s+\d+\.\d\d\s+\d/);
    const points = (await webRow.locator('svg.spark polyline').getAttribute('points'))!.split(' ');
    expect(points.length).toBeGreaterThan(1);
    // The sparkline rises and falls with the requests per interval: not a flat line.
    expect(new Set(points.map((p) => p.split(',')[1])).size).toBeGreaterThan(1);
    const apiRow = page.locator('#metrics tr', { hasText: 'api.shop.svc.cluster.local:8080' }).first();
    await expect(apiRow.innerText()).resolves.toMatch(/100\.0%/);
    await expect(apiRow.locator('svg.spark polyline').count()).resolves.toBe(1);

    await appendFile(
      join(dir, 'manifests', 'web.yaml'),
      '---\napiVersion: v1\nkind: Service\nmetadata: {name: web-canary, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 81, targetPort: http}]\n',
    );
    const edited = performance.now();
    // Look every 10 ms: a locator's waitFor polls ever more slowly (up to every 500 ms and more), which would measure the test, not the page.
    await page.waitForFunction((selector) => (globalThis as unknown as PageGlobals).document.querySelector(selector) !== null, '[data-service="shop/web-canary"]', { polling: 10, timeout: 10_000 });
    const elapsed = performance.now() - edited;
    console.log(`dashboard: the new Service appeared on the page ${elapsed.toFixed(0)} ms after the manifest was edited`);
    await mkdir(join(repoRoot, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'test-artifacts', 'dashboard.png'), fullPage: true });
    expect(elapsed).toBeLessThan(1000);
  }, 60_000);

  it('taps a workload from the page: the request carries the filter, records show up, leaving stops the session', async () => {
    const tapRequests: TapRequest[] = [];
    const sub = responder.subscribe(subjects.allTapRequests, {
      callback: (_err, msg) => {
        const request = decodeEvent(msg.subject, msg.headers, msg.data, validator).data as TapRequest;
        tapRequests.push(request);
        if (request.action !== 'start' || tapRequests.filter((r) => r.sessionId === request.sessionId).length > 1) return;
        const subject = subjects.tapEvents(request.sessionId);
        const encoded = encodeEvent('tapEvent', subject, tapRecord(request.sessionId), { source: '/meshbus/gateway/test', subject: 'web' }, validator);
        responder.publish(subject, encoded.payload, { headers: encoded.headers });
      },
    });
    await responder.flush();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.locator('#tap-form').waitFor({ timeout: 20_000 });
      await page.locator('#tap-form input[name="workload"]').fill('shop/web');
      await page.locator('#tap-form input[name="path"]').fill('/api/');
      await page.locator('#tap-form input[name="method"]').fill('get');
      await page.locator('#tap-form button[type="submit"]').click();
      await page.locator('#tap .tap-record').first().waitFor({ timeout: 20_000 });
      const row = await page.locator('#tap .tap-record').first().innerText();
      for (const cell of ['10:00:01.250', 'in', 'GET', 'web.shop.svc.cluster.local:80', '/api/cart', '200', '12ms', 'shop/front → shop/web', 'tls']) expect(row).toContain(cell);
      await expect(page.locator('#tap-notice').innerText()).resolves.toMatch(/tapping shop\/web \(session [A-Za-z0-9_-]+\)|no record/);
      expect(tapRequests[0]).toMatchObject({ action: 'start', namespace: 'shop', workload: 'web', filter: { path: '/api/', method: 'GET' } });
      await page.locator('#tap').screenshot({ path: join(repoRoot, 'test-artifacts', 'dashboard-tap.png') });

      await page.close();
      await waitFor(() => tapRequests.some((r) => r.action === 'stop'), { what: 'the stop request once the page is gone', timeoutMs: 20_000 });
      expect(tapRequests.at(-1)).toMatchObject({ action: 'stop', sessionId: tapRequests[0]!.sessionId });
    } finally {
      sub.unsubscribe();
    }
  }, 60_000);

  it('refuses a tap without a workload', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/tap?workload=shop`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: expect.stringContaining('must be <namespace>/<workload>') as unknown });
  });

  it('refuses other Host headers and sends no CORS headers', async () => {
    expect(await getStatus(port, `127.0.0.1:${port}`)).toBe(200);
    expect(await getStatus(port, `rebound.example:${port}`)).toBe(403);
  });

  it('says so when the port is taken, and exits 2 on a bad flag', async () => {
    const taken = runCli(['dashboard', '--port', String(port), '--nats-url', natsUrl], { cwd: dir });
    expect((await taken.exited).code).toBe(1);
    expect(taken.output()).toContain(`port ${port} on 127.0.0.1 is taken`);
    const bad = runCli(['dashboard', '--port', 'seventy'], { cwd: dir });
    expect((await bad.exited).code).toBe(2);
    expect(bad.output()).toContain('--port');
  });
});
