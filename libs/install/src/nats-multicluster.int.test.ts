import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { exportsStream, linkStreamConfig } from '@meshbus/local-nats';
import { freePort, natsServerBinary, startProcess, waitFor, type RunningProcess } from '@meshbus/testing';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkCaDir, natsAuthKey, natsConfigMapName, natsLeafnodeTlsDir, natsUsersSecretName } from './layout.js';
import { chooseMaterial, type ExistingMaterial } from './plan.js';
import { renderInstallation } from './render.js';
import type { InstallValues } from './values.js';

// Two installations rendered with multicluster values, east exporting to west, each run by a real
// nats-server as its StatefulSet's pods would: east's rendered leaf node listener, west's rendered
// remote with the URL the kubelet composes from the link password Secret, the JetStream domains,
// and the logins of the rendered authorization blocks. One server per cluster: the cluster block
// (routes to the other pods' names) is left out, so that JetStream has its meta leader.
type Rendered = { kind: string; metadata: { name: string }; data: Record<string, string>; spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
const sc = StringCodec();

function render(values: InstallValues, existing?: ExistingMaterial) {
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

/**
 * Starts nats-server with a rendered configuration. The files the pod would
 * have mounted are written to the server's folder: the leaf node listener's
 * certificate and key from the rendered Secret, and each link's CA (`linkCas`,
 * as the operator stored it in the link's Secret).
 */
async function startRendered(r: ReturnType<typeof render>, env: Record<string, string>, leafPort?: number, linkCas: Record<string, string> = {}): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbus-nats-mc-'));
  mkdirSync(join(dir, 'auth'));
  expect(r.config).toMatch(/\ncluster \{[\s\S]*?\n\}\n/);
  let config = r.config.replace(/\ncluster \{[\s\S]*?\n\}\n/, '\n').replace('/data/jetstream', join(dir, 'data')).replace('/var/run/nats/nats.pid', join(dir, 'nats.pid'));
  if (config.includes(natsLeafnodeTlsDir)) {
    mkdirSync(join(dir, 'leafnode-tls'));
    writeFileSync(join(dir, 'leafnode-tls', 'tls.crt'), r.material.leafnodeTls!.certificatePem);
    writeFileSync(join(dir, 'leafnode-tls', 'tls.key'), r.material.leafnodeTls!.privateKeyPem);
    config = config.replaceAll(natsLeafnodeTlsDir, join(dir, 'leafnode-tls'));
  }
  for (const [cluster, ca] of Object.entries(linkCas)) {
    expect(config).toContain(linkCaDir(cluster));
    mkdirSync(join(dir, 'links', cluster), { recursive: true });
    writeFileSync(join(dir, 'links', cluster, 'ca.crt'), ca);
    config = config.replaceAll(linkCaDir(cluster), join(dir, 'links', cluster));
  }
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

/**
 * A TLS handshake with a leaf node listener as a remote does it: read the INFO
 * line nats-server sends in clear, then TLS on the same connection, checking the
 * certificate with `ca` for the IP address 127.0.0.1.
 */
async function leafTlsHandshake(port: number, ca: string): Promise<{ tlsRequired: boolean; authorized: boolean; authorizationError?: string; protocol?: string; subjectAltName?: string }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let head = '';
    socket.on('error', reject);
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      resolve(JSON.parse(/^INFO\s+(\{.*\})\s*$/.exec(head.slice(0, end))![1]!) as Record<string, unknown>);
    };
    socket.on('data', onData);
  });
  const secure = tlsConnect({ socket, ca, servername: '', rejectUnauthorized: false, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const peer = secure.getPeerX509Certificate();
  const hostError = peer?.checkIP('127.0.0.1') === undefined ? 'the certificate does not name 127.0.0.1' : undefined;
  const result = {
    tlsRequired: info.tls_required === true,
    authorized: secure.authorized && hostError === undefined,
    ...(secure.authorizationError || hostError ? { authorizationError: String(secure.authorizationError ?? hostError) } : {}),
    ...(secure.getProtocol() ? { protocol: secure.getProtocol()! } : {}),
    ...(peer?.subjectAltName ? { subjectAltName: peer.subjectAltName } : {}),
  };
  secure.destroy();
  return result;
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
  // West reaches east's leaf node listener at 127.0.0.1 here: the certificate names it.
  const eastValues: InstallValues = { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'], gateway: { addresses: ['203.0.113.7:4180'] }, leafnode: { tls: { hosts: ['127.0.0.1'] } } } };
  const westValues: InstallValues = { multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://127.0.0.1:7422' }] } };
  let east: Server;
  let west: Server;
  let eastMc: NatsConnection;
  let westMc: NatsConnection;
  let eastRendered: ReturnType<typeof render>;
  let leafPort: number;
  let otherCa: string;
  let westOtherCa: Server;

  beforeAll(async () => {
    eastRendered = render(eastValues);
    leafPort = await freePort();
    east = await startRendered(eastRendered, {}, leafPort);
    const westRendered = render({ multicluster: { ...westValues.multicluster, links: [{ cluster: 'east', url: `tls://127.0.0.1:${leafPort}` }] } });
    // The operator copied east's `link-west` key (meshbus-nats-users) and ca.crt (meshbus-nats-leafnode-tls) into west's Secret meshbus-link-east.
    const linkPassword = eastRendered.secret('link-west');
    const westEnv = expand(westRendered.natsEnv, { MESHBUS_LINK_EAST_PASSWORD: linkPassword });
    west = await startRendered(westRendered, westEnv, undefined, { east: eastRendered.material.leafnodeTls!.caPem });
    // The same login, but the CA of another installation: it must never link (nor send the password in clear).
    otherCa = render(eastValues).material.leafnodeTls!.caPem;
    westOtherCa = await startRendered(westRendered, westEnv, undefined, { east: otherCa });
    eastMc = await connect({ servers: `127.0.0.1:${east.port}`, user: 'multicluster', pass: eastRendered.secret('multicluster'), inboxPrefix: '_INBOX_multicluster' });
    westMc = await connect({ servers: `127.0.0.1:${west.port}`, user: 'multicluster', pass: westRendered.secret('multicluster'), inboxPrefix: '_INBOX_multicluster' });
  }, 60_000);

  afterAll(async () => {
    await eastMc?.close();
    await westMc?.close();
    for (const s of [westOtherCa, west, east]) {
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

  it("serves the installation's certificate on the leaf node port: it verifies with east's CA for 127.0.0.1, not with another CA", async () => {
    const good = await leafTlsHandshake(leafPort, eastRendered.material.leafnodeTls!.caPem);
    expect(good).toMatchObject({ tlsRequired: true, authorized: true, protocol: 'TLSv1.3' });
    expect(good.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(good.subjectAltName).toContain('DNS:meshbus-nats-leafnodes.meshbus.svc');
    const wrong = await leafTlsHandshake(leafPort, otherCa);
    expect(wrong.authorized).toBe(false);
    expect(wrong.authorizationError).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i);
  });

  it('links no west that checks the certificate with another CA', async () => {
    await new Promise((r) => setTimeout(r, 3000));
    const leafz = async (s: Server) => ((await (await fetch(`http://127.0.0.1:${s.monitor}/leafz`)).json()) as { leafnodes: number }).leafnodes;
    expect(await leafz(westOtherCa)).toBe(0);
    expect(await leafz(east)).toBe(1);
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
    const upgraded = render(eastValues, { linkPasswords: { west: eastRendered.secret('link-west') }, leafnodeTls: eastRendered.material.leafnodeTls! });
    expect(upgraded.secret('link-west')).toBe(eastRendered.secret('link-west'));
    expect(upgraded.material.leafnodeTls).toEqual(eastRendered.material.leafnodeTls);
    expect(render(eastValues).secret('link-west')).not.toBe(eastRendered.secret('link-west'));
  });
});
