import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportsStream, linkStreamConfig } from '@meshbus/local-nats';
import { freePort, natsServerBinary, startProcess, waitFor, type RunningProcess } from '@meshbus/testing';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsAuthKey, natsConfigMapName, natsUsersSecretName } from './layout.js';
import { chooseMaterial } from './plan.js';
import { renderInstallation } from './render.js';
import type { InstallValues } from './values.js';

// Two installations rendered with multicluster values, east exporting to west, each run by a real
// nats-server as its StatefulSet's pods would: east's rendered leaf node listener, west's rendered
// remote with the URL the kubelet composes from the link password Secret, the JetStream domains,
// and the logins of the rendered authorization blocks. One server per cluster: the cluster block
// (routes to the other pods' names) is left out, so that JetStream has its meta leader.
type Rendered = { kind: string; metadata: { name: string }; data: Record<string, string>; spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
const sc = StringCodec();

function render(values: InstallValues, existing?: { linkPasswords: Record<string, string> }) {
  const material = chooseMaterial({ values, version: '0.1.0', now: new Date(), ...(existing ? { existing } : {}) });
  const objects = renderInstallation({ values, material, version: '0.1.0' }) as unknown as Rendered[];
  const get = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
  const secret = get('Secret', natsUsersSecretName).data;
  return {
    config: get('ConfigMap', natsConfigMapName).data['nats.conf']!,
    secret: (key: string) => Buffer.from(secret[key]!, 'base64').toString(),
    natsEnv: get('StatefulSet', 'meshbus-nats').spec.template.spec.containers[0]!.env,
    material,
  };
}

interface Server {
  readonly process: RunningProcess;
  readonly port: number;
  readonly monitor: number;
  readonly dir: string;
}

async function startRendered(r: ReturnType<typeof render>, env: Record<string, string>, leafPort?: number): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbus-nats-mc-'));
  mkdirSync(join(dir, 'auth'));
  expect(r.config).toMatch(/\ncluster \{[\s\S]*?\n\}\n/);
  let config = r.config.replace(/\ncluster \{[\s\S]*?\n\}\n/, '\n').replace('/data/jetstream', join(dir, 'data')).replace('/var/run/nats/nats.pid', join(dir, 'nats.pid'));
  if (leafPort !== undefined) {
    expect(config).toContain('listen: "0.0.0.0:7422"');
    config = config.replace('listen: "0.0.0.0:7422"', `listen: "127.0.0.1:${leafPort}"`);
  }
  writeFileSync(join(dir, 'nats.conf'), config);
  writeFileSync(join(dir, 'auth', natsAuthKey), r.secret(natsAuthKey));
  const port = await freePort();
  const monitor = await freePort();
  const child = startProcess({
    command: natsServerBinary(),
    args: ['-c', join(dir, 'nats.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)],
    env: { ...process.env, POD_NAME: 'meshbus-nats-0', ...env },
    cwd: dir,
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`).catch(() => undefined))?.ok === true, {
    timeoutMs: 20_000,
    what: 'nats-server to start with the rendered configuration',
  });
  return { process: child, port, monitor, dir };
}

/** What the kubelet does with `$(VAR)` in an env value: the value of the variable defined before it. */
function expand(env: readonly { name: string; value?: string }[], values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.name === 'POD_NAME') continue;
    const value = e.value ?? values[e.name];
    if (value === undefined) throw new Error(`no value for ${e.name}`);
    out[e.name] = value.replace(/\$\(([A-Z0-9_]+)\)/g, (_m, name: string) => out[name] ?? `$(${name})`);
  }
  return out;
}

describe('the bundled NATS configuration of two linked clusters', () => {
  const eastValues: InstallValues = { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'], gateway: { addresses: ['203.0.113.7:4180'] } } };
  const westValues: InstallValues = { multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://127.0.0.1:7422' }] } };
  let east: Server;
  let west: Server;
  let eastMc: NatsConnection;
  let westMc: NatsConnection;
  let eastRendered: ReturnType<typeof render>;

  beforeAll(async () => {
    eastRendered = render(eastValues);
    const leafPort = await freePort();
    east = await startRendered(eastRendered, {}, leafPort);
    const westRendered = render({ multicluster: { ...westValues.multicluster, links: [{ cluster: 'east', url: `nats-leaf://127.0.0.1:${leafPort}` }] } });
    // The operator copied east's `link-west` key into west's Secret meshbus-link-east.
    const linkPassword = eastRendered.secret('link-west');
    west = await startRendered(westRendered, expand(westRendered.natsEnv, { MESHBUS_LINK_EAST_PASSWORD: linkPassword }));
    eastMc = await connect({ servers: `127.0.0.1:${east.port}`, user: 'multicluster', pass: eastRendered.secret('multicluster'), inboxPrefix: '_INBOX_multicluster' });
    westMc = await connect({ servers: `127.0.0.1:${west.port}`, user: 'multicluster', pass: westRendered.secret('multicluster'), inboxPrefix: '_INBOX_multicluster' });
  }, 60_000);

  afterAll(async () => {
    await eastMc?.close();
    await westMc?.close();
    for (const s of [west, east]) {
      await s?.process.stop();
      if (s) rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('gives each server its cluster name as JetStream domain, and connects west to east as a leaf node with the link login', async () => {
    const jsz = async (s: Server) => (await (await fetch(`http://127.0.0.1:${s.monitor}/jsz`)).json()) as { config?: { domain?: string } };
    expect((await jsz(east)).config?.domain).toBe('east');
    expect((await jsz(west)).config?.domain).toBe('west');
    await waitFor(
      async () => {
        const leafz = (await (await fetch(`http://127.0.0.1:${east.monitor}/leafz`)).json()) as { leafnodes: number };
        return leafz.leafnodes === 1;
      },
      { timeoutMs: 20_000, what: "west's leaf node connection to east" },
    );
    const leafz = (await (await fetch(`http://127.0.0.1:${east.monitor}/leafz`)).json()) as { leafs: { account: string; port: number }[] };
    console.log('east leaf nodes', JSON.stringify(leafz.leafs.map((l) => ({ account: l.account, port: l.port }))));
  });

  it("lets west's multicluster login source east's exports over the link", async () => {
    const ejsm = await eastMc.jetstreamManager();
    await ejsm.streams.add({ name: exportsStream, subjects: ['meshbus.v1.exports.>'], max_msgs_per_subject: 1 });
    await eastMc.jetstream().publish('meshbus.v1.exports.shop.web', sc.encode('web from east'));
    const wjsm = await westMc.jetstreamManager();
    await wjsm.streams.add(linkStreamConfig('west', 'east'));
    const got = await waitFor(
      async () => {
        const m = await wjsm.streams.getMessage('MESHBUS_LINK_EAST', { last_by_subj: 'meshbus.v1.exports.shop.web' }).catch(() => undefined);
        return m ? sc.decode(m.data) : undefined;
      },
      { timeoutMs: 20_000, what: "east's export in west's link stream" },
    );
    expect(got).toBe('web from east');
  });

  it('refuses the link login with another password, and keeps its password on upgrade', async () => {
    await expect(connect({ servers: `127.0.0.1:${east.port}`, user: 'link-west', pass: 'wrong', reconnect: false })).rejects.toThrow(/Authorization/i);
    const link = await connect({ servers: `127.0.0.1:${east.port}`, user: 'link-west', pass: eastRendered.secret('link-west'), reconnect: false });
    await link.close();
    const upgraded = render(eastValues, { linkPasswords: { west: eastRendered.secret('link-west') } });
    expect(upgraded.secret('link-west')).toBe(eastRendered.secret('link-west'));
    expect(render(eastValues).secret('link-west')).not.toBe(eastRendered.secret('link-west'));
  });
});
