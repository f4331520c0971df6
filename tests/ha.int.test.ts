import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { connect, type KvEntry, type NatsConnection, type QueuedIterator } from 'nats';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JetStreamPublisher, StreamReader } from '@meshbus/bus';
import { busValidator, streams, subjects, type LeaderChanged, type WorkloadExpired } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { destinationClient, EndpointWatcher, repoRoot, startMesh, type Mesh, type NatsCluster } from './harness.js';
import { clusterHealthy, Fleet, metricValue, nodeOfConnection, parseLogLines, parsePrometheusText, type LogLine, type ServiceProcess } from './process-harness.js';

// Failure and HA behaviour of the control plane with every service as its own
// process (services/<svc>/dist/main.js, built by `npx tsc --build`) on a real
// 3-node JetStream cluster. The tests share the processes; before each, the
// mesh is brought back to the same start (the example manifests, two
// destinations with one leader, gateways A and B serving them), so that each
// also passes on its own.

const leaseMs = 1000;
const web = 'web.shop.svc.cluster.local:80';
const db = 'db.shop.svc.cluster.local:5432';

/** The example's ready web endpoints. */
const initialWeb = ['127.0.0.11:8080', '127.0.0.13:8080'];

function workloadYaml(name: string, address: string): string {
  return [
    'apiVersion: meshbus.io/v1alpha1',
    'kind: Workload',
    `metadata: {name: ${name}, namespace: shop, labels: {app: web}}`,
    'spec:',
    `  address: ${address}`,
    '  ports: [{name: http, port: 8080}]',
    '  serviceAccount: web',
    '',
  ].join('\n');
}

interface LeaderEvent {
  type: string;
  holder: string;
  term: number;
  /** When the test read it. */
  at: number;
}

/** The `io.meshbus.v1.leader.changed` events of the destination role, with when the test saw each. */
class LeaderEvents {
  readonly seen: LeaderEvent[] = [];
  private reader: StreamReader | undefined;

  async start(nc: NatsConnection): Promise<void> {
    this.reader = new StreamReader({
      nc,
      stream: streams.events.name,
      filter: subjects.leader('destination'),
      validator: busValidator(),
      logger: silentLogger(),
      onEvent: (e) => {
        const d = e.data as LeaderChanged;
        this.seen.push({ type: e.type, holder: d.holder, term: d.term, at: Date.now() });
      },
    });
    await this.reader.start();
  }

  /** Waits for the event naming `holder` that arrived after `since`. */
  async waitFor(holder: string, since: number, timeoutMs = 15_000): Promise<LeaderEvent> {
    return waitFor(() => this.seen.find((e) => e.holder === holder && e.at >= since), { what: `leader.changed naming ${holder}`, timeoutMs });
  }

  async stop(): Promise<void> {
    await this.reader?.stop();
  }
}

async function leaderGauge(p: ServiceProcess): Promise<number | undefined> {
  return metricValue(await p.metrics(), 'meshbus_destination_leader');
}

