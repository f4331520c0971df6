import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, type NatsConnection } from 'nats';
import { streams, subjects } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { fileURLToPath } from 'node:url';
import { freePort, startNats, startProcess, waitFor, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envToConfig } from './config.js';
import { createDestinationService, type DestinationService } from './destination-service.js';

const serviceCount = 100;
const workloadCount = 25_696;

/** A manifest of about 5 MB: `serviceCount` Services and `workloadCount` Workloads spread over them. */
function bigManifest(): string {
  const parts: string[] = [];
  for (let s = 0; s < serviceCount; s++) {
    parts.push(`apiVersion: v1
kind: Service
metadata:
  name: svc-${s}
  namespace: big
spec:
  selector:
    app: svc-${s}
  ports:
    - name: http
      port: 80
      targetPort: http
`);
  }
  for (let w = 0; w < workloadCount; w++) {
    parts.push(`apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: workload-${w}
  namespace: big
  labels:
    app: svc-${w % serviceCount}
    tier: backend
    team: platform-${w % 7}
spec:
  address: 10.${(w >> 16) & 255}.${(w >> 8) & 255}.${(w & 255) || 1}
  ports:
    - name: http
      port: 8080
  serviceAccount: svc-${w % serviceCount}
  zone: zone-${w % 3}
`);
  }
  return parts.join('---\n');
}

async function lastEndpointCount(nc: NatsConnection, subject: string): Promise<number | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subject });
    return (JSON.parse(new TextDecoder().decode(m.data)) as { endpoints: unknown[] }).endpoints.length;
  } catch {
    return undefined;
  }
}

async function leaderChanges(nc: NatsConnection): Promise<number> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(streams.events.name, { subjects_filter: subjects.leader('destination') });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

describe('destination: a 5 MB manifest file (default lease of 6 s)', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let dir: string;
  let leader: DestinationService;
  let standby: RunningProcess;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-big-'));
    await writeFile(path.join(dir, 'small.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: { name: big }\n');
    const env = (id: string, adminPort: number) => ({
      NATS_URL: nats.url,
      MESHBUS_MANIFESTS_DIR: dir,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      MESHBUS_REPLICA_ID: `destination-${id}`,
      MESHBUS_LOG_LEVEL: 'warn',
    });
    // The leader runs here, where the event loop is measured; the standby in its own process, as in production.
    leader = createDestinationService(envToConfig(env('a', await freePort())), { logger: silentLogger() });
    await leader.start();
    await waitFor(() => leader.isLeader, { what: 'the first replica to lead' });
    const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
    standby = startProcess({ command: process.execPath, args: [main], env: { ...process.env, ...env('b', await freePort()) } });
    await new Promise((r) => setTimeout(r, 2000));
  });

  afterAll(async () => {
    await standby?.[Symbol.asyncDispose]();
    await leader?.[Symbol.asyncDispose]();
    await nc?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is read and published while the leader keeps its lease and the event loop stays responsive', async () => {
    const changesBefore = await leaderChanges(nc);
    const text = bigManifest();
    expect(text.length).toBeGreaterThan(5_000_000);

    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const started = performance.now();
    await writeFile(path.join(dir, 'big.yaml'), text);
    const perService = Math.ceil(workloadCount / serviceCount);
    for (const s of [0, serviceCount - 1]) {
      await waitFor(async () => (await lastEndpointCount(nc, subjects.endpoints('big', `svc-${s}`, 80))) === (s < workloadCount % serviceCount ? perService : perService - 1), {
        what: `endpoints of svc-${s}`,
        timeoutMs: 150_000,
        intervalMs: 100,
      });
    }
    await waitFor(async () => {
      for (let s = 0; s < serviceCount; s++) if ((await lastEndpointCount(nc, subjects.endpoints('big', `svc-${s}`, 80))) === undefined) return false;
      return true;
    }, { what: 'every endpoint set', timeoutMs: 20_000, intervalMs: 200 });
    const loadMs = performance.now() - started;
    lag.disable();
    const maxLagMs = lag.max / 1e6;
    console.log(`5 MB manifest (${workloadCount} workloads, leader in this process, standby in another): loaded and published in ${loadMs.toFixed(0)} ms; event-loop lag max ${maxLagMs.toFixed(0)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms`);

    expect(leader.isLeader).toBe(true);
    expect(await leaderChanges(nc)).toBe(changesBefore);
  }, 180_000);
});
