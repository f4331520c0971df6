import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRegistrationTransport, StreamReader, type BusEvent } from '@meshbus/bus';
import { busValidator, streams, subjects } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { createWorkloadToken } from '@meshbus/trust';
import type { destination } from '@meshbus/proxy-api';
import { httpGet, waitFor } from '@meshbus/testing';
import type { DestinationService } from '@meshbus/destination';
import type { Gateway } from '@meshbus/gateway';
import { destinationClient, EndpointWatcher, startMesh, type Mesh } from './harness.js';

const web = 'web.shop.svc.cluster.local:80';

describe('service discovery end to end: manifests → destination → NATS → gateway → Destination.Get', () => {
  let mesh: Mesh;
  let manifests: { dir: string };
  let dst: DestinationService;
  let gw: Gateway;
  let client: ReturnType<typeof destinationClient>;
  const events: BusEvent[] = [];
  let nc: NatsConnection;

  const tokenKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  beforeAll(async () => {
    const keyDir = await mkdtemp(join(tmpdir(), 'meshbus-discovery-'));
    await writeFile(join(keyDir, 'token.pub'), tokenKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    mesh = await startMesh({ destination: true, gateway: true, env: { destination: { MESHBUS_TOKEN_PUBLIC_KEY: join(keyDir, 'token.pub') } } });
    mesh.defer(() => rm(keyDir, { recursive: true, force: true }));
    ({ destination: dst, gateway: gw } = mesh);
    manifests = { dir: mesh.manifestsDir! };
    const grpc = destinationClient(gw.grpcPort);
    client = grpc;
    mesh.defer(() => grpc.close());
    nc = await mesh.connect();
    const reader = new StreamReader({ nc, stream: streams.events.name, filter: subjects.allEvents, validator: busValidator(), logger: silentLogger(), onEvent: (e) => events.push(e) });
    await reader.start();
    mesh.defer(() => reader.stop());
  });
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
  });

  it('serves health endpoints once synced', async () => {
    await waitFor(async () => (await httpGet(`${gw.adminUrl}/ready`)).status === 200, { what: 'gateway ready' });
    await waitFor(async () => (await httpGet(`${dst.adminUrl}/ready`)).status === 200, { what: 'destination ready' });
    expect((await httpGet(`${gw.adminUrl}/live`)).status).toBe(200);
    // A follower is ready too: the only replica takes the lease soon after, not necessarily before.
    await waitFor(async () => (await httpGet(`${dst.adminUrl}/metrics`)).body.includes('meshbus_destination_leader{service="destination"} 1'), { what: 'the only destination replica leads' });
  });

  it('lets an operator read and change the log level of a running service over its admin server', async () => {
    const put = (body: string) => fetch(`${gw.adminUrl}/log-level`, { method: 'PUT', body }).then(async (r) => ({ status: r.status, body: await r.text() }));
    expect(await httpGet(`${gw.adminUrl}/log-level`)).toEqual({ status: 200, body: 'silent\n' });
    // error, not debug: the test's own output stays quiet.
    expect(await put('error')).toEqual({ status: 200, body: 'error\n' });
    expect(await httpGet(`${gw.adminUrl}/log-level`)).toEqual({ status: 200, body: 'error\n' });
    expect(await httpGet(`${dst.adminUrl}/log-level`)).toEqual({ status: 200, body: 'silent\n' });
    const bad = await put('loud');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('unknown log level "loud": send one of fatal, error, warn, info, debug, trace, silent');
    expect(await httpGet(`${gw.adminUrl}/log-level`)).toEqual({ status: 200, body: 'error\n' });
    expect(await put('silent')).toEqual({ status: 200, body: 'silent\n' });
  });

  it('streams the ready endpoints with identity, protocol hint and labels, then changes within a second', async () => {
    const w = new EndpointWatcher(client, web);
    await waitFor(() => w.updates.length > 0, { what: 'first update' });
    const first = w.updates[0]!.update;
    expect(first?.$case).toBe('add');
    // web-2 is not ready; web-1 is meshed; web-legacy is not.
    expect(w.addresses()).toEqual(['127.0.0.11:8080', '127.0.0.13:8080']);
    const meshed = w.endpoints.get('127.0.0.11:8080')!;
    expect(meshed.tlsIdentity?.strategy).toEqual({ $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'web.shop.serviceaccount.identity.meshbus.cluster.local' } });
    expect(meshed.protocolHint?.protocol?.$case).toBe('h2');
    expect(meshed.weight).toBe(10000);
    expect(meshed.metricLabels).toMatchObject({ workload: 'web-1', serviceaccount: 'web', zone: 'zone-a' });
    expect(meshed.resourceRef?.kind).toEqual({ $case: 'resource', resource: { group: 'meshbus.io', kind: 'Workload', name: 'web-1', namespace: 'shop', section: '', port: 0 } });
    const legacy = w.endpoints.get('127.0.0.13:8080')!;
    expect(legacy.tlsIdentity).toBeUndefined();
    expect(legacy.weight).toBe(5000);
    if (first?.$case === 'add') expect(first.add.metricLabels).toMatchObject({ namespace: 'shop', service: 'web' });

    // web-2 becomes ready and web-1 moves: one file edit.
    const file = join(manifests.dir, 'web.yaml');
    const text = await readFile(file, 'utf8');
    const started = Date.now();
    await writeFile(file, text.replace('  ready: false\n', '').replace('address: 127.0.0.11', 'address: 127.0.0.21'));
    await waitFor(() => w.addresses().join() === ['127.0.0.12:8080', '127.0.0.13:8080', '127.0.0.21:8080'].join(), { what: 'edited endpoints', timeoutMs: 5000 });
    expect(Date.now() - started).toBeLessThan(1000);
    const kinds = w.updates.slice(1).map((u) => u.update?.$case);
    expect(kinds).toContain('remove');
    expect(kinds).toContain('add');
    w.cancel();
  });

  it('answers no_endpoints for unknown services, and follows them into existence', async () => {
    const w = new EndpointWatcher(client, 'late.shop.svc.cluster.local:9000');
    await waitFor(() => w.exists === false, { what: 'no_endpoints exists=false' });
    await writeFile(
      join(manifests.dir, 'late.yaml'),
      [
        'apiVersion: v1\nkind: Service\nmetadata: {name: late, namespace: shop}\nspec:\n  selector: {app: late}\n  ports: [{port: 9000}]',
        'apiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: {name: late-1, namespace: shop, labels: {app: late}}\nspec:\n  address: 127.0.0.40\n  ports: [{port: 9000}]',
      ].join('\n---\n'),
    );
    await waitFor(() => w.addresses().join() === '127.0.0.40:9000', { what: 'late service endpoints' });
    w.cancel();
  });

  it('streams service profiles: routes, timeouts, retry budget; a default profile for services without one', async () => {
    const profiles: destination.DestinationProfile[] = [];
    const call = client.getProfile({ scheme: 'k8s', path: 'api.shop.svc.cluster.local:8080', contextToken: '' });
    call.on('data', (p: destination.DestinationProfile) => profiles.push(p));
    call.on('error', () => undefined);
    await waitFor(() => profiles.length > 0, { what: 'profile' });
    const p = profiles[0]!;
    expect(p.fullyQualifiedName).toBe('api.shop.svc.cluster.local');
    expect(p.routes.map((r) => r.metricsLabels.route)).toEqual(['ListProducts', 'PlaceOrder']);
    expect(p.routes[0]!.isRetryable).toBe(true);
    expect(p.routes[0]!.timeout).toEqual({ seconds: 0n, nanos: 300_000_000 });
    expect(p.routes[1]!.responseClasses[0]!.isFailure).toBe(true);
    expect(p.retryBudget?.retryRatio).toBeCloseTo(0.2, 5);
    expect(p.retryBudget?.minRetriesPerSecond).toBe(10);
    expect(p.retryBudget?.ttl).toEqual({ seconds: 10n, nanos: 0 });
    expect(p.parentRef?.kind).toEqual({ $case: 'resource', resource: { group: 'core', kind: 'Service', name: 'api', namespace: 'shop', section: '', port: 8080 } });
    expect(p.profileRef?.kind).toEqual({
      $case: 'resource',
      resource: { group: 'linkerd.io', kind: 'ServiceProfile', name: 'api.shop.svc.cluster.local', namespace: 'shop', section: '', port: 0 },
    });
    call.cancel();

    const plain: destination.DestinationProfile[] = [];
    const call2 = client.getProfile({ scheme: 'k8s', path: 'web.shop.svc.cluster.local:80', contextToken: '' });
    call2.on('data', (x: destination.DestinationProfile) => plain.push(x));
    call2.on('error', () => undefined);
    await waitFor(() => plain.length > 0, { what: 'default profile' });
    expect(plain[0]!.routes).toEqual([]);
    expect(plain[0]!.fullyQualifiedName).toBe('web.shop.svc.cluster.local');
    expect(plain[0]!.parentRef?.kind).toEqual({ $case: 'resource', resource: { group: 'core', kind: 'Service', name: 'web', namespace: 'shop', section: '', port: 80 } });
    expect(plain[0]!.profileRef).toBeUndefined();
    call2.cancel();
  });

  it('refuses malformed paths with INVALID_ARGUMENT', async () => {
    for (const path of ['web.shop:80', 'web.shop.svc.cluster.local:99999', 'a.b.c.svc.cluster.local:80', '']) {
      const w = new EndpointWatcher(client, path);
      await waitFor(() => w.error, { what: `error for ${path}` });
      expect(w.error?.code, path).toBe(status.INVALID_ARGUMENT);
    }
  });

  it('keeps what was valid when a manifest breaks, and reports the problem on the bus', async () => {
    const w = new EndpointWatcher(client, web);
    await waitFor(() => w.endpoints.size > 0, { what: 'current endpoints' });
    const before = w.addresses();
    const file = join(manifests.dir, 'web.yaml');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good + '\n---\n: this is [not yaml\n');
    await waitFor(() => events.find((e) => e.kind === 'manifestRejected' && (e.data as { file: string }).file === 'web.yaml'), { what: 'manifest.rejected event' });
    await new Promise((r) => setTimeout(r, 300));
    expect(w.addresses()).toEqual(before);
    await writeFile(file, good);
    w.cancel();
  });

  it('adds workloads registered through the destination replicas and removes them when heartbeats stop', async () => {
    const w = new EndpointWatcher(client, web);
    await waitFor(() => w.endpoints.size > 0, { what: 'current endpoints' });
    const transport = new NatsRegistrationTransport({ nc, source: '/test/vm' });
    const token = createWorkloadToken({ namespace: 'shop', serviceAccount: 'web', audience: 'identity.meshbus.io', expiresAt: new Date(Date.now() + 3_600_000) }, tokenKeys.privateKey);
    await waitFor(() => dst.isLeader, { what: 'destination leader' });
    await transport.request('workloadRegisterRequest', {
      token,
      registration: {
        namespace: 'shop',
        name: 'vm-7',
        address: '127.0.0.77',
        ports: [{ name: 'http', port: 8080 }],
        labels: { app: 'web' },
        serviceAccount: 'web',
        heartbeatIntervalMs: 200,
      },
    });
    await waitFor(() => w.endpoints.has('127.0.0.77:8080'), { what: 'registered workload' });
    // No more heartbeats: gone after three intervals.
    await waitFor(() => !w.endpoints.has('127.0.0.77:8080'), { what: 'expired workload', timeoutMs: 5000 });
    await waitFor(() => events.find((e) => e.kind === 'workloadExpired'), { what: 'workload.expired event' });
    w.cancel();
  });
});
