/*
 * The leaf node link over TLS, against real nats-server processes and openssl:
 * east listens with a certificate signed by a CA, a west that checks it with
 * that CA links and receives east's exports, a west given another CA (or none)
 * never links, and openssl verifies the certificate east's port serves.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';
import { exportsStream, leafnodeListenConfig, leafnodeRemotesConfig, linkStreamConfig, linkUser, type LeafnodeRemoteTls } from './multicluster.js';
import { startNats, type NatsCluster } from './nats-server.js';
import { natsAuthorizationConfig, type NatsExtraUser } from './permissions.js';

const sc = StringCodec();
const run = promisify(execFile);
const admin: NatsExtraUser = { user: 'admin', password: 'admin-pw', permissions: { publish: ['>'], subscribe: ['>'] } };

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { timeout: 20_000 });
}

/** A root CA (P-256) in `dir`: `<name>.crt` and `<name>.key`. */
async function makeCa(dir: string, name: string): Promise<string> {
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)]);
  return join(dir, `${name}.crt`);
}

/** A serving certificate for 127.0.0.1 signed by the CA `ca`: `<name>.crt` and `<name>.key`. */
async function makeServing(dir: string, ca: string, name: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr]);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=critical,CA:FALSE\n');
  await openssl(['x509', '-req', '-in', csr, '-CA', join(dir, `${ca}.crt`), '-CAkey', join(dir, `${ca}.key`), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { cert, key };
}

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

/** The leaf node connections a server reports on its monitoring port. */
async function leafs(cluster: NatsCluster): Promise<{ name?: string; account?: string }[]> {
  const res = await fetch(`http://127.0.0.1:${cluster.nodes[0]!.monitorPort}/leafz`);
  return ((await res.json()) as { leafs?: { name?: string; account?: string }[] }).leafs ?? [];
}

/**
 * nats-server sends its INFO line in clear before the TLS handshake of a leaf
 * node connection. This listener reads that line off the leaf node port and then
 * passes bytes both ways untouched, so that `openssl s_client` does the TLS
 * handshake with the server itself. It keeps each INFO it read.
 */
async function afterInfo(port: number): Promise<{ server: Server; port: number; infos: Record<string, unknown>[] }> {
  const infos: Record<string, unknown>[] = [];
  const server = createServer((client: Socket) => {
    client.pause();
    const upstream = createConnection({ host: '127.0.0.1', port });
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n');
      if (end < 0) return;
      upstream.off('data', onData);
      const m = /^INFO\s+(\{.*\})\s*$/.exec(head.subarray(0, end).toString('utf8'));
      if (m) infos.push(JSON.parse(m[1]!) as Record<string, unknown>);
      const rest = head.subarray(end + 2);
      if (rest.length > 0) client.write(rest);
      upstream.pipe(client);
      client.pipe(upstream);
      client.resume();
    };
    upstream.on('data', onData);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', close);
    client.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
  });
  const listenPort = await freePort();
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  return { server, port: listenPort, infos };
}

