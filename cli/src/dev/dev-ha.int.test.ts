import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type RunningProcess } from '@meshbus/testing';
import { runCli } from '../cli-process.js';
import { readDevState } from '../dev-state.js';

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  expect(res.status, url).toBe(200);
  return (await res.json()) as T;
}

describe('meshbus dev --ha', () => {
  let cwd: string;
  let dev: RunningProcess;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-dev-ha-'));
    dev = runCli(['dev', '--ha', '--gateway-port', String(20_000 + Math.floor(Math.random() * 20_000)), '--log-level', 'warn'], { cwd });
    await waitFor(() => dev.output().includes('Ctrl-C stops everything'), { timeoutMs: 90_000, what: "meshbus dev --ha to be ready" });
  }, 120_000);
  afterAll(async () => {
    await dev?.stop(20_000);
    if (cwd) await rm(cwd, { recursive: true, force: true });
  }, 30_000);

  it('runs a 3-node NATS cluster keeping every stream on all nodes, and 2 ready replicas of every service', async () => {
    const state = await readDevState(join(cwd, '.meshbus'), '.');
    expect(state).toBeDefined();
    expect(state!.natsUrl.split(',')).toHaveLength(3);
    expect(state!.gateways).toHaveLength(2);
    expect(Object.keys(state!.admin).sort()).toEqual(['destination-1', 'destination-2', 'gateway-1', 'gateway-2', 'identity-1', 'identity-2', 'policy-1', 'policy-2']);
    for (const url of Object.values(state!.admin)) expect((await fetch(`${url}/ready`)).status, url).toBe(200);

    // Each node's configuration, as meshbus dev wrote it, names its monitoring port.
    const monitors: string[] = [];
    for (const node of ['n1', 'n2', 'n3']) {
      const conf = await readFile(join(cwd, '.meshbus', 'nats-cluster', `${node}.conf`), 'utf8');
      monitors.push(`http://${/^http: (\S+)$/m.exec(conf)![1]}`);
    }
    for (const monitor of monitors) {
      const routez = await getJson<{ num_routes: number }>(`${monitor}/routez`);
      expect(routez.num_routes, monitor).toBe(2);
    }
    const jsz = await getJson<{ meta_cluster?: { cluster_size?: number }; account_details?: { stream_detail?: { name: string; config?: { num_replicas?: number } }[] }[] }>(
      `${monitors[0]}/jsz?streams=true&config=true`,
    );
    expect(jsz.meta_cluster?.cluster_size).toBe(3);
    const streams = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    expect(streams.length).toBeGreaterThan(0);
    for (const s of streams) expect(s.config?.num_replicas, s.name).toBe(3);
    expect(dev.output()).toContain('a cluster of 3 nats-servers listening on');
  }, 30_000);

  it('starts a NATS node that dies again, the same node', async () => {
    const conf = join(cwd, '.meshbus', 'nats-cluster', 'n2.conf');
    // The nats-server this test's meshbus dev started with n2's configuration.
    const pid = (await readdir('/proc'))
      .filter((d) => /^\d+$/.test(d))
      .find((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(conf);
        } catch {
          return false;
        }
      });
    expect(pid, `a nats-server running ${conf}`).toBeDefined();
    process.kill(Number(pid), 'SIGKILL');
    await waitFor(() => dev.output().includes('nats-server n2 started again on'), { timeoutMs: 20_000, what: 'n2 to be started again' });
    expect(dev.output()).toMatch(/nats-server n2 exited on SIGKILL/);
    expect(dev.output()).not.toContain('nats-server n1 started again');
  }, 30_000);

  it('refuses an external NATS: the cluster is what --ha starts', async () => {
    const other = runCli(['dev', '--ha', '--nats-url', 'nats://127.0.0.1:1', '--state-dir', 'other'], { cwd });
    expect((await other.exited).code).toBe(2);
    expect(other.output()).toContain('--ha starts its own 3-node NATS cluster; leave out --nats-url');
  }, 30_000);
});
