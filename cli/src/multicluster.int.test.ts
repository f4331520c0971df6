import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, streams, subjects } from '@meshbus/bus-schemas';
import { leafnodeListenConfig, leafnodeRemotesConfig, linkUser, natsAuthorizationConfig } from '@meshbus/local-nats';
import { createMulticlusterService, envToConfig, type MulticlusterService } from '@meshbus/multicluster-service';
import { silentLogger } from '@meshbus/runtime';
import { freePort, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { jsonLines, runCli } from './cli-process.js';

// Two meshes on their own nats-servers joined by a leaf node, each with a real multicluster
// service logging in with the generated multicluster role; the CLI runs as a process on west's
// bus with west's reader login, which names the link to east.

const webIdentity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const services = (name: string, exported: boolean) => `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop, labels: { app: ${name}${exported ? ', mirror.meshbus.io/exported: "true"' : ''} } }
spec: { selector: { app: ${name} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`;

describe('meshbus multicluster on two linked meshes', () => {
  let east: NatsCluster;
  let west: NatsCluster;
  let eastNc: NatsConnection;
  let eastService: MulticlusterService;
  let westService: MulticlusterService;
  let dirs: string[] = [];
  const cliEnv = () => ({ NATS_URL: west.url, NATS_USER: 'reader', NATS_PASSWORD: 'reader-pw' });

  beforeAll(async () => {
    const leafPort = await freePort();
    const admin = { user: 'admin', password: 'admin-pw', permissions: { publish: ['>'], subscribe: ['>'] } };
    const mc = { user: 'multicluster', password: 'mc-pw', role: 'multicluster' as const };
    east = await startNats({ jetstreamDomain: 'east', authorization: natsAuthorizationConfig([mc], [admin, linkUser('east', 'west', 'link-pw')]), extraConfig: leafnodeListenConfig('127.0.0.1', leafPort) });
    west = await startNats({
      jetstreamDomain: 'west',
      authorization: natsAuthorizationConfig([{ ...mc, links: ['east'] }, { user: 'reader', password: 'reader-pw', role: 'reader', links: ['east'] }], [admin]),
      extraConfig: leafnodeRemotesConfig([{ url: `nats-leaf://127.0.0.1:${leafPort}`, user: 'link-west', password: 'link-pw' }]),
    });
    eastNc = await connect({ servers: east.url, user: 'admin', pass: 'admin-pw' });
    const eastManifests = await mkdtemp(path.join(tmpdir(), 'meshbus-mccli-east-'));
    const westManifests = await mkdtemp(path.join(tmpdir(), 'meshbus-mccli-west-'));
    dirs = [eastManifests, westManifests];
    await writeFile(path.join(eastManifests, 'services.yaml'), services('web', true));
    await writeFile(path.join(westManifests, 'services.yaml'), services('front', false));
    await ensureStreams(await eastNc.jetstreamManager());
    const destination = new JetStreamPublisher({ js: eastNc.jetstream(), validator: busValidator(), source: '/meshbus/destination/test' });
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', {
      namespace: 'shop',
      service: 'web',
      port: 80,
      endpoints: [{ address: '10.1.1.1', port: 8080, weight: 10000, identity: webIdentity }],
    });
    const env = (cluster: string, url: string, manifests: string, extra: Record<string, string>) =>
      envToConfig({ MESHBUS_CLUSTER_NAME: cluster, NATS_URL: url, NATS_USER: 'multicluster', NATS_PASSWORD: 'mc-pw', MESHBUS_MANIFESTS_DIR: manifests, MESHBUS_ADMIN_ADDR: '127.0.0.1:0', MESHBUS_REPLICA_ID: `multicluster-${cluster}-1`, MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL: '500ms', MESHBUS_MULTICLUSTER_GRACE: '4s', MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms', ...extra });
    eastService = createMulticlusterService(env('east', east.url, eastManifests, { MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: '10.1.0.9:4180' }), { logger: silentLogger() });
    westService = createMulticlusterService(env('west', west.url, westManifests, { MESHBUS_MULTICLUSTER_LINKS: 'east' }), { logger: silentLogger() });
    await eastService.start();
    await westService.start();
    await waitFor(async () => westService.links[0]?.health === 'live' && westService.links[0].mirrored === 1, { what: 'the link to east to be live', timeoutMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await westService?.[Symbol.asyncDispose]();
    await eastService?.[Symbol.asyncDispose]();
    await eastNc?.close();
    await west?.stop();
    await east?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('check: east is live with one mirrored service, exit code 0', async () => {
    // The live event is published right after the mirror: wait until the CLI sees both.
    let last = '';
    await waitFor(
      async () => {
        const cli = runCli(['multicluster', 'check', '--json'], { cwd: dirs[1]!, env: cliEnv() });
        const { code } = await cli.exited;
        last = cli.output();
        return code === 0;
      },
      { what: 'check to pass', timeoutMs: 15_000 },
    ).catch(() => {
      throw new Error(`meshbus multicluster check kept failing:\n${last}`);
    });
    expect(jsonLines(last)).toEqual([expect.objectContaining({ cluster: 'east', health: 'live', mirrored: 1, ready: 1, sourceLag: 0 })]);
    const table = runCli(['multicluster', 'check'], { cwd: dirs[1]!, env: cliEnv() });
    expect((await table.exited).code).toBe(0);
    expect(table.output(), table.output()).toMatch(/^CLUSTER\s+HEALTH\s+HEARTBEAT\s+MIRRORED\s+READY\s+SOURCE\neast\s+live\s+\d+\.\ds\s+1\s+1\s+lag 0, active/m);
  });

  it("gateways: lists east's gateway heartbeat as it came over the link", async () => {
    const cli = runCli(['multicluster', 'gateways', '--json'], { cwd: dirs[1]!, env: cliEnv() });
    expect((await cli.exited).code, cli.output()).toBe(0);
    expect(jsonLines(cli.output())).toEqual([
      expect.objectContaining({ cluster: 'east', seenIn: 'MESHBUS_LINK_EAST', addresses: [{ address: '10.1.0.9', port: 4180 }], identity: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local' }),
    ]);
    // East's own heartbeat, in its exports.
    const own = runCli(['multicluster', 'gateways'], { cwd: dirs[0]!, env: { NATS_URL: east.url, NATS_USER: 'admin', NATS_PASSWORD: 'admin-pw' } });
    expect((await own.exited).code, own.output()).toBe(0);
    expect(own.output()).toMatch(/^east\s+local\s+10\.1\.0\.9:4180\s+multicluster-gateway\./m);
  });

  it("check: exit code 1 once east's bus is gone and the link turns quiet", async () => {
    await east.kill(0);
    let last = '';
    await waitFor(
      async () => {
        const cli = runCli(['multicluster', 'check'], { cwd: dirs[1]!, env: cliEnv() });
        const { code } = await cli.exited;
        last = cli.output();
        return code === 1;
      },
      { what: 'check to fail', timeoutMs: 20_000 },
    );
    expect(last).toMatch(/^east\s+(quiet|gone)\s/m);
    expect(last).toMatch(/link to east is (quiet|gone): no heartbeat from east for /);
  });

  it('unlink: prints the plan without --yes, refuses the reader, deletes the stream with a login that may', async () => {
    const dry = runCli(['multicluster', 'unlink', '--name', 'east', '--local', 'west'], { cwd: dirs[1]!, env: cliEnv() });
    expect((await dry.exited).code).toBe(0);
    expect(dry.output()).toContain('would delete stream MESHBUS_LINK_EAST (run again with --yes)');
    const refused = runCli(['multicluster', 'unlink', '--name', 'east', '--yes'], { cwd: dirs[1]!, env: cliEnv() });
    expect((await refused.exited).code).toBe(2);
    expect(refused.output()).toContain('could not delete MESHBUS_LINK_EAST');
    const bad = runCli(['multicluster', 'unlink', '--name', 'East!'], { cwd: dirs[1]!, env: cliEnv() });
    expect((await bad.exited).code).toBe(2);

    await westService[Symbol.asyncDispose]();
    const done = runCli(['multicluster', 'unlink', '--name', 'east', '--yes'], { cwd: dirs[1]!, env: { ...cliEnv(), NATS_USER: 'admin', NATS_PASSWORD: 'admin-pw' } });
    expect((await done.exited).code, done.output()).toBe(0);
    expect(done.output()).toContain('deleted stream MESHBUS_LINK_EAST');
    const westNc = await connect({ servers: west.url, user: 'admin', pass: 'admin-pw' });
    try {
      await expect((await westNc.jetstreamManager()).streams.info('MESHBUS_LINK_EAST')).rejects.toThrow(/not found/);
      expect((await (await westNc.jetstreamManager()).streams.info(streams.state.name)).config.name).toBe('MESHBUS_STATE');
    } finally {
      await westNc.close();
    }
    const none = runCli(['multicluster', 'check'], { cwd: dirs[1]!, env: cliEnv() });
    expect((await none.exited).code).toBe(0);
    expect(none.output()).toContain('no linked clusters');
  });
});
