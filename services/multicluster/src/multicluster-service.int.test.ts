import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher, ensureStreams } from '@meshbus/bus';
import { busValidator, streams, subjects } from '@meshbus/bus-schemas';
import { leafnodeListenConfig, leafnodeRemotesConfig, linkUser, natsAuthorizationConfig } from '@meshbus/local-nats';
import { silentLogger } from '@meshbus/runtime';
import { freePort, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { createMulticlusterService } from './composition-root.js';
import { envToConfig } from './config.js';
import type { MulticlusterService } from './multicluster-service.js';

// Two meshes on their own nats-servers, joined by a leaf node with the link login, each with a
// multicluster service reading a real manifests folder: east exports, west mirrors.

const webIdentity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const services = (exported: boolean) => `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop, labels: { app: web${exported ? ', mirror.meshbus.io/exported: "true"' : ''} } }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: api }, ports: [{ port: 8080 }] }
`;

async function lastData(nc: NatsConnection, stream: string, subject: string): Promise<{ type: string; data: Record<string, unknown> | undefined } | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return { type: m.header.get('ce-type'), data: m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>) };
  } catch {
    return undefined;
  }
}

describe('the multicluster service of two linked meshes', () => {
  let east: NatsCluster;
  let west: NatsCluster;
  let eastNc: NatsConnection;
  let westNc: NatsConnection;
  let eastService: MulticlusterService;
  let westService: MulticlusterService;
  let dirs: string[] = [];
  let eastManifests: string;
  let startedAt = 0;
  const mirrorSubject = subjects.mirroredService('shop', 'web-east');

  const writeServices = async (exported: boolean) => {
    const file = path.join(eastManifests, 'services.yaml');
    await writeFile(`${file}.tmp`, services(exported));
    await rename(`${file}.tmp`, file);
  };
  const mirror = () => lastData(westNc, streams.state.name, mirrorSubject);

  beforeAll(async () => {
    const leafPort = await freePort();
    const admin = { user: 'admin', password: 'admin-pw', permissions: { publish: ['>'], subscribe: ['>'] } };
    // The services log in with the generated multicluster role; west's login names its link.
    east = await startNats({
      jetstreamDomain: 'east',
      authorization: natsAuthorizationConfig([{ user: 'multicluster', password: 'mc-pw', role: 'multicluster' }], [admin, linkUser('east', 'west', 'link-pw')]),
      extraConfig: leafnodeListenConfig('127.0.0.1', leafPort),
    });
    west = await startNats({
      jetstreamDomain: 'west',
      authorization: natsAuthorizationConfig([{ user: 'multicluster', password: 'mc-pw', role: 'multicluster', links: ['east'] }], [admin]),
      extraConfig: leafnodeRemotesConfig([{ url: `nats-leaf://127.0.0.1:${leafPort}`, user: 'link-west', password: 'link-pw' }]),
    });
    eastNc = await connect({ servers: east.url, user: 'admin', pass: 'admin-pw' });
    westNc = await connect({ servers: west.url, user: 'admin', pass: 'admin-pw' });
    eastManifests = await mkdtemp(path.join(tmpdir(), 'meshbus-mc-east-'));
    const westManifests = await mkdtemp(path.join(tmpdir(), 'meshbus-mc-west-'));
    dirs = [eastManifests, westManifests];
    await writeServices(true);
    await writeFile(path.join(westManifests, 'services.yaml'), services(false).replace(/name: web/g, 'name: front'));

    // East's destination would publish this: two ready endpoints of web:80.
    await ensureStreams(await eastNc.jetstreamManager());
    const destination = new JetStreamPublisher({ js: eastNc.jetstream(), validator: busValidator(), source: '/meshbus/destination/test' });
    await destination.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'shop/web/80', {
      namespace: 'shop',
      service: 'web',
      port: 80,
      endpoints: [
        { address: '10.1.1.1', port: 8080, weight: 10000, identity: webIdentity },
        { address: '10.1.1.2', port: 8080, weight: 10000, identity: webIdentity },
      ],
    });

    const env = (cluster: string, url: string, manifests: string, extra: Record<string, string>) =>
      envToConfig({ MESHBUS_CLUSTER_NAME: cluster, NATS_URL: url, NATS_USER: 'multicluster', NATS_PASSWORD: 'mc-pw', MESHBUS_MANIFESTS_DIR: manifests, MESHBUS_ADMIN_ADDR: '127.0.0.1:0', MESHBUS_REPLICA_ID: `multicluster-${cluster}-1`, MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL: '500ms', MESHBUS_MULTICLUSTER_GRACE: '4s', MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms', ...extra });
    eastService = createMulticlusterService(env('east', east.url, eastManifests, { MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: '10.1.0.9:4180' }), { logger: silentLogger() });
    westService = createMulticlusterService(env('west', west.url, westManifests, { MESHBUS_MULTICLUSTER_LINKS: 'east' }), { logger: silentLogger() });
    startedAt = Date.now();
    await eastService.start();
    await westService.start();
  }, 60_000);

  afterAll(async () => {
    await westService?.[Symbol.asyncDispose]();
    await eastService?.[Symbol.asyncDispose]();
    await eastNc?.close();
    await westNc?.close();
    await west?.stop();
    await east?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("mirrors east's exported service in west as web-east, ready behind east's gateway, and nothing else", async () => {
    await waitFor(async () => (await mirror())?.data?.ready === true, { what: 'the mirror in west', timeoutMs: 20_000 });
    console.log(`services started to mirrored service ready in west: ${Date.now() - startedAt} ms`);
    expect((await mirror())).toEqual({
      type: 'io.meshbus.v1.mirror.snapshot',
      data: {
        namespace: 'shop',
        service: 'web-east',
        cluster: 'east',
        remoteService: 'web',
        ports: [{ port: 80, name: 'http', ready: 2 }],
        gateway: { identity: 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local', addresses: [{ address: '10.1.0.9', port: 4180 }] },
        identities: [webIdentity],
        ready: true,
      },
    });
    // api is not exported; east's own state never reaches west.
    expect(await lastData(westNc, streams.state.name, subjects.mirroredService('shop', 'api-east'))).toBeUndefined();
    expect(await lastData(westNc, streams.state.name, subjects.endpoints('shop', 'web', 80))).toBeUndefined();
    expect(westService.links).toMatchObject([{ cluster: 'east', health: 'live', exported: 1, mirrored: 1 }]);
    expect(await lastData(westNc, streams.events.name, subjects.linkChanged('east'))).toMatchObject({ data: { cluster: 'east', health: 'live' } });
  });

  it('gives the multicluster login no other state to write, and no stream to delete', async () => {
    const mc = await connect({ servers: west.url, user: 'multicluster', pass: 'mc-pw', inboxPrefix: '_INBOX_multicluster' });
    try {
      const js = mc.jetstream();
      await expect(js.publish(subjects.endpoints('shop', 'web', 80), new Uint8Array())).rejects.toThrow(/permissions|timeout|no responders/i);
      await expect(js.publish(subjects.leader('destination'), new Uint8Array())).rejects.toThrow(/permissions|timeout|no responders/i);
      const jsm = await mc.jetstreamManager();
      await expect(jsm.streams.delete('MESHBUS_LINK_EAST')).rejects.toThrow(/permissions|timeout/i);
      await expect(jsm.streams.info('MESHBUS_LINK_NORTH')).rejects.toThrow(/permissions|timeout/i);
      // What it does need works with this login.
      expect((await jsm.streams.info('MESHBUS_LINK_EAST')).config.sources?.[0]?.external?.api).toBe('$JS.east.API');
    } finally {
      await mc.close();
    }
    expect(await lastData(westNc, streams.state.name, subjects.endpoints('shop', 'web', 80))).toBeUndefined();
  });

  it('removes the mirror when the export is withdrawn, and brings it back', async () => {
    await writeServices(false);
    await waitFor(async () => (await mirror())?.type === 'io.meshbus.v1.mirror.deleted', { what: 'the mirror to go', timeoutMs: 20_000 });
    expect(await lastData(eastNc, streams.exports.name, subjects.serviceExport('shop', 'web'))).toMatchObject({ type: 'io.meshbus.v1.export.withdrawn' });
    const exported = Date.now();
    await writeServices(true);
    await waitFor(async () => (await mirror())?.data?.ready === true, { what: 'the mirror to come back', timeoutMs: 20_000 });
    console.log(`label added in east to mirrored service ready in west: ${Date.now() - exported} ms`);
  });

  it("marks the mirror not ready when east's bus goes away, removes it after the grace period, and converges when east returns", async () => {
    const cut = Date.now();
    await east.kill(0);
    await waitFor(async () => (await mirror())?.data?.ready === false, { what: 'the mirror to turn not ready', timeoutMs: 20_000 });
    console.log(`link loss to mirror not ready: ${Date.now() - cut} ms`);
    expect((await mirror())?.data).toMatchObject({ ready: false, ports: [{ port: 80, name: 'http', ready: 0 }], reason: expect.stringMatching(/^no heartbeat from east for /) });
    await waitFor(async () => (await mirror())?.type === 'io.meshbus.v1.mirror.deleted', { what: 'the mirror to be removed', timeoutMs: 20_000 });
    console.log(`link loss to mirror removed: ${Date.now() - cut} ms`);
    expect(await lastData(westNc, streams.events.name, subjects.linkChanged('east'))).toMatchObject({ data: { health: 'gone', previous: 'quiet' } });

    const back = Date.now();
    await east.restart(0);
    await waitFor(async () => (await mirror())?.data?.ready === true, { what: 'the mirror after east returned', timeoutMs: 40_000 });
    console.log(`east back to mirror ready: ${Date.now() - back} ms`);
    expect(westService.links).toMatchObject([{ cluster: 'east', health: 'live' }]);
  }, 90_000);
});