/** `openssl s_client` against 127.0.0.1:port, checking the certificate with `caFile` for the IP 127.0.0.1. */
function sClient(port: number, caFile: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', caFile, '-verify_ip', '127.0.0.1', '-verify_return_error'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    p.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    p.stdin.end();
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('two meshes linked over a TLS leaf node connection', () => {
  let dir: string;
  let caFile: string;
  let otherCaFile: string;
  let east: NatsCluster;
  const wests: NatsCluster[] = [];
  let good: NatsCluster;
  let wrongCa: NatsCluster;
  let noCa: NatsCluster;
  let eastAdmin: NatsConnection;
  let goodAdmin: NatsConnection;
  let leafPort: number;

  const startWest = async (name: string, remoteUrl: string, tls: LeafnodeRemoteTls | undefined): Promise<NatsCluster> => {
    const west = await startNats({
      jetstreamDomain: name,
      authorization: natsAuthorizationConfig([], [admin]),
      extraConfig: leafnodeRemotesConfig([{ url: remoteUrl, user: `link-${name}`, password: `${name}-pw`, ...(tls ? { tls } : {}) }]),
    });
    wests.push(west);
    return west;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leaf-tls-'));
    caFile = await makeCa(dir, 'ca');
    otherCaFile = await makeCa(dir, 'other-ca');
    const serving = await makeServing(dir, 'ca', 'east-leafnodes');
    leafPort = await freePort();
    east = await startNats({
      jetstreamDomain: 'east',
      authorization: natsAuthorizationConfig([], [admin, linkUser('east', 'west', 'west-pw'), linkUser('east', 'westx', 'westx-pw'), linkUser('east', 'westy', 'westy-pw')]),
      extraConfig: leafnodeListenConfig('127.0.0.1', leafPort, { certFile: serving.cert, keyFile: serving.key }),
    });
    eastAdmin = await connect({ servers: east.url, user: 'admin', pass: 'admin-pw' });
    const ejsm = await eastAdmin.jetstreamManager();
    await ejsm.streams.add({ name: exportsStream, subjects: ['meshbus.v1.exports.>'], max_msgs_per_subject: 1 });

    good = await startWest('west', `tls://127.0.0.1:${leafPort}`, { caFile });
    wrongCa = await startWest('westx', `tls://127.0.0.1:${leafPort}`, { caFile: otherCaFile });
    // No TLS settings: the listener asks for TLS and the remote checks the certificate against the system's CAs.
    noCa = await startWest('westy', `nats-leaf://127.0.0.1:${leafPort}`, undefined);
    for (const [west, name] of [[good, 'west'], [wrongCa, 'westx'], [noCa, 'westy']] as const) {
      const nc = await connect({ servers: west.url, user: 'admin', pass: 'admin-pw' });
      await (await nc.jetstreamManager()).streams.add(linkStreamConfig(name, 'east'));
      if (west === good) goodAdmin = nc;
      else await nc.close();
    }
  });
  afterAll(async () => {
    await eastAdmin?.close();
    await goodAdmin?.close();
    for (const w of wests) await w.stop();
    await east?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("links the west that checks east's certificate with east's CA, and carries the exports over it", async () => {
    await eastAdmin.jetstream().publish('meshbus.v1.exports.shop.web', sc.encode('web over tls'));
    const jsm = await goodAdmin.jetstreamManager();
    const text = await until('the export in west', async () => {
      const m = await jsm.streams.getMessage('MESHBUS_LINK_EAST', { last_by_subj: 'meshbus.v1.exports.shop.web' }).catch(() => undefined);
      return m ? sc.decode(m.data) : undefined;
    });
    expect(text).toBe('web over tls');
    expect((await leafs(good)).length).toBe(1);
  });

  it('links no west that checks the certificate with another CA or with the system CAs', async () => {
    // Give them the time the good west took and more: the remotes retry every second.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await leafs(wrongCa)).toEqual([]);
    expect(await leafs(noCa)).toEqual([]);
    // East sees only the good west.
    expect((await leafs(east)).length).toBe(1);
    for (const west of [wrongCa, noCa]) {
      const nc = await connect({ servers: west.url, user: 'admin', pass: 'admin-pw' });
      try {
        const info = await (await nc.jetstreamManager()).streams.info('MESHBUS_LINK_EAST');
        expect(info.state.messages).toBe(0);
      } finally {
        await nc.close();
      }
    }
  });

  it('serves a certificate that openssl verifies against the CA for 127.0.0.1, and not against another CA', async () => {
    const shim = await afterInfo(leafPort);
    try {
      const ok = await sClient(shim.port, caFile);
      expect(shim.infos[0]?.tls_required).toBe(true);
      expect(ok.out).toContain('Verify return code: 0 (ok)');
      expect(ok.out).toMatch(/subject=CN ?= ?east-leafnodes/);
      expect(ok.code).toBe(0);
      const wrong = await sClient(shim.port, otherCaFile);
      expect(wrong.out).toMatch(/Verify return code: (20|21) /);
      expect(wrong.code).not.toBe(0);
    } finally {
      await new Promise((r) => shim.server.close(r));
    }
  });
});

describe('a TLS leaf node listener that verifies client certificates', () => {
  let dir: string;
  let east: NatsCluster;
  const wests: NatsCluster[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'leaf-mtls-'));
    const caFile = await makeCa(dir, 'ca');
    const serving = await makeServing(dir, 'ca', 'east-leafnodes');
    const client = await makeServing(dir, 'ca', 'west-leaf');
    const leafPort = await freePort();
    east = await startNats({
      jetstreamDomain: 'east',
      authorization: natsAuthorizationConfig([], [admin, linkUser('east', 'west', 'west-pw'), linkUser('east', 'westx', 'westx-pw')]),
      extraConfig: leafnodeListenConfig('127.0.0.1', leafPort, { certFile: serving.cert, keyFile: serving.key, caFile, verify: true }),
    });
    for (const [name, tls] of [
      ['west', { caFile, certFile: client.cert, keyFile: client.key }],
      ['westx', { caFile }],
    ] as const) {
      wests.push(
        await startNats({
          jetstreamDomain: name,
          authorization: natsAuthorizationConfig([], [admin]),
          extraConfig: leafnodeRemotesConfig([{ url: `tls://127.0.0.1:${leafPort}`, user: `link-${name}`, password: `${name}-pw`, tls }]),
        }),
      );
    }
  });
  afterAll(async () => {
    for (const w of wests) await w.stop();
    await east?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('takes the west that presents a certificate of the CA, and not the one that presents none', async () => {
    await until('the west with a client certificate to link', async () => ((await leafs(wests[0]!)).length === 1 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2500));
    expect(await leafs(wests[1]!)).toEqual([]);
    expect((await leafs(east)).length).toBe(1);
  });
});