/** Endpoints a proxy holds, comparable across gateways. */
function endpointView(w: EndpointWatcher): string {
  return JSON.stringify([...w.endpoints.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

describe('HA and failure behaviour with real processes on a 3-node NATS cluster', () => {
  let mesh: Mesh;
  let nats: NatsCluster;
  let manifests: { dir: string };
  let fleet: Fleet;
  let nc: NatsConnection;
  const leaderEvents = new LeaderEvents();
  const clients: ReturnType<typeof destinationClient>[] = [];
  const watchers: EndpointWatcher[] = [];
  const timings: Record<string, number> = {};
  let destinations: ServiceProcess[] = [];
  let gwA: ServiceProcess;
  let gwB: ServiceProcess;
  let replicaSeq = 0;

  const watch = (gw: ServiceProcess, path: string) => {
    const client = destinationClient(gw.grpcPort);
    clients.push(client);
    const w = new EndpointWatcher(client, path);
    watchers.push(w);
    return w;
  };
  const startDestination = async () => {
    const p = fleet.start({ service: 'destination', replicaId: `destination-${++replicaSeq}`, adminPort: await freePort() });
    destinations.push(p);
    return p;
  };
  const startGateway = async (id: string) =>
    fleet.start({ service: 'gateway', replicaId: id, adminPort: await freePort(), grpcPort: await freePort(), env: { MESHBUS_DRAIN_MS: '3000' } });
  const editManifest = (file: string, text: string) => writeFile(join(manifests.dir, file), text);
  const leaderOf = async (ps: ServiceProcess[]) => {
    const gauges = await Promise.all(ps.map(leaderGauge));
    const leaders = ps.filter((_, i) => gauges[i] === 1);
    return leaders.length === 1 && gauges.every((g) => g === 0 || g === 1) ? leaders[0] : undefined;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    // NATS and the manifests come from the mesh; the services run as processes of the fleet.
    mesh = await startMesh({ nats: { nodes: 3 }, manifests: true });
    nats = mesh.nats;
    manifests = { dir: mesh.manifestsDir! };
    fleet = new Fleet(nats.url, {
      MESHBUS_STREAM_REPLICAS: '3',
      MESHBUS_LEASE_DURATION: `${leaseMs / 1000}s`,
      MESHBUS_MANIFESTS_DIR: manifests.dir,
    });
    // All four at once: stream creation and the first election race, as in a rollout.
    await Promise.all([startDestination(), startDestination()]);
    gwA = await startGateway('gateway-a');
    gwB = await startGateway('gateway-b');
    // The first start creates the streams and the lease bucket (R3): each waits for nats-server to elect a stream leader.
    await Promise.all(fleet.all.map((p) => p.waitReady(45_000)));
    nc = await connect({ servers: nats.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    await leaderEvents.start(nc);
    timings['start-up (cluster + 4 processes ready)'] = Date.now() - t0;
  }, 90_000);

  /** The example manifests again, without the files tests added. */
  const resetManifests = async () => {
    const examples = join(repoRoot, 'examples/manifests');
    const keep = new Set(await readdir(examples));
    for (const f of await readdir(manifests.dir)) if (!keep.has(f)) await rm(join(manifests.dir, f), { recursive: true, force: true });
    for (const f of keep) {
      const text = await readFile(join(examples, f), 'utf8');
      if ((await readFile(join(manifests.dir, f), 'utf8').catch(() => undefined)) !== text) await writeFile(join(manifests.dir, f), text);
    }
  };

  beforeEach(async () => {
    await resetManifests();
    destinations = destinations.filter((d) => d.running);
    while (destinations.length < 2) await startDestination();
    if (!gwA.running) gwA = fleet.restart(gwA);
    if (!gwB.running) gwB = fleet.restart(gwB);
    await Promise.all([...destinations, gwA, gwB].map((p) => p.waitReady()));
    await waitFor(() => leaderOf(destinations), { what: 'one destination leader' });
    for (const gw of [gwA, gwB]) {
      const w = watch(gw, web);
      const d = watch(gw, db);
      await waitFor(() => w.addresses().join() === initialWeb.join() && d.addresses().join() === '127.0.0.31:5432', {
        what: `${gw.replicaId} serves the example manifests`,
        timeoutMs: 20_000,
      });
      w.cancel();
      d.cancel();
    }
  }, 60_000);

  afterAll(async () => {
    for (const w of watchers) w.cancel();
    for (const c of clients) c.close();
    await leaderEvents.stop();
    await nc?.close();
    await fleet?.stopAll();
    await mesh?.[Symbol.asyncDispose]();
    console.log(`HA timings (ms):\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
  });

  it('every service answers /live and /ready, and serves /metrics as Prometheus text', async () => {
    for (const p of fleet.running()) {
      const live = await httpGet(`${p.adminUrl}/live`);
      expect(live.status, p.describe()).toBe(200);
      expect((await httpGet(`${p.adminUrl}/ready`)).status, p.describe()).toBe(200);
      const res = await fetch(`${p.adminUrl}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; ?version=0\.0\.4/);
      const samples = parsePrometheusText(await res.text());
      const names = new Set(samples.map((s) => s.name));
      expect(names.has(p.spec.service === 'destination' ? 'meshbus_destination_leader' : 'meshbus_gateway_state_keys'), p.describe()).toBe(true);
      expect((await httpGet(`${p.adminUrl}/nope`)).status).toBe(404);
    }
  });

  it('destination HA: exactly one leader; SIGKILL of the leader hands over to the standby, and edits made meanwhile arrive', async () => {
    // Never two leaders over more than a lease period, then exactly one.
    const until = Date.now() + leaseMs * 1.5;
    while (Date.now() < until) {
      const gauges = await Promise.all(destinations.map(leaderGauge));
      expect(gauges.filter((g) => g === 1).length, `leader gauges ${gauges.join(',')}`).toBeLessThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const leader = await waitFor(() => leaderOf(destinations), { what: 'exactly one destination leader' });
    const standby = destinations.find((d) => d !== leader)!;
    expect(await leaderGauge(standby)).toBe(0);
    await waitFor(() => leaderEvents.seen.at(-1)?.holder === leader.replicaId, { what: `leader.changed naming ${leader.replicaId}` });

    const w = watch(gwB, web);
    await waitFor(() => w.addresses().join() === initialWeb.join(), { what: 'initial web endpoints' });

    const killedAt = Date.now();
    await leader.kill();
    destinations = destinations.filter((d) => d !== leader);
    // An edit made while nobody leads must not be lost.
    await editManifest('web-3.yaml', workloadYaml('web-3', '127.0.0.14'));
    const editedAt = Date.now();
    const elected = await leaderEvents.waitFor(standby.replicaId, killedAt);
    timings['destination failover after SIGKILL (kill -> leader.changed)'] = elected.at - killedAt;
    expect(elected.type).toBe('io.meshbus.v1.leader.changed');
    await waitFor(() => w.endpoints.has('127.0.0.14:8080'), { what: 'edit made during failover', timeoutMs: 15_000 });
    timings['edit during failover -> client'] = Date.now() - editedAt;
    expect(w.error).toBeUndefined();
    expect(await leaderGauge(standby)).toBe(1);
    // The new leader's term is a later lease revision.
    const terms = leaderEvents.seen.map((e) => e.term);
    expect(elected.term).toBe(Math.max(...terms));
    expect(elected.term).toBeGreaterThan(leaderEvents.seen.find((e) => e.holder === leader.replicaId)!.term);

    // A replacement comes up as standby and leaves the leader alone.
    const replacement = await startDestination();
    await replacement.waitReady();
    await new Promise((r) => setTimeout(r, leaseMs * 1.5));
    expect(await leaderGauge(replacement)).toBe(0);
    expect(await leaderGauge(standby)).toBe(1);
  });

  it('destination HA: SIGTERM of the leader releases the lease, the standby takes over sooner than the lease, and the process exits 0', async () => {
    const leader = await waitFor(() => leaderOf(destinations), { what: 'one leader' });
    const standby = destinations.find((d) => d !== leader)!;
    const kv = await nc.jetstream().views.kv('meshbus-leases', { bindOnly: true });
    const lease: { op: string; at: number }[] = [];
    const watchIt: QueuedIterator<KvEntry> = await kv.watch({ key: 'destination' });
    void (async () => {
      for await (const e of watchIt) lease.push({ op: e.operation, at: Date.now() });
    })();
    const w = watch(gwA, web);
    await editManifest('web-3.yaml', workloadYaml('web-3', '127.0.0.14'));
    await waitFor(() => w.endpoints.has('127.0.0.14:8080'), { what: 'current web endpoints' });

    const stoppedAt = Date.now();
    const exit = await leader.terminate();
    destinations = destinations.filter((d) => d !== leader);
    timings['destination leader exit after SIGTERM'] = Date.now() - stoppedAt;
    const elected = await leaderEvents.waitFor(standby.replicaId, stoppedAt);
    const takeover = elected.at - stoppedAt;
    timings['destination takeover after SIGTERM (term -> leader.changed)'] = takeover;
    watchIt.stop();

    // The new leader publishes.
    await rm(join(manifests.dir, 'web-3.yaml'));
    await waitFor(() => !w.endpoints.has('127.0.0.14:8080'), { what: 'removal published by the new leader', timeoutMs: 5000 });
    expect(w.addresses()).toEqual(initialWeb);

    expect(exit, leader.tail()).toEqual({ code: 0, signal: null });
    // Released, not expired: a delete marker before the standby's lease.
    const del = lease.findIndex((e) => e.at >= stoppedAt && e.op !== 'PUT');
    expect(del, JSON.stringify(lease)).toBeGreaterThanOrEqual(0);
    expect(lease.slice(del + 1).some((e) => e.op === 'PUT'), JSON.stringify(lease)).toBe(true);
    expect(takeover).toBeLessThan(leaseMs);
  });

  it('gateway SIGKILL loses nothing: clients move to another replica, and the restarted one converges', async () => {
    const onA = watch(gwA, web);
    await waitFor(() => onA.addresses().join() === initialWeb.join(), { what: 'web endpoints through gateway A' });
    const before = endpointView(onA);

    await gwA.kill();
    const err = await waitFor(() => onA.error, { what: 'stream error after gateway A died' });
    expect(err.code).toBe(status.UNAVAILABLE);

    // The proxy reconnects to gateway B with a fresh client: the full set comes in the first message.
    const reconnectedAt = Date.now();
    const onB = watch(gwB, web);
    await waitFor(() => onB.updates.length > 0, { what: 'first update from gateway B' });
    timings['gateway failover: fresh client on B -> full set'] = Date.now() - reconnectedAt;
    const first = onB.updates[0]!.update;
    expect(first?.$case).toBe('add');
    if (first?.$case === 'add') expect(first.add.addrs).toHaveLength(initialWeb.length);
    expect(endpointView(onB)).toBe(before);

    // Changes while A is down: web-2 becomes ready, web-legacy leaves.
    const webFile = join(manifests.dir, 'web.yaml');
    const text = await readFile(webFile, 'utf8');
    const legacy = text.indexOf('---\n# Not meshed');
    expect(legacy).toBeGreaterThan(0);
    await writeFile(webFile, text.slice(0, legacy).replace('  ready: false\n', ''));
    const expected = ['127.0.0.11:8080', '127.0.0.12:8080'];
    await waitFor(() => onB.addresses().join() === expected.join(), { what: 'changes while gateway A is down' });

    const restartedAt = Date.now();
    const gwA2 = fleet.restart(gwA);
    await gwA2.waitReady();
    timings['gateway restart -> ready'] = Date.now() - restartedAt;
    gwA = gwA2;
    const again = watch(gwA, web);
    await waitFor(() => again.addresses().join() === expected.join(), { what: 'restarted gateway A converges' });
    expect(endpointView(again)).toBe(endpointView(onB));
    expect(again.updates[0]!.update?.$case).toBe('add');
  });

  it('destination down while the folder changes: the replica that comes back converges the gateways to the folder', async () => {
    const webOnA = watch(gwA, web);
    const dbOnB = watch(gwB, db);
    await waitFor(() => webOnA.addresses().join() === initialWeb.join(), { what: 'web endpoints' });
    await waitFor(() => dbOnB.addresses().join() === '127.0.0.31:5432', { what: 'db endpoints' });

    const exits = await Promise.all(destinations.map((d) => d.terminate()));
    for (const [i, e] of exits.entries()) expect(e, destinations[i]!.tail()).toEqual({ code: 0, signal: null });
    destinations = [];

    // Gateways keep serving what the bus holds.
    const late = watch(gwB, web);
    await waitFor(() => late.addresses().join() === initialWeb.join(), { what: 'gateway serves while no destination runs' });

    await editManifest('web-4.yaml', workloadYaml('web-4', '127.0.0.15'));
    await rm(join(manifests.dir, 'db.yaml'));
    await new Promise((r) => setTimeout(r, 300));
    expect(webOnA.endpoints.has('127.0.0.15:8080')).toBe(false);
    expect(dbOnB.exists).toBe(true);

    const startedAt = Date.now();
    const d = await startDestination();
    await waitFor(() => webOnA.endpoints.has('127.0.0.15:8080') && dbOnB.exists === false, {
      what: 'clients converge to the folder',
      timeoutMs: 20_000,
    });
    timings['destination restart -> clients converged (incl. process start)'] = Date.now() - startedAt;
    expect(dbOnB.endpoints.size).toBe(0);
    expect(dbOnB.updates.at(-1)?.update).toEqual({ $case: 'noEndpoints', noEndpoints: { exists: false } });
    await waitFor(() => late.endpoints.has('127.0.0.15:8080'), { what: 'second client converges' });
    const fresh = watch(gwA, db);
    await waitFor(() => fresh.exists === false, { what: 'fresh client: db does not exist' });
    await d.waitReady();
    expect(await leaderGauge(d)).toBe(1);
  });

  it('NATS node failure: with the server of the leader (and of the most services) killed, changes still reach clients through both gateways', async () => {
    const leader = await waitFor(() => leaderOf(destinations), { what: 'one leader' });
    const onA = watch(gwA, web);
    const onB = watch(gwB, web);
    await waitFor(() => onA.addresses().length === initialWeb.length && onB.addresses().length === initialWeb.length, { what: 'web endpoints on both gateways' });

    // The node to kill: the one most of the leader and the two gateways are attached to, the leader's on a tie.
    const placement = new Map<ServiceProcess, number>();
    for (const s of [leader, gwA, gwB, ...destinations.filter((d) => d !== leader)]) {
      placement.set(s, await waitFor(() => nodeOfConnection(nats, s.connectionName), { what: `NATS node of ${s.describe()}` }));
    }
    const load = (n: number) => [leader, gwA, gwB].filter((s) => placement.get(s) === n).length;
    const n = [0, 1, 2].reduce((best, i) => (load(i) > load(best) ? i : best), placement.get(leader)!);
    const node = nats.nodes[n]!;
    const jsm = await nc.jetstreamManager();
    const streamLeaders = await Promise.all([streams.state.name, streams.events.name, 'KV_meshbus-leases'].map(async (s) => `${s}@${(await jsm.streams.info(s)).cluster?.leader}`));
    const what = `server of ${[...placement].filter(([, i]) => i === n).map(([s]) => s.replicaId).join(', ')}; ${streamLeaders.join(' ')}`;

    const killedAt = Date.now();
    await nats.kill(n);
    await editManifest('web-5.yaml', workloadYaml('web-5', '127.0.0.41'));
    await waitFor(() => onA.endpoints.has('127.0.0.41:8080') && onB.endpoints.has('127.0.0.41:8080'), {
      what: `change with NATS node ${node.name} (${what}) down`,
      timeoutMs: 40_000,
    });
    timings[`NATS ${node.name} killed (${what}) -> change on both gateways`] = Date.now() - killedAt;
    expect(onA.error ?? onB.error).toBeUndefined();
    for (const s of fleet.running()) await s.waitReady(15_000);

    const restartAt = Date.now();
    await nats.restart(n);
    await waitFor(() => clusterHealthy(nats), { what: 'cluster healthy again', timeoutMs: 30_000 });
    timings[`NATS ${node.name} restart -> cluster healthy`] = Date.now() - restartAt;

    // Still one leader, and a change after the restart arrives too.
    await waitFor(() => leaderOf(destinations), { what: 'one leader after the node failure' });
    const changedAt = Date.now();
    await rm(join(manifests.dir, 'web-5.yaml'));
    await waitFor(() => !onA.endpoints.has('127.0.0.41:8080') && !onB.endpoints.has('127.0.0.41:8080'), { what: 'change after the restart', timeoutMs: 20_000 });
    timings['change after the NATS restart -> both gateways'] = Date.now() - changedAt;
  }, 90_000);

  it('NATS node failure: an event reader started at "new" does not get old events again when its consumer dies with the node', async () => {
    // An external tool following the events (as `meshbus events --follow` would).
    const pub = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/test/ha' });
    const expired = (name: string) => pub.publish('workloadExpired', subjects.workloadExpired, `shop/${name}`, { namespace: 'shop', name, lastHeartbeat: new Date().toISOString() });
    for (const name of ['old-1', 'old-2', 'old-3']) await expired(name);
    const readerNc = await connect({ servers: nats.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const got: string[] = [];
    const reader = new StreamReader({
      nc: readerNc,
      stream: streams.events.name,
      filter: subjects.workloadExpired,
      from: 'new',
      validator: busValidator(),
      logger: silentLogger(),
      onEvent: (e) => got.push((e.data as WorkloadExpired).name),
    });
    try {
      await reader.start();
      const consumers = await (await nc.jetstreamManager()).consumers.list(streams.events.name).next();
      const mine = consumers.filter((c) => c.config.filter_subject === subjects.workloadExpired && c.push_bound);
      expect(mine, JSON.stringify(consumers.map((c) => c.config))).toHaveLength(1);
      const host = nats.nodes.findIndex((x) => x.name === mine[0]!.cluster?.leader);
      expect(host).toBeGreaterThanOrEqual(0);

      const killedAt = Date.now();
      await nats.kill(host);
      await waitFor(() => expired('new-1').then(() => true, () => false), { what: 'events stream writable again', timeoutMs: 30_000 });
      await waitFor(() => got.includes('new-1'), { what: 'new event after the consumer was lost', timeoutMs: 30_000 });
      timings[`event reader: consumer host ${nats.nodes[host]!.name} killed -> new event read`] = Date.now() - killedAt;
      expect(got.filter((n) => n !== 'new-1')).toEqual([]);

      await nats.restart(host);
      await waitFor(() => clusterHealthy(nats), { what: 'cluster healthy again', timeoutMs: 30_000 });
    } finally {
      await reader.stop();
      await readerNc.close();
    }
  });

  it('every service exits 0 on SIGTERM, ending its streams, also with NATS down, and wrote only JSON log lines', async () => {
    const w = watch(gwB, web);
    await waitFor(() => w.updates.length > 0, { what: 'open stream' });
    const running = fleet.running();
    const exits = await Promise.all(
      running.map(async (p) => {
        const t = Date.now();
        const e = await p.terminate();
        return { p, e, ms: Date.now() - t };
      }),
    );
    for (const { p, e, ms } of exits) {
      expect(e, p.tail()).toEqual({ code: 0, signal: null });
      timings[`SIGTERM -> exit: ${p.replicaId}`] = ms;
    }
    expect(w.error?.code).toBe(status.UNAVAILABLE);

    // Also with the bus gone: a pair started now, then every NATS node killed.
    const pair = [await startDestination(), await startGateway('gateway-c')];
    await Promise.all(pair.map((p) => p.waitReady()));
    for (const i of nats.nodes.keys()) await nats.kill(i);
    await waitFor(async () => (await Promise.all(pair.map((p) => httpGet(`${p.adminUrl}/ready`)))).every((r) => r.status === 503), {
      what: 'not ready without NATS',
    });
    for (const p of pair) expect((await httpGet(`${p.adminUrl}/live`)).status).toBe(200);
    for (const p of pair) {
      const t = Date.now();
      const e = await p.terminate();
      expect(e, p.tail()).toEqual({ code: 0, signal: null });
      timings[`SIGTERM with every NATS node down -> exit: ${p.replicaId}`] = Date.now() - t;
    }

    for (const p of fleet.all) {
      const lines = parseLogLines(p);
      expect(lines.length, p.describe()).toBeGreaterThan(0);
      const errors = lines.filter((l) => l.level === 'fatal' || l.level === 'error');
      const brief = (l: LogLine) => `${l.time} ${l.level} ${l.msg}${l.err ? `: ${(l.err as { message?: string }).message ?? JSON.stringify(l.err)}` : ''}`;
      if (errors.length > 0) console.log(`${p.describe()} logged ${errors.length} error line(s):\n${errors.map(brief).join('\n')}`);
      if (p.endedBy === 'SIGTERM') {
        expect(lines.at(-1)?.msg, p.describe()).toBe('stopped');
        expect(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
      }
      expect(p.stderr, p.describe()).toBe('');
    }
  });
});
