import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '@meshbus/runtime';
import { waitFor } from '@meshbus/testing';
import { createIssuer, createTrustAnchor, createWorkloadToken, writeTrustMaterial } from '@meshbus/trust';
import { startMesh, type Mesh } from '../../../tests/harness.js';
import { proxyConfigFromEnv } from './config.js';
import { ControlClient, type ControlClientOptions } from './control-client.js';
import { ControlMetrics } from './control-metrics.js';
import { createCertificateClient } from './identity.js';
import { ProxyAdmin, proxyReadiness } from './proxy-admin.js';

const apiPath = 'api.shop.svc.cluster.local:8080';
const apiIdentity = 'api.shop.serviceaccount.identity.meshbus.cluster.local';
const workload = '{"ns":"shop","name":"api-1"}';

describe('the proxy control clients against a real control plane', () => {
  let mesh: Mesh;
  let dir: string;
  let token: string;
  const clients: ControlClient[] = [];
  const fast: Partial<ControlClientOptions> = { backoff: { initialMs: 20, maxMs: 200 }, credentials: credentials.createInsecure() };
  const address = (i: number) => `127.0.0.1:${mesh.gateways[i]!.grpcPort}`;
  const client = (options: Partial<ControlClientOptions> & { gateways: string[] }) => {
    const c = new ControlClient({ workload, credentials: credentials.createInsecure(), ...fast, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-control-'));
    const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
    const anchor = createTrustAnchor({ commonName: 'root.meshbus.cluster.local', validity });
    const issuer = createIssuer({ anchor, commonName: 'identity.meshbus.cluster.local', validity });
    await writeTrustMaterial(join(dir, 'identity'), { anchor, issuer });
    const tokenKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'identity', 'token.pub'), tokenKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    token = createWorkloadToken({ namespace: 'shop', serviceAccount: 'api', audience: 'identity.meshbus.io', expiresAt: new Date(Date.now() + 3_600_000) }, tokenKeys.privateKey);
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: 2, identityDir: join(dir, 'identity') });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  it('DestinationWatch gets the endpoints with their TLS identity and follows a change', async () => {
    const control = client({ gateways: [address(0)] });
    const watch = control.destination(apiPath);
    await waitFor(() => watch.current?.endpoints.size === 2, { what: 'both api endpoints', timeoutMs: 15_000 });
    expect([...watch.current!.endpoints.keys()].sort()).toEqual(['127.0.0.21:8080', '127.0.0.22:8080']);
    const endpoint = watch.current!.endpoints.get('127.0.0.21:8080')!;
    expect(endpoint.tlsIdentity).toBe(apiIdentity);
    expect(watch.current!.exists).toBe(true);
    expect(watch.gateway).toBe(address(0));

    const file = join(mesh.manifestsDir!, 'api.yaml');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('address: 127.0.0.22', 'address: 127.0.0.23'));
    try {
      await waitFor(() => watch.current?.endpoints.has('127.0.0.23:8080') && !watch.current.endpoints.has('127.0.0.22:8080'), { what: 'the moved endpoint', timeoutMs: 15_000 });
    } finally {
      await writeFile(file, original);
    }
    await waitFor(() => watch.current?.endpoints.has('127.0.0.22:8080'), { what: 'the endpoint back', timeoutMs: 15_000 });
    await watch.close();
    expect(control.openWatches).toBe(0);
  });

  it('shares one stream between two users of the same watch', async () => {
    const control = client({ gateways: [address(0)] });
    const a = control.destination(apiPath);
    const b = control.destination(apiPath);
    expect(control.openWatches).toBe(1);
    await a.first();
    expect(b.current).toBe(a.current);
    await a.close();
    expect(control.openWatches).toBe(1);
    await b.close();
    expect(control.openWatches).toBe(0);
  });

  it('InboundPolicyWatch gets the server of the port', async () => {
    const control = client({ gateways: [address(1)] });
    const server = await control.inboundPolicy(8080).first();
    expect(server.protocol?.kind).toBeDefined();
    expect(Object.keys(server.labels).length).toBeGreaterThan(0);
  });

  it('OutboundPolicyWatch gets the policy of a service, and says when the control plane does not know a target', async () => {
    const control = client({ gateways: [address(0)] });
    const known = await control.outboundPolicy({ authority: apiPath }).first();
    expect(known.kind).toBe('policy');
    const unknown = await control.outboundPolicy({ authority: 'www.example.com:443' }).first();
    expect(unknown).toEqual({ kind: 'unknown' });
  });

  it('ProfileWatch gets the routes of the ServiceProfile', async () => {
    const control = client({ gateways: [address(0)] });
    const profile = await control.profile(apiPath).first();
    expect(profile.fullyQualifiedName).toBe('api.shop.svc.cluster.local');
    expect(profile.routes.map((r) => r.metricsLabels.route)).toContain('ListProducts');
  });

  it('reopens a quiet stream after the idle timeout', async () => {
    const registry = new Registry();
    const control = client({
      gateways: [address(0)],
      limits: { idleTimeoutMs: 300, maxLifetimeMs: 60_000, lifetimeJitter: 0, initialTimeoutMs: 3_000 },
      observer: new ControlMetrics(registry),
    });
    const watch = control.inboundPolicy(8080);
    await watch.first();
    await waitFor(() => watch.streamsOpened >= 3, { what: 'three streams', timeoutMs: 10_000 });
    expect(watch.current).toBeDefined();
    expect(await registry.metrics()).toMatch(/control_stream_reconnects_total\{api="inbound",reason="idle"\} [2-9]/);
  });

  it('reopens a stream at its maximum lifetime, on the next gateway, keeping its state', async () => {
    const registry = new Registry();
    const metrics = new ControlMetrics(registry);
    const control = client({
      gateways: [address(0), address(1)],
      limits: { idleTimeoutMs: 60_000, maxLifetimeMs: 700, lifetimeJitter: 0.2, initialTimeoutMs: 3_000 },
      observer: metrics,
      random: () => 0,
    });
    const watch = control.destination(apiPath);
    await watch.first();
    const seen = new Set<string>();
    let lost = false;
    watch.on('connected', (g) => seen.add(g));
    watch.on('disconnected', () => (lost ||= watch.current === undefined));
    await waitFor(() => watch.streamsOpened >= 4, { what: 'four streams', timeoutMs: 10_000 });
    expect(seen).toEqual(new Set([address(0), address(1)]));
    expect(lost).toBe(false);
    expect(watch.current?.endpoints.size).toBe(2);
    const text = await registry.metrics();
    expect(text).toMatch(/control_stream_reconnects_total\{api="destination",reason="lifetime"\} [3-9]/);
  });

  it('moves the watches to the other gateway when one stops, and serves the last state meanwhile', async () => {
    const spare = await mesh.add('gateway');
    const spareAddress = `127.0.0.1:${spare.grpcPort}`;
    const registry = new Registry();
    const metrics = new ControlMetrics(registry);
    const control = client({ gateways: [spareAddress, address(1)], observer: metrics, random: () => 0 });
    const destination = control.destination(apiPath);
    const inbound = control.inboundPolicy(8080);
    await Promise.all([destination.first(), inbound.first()]);
    expect([destination.gateway, inbound.gateway]).toEqual([spareAddress, spareAddress]);
    expect(await registry.metrics()).toContain(`control_streams{api="destination",gateway="${spareAddress}"} 1`);
    const kept = { endpoints: destination.current, server: inbound.current };
    const states: unknown[] = [];
    destination.on('disconnected', () => states.push(destination.current));

    await spare[Symbol.asyncDispose]();
    await waitFor(() => destination.gateway === address(1) && inbound.gateway === address(1), { what: 'watches on the other gateway', timeoutMs: 15_000 });
    expect(states.length).toBeGreaterThan(0);
    expect(states.every((s) => s === kept.endpoints)).toBe(true);
    expect([...destination.current!.endpoints.keys()].sort()).toEqual([...kept.endpoints!.endpoints.keys()].sort());
    expect(inbound.current).toEqual(kept.server);
    const text = await registry.metrics();
    expect(text).toContain(`control_streams{api="destination",gateway="${address(1)}"} 1`);
    expect(text).toContain(`control_streams{api="destination",gateway="${spareAddress}"} 0`);
    expect(text).toMatch(/control_stream_reconnects_total\{api="inbound",reason="(ended|error)"\} \d/);
  });

  it('keeps the last state while no gateway answers', async () => {
    const lone = await mesh.add('gateway');
    const registry = new Registry();
    const control = client({ gateways: [`127.0.0.1:${lone.grpcPort}`], observer: new ControlMetrics(registry) });
    const watch = control.destination(apiPath);
    const kept = await watch.first();
    let failures = 0;
    watch.on('disconnected', () => failures++);
    await lone[Symbol.asyncDispose]();
    await waitFor(() => failures >= 3, { what: 'failed reconnects', timeoutMs: 10_000 });
    expect(watch.gateway).toBeUndefined();
    expect(watch.current).toBe(kept);
    expect(await registry.metrics()).toContain('control_stale_watches{api="destination"} 1');
  });

  it('the admin server is ready only once the certificate is held and the inbound policies are received', async () => {
    const config = proxyConfigFromEnv({
      MESHBUS_PROXY_GATEWAYS: `${address(0)},${address(1)}`,
      MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
      MESHBUS_PROXY_NAMESPACE: 'shop',
      MESHBUS_PROXY_WORKLOAD_NAME: 'api-1',
      MESHBUS_PROXY_SERVICE_ACCOUNT: 'api',
      MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'identity', 'ca.crt'),
      MESHBUS_PROXY_IDENTITY_TOKEN: token,
      MESHBUS_PROXY_INBOUND_PORTS: '8080',
      MESHBUS_PROXY_ADMIN_ADDR: '127.0.0.1:0',
    });
    const certificates = createCertificateClient(config, { backoff: { initialMs: 20, maxMs: 200 } });
    const control = client({ gateways: [...config.gateways], workload: config.workload.workloadRef });
    const inbound = new Map(config.inboundPorts.map((p) => [p, control.inboundPolicy(p)] as const));
    const registry = new Registry();
    new ControlMetrics(registry, { certificate: certificates });
    let shutdowns = 0;
    await using admin = new ProxyAdmin({ port: 0, registry, readiness: () => proxyReadiness({ certificate: certificates, inboundPolicies: inbound }).evaluate(), onShutdown: () => shutdowns++ });
    await admin.start();
    const get = async (path: string, init?: RequestInit) => {
      const r = await fetch(`${admin.url}${path}`, init);
      return { status: r.status, body: await r.text() };
    };

    expect(await get('/live')).toEqual({ status: 200, body: 'live\n' });
    await inbound.get(8080)!.first();
    expect(await get('/ready')).toEqual({ status: 503, body: 'not ready: no identity certificate yet\n' });
    expect((await get('/metrics')).body).toContain('identity_cert_expiry_seconds 0\n');

    try {
      const cert = await certificates.start();
      expect(cert.identity).toBe(apiIdentity);
      expect(await get('/ready')).toEqual({ status: 200, body: 'ready\n' });
      const metrics = (await get('/metrics')).body;
      const left = Number(/^identity_cert_expiry_seconds (\S+)$/m.exec(metrics)?.[1]);
      expect(left).toBeGreaterThan(86_000);
      expect(left).toBeLessThanOrEqual(86_460);

      expect((await get('/shutdown')).status).toBe(405);
      expect(shutdowns).toBe(0);
      expect(await get('/shutdown', { method: 'POST' })).toEqual({ status: 202, body: 'shutting down\n' });
      await get('/shutdown', { method: 'POST' });
      expect(shutdowns).toBe(1);
      expect((await get('/nothing')).status).toBe(404);
    } finally {
      await certificates[Symbol.asyncDispose]();
    }
  });
});
