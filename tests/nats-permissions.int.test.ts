import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { connect, RequestStrategy, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateClient } from '@meshbus/identity-client';
import { createIdentityService, envToConfig as identityEnv, type IdentityService } from '@meshbus/identity';
import type { DestinationService } from '@meshbus/destination';
import type { Gateway } from '@meshbus/gateway';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, natsAuthorizationConfig, waitFor, type NatsRole } from '@meshbus/testing';
import { destinationClient, EndpointWatcher, exampleManifests, repoRoot, startDestination, startGateway, startNats, type NatsCluster } from './harness.js';

const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });
const roles: NatsRole[] = ['destination', 'gateway', 'identity', 'workload', 'reader'];
const password = (role: NatsRole) => `${role}-pw-0123456789`;
const login = (role: NatsRole) => ({ NATS_USER: role, NATS_PASSWORD: password(role) });

/** A connection as `role` that records the permission violations the server reports. */
async function connectAs(url: string, role: NatsRole): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect({ servers: url, user: role, pass: password(role) });
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.permissionContext) violations.push(`${s.permissionContext.operation} ${s.permissionContext.subject}`);
  })();
  return { nc, violations };
}

describe('per-service NATS users with least-privilege permissions', () => {
  let nats: NatsCluster;
  let dir: string;
  let manifests: Awaited<ReturnType<typeof exampleManifests>>;
  let dst: DestinationService;
  let gw: Gateway;
  let idsvc: IdentityService;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-nats-perm-'));
    cli(['identity', 'init', '--dir', join(dir, 'identity')]);
    nats = await startNats({ authorization: natsAuthorizationConfig(roles.map((role) => ({ user: role, password: password(role), role }))) });
    manifests = await exampleManifests();
    // The gateway first: with its read-only user it waits for the streams a writer creates.
    gw = await startGateway(nats.url, { ...login('gateway'), MESHBUS_ENSURE_STREAMS: 'false' });
    dst = await startDestination(nats.url, manifests.dir, login('destination'));
    idsvc = createIdentityService(
      identityEnv({
        NATS_URL: nats.url,
        ...login('identity'),
        MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
        MESHBUS_IDENTITY_DIR: join(dir, 'identity'),
        MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'identity', 'token.pub'),
      }),
      { logger: silentLogger() },
    );
    await idsvc.start();
  }, 60_000);
  afterAll(async () => {
    for (const nc of conns) await nc.close();
    await gw?.[Symbol.asyncDispose]();
    await idsvc?.[Symbol.asyncDispose]();
    await dst?.[Symbol.asyncDispose]();
    await manifests?.[Symbol.asyncDispose]();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a client without a user', async () => {
    await expect(connect({ servers: nats.url })).rejects.toThrow(/Authorization Violation/i);
  });

  it('lets destination and gateway serve endpoints with their own users', async () => {
    await waitFor(async () => (await httpGet(`${dst.adminUrl}/ready`)).status === 200, { what: 'destination ready' });
    await waitFor(async () => (await httpGet(`${gw.adminUrl}/ready`)).status === 200, { what: 'gateway ready' });
    const client = destinationClient(gw.grpcPort);
    const w = new EndpointWatcher(client, 'web.shop.svc.cluster.local:80');
    try {
      await waitFor(() => w.addresses().length > 0, { what: 'web endpoints' });
      expect(w.addresses()).toContain('127.0.0.11:8080');
    } finally {
      w.cancel();
      client.close();
    }
  });

  it('lets the gateway forward a Certify that identity answers with its own user', async () => {
    await waitFor(() => idsvc.readiness().ready, { what: 'identity ready' });
    const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
    const token = cli(['identity', 'token', '--namespace', 'shop', '--service-account', 'web', '--key', join(dir, 'identity', 'token.key')]).trim();
    await using c = new CertificateClient({
      identity,
      tokenProvider: async () => Buffer.from(token),
      gateways: [`127.0.0.1:${gw.grpcPort}`],
      credentials: credentials.createInsecure(),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    expect((await c.start()).identity).toBe(identity);
  });

  it('lets the reader discover the identity service on the NATS services API', async () => {
    await waitFor(() => idsvc.readiness().ready, { what: 'identity ready' });
    const { nc, violations } = await connectAs(nats.url, 'reader');
    conns.push(nc);
    const pings = [];
    for await (const ping of await nc.services.client({ strategy: RequestStrategy.Timer, maxWait: 1000 }).ping('meshbus-identity')) pings.push(ping);
    expect(pings.map((p) => p.name)).toEqual(['meshbus-identity']);
    expect(violations).toEqual([]);
  });

  it('keeps the reader read-only: it follows the streams but cannot publish state nor delete or purge a stream', async () => {
    const { nc, violations } = await connectAs(nats.url, 'reader');
    conns.push(nc);
    const jsm = await nc.jetstreamManager({ timeout: 2000 });
    expect((await jsm.streams.info('MESHBUS_STATE')).state.messages).toBeGreaterThan(0);

    nc.publish('meshbus.v1.state.endpoints.x.y.80', new Uint8Array());
    await waitFor(() => violations.includes('publish meshbus.v1.state.endpoints.x.y.80'), { what: 'publish refused' });
    await expect(jsm.streams.delete('MESHBUS_STATE')).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.MESHBUS_STATE"/);
    await expect(jsm.streams.purge('MESHBUS_STATE')).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.PURGE\.MESHBUS_STATE"/);
    expect((await jsm.streams.info('MESHBUS_STATE')).state.messages).toBeGreaterThan(0);
  });

  it('keeps the gateway and the workload off state they do not own', async () => {
    const gateway = await connectAs(nats.url, 'gateway');
    const workload = await connectAs(nats.url, 'workload');
    conns.push(gateway.nc, workload.nc);
    gateway.nc.publish('meshbus.v1.state.endpoints.shop.web.80', new Uint8Array());
    await waitFor(() => gateway.violations.includes('publish meshbus.v1.state.endpoints.shop.web.80'), { what: 'gateway publish refused' });
    await expect(workload.nc.jetstream().publish('meshbus.v1.state.endpoints.shop.web.80', new Uint8Array(), { timeout: 2000 })).rejects.toThrow(
      /Permissions Violation for Publish to "meshbus.v1.state.endpoints.shop.web.80"/,
    );
  });
});
