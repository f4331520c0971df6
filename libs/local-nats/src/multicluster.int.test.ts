import { AckPolicy, connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';
import { exportsStream, leafnodeListenConfig, leafnodeRemotesConfig, linkStreamConfig, linkUser } from './multicluster.js';
import { startNats, type NatsCluster } from './nats-server.js';
import { natsAuthorizationConfig, type NatsExtraUser } from './permissions.js';

const sc = StringCodec();
const admin = (user: string): NatsExtraUser => ({ user, password: 'admin-pw', permissions: { publish: ['>'], subscribe: ['>'] } });

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await read();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('two meshes linked over a leaf node', () => {
  let east: NatsCluster;
  let west: NatsCluster;
  let eastAdmin: NatsConnection;
  let westAdmin: NatsConnection;
  let leafPort: number;

  beforeAll(async () => {
    leafPort = await freePort();
    east = await startNats({
      jetstreamDomain: 'east',
      authorization: natsAuthorizationConfig([], [admin('admin'), linkUser('east', 'west', 'link-pw')]),
      extraConfig: leafnodeListenConfig('127.0.0.1', leafPort),
    });
    west = await startNats({
      jetstreamDomain: 'west',
      authorization: natsAuthorizationConfig([], [admin('admin')]),
      extraConfig: leafnodeRemotesConfig([{ url: `nats-leaf://127.0.0.1:${leafPort}`, user: 'link-west', password: 'link-pw' }]),
    });
    eastAdmin = await connect({ servers: east.url, user: 'admin', pass: 'admin-pw' });
    westAdmin = await connect({ servers: west.url, user: 'admin', pass: 'admin-pw' });
    const ejsm = await eastAdmin.jetstreamManager();
    const wjsm = await westAdmin.jetstreamManager();
    await ejsm.streams.add({ name: 'MESHBUS_STATE', subjects: ['meshbus.v1.state.>'], max_msgs_per_subject: 1 });
    await ejsm.streams.add({ name: exportsStream, subjects: ['meshbus.v1.exports.>'], max_msgs_per_subject: 1 });
    await wjsm.streams.add({ name: 'MESHBUS_STATE', subjects: ['meshbus.v1.state.>'], max_msgs_per_subject: 1 });
    await wjsm.streams.add({ name: exportsStream, subjects: ['meshbus.v1.exports.>'], max_msgs_per_subject: 1 });
    await wjsm.streams.add(linkStreamConfig('west', 'east'));
  });
  afterAll(async () => {
    await eastAdmin?.close();
    await westAdmin?.close();
    await west?.stop();
    await east?.stop();
  });

  const lastExport = async (subject: string): Promise<string | undefined> => {
    const jsm = await westAdmin.jetstreamManager();
    const m = await jsm.streams.getMessage('MESHBUS_LINK_EAST', { last_by_subj: subject }).catch(() => undefined);
    return m ? sc.decode(m.data) : undefined;
  };

  it("carries east's exports into west's link stream, and each update after", async () => {
    await eastAdmin.jetstream().publish('meshbus.v1.exports.shop.web', sc.encode('web v1'));
    expect(await until('the export in west', () => lastExport('meshbus.v1.exports.shop.web'))).toBe('web v1');
    await eastAdmin.jetstream().publish('meshbus.v1.exports.shop.web', sc.encode('web v2'));
    expect(await until('the update in west', async () => ((await lastExport('meshbus.v1.exports.shop.web')) === 'web v2' ? 'web v2' : undefined))).toBe('web v2');
  });

  it("keeps each mesh's state, events and exports to itself", async () => {
    await eastAdmin.jetstream().publish('meshbus.v1.state.endpoints.shop.web.80', sc.encode('east endpoints'));
    await westAdmin.jetstream().publish('meshbus.v1.state.endpoints.shop.web.80', sc.encode('west endpoints'));
    await westAdmin.jetstream().publish('meshbus.v1.exports.shop.api', sc.encode('west export'));
    // A core subscription in each mesh would see the other's messages if the leaf node let them through.
    const seenInEast: string[] = [];
    const sub = eastAdmin.subscribe('meshbus.>', { callback: (_e, m) => seenInEast.push(m.subject) });
    await eastAdmin.flush();
    await westAdmin.publish('meshbus.v1.events.leader.destination', sc.encode('west event'));
    await westAdmin.flush();
    await new Promise((r) => setTimeout(r, 500));
    sub.unsubscribe();
    expect(seenInEast).toEqual([]);

    const ejsm = await eastAdmin.jetstreamManager();
    const wjsm = await westAdmin.jetstreamManager();
    expect(sc.decode((await ejsm.streams.getMessage('MESHBUS_STATE', { last_by_subj: 'meshbus.v1.state.endpoints.shop.web.80' })).data)).toBe('east endpoints');
    expect(sc.decode((await wjsm.streams.getMessage('MESHBUS_STATE', { last_by_subj: 'meshbus.v1.state.endpoints.shop.web.80' })).data)).toBe('west endpoints');
    expect((await ejsm.streams.info(exportsStream)).state.messages).toBe(1);
    expect((await ejsm.streams.info('MESHBUS_STATE')).state.messages).toBe(1);
  });

  it('gives the link login nothing but its source consumer', async () => {
    const link = await connect({ servers: east.url, user: 'link-west', pass: 'link-pw' });
    const statuses: string[] = [];
    (async () => {
      for await (const s of link.status()) if (s.type === 'error') statuses.push(String(s.data));
    })().catch(() => undefined);
    const refused: string[] = [];
    for (const subject of ['meshbus.v1.state.>', 'meshbus.v1.exports.>', 'meshbus.v1.events.>', '_INBOX.>']) {
      link.subscribe(subject, { callback: (err) => err && refused.push(err.message) });
    }
    link.publish('meshbus.v1.exports.shop.web', sc.encode('forged'));
    link.publish('$JS.east.API.STREAM.PURGE.MESHBUS_EXPORTS');
    link.publish('$JS.API.STREAM.PURGE.MESHBUS_EXPORTS');
    await link.flush().catch(() => undefined);
    await until('the refusals', async () => (refused.length >= 4 && statuses.length >= 7 ? true : undefined), 5000);
    expect(refused.sort()).toEqual(
      ['meshbus.v1.state.>', 'meshbus.v1.exports.>', 'meshbus.v1.events.>', '_INBOX.>'].map((s) => `'Permissions Violation for Subscription to "${s}"'`).sort(),
    );
    // Four refused subscriptions and three refused publishes.
    expect(statuses.filter((s) => s === 'PERMISSIONS_VIOLATION').length).toBeGreaterThanOrEqual(7);
    await link.close().catch(() => undefined);
    const jsm = await eastAdmin.jetstreamManager();
    const m = await jsm.streams.getMessage(exportsStream, { last_by_subj: 'meshbus.v1.exports.shop.web' });
    expect(sc.decode(m.data)).toBe('web v2');
  });

  it("lets nothing on the link delete or look up a consumer on the exports stream, such as another linked cluster's", async () => {
    // A stand-in for the source consumer of another cluster linked to east (north).
    const ejsm = await eastAdmin.jetstreamManager();
    await ejsm.consumers.add(exportsStream, { durable_name: 'JS_SRC_north', deliver_subject: 'meshbus.link.north.east', ack_policy: AckPolicy.None });
    // (West's own source consumer is a direct consumer, which the list leaves out.)
    const names = async () => (await ejsm.consumers.list(exportsStream).next()).map((c) => c.name).sort();
    const before = await names();
    expect(before).toContain('JS_SRC_north');
    // Anything west sends to east's domain API crosses the leaf node as the link login, whose
    // replies come back under $JSC.R: a client in west asking east to delete or describe them.
    const westClient = await connect({ servers: west.url, user: 'admin', pass: 'admin-pw', inboxPrefix: '$JSC.R' });
    try {
      for (const name of before) {
        for (const op of ['DELETE', 'INFO']) {
          const subject = `$JS.east.API.CONSUMER.${op}.${exportsStream}.${name}`;
          const answer = await westClient.request(subject, undefined, { timeout: 1500 }).then((m) => sc.decode(m.data), (e: unknown) => `no answer: ${String(e)}`);
          expect(answer, subject).toMatch(/^no answer/);
        }
      }
    } finally {
      await westClient.close().catch(() => undefined);
    }
    expect(await names()).toEqual(before);
    await ejsm.consumers.delete(exportsStream, 'JS_SRC_north');
    // The source goes on.
    await eastAdmin.jetstream().publish('meshbus.v1.exports.shop.web', sc.encode('web v2.1'));
    expect(await until('the next update in west', async () => ((await lastExport('meshbus.v1.exports.shop.web')) === 'web v2.1' ? 'ok' : undefined))).toBe('ok');
  });

  it('catches up after the link is cut and comes back', async () => {
    await west.kill(0);
    await eastAdmin.jetstream().publish('meshbus.v1.exports.shop.web', sc.encode('web v3, while west was away'));
    await west.restart(0);
    await westAdmin.close();
    westAdmin = await until('west to be back', () => connect({ servers: west.url, user: 'admin', pass: 'admin-pw' }));
    const text = await until('the catch-up', async () => {
      const value = await lastExport('meshbus.v1.exports.shop.web');
      return value?.startsWith('web v3') ? value : undefined;
    }, 30_000);
    expect(text).toBe('web v3, while west was away');
  });
});
