import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, subjects } from '@meshbus/bus-schemas';
import type { Proxy } from '@meshbus/proxy';
import { freePort, waitFor } from '@meshbus/testing';
import { clientServerManifests, repoRoot, startMesh, startMeshProxy, viaProxy, type Mesh } from './harness.js';

// Two workloads with in-process proxies on the real control plane: client
// calls server (a backend that fails some requests). The proxies report
// traffic summaries every second through the gateway; `meshbus stat` reads
// them from the bus and must count what was sent.

const run = promisify(execFile);
const ns = 'stats';
const hosts = { client: '127.0.0.91', server: '127.0.0.92' } as const;

const manifests = (appPort: number): string => clientServerManifests(ns, hosts, appPort);

interface JsonRow {
  name: string;
  proxies?: number;
  requests: number;
  success: number;
  failure: number;
  tls: number;
}

describe('meshbus stat over the proxies’ traffic summaries', () => {
  let dir: string;
  let mesh: Mesh;
  let backend: Server;
  const proxies: Proxy[] = [];
  let client: Proxy;
  const sent = { ok: 17, failed: 6 };

  const stat = async (...args: string[]) =>
    (await run('node', [join(repoRoot, 'cli/dist/main.js'), 'stat', ...args, '--nats-url', mesh.nats.url], { encoding: 'utf8', env: { ...process.env, NATS_URL: '', NATS_USER: '' }, cwd: dir })).stdout;
  const rows = async (...args: string[]): Promise<JsonRow[]> =>
    (await stat(...args, '--json'))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as JsonRow);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-stat-'));
    await run('node', [join(repoRoot, 'cli/dist/main.js'), 'identity', 'init', '--dir', join(dir, 'identity')]);
    const appPort = await freePort(hosts.server);
    const inboundPort = await freePort(hosts.server);
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'stats.yaml'), manifests(appPort));
    // The writers create MESHBUS_METRICS with these limits.
    const limits = { MESHBUS_METRICS_MAX_AGE: '2h', MESHBUS_METRICS_MAX_BYTES: '256MiB' };
    mesh = await startMesh({
      destination: true,
      policy: true,
      identity: true,
      gateway: true,
      manifests: join(dir, 'manifests'),
      identityDir: join(dir, 'identity'),
      env: { destination: limits, policy: limits, identity: limits },
    });

    backend = createServer((req, res) => {
      res.writeHead(req.url === '/fail' ? 500 : 200);
      res.end('server\n');
    });
    await new Promise<void>((resolve) => backend.listen(appPort, hosts.server, resolve));

    for (const name of ['server', 'client'] as const) {
      const proxy = await startMeshProxy({
        gateways: [`127.0.0.1:${mesh.gateway.grpcPort}`],
        namespace: ns,
        name: `${name}-1`,
        serviceAccount: name,
        identityDir: join(dir, 'identity'),
        address: hosts[name],
        inboundPort,
        ports: [appPort],
        env: { MESHBUS_PROXY_TELEMETRY_INTERVAL: '1s' },
      });
      proxies.push(proxy);
      if (name === 'client') client = proxy;
    }
  }, 60_000);

  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
    await mesh?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('counts the requests, failures and success rate per workload and per service', async () => {
    const url = `http://server.${ns}.svc.cluster.local/`;
    const statuses: number[] = [];
    for (let i = 0; i < sent.ok; i++) statuses.push((await viaProxy(client.ports.outbound, url)).status);
    for (let i = 0; i < sent.failed; i++) statuses.push((await viaProxy(client.ports.outbound, `${url}fail`)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(sent.ok);
    expect(statuses.filter((s) => s === 500)).toHaveLength(sent.failed);
    const total = sent.ok + sent.failed;

    // The last requests' interval is reported within a second or two.
    let byWorkload: JsonRow[] = [];
    await waitFor(
      async () => {
        byWorkload = await rows(ns);
        return byWorkload.find((r) => r.name === `${ns}/server`)?.requests === total;
      },
      { what: 'the server workload’s requests in meshbus stat', timeoutMs: 20_000, intervalMs: 500 },
    );
    expect(byWorkload.find((r) => r.name === `${ns}/server`)).toMatchObject({ proxies: 1, requests: total, success: sent.ok, failure: sent.failed, tls: total });
    // The client served nothing, but its proxy reports: it is listed with no requests.
    expect(byWorkload.find((r) => r.name === `${ns}/client`)).toMatchObject({ proxies: 1, requests: 0 });

    const byService = await rows(`${ns}/client`, '--by', 'service');
    expect(byService).toEqual([expect.objectContaining({ name: `server.${ns}.svc.cluster.local:80`, requests: total, success: sent.ok, failure: sent.failed, tls: total })]);

    // The summaries are in MESHBUS_METRICS; the events stream got none of them.
    const jsm = await (await mesh.connect()).jetstreamManager();
    expect((await jsm.streams.info(streams.metrics.name)).config).toMatchObject({ subjects: ['meshbus.v1.metrics.>'], max_age: 2 * 3_600_000 * 1_000_000, max_bytes: 256 * 2 ** 20, discard: 'old', storage: 'file' });
    expect((await jsm.streams.info(streams.metrics.name, { subjects_filter: subjects.metricsOf(ns) })).state.subjects).toEqual(
      expect.objectContaining({ [subjects.metricsSummary(ns, 'server')]: expect.any(Number), [subjects.metricsSummary(ns, 'client')]: expect.any(Number) }),
    );
    const events = await jsm.streams.info(streams.events.name, { subjects_filter: subjects.allEvents });
    expect(Object.keys(events.state.subjects ?? {}).filter((s) => s.includes('metrics'))).toEqual([]);

    const table = await stat(ns);
    const rate = ((100 * sent.ok) / total).toFixed(2);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+MESHED\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\s+TCP_CONN$/);
    expect(table).toMatch(new RegExp(`^${ns}/server\\s+1\\s+${rate.replace('.', '\\.')}%\\s+\\S+\\s+\\d+ms\\s+\\d+ms\\s+\\d+ms\\s+\\d+$`, 'm'));
  }, 60_000);

  it('shows the busiest routes with top, as plain text when stdout is not a terminal', async () => {
    // top runs until stopped: the test stops it with SIGTERM after a few refreshes, which it answers by exiting cleanly.
    const child = execFile('node', [join(repoRoot, 'cli/dist/main.js'), 'top', ns, '--refresh', '500ms', '--nats-url', mesh.nats.url], { encoding: 'utf8', cwd: dir });
    let out = '';
    child.stdout!.on('data', (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => (out.match(/busiest routes/g) ?? []).length >= 2, { what: 'two refreshes of meshbus top', timeoutMs: 15_000 });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out, out).not.toContain('\x1b[2J');
    const total = sent.ok + sent.failed;
    const rate = ((100 * sent.ok) / total).toFixed(2).replace('.', '\\.');
    expect(out, out).toMatch(new RegExp(`^${ns}/server\\s+inbound\\s+\\S+\\s+default\\s+${total}\\s+\\S+\\s+${rate}%`, 'm'));
    expect(out).toMatch(new RegExp(`^${ns}/client\\s+outbound\\s+server\\.${ns}\\.svc\\.cluster\\.local:80\\s+default\\s+${total}\\s`, 'm'));
  }, 30_000);

  it('answers a target it has no summaries for on stderr, and refuses a bad target', async () => {
    const empty = await run('node', [join(repoRoot, 'cli/dist/main.js'), 'stat', 'nobody', '--nats-url', mesh.nats.url], { encoding: 'utf8', cwd: dir });
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toMatch(/no traffic summaries for namespace nobody/);
    await expect(run('node', [join(repoRoot, 'cli/dist/main.js'), 'stat', 'Shop/x/y', '--nats-url', mesh.nats.url], { encoding: 'utf8', cwd: dir })).rejects.toMatchObject({
      // commander's usage errors exit 1, as for every command
      code: 1,
      stderr: expect.stringMatching(/is not <namespace> or <namespace>\/<workload>/),
    });
  }, 30_000);
});
