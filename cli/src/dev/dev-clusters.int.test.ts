import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPortFree } from '@meshbus/local-nats';
import { waitFor, type RunningProcess } from '@meshbus/testing';
import { cliMain, runCli } from '../cli-process.js';
import { readDevState, type DevState } from '../dev-state.js';

const run = promisify(execFile);

/** Runs the built CLI in `cwd`; resolves with its exit code and output, whatever the code. */
async function meshbus(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliMain, ...args], { cwd, encoding: 'utf8', timeout: 30_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Pids of the processes running in `dir`, or whose command line mentions it: meshbus dev and every process it started. */
async function processesOf(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${d}/cwd`) === dir || readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').some((a) => a.includes(dir))) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)![1]);
}

/**
 * A TLS handshake with the leaf node listener on 127.0.0.1:`port`, checking
 * its certificate with `ca` (the system's CAs without) for the IP 127.0.0.1.
 * nats-server first sends its INFO line in clear; it is read off the socket,
 * then the handshake is done on the same connection.
 */
async function leafHandshake(port: number, ca: string | undefined): Promise<{ info: Record<string, unknown>; authorized: boolean; error?: string; peer?: PeerCertificate }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  const infoLine = await new Promise<string>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      resolve(head.slice(0, end));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    setTimeout(() => reject(new Error('no INFO from the leaf node port')), 5000);
  });
  const info = JSON.parse(/^INFO\s+(\{.*\})\s*$/.exec(infoLine)![1]!) as Record<string, unknown>;
  return await new Promise((resolve) => {
    const tls = tlsConnect({ socket, host: '127.0.0.1', ...(ca ? { ca } : {}), rejectUnauthorized: false }, () => {
      const result = { info, authorized: tls.authorized, peer: tls.getPeerCertificate(), ...(tls.authorizationError ? { error: String(tls.authorizationError) } : {}) };
      tls.destroy();
      resolve(result);
    });
    tls.once('error', (err) => resolve({ info, authorized: false, error: err.message }));
  });
}

describe('meshbus dev --clusters 2', () => {
  let cwd: string;
  let dev: RunningProcess;
  let west: DevState;
  let east: DevState;
  let started = 0;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-dev-clusters-'));
    started = Date.now();
    dev = runCli(['dev', '--clusters', '2', '--gateway-port', String(20_000 + Math.floor(Math.random() * 20_000)), '--log-level', 'warn'], { cwd });
    await waitFor(() => dev.output().includes('Ctrl-C stops everything'), { timeoutMs: 150_000, what: 'meshbus dev --clusters 2 to be ready' }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${dev.output()}`);
    });
    console.log(`meshbus dev --clusters 2 ready after ${Date.now() - started} ms`);
    west = (await readDevState(cwd))!;
    east = (await readDevState(join(cwd, '.meshbus', 'east'), '.'))!;
  }, 180_000);
  afterAll(async () => {
    await dev?.stop(30_000);
    if (cwd) await rm(cwd, { recursive: true, force: true });
  }, 60_000);

  it('runs two meshes, each with its own nats-server in its own JetStream domain and its own control plane', async () => {
    expect(west).toBeDefined();
    expect(east).toBeDefined();
    expect(west.natsUrl).not.toBe(east.natsUrl);
    expect(Object.keys(west.admin).sort()).toEqual(['west-destination-1', 'west-gateway-1', 'west-identity-1', 'west-multicluster-1', 'west-policy-1']);
    expect(Object.keys(east.admin).sort()).toEqual(['east-destination-1', 'east-gateway-1', 'east-identity-1', 'east-multicluster-1', 'east-multicluster-gateway-1', 'east-policy-1']);
    for (const url of [...Object.values(west.admin), ...Object.values(east.admin)]) expect((await fetch(`${url}/ready`)).status, url).toBe(200);
    for (const cluster of ['west', 'east']) {
      const conf = await readFile(join(cwd, '.meshbus', cluster, 'nats', 'n1.conf'), 'utf8');
      expect(conf).toContain(`domain: ${cluster}`);
      expect(conf).toContain(cluster === 'east' ? 'listen: "127.0.0.1:' : 'remotes = [');
    }
    // One trust anchor: both identity services read the same folder.
    expect(dev.output().match(/\.meshbus\/identity/g)?.length).toBeGreaterThanOrEqual(2);
    // Only east's copy of the manifests exports web.
    expect(await readFile(join(cwd, '.meshbus', 'east', 'manifests', 'web.yaml'), 'utf8')).toMatch(/labels:\n\s+mirror\.meshbus\.io\/exported: "true"/);
    expect(await readFile(join(cwd, '.meshbus', 'west', 'manifests', 'web.yaml'), 'utf8')).not.toContain('mirror.meshbus.io/exported');
    expect(dev.output()).toContain('npm run meshbus -- endpoints web-east.shop:80');
  });

  it("links west to east's leaf node listener over TLS, checked with east's leaf node CA", async () => {
    const tlsDir = join(cwd, '.meshbus', 'east', 'leafnode-tls');
    const caFile = join(tlsDir, 'ca.crt');
    const leafPort = portOf(/leaf nodes +(127\.0\.0\.1:\d+)/.exec(dev.output())![1]!);
    expect(dev.output()).toContain(`[dev east] created the leaf node CA and serving certificate in ${tlsDir}`);
    expect(dev.output()).toMatch(/leaf nodes +127\.0\.0\.1:\d+ +\(TLS; linked clusters connect here\)/);
    expect(dev.output()).toContain(`leaf node CA  ${caFile}`);
    expect(dev.output()).toMatch(new RegExp(`links +east +\\(mirrors their exported services; over TLS, certificate checked with ${caFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    for (const key of ['ca.key', 'tls.key']) expect((await stat(join(tlsDir, key))).mode & 0o777, key).toBe(0o600);

    const eastConf = await readFile(join(cwd, '.meshbus', 'east', 'nats', 'n1.conf'), 'utf8');
    expect(eastConf).toContain(`cert_file: ${JSON.stringify(join(tlsDir, 'tls.crt'))}`);
    const westConf = await readFile(join(cwd, '.meshbus', 'west', 'nats', 'n1.conf'), 'utf8');
    expect(westConf).toContain(`@127.0.0.1:${leafPort}"`);
    expect(westConf).toMatch(/url: "tls:\/\/link-west:/);
    expect(westConf).toContain(`ca_file: ${JSON.stringify(caFile)}`);

    // The link is up: east's monitoring port shows west's leaf node connection.
    const eastMonitor = /cluster east\n {2}NATS +\S+ +\(monitor (http:\/\/127\.0\.0\.1:\d+)/.exec(dev.output())![1]!;
    let leafs: { account?: string; ip?: string }[] = [];
    await waitFor(
      async () => {
        leafs = ((await (await fetch(`${eastMonitor}/leafz`)).json()) as { leafs?: { account?: string; ip?: string }[] }).leafs ?? [];
        return leafs.length === 1;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: "west's leaf node connection on east" },
    );
    expect(leafs[0]!.ip).toBe('127.0.0.1');

    // It is TLS: the port requires it, and serves the certificate of east's leaf node CA for 127.0.0.1.
    const ca = await readFile(caFile, 'utf8');
    const good = await leafHandshake(leafPort, ca);
    expect(good.info.tls_required).toBe(true);
    expect(good.error).toBeUndefined();
    expect(good.authorized).toBe(true);
    expect(new X509Certificate(good.peer!.raw).checkIssued(new X509Certificate(ca))).toBe(true);
    const withoutCa = await leafHandshake(leafPort, undefined);
    expect(withoutCa.authorized).toBe(false);
    expect(withoutCa.error).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify|unable to get local issuer/i);
  }, 30_000);

  it("mirrors east's web in west as web-east, live and ready, behind east's multicluster gateway", async () => {
    let check = { code: -1, output: '' };
    await waitFor(
      async () => {
        check = await meshbus(['multicluster', 'check'], cwd);
        return check.code === 0;
      },
      { timeoutMs: 30_000, intervalMs: 1000, what: 'meshbus multicluster check to pass in west' },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${check.output}`);
    });
    console.log(`meshbus dev --clusters 2 started to multicluster check passing: ${Date.now() - started} ms`);
    expect(check.output).toMatch(/^east +live +[\d.]+s +1 +1 /m);

    const gateways = await meshbus(['multicluster', 'gateways'], cwd);
    expect(gateways.code, gateways.output).toBe(0);
    const tunnel = /mc gateway +(127\.0\.0\.1:\d+)/.exec(dev.output())![1]!;
    expect(gateways.output).toMatch(new RegExp(`^east +MESHBUS_LINK_EAST +${tunnel.replace(/\./g, '\\.')} +multicluster-gateway\\.meshbus\\.serviceaccount\\.identity\\.meshbus\\.cluster\\.local `, 'm'));

    const endpoints = await meshbus(['endpoints', 'web-east.shop:80'], cwd);
    expect(endpoints.code, endpoints.output).toBe(0);
    expect(endpoints.output).toContain(`web-east.shop.svc.cluster.local:80 via ${west.gateways[0]}: 1 endpoint`);
    expect(endpoints.output).toMatch(new RegExp(`^${tunnel.replace(/\./g, '\\.')} +\\d+ +web\\.shop\\.serviceaccount\\.identity\\.meshbus\\.cluster\\.local `, 'm'));
  }, 60_000);

  it('refuses a third cluster, and --ha with two', async () => {
    // Like a bad --replicas: commander's error for an invalid argument.
    const three = await meshbus(['dev', '--clusters', '3', '--state-dir', 'other'], cwd);
    expect(three.code).not.toBe(0);
    expect(three.output).toContain('--clusters must be from 1 to 2, got 3');
    const ha = await meshbus(['dev', '--clusters', '2', '--ha', '--state-dir', 'other'], cwd);
    expect(ha.code).toBe(2);
    expect(ha.output).toContain('--clusters 2 runs one nats-server per cluster; leave out --ha');
  }, 30_000);

  it('stops everything on SIGTERM: exit code 0, no process left, ports free', async () => {
    const ports = [west.natsUrl, east.natsUrl].map((u) => portOf(new URL(u).host));
    ports.push(...[...west.gateways, ...east.gateways].map(portOf), ...[...Object.values(west.admin), ...Object.values(east.admin)].map((u) => portOf(new URL(u).host)));
    ports.push(portOf(/mc gateway +(127\.0\.0\.1:\d+)/.exec(dev.output())![1]!), portOf(/leaf nodes +(127\.0\.0\.1:\d+)/.exec(dev.output())![1]!));
    const before = await processesOf(cwd);
    console.log(`processes of meshbus dev --clusters 2: ${before.length}`);
    expect(before.length).toBeGreaterThanOrEqual(14);
    const exit = await dev.stop(30_000);
    expect(exit.code).toBe(0);
    expect(dev.output()).toContain('[dev] stopped');
    expect(await processesOf(cwd)).toEqual([]);
    for (const p of ports) expect(await isPortFree(p), `port ${p}`).toBe(true);
    expect(await readDevState(cwd)).toBeUndefined();
  }, 60_000);
});
