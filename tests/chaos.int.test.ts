import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRegistrationTransport, WorkloadRegistrar } from '@meshbus/bus';
import { streams, subjects, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { CertificateClient } from '@meshbus/identity-client';
import { destination } from '@meshbus/proxy-api';
import { silentLogger } from '@meshbus/runtime';
import { freePort, waitFor } from '@meshbus/testing';
import { addrText, repoRoot, startNats, type NatsCluster } from './harness.js';
import { clusterHealthy, Fleet, metricValue, type ServiceProcess } from './process-harness.js';

// The control plane under churn and failures: a 3-node JetStream cluster
// (streams R3), two processes each of destination, policy, identity and
// gateway, 300 Destination.Get streams over both gateways, a steady stream of
// manifest edits and of workload registrations, and one SIGKILL at a time of
// the destination leader, the policy leader, an identity replica, a gateway
// and the NATS server that leads MESHBUS_STATE. Destination and policy run
// with their default lease.

const ns = 'chaos';
/** Services whose manifest files the churn edits. */
const churned = ['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4', 'svc-5'];
/** Edited only to time a failover: the first correct update after a kill. */
const probe = 'probe';
/** Its endpoints come only from a workload that registers and deregisters over the bus. */
const registered = 'registered';
const allServices = [...churned, probe, registered];
const streamsPerService: Record<string, number> = { probe: 40, registered: 20 };
const churnEveryMs = 200;
const webIdentity = `web.${ns}.serviceaccount.identity.meshbus.cluster.local`;

const path = (svc: string) => `${svc}.${ns}.svc.cluster.local:80`;

/** A workload and the Server on its port, edited only to time the policy leader's failover. */
const policyTarget = 'policy-target';
function policyManifest(protocol: 'HTTP/1' | 'HTTP/2'): string {
  return [
    `apiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: {name: ${policyTarget}, namespace: ${ns}, labels: {app: ${policyTarget}}}\nspec:\n  address: 127.9.0.1\n  ports: [{name: http, port: 8080}]\n  serviceAccount: web\n`,
    `apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: ${policyTarget}-http, namespace: ${ns}}\nspec:\n  podSelector: {matchLabels: {app: ${policyTarget}}}\n  port: http\n  proxyProtocol: ${protocol}\n`,
  ].join('---\n');
}
/** The protocol the published inbound policy of the policy target gives its port 8080. */
async function policyTargetProtocol(nc: NatsConnection): Promise<string | undefined> {
  try {
    const m = await (await nc.jetstreamManager()).streams.getMessage(streams.state.name, { last_by_subj: subjects.inboundPolicy(ns, policyTarget) });
    const policy = JSON.parse(new TextDecoder().decode(m.data)) as { ports?: { port: number; server: { protocol: string } }[] };
    return policy.ports?.find((p) => p.port === 8080)?.server.protocol;
  } catch {
    return undefined;
  }
}
const stateKey = (addresses: Iterable<string>) => [...addresses].sort().join(',');

/** What the source holds for each service, and every state it ever held (as written, in order). */
class SourceLog {
  readonly current = new Map<string, Set<string>>();
  readonly history = new Map<string, Set<string>>();

  set(svc: string, addresses: Set<string>): void {
    this.current.set(svc, new Set(addresses));
    let h = this.history.get(svc);
    if (!h) this.history.set(svc, (h = new Set()));
    h.add(stateKey(addresses));
  }

  had(svc: string, key: string): boolean {
    return this.history.get(svc)?.has(key) ?? false;
  }

  now(svc: string): string {
    return stateKey(this.current.get(svc) ?? []);
  }
}

function manifest(svc: string, addresses: Iterable<string>): string {
  const docs = [
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${svc}, namespace: ${ns}}\nspec:\n  selector: {app: ${svc}}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n`,
  ];
  for (const a of [...addresses].sort()) {
    const ip = a.split(':')[0]!;
    docs.push(
      `apiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: {name: ${svc}-${ip.replaceAll('.', '-')}, namespace: ${ns}, labels: {app: ${svc}}}\nspec:\n  address: ${ip}\n  ports: [{name: http, port: 8080}]\n  serviceAccount: web\n`,
    );
  }
  return docs.join('---\n');
}

/** One proxy's Destination.Get stream; moves to the other gateway when its gateway fails, as a proxy does. */
class ChaosWatcher {
  private call: ClientReadableStream<destination.Update> | undefined;
  private endpoints = new Set<string>();
  private checkTimer: NodeJS.Timeout | undefined;
  /** The kinds of the messages applied since the last look, for reports. */
  private recent: string[] = [];
  /** The state before the last look, for reports. */
  previous: string | undefined;
  private cancelled = false;
  gateway: number;
  /** The endpoint set once the messages that arrived together have been applied; undefined before the first. */
  state: string | undefined;
  reconnects = 0;
  /** When the stream last failed, and when the first update after that arrived. */
  failedAt: number | undefined;
  recoveredAt: number | undefined;

  constructor(
    readonly svc: string,
    gateway: number,
    private readonly clients: () => destination.DestinationClient[],
    private readonly onState: (w: ChaosWatcher, state: string, messages: string) => void,
  ) {
    this.gateway = gateway;
    this.open();
  }

  private open(): void {
    this.endpoints = new Set();
    const call = this.clients()[this.gateway]!.get({ scheme: 'k8s', path: path(this.svc), contextToken: '' });
    this.call = call;
    let first = true;
    call.on('data', (u: destination.Update) => {
      if (call !== this.call) return;
      if (first && this.failedAt !== undefined) this.recoveredAt = Date.now();
      first = false;
      const upd = u.update;
      if (upd?.$case === 'add') for (const a of upd.add.addrs) this.endpoints.add(addrText(a.addr!));
      else if (upd?.$case === 'remove') for (const a of upd.remove.addrs) this.endpoints.delete(addrText(a));
      else if (upd?.$case === 'noEndpoints') this.endpoints.clear();
      this.recent.push(`${upd?.$case}${upd?.$case === 'add' ? `(${upd.add.addrs.length})` : upd?.$case === 'remove' ? `(${upd.remove.addrs.length})` : ''}`);
      // The proxy API carries one change as a removal followed by an addition. A
      // state left by a removal is judged with the addition that completes it,
      // when one follows; one that stays alone for 5 s is judged as it is. (The
      // addition is written together with the removal, but HTTP/2 flow control
      // holds it back while this busy client has not read the removal yet.)
      const look = () => {
        this.checkTimer = undefined;
        if (call !== this.call) return;
        this.previous = this.state;
        this.state = stateKey(this.endpoints);
        this.onState(this, this.state, this.recent.join(' '));
        this.recent = [];
      };
      clearTimeout(this.checkTimer);
      this.checkTimer = undefined;
      if (upd?.$case === 'remove') {
        this.checkTimer = setTimeout(look, 5000);
      } else {
        setImmediate(look);
      }
    });
    call.on('error', () => {
      if (call !== this.call || this.cancelled) return;
      this.failedAt = Date.now();
      this.recoveredAt = undefined;
      this.reconnects++;
      this.gateway = 1 - this.gateway;
      setTimeout(() => this.open(), 50);
    });
  }

  /** The endpoint set as applied so far (between the two messages of a change, their intermediate). */
  get current(): string {
    return stateKey(this.endpoints);
  }

  cancel(): void {
    this.cancelled = true;
    this.call?.cancel();
  }
}

describe('chaos: kill -9 one at a time under churn, on a 3-node NATS cluster', () => {
  let nats: NatsCluster;
  let dir: string;
  let fleet: Fleet;
  let nc: NatsConnection;
  const source = new SourceLog();
  const watchers: ChaosWatcher[] = [];
  const violations: string[] = [];
  const failovers: Record<string, number> = {};
  let destinations: ServiceProcess[] = [];
  let policies: ServiceProcess[] = [];
  let identities: ServiceProcess[] = [];
  let gateways: ServiceProcess[] = [];
  let clients: destination.DestinationClient[] = [];
  let churning = true;
  let churnLoop: Promise<void> | undefined;
  let registrationLoop: Promise<void> | undefined;
  let certifyLoop: Promise<void> | undefined;
  const certify = { ok: 0, failed: [] as string[], slowestMs: 0, issuedAt: [] as number[] };
  let nextHost = 1;
  let replicaSeq = 0;

  const manifestsDir = () => join(dir, 'manifests');
  const writeService = async (svc: string, addresses: Set<string>) => {
    source.set(svc, addresses);
    const file = join(manifestsDir(), `${svc}.yaml`);
    // Written whole and renamed into place: the destination never reads half a file.
    await writeFile(`${file}.tmp`, manifest(svc, addresses));
    await rename(`${file}.tmp`, file);
  };
  const newAddress = (svc: string) => `127.${10 + allServices.indexOf(svc)}.${Math.floor(nextHost / 250)}.${(nextHost++ % 250) + 1}:8080`;
  const startDestination = async () => {
    const p = fleet.start({ service: 'destination', replicaId: `destination-${++replicaSeq}`, adminPort: await freePort() });
    destinations.push(p);
    return p;
  };
  const startPolicy = async () => {
    const p = fleet.start({ service: 'policy', replicaId: `policy-${++replicaSeq}`, adminPort: await freePort() });
    policies.push(p);
    return p;
  };
  const startIdentity = async () => {
    const p = fleet.start({ service: 'identity', replicaId: `identity-${++replicaSeq}`, adminPort: await freePort() });
    identities.push(p);
    return p;
  };
  const leader = async () => {
    const gauges = await Promise.all(destinations.map(async (d) => (d.running ? metricValue(await d.metrics(), 'meshbus_destination_leader') : 0)));
    const leaders = destinations.filter((_, i) => gauges[i] === 1);
    return leaders.length === 1 ? leaders[0] : undefined;
  };
  const policyLeader = async () => {
    const gauges = await Promise.all(policies.map(async (p) => (p.running ? metricValue(await p.metrics(), 'meshbus_policy_leader') : 0)));
    const leaders = policies.filter((_, i) => gauges[i] === 1);
    return leaders.length === 1 ? leaders[0] : undefined;
  };
  let policyProtocol: 'HTTP/1' | 'HTTP/2' = 'HTTP/1';
  /** Flips the policy target's Server protocol and resolves with the time its inbound policy on the bus shows it. */
  const policyEdit = async () => {
    policyProtocol = policyProtocol === 'HTTP/1' ? 'HTTP/2' : 'HTTP/1';
    const want = policyProtocol === 'HTTP/1' ? 'http1' : 'http2';
    const file = join(manifestsDir(), 'policy.yaml');
    await writeFile(`${file}.tmp`, policyManifest(policyProtocol));
    await rename(`${file}.tmp`, file);
    await waitFor(async () => (await policyTargetProtocol(nc)) === want, { what: `policy edit (${want}) in the bus state`, timeoutMs: 30_000, intervalMs: 20 });
    return Date.now();
  };
  /** Edits the probe service and resolves with the time the new state reached every probe stream. */
  const probeEdit = async () => {
    const next = new Set(source.current.get(probe));
    next.add(newAddress(probe));
    await writeService(probe, next);
    const want = stateKey(next);
    const probes = watchers.filter((w) => w.svc === probe);
    let first: number | undefined;
    await waitFor(
      () => {
        if (first === undefined && probes.some((w) => w.state === want)) first = Date.now();
        return probes.every((w) => w.state === want);
      },
      { what: 'probe edit on every probe stream', timeoutMs: 30_000, intervalMs: 10 },
    );
    return { first: first!, all: Date.now() };
  };

  beforeAll(async () => {
    const t0 = Date.now();
    dir = await mkdtemp(join(tmpdir(), 'meshbus-chaos-'));
    execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), 'identity', 'init', '--dir', join(dir, 'identity')]);
    const token = execFileSync(
      'node',
      [join(repoRoot, 'cli/dist/main.js'), 'identity', 'token', '--namespace', ns, '--service-account', 'web', '--key', join(dir, 'identity', 'token.key')],
      { encoding: 'utf8' },
    ).trim();
    await writeFile(join(dir, 'token'), token);
    await mkdir(manifestsDir());
    await writeFile(join(manifestsDir(), 'namespace.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: ${ns}}\n`);
    for (const svc of [...churned, probe]) await writeService(svc, new Set([newAddress(svc), newAddress(svc), newAddress(svc)]));
    await writeService(registered, new Set());
    await writeFile(join(manifestsDir(), 'policy.yaml'), policyManifest(policyProtocol));

    nats = await startNats({ nodes: 3 });
    fleet = new Fleet(nats.url, {
      MESHBUS_STREAM_REPLICAS: '3',
      MESHBUS_MANIFESTS_DIR: manifestsDir(),
      MESHBUS_IDENTITY_DIR: join(dir, 'identity'),
      MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'identity', 'token.pub'),
      MESHBUS_DRAIN_MS: '1000',
    });
    await Promise.all([startDestination(), startDestination(), startPolicy(), startPolicy(), startIdentity(), startIdentity()]);
    for (const id of ['gateway-a', 'gateway-b']) {
      gateways.push(fleet.start({ service: 'gateway', replicaId: id, adminPort: await freePort(), grpcPort: await freePort() }));
    }
    await Promise.all(fleet.all.map((p) => p.waitReady(40_000)));
    const readyAt = Date.now();
    clients = gateways.map((g) => new destination.DestinationClient(`127.0.0.1:${g.grpcPort}`, credentials.createInsecure()));
    nc = await connect({ servers: nats.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });

    const onState = (w: ChaosWatcher, state: string, messages: string) => {
      if (!source.had(w.svc, state)) {
        violations.push(`${w.svc} on gateway ${w.gateway}: [${state}] (from [${w.previous}] by ${messages}) at ${new Date().toISOString()}, never a source state`);
      }
    };
    // Before the destination leader has published a service, the mesh rightly answers it with no
    // endpoints; the streams open once the bus holds every service's endpoint set.
    const jsm0 = await nc.jetstreamManager();
    await waitFor(
      async () => {
        const info = await jsm0.streams.info(streams.state.name, { subjects_filter: subjects.allEndpoints });
        const held = new Set(Object.keys(info.state.subjects ?? {}));
        return allServices.every((svc) => held.has(subjects.endpoints(ns, svc, 80)));
      },
      { what: 'every service published on the bus', timeoutMs: 30_000 },
    );
    let n = 0;
    for (const svc of allServices) {
      for (let i = 0; i < (streamsPerService[svc] ?? 40); i++) watchers.push(new ChaosWatcher(svc, n++ % 2, () => clients, onState));
    }
    await waitFor(() => watchers.every((w) => w.state === source.now(w.svc)), { what: 'every stream has its initial state', timeoutMs: 30_000 });
    console.log(`chaos: ${fleet.all.length} processes ready after ${readyAt - t0} ms, ${watchers.length} streams on their initial state after ${Date.now() - readyAt} ms more`);

    // Steady churn of manifest edits: one endpoint added or removed per edit, never both.
    churnLoop = (async () => {
      for (let i = 0; churning; i++) {
        const svc = churned[i % churned.length]!;
        const next = new Set(source.current.get(svc));
        const list = [...next];
        if (list.length > 2 && (list.length > 8 || Math.random() < 0.5)) next.delete(list[Math.floor(Math.random() * list.length)]!);
        else next.add(newAddress(svc));
        await writeService(svc, next);
        await new Promise((r) => setTimeout(r, churnEveryMs));
      }
    })();
    // A workload registering and deregistering through the destination replicas' request path.
    registrationLoop = (async () => {
      const transport = new NatsRegistrationTransport({ nc, source: '/meshbus/workload/chaos-reg', timeoutMs: 2000 });
      const address = newAddress(registered);
      const ip = address.split(':')[0]!;
      const registration: Omit<WorkloadRegistration, 'heartbeatIntervalMs'> = { namespace: ns, name: 'reg-1', address: ip, ports: [{ name: 'http', port: 8080 }], labels: { app: registered }, serviceAccount: 'web' };
      while (churning) {
        const registrar = new WorkloadRegistrar({ transport, token: () => token, registration, intervalMs: 10_000, logger: silentLogger() });
        // A deregistration that must land, whatever the bus is going through; the registrar's own is tried first.
        const deregister = async () => {
          for (let i = 0; i < 40; i++) {
            try {
              await transport.request('workloadDeregisterRequest', { token, namespace: ns, name: 'reg-1' });
              return;
            } catch {
              await new Promise((r) => setTimeout(r, 500));
            }
          }
        };
        source.set(registered, new Set([address]));
        let started = true;
        await registrar.start().catch(() => {
          started = false;
        });
        await new Promise((r) => setTimeout(r, 1500));
        if (started) await registrar.stop().catch(deregister);
        else await deregister();
        source.set(registered, new Set());
        await new Promise((r) => setTimeout(r, 1500));
      }
    })();
    // Workloads getting certificates through the gateways, one after another.
    certifyLoop = (async () => {
      while (churning) {
        const started = Date.now();
        const client = new CertificateClient({
          identity: webIdentity,
          tokenProvider: async () => Buffer.from(token),
          gateways: gateways.map((g) => `127.0.0.1:${g.grpcPort}`),
          credentials: credentials.createInsecure(),
          backoff: { initialMs: 50, maxMs: 500 },
          callTimeoutMs: 3000,
        });
        try {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            client.start(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('no certificate within 20 s')), 20_000);
            }),
          ]).finally(() => clearTimeout(timer));
          certify.ok++;
          certify.issuedAt.push(Date.now());
          certify.slowestMs = Math.max(certify.slowestMs, Date.now() - started);
        } catch (err) {
          certify.failed.push(String(err));
        } finally {
          await client[Symbol.asyncDispose]();
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
  }, 120_000);

  afterAll(async () => {
    churning = false;
    await Promise.allSettled([churnLoop, registrationLoop, certifyLoop]);
    for (const w of watchers) w.cancel();
    for (const c of clients) c.close();
    await nc?.close();
    await fleet?.stopAll();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`chaos failovers (ms):\n${Object.entries(failovers).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
    console.log(`chaos certify: ${certify.ok} certificates, ${certify.failed.length} failures, slowest ${certify.slowestMs} ms`);
  });

  it('absorbs each kill -9, and every stream ends on the exact final source state, never showing a state the source never had', async () => {
    // 1. The destination leader, with the default lease.
    const first = await waitFor(leader, { what: 'one destination leader' });
    await probeEdit();
    const killedAt = Date.now();
    await first.kill();
    destinations = destinations.filter((d) => d !== first);
    const afterKill = await probeEdit();
    failovers['destination leader SIGKILL -> first correct update on a stream'] = afterKill.first - killedAt;
    failovers['destination leader SIGKILL -> update on all probe streams'] = afterKill.all - killedAt;
    // The target for default settings is the first correct update within 2 s of the kill (printed
    // below; 1.2-1.5 s here). The bound leaves room for a loaded CI machine and still catches a
    // return to the 5-6 s of a lease that is not released early.
    expect(afterKill.first - killedAt, 'destination failover (ms)').toBeLessThan(4000);
    expect(await waitFor(leader, { what: 'the standby leads' })).toBe(destinations[0]);
    await (await startDestination()).waitReady(30_000);

    // 2. The policy leader, with the default lease: the next policy edit reaches the bus state within a few seconds.
    const firstPolicy = await waitFor(policyLeader, { what: 'one policy leader' });
    await policyEdit();
    const policyKilledAt = Date.now();
    await firstPolicy.kill();
    policies = policies.filter((p) => p !== firstPolicy);
    const policyReached = await policyEdit();
    failovers['policy leader SIGKILL -> policy edit in the bus state'] = policyReached - policyKilledAt;
    expect(policyReached - policyKilledAt, 'policy failover (ms)').toBeLessThan(5000);
    expect(await waitFor(policyLeader, { what: 'the policy standby leads' })).toBe(policies[0]);
    await (await startPolicy()).waitReady(30_000);

    // 3. An identity replica: certificates keep coming through the other one.
    const okBefore = certify.ok;
    const victim = identities[0]!;
    const identityKilledAt = Date.now();
    await victim.kill();
    identities = identities.filter((p) => p !== victim);
    await waitFor(() => certify.ok >= okBefore + 3, { what: 'certificates after an identity replica died', timeoutMs: 30_000 });
    const issuedAfter = certify.issuedAt.filter((t) => t > identityKilledAt);
    failovers['identity replica SIGKILL -> next certificate issued'] = issuedAfter[0]! - identityKilledAt;
    failovers['identity replica SIGKILL -> 3 certificates issued'] = issuedAfter[2]! - identityKilledAt;
    await (await startIdentity()).waitReady(30_000);

    // 4. A gateway: its streams move to the other one and get their full state.
    const gwKilled = gateways[0]!;
    const moved = watchers.filter((w) => w.gateway === 0);
    const gwKilledAt = Date.now();
    await gwKilled.kill();
    // Served again: their first message from the other gateway has come (the edits go on, so exact convergence is checked at the end).
    await waitFor(() => moved.every((w) => w.recoveredAt !== undefined && w.gateway === 1 && w.state !== undefined && source.had(w.svc, w.state)), {
      what: `${moved.length} streams reconnected to the other gateway`,
      timeoutMs: 30_000,
    });
    failovers[`gateway SIGKILL -> all ${moved.length} of its streams served by the other gateway`] = Math.max(...moved.map((w) => w.recoveredAt!)) - gwKilledAt;
    gateways[0] = fleet.restart(gwKilled);
    await gateways[0].waitReady(30_000);

    // 5. The NATS server that leads MESHBUS_STATE.
    const jsm = await nc.jetstreamManager();
    const streamLeader = (await jsm.streams.info(streams.state.name)).cluster?.leader;
    const n = nats.nodes.findIndex((node) => node.name === streamLeader);
    expect(n, `leader of ${streams.state.name}: ${streamLeader}`).toBeGreaterThanOrEqual(0);
    const natsKilledAt = Date.now();
    await nats.kill(n);
    const afterNats = await probeEdit();
    failovers[`NATS ${streamLeader} (leader of ${streams.state.name}) SIGKILL -> first correct update on a stream`] = afterNats.first - natsKilledAt;
    failovers[`NATS ${streamLeader} SIGKILL -> update on all probe streams`] = afterNats.all - natsKilledAt;
    await nats.restart(n);
    await waitFor(() => clusterHealthy(nats), { what: 'NATS cluster healthy again', timeoutMs: 30_000 });

    // The end: churn stops; every stream converges to the exact final source state.
    churning = false;
    await Promise.all([churnLoop, registrationLoop]);
    const stoppedAt = Date.now();
    await waitFor(() => watchers.every((w) => w.current === source.now(w.svc)), {
      what: 'every stream on the final source state',
      timeoutMs: 30_000,
    }).catch((err: unknown) => {
      const off = watchers.filter((w) => w.current !== source.now(w.svc));
      throw new Error(`${String(err)}: ${off.length} streams off, e.g. ${off.slice(0, 3).map((w) => `${w.svc}: [${w.current}] != [${source.now(w.svc)}]`).join('; ')}`);
    });
    failovers['churn stopped -> every stream on the final state'] = Date.now() - stoppedAt;
    await certifyLoop;

    if (violations.length > 0) console.log(`source states:\n${[...source.history].map(([svc, h]) => `  ${svc}: ${[...h].map((k) => `[${k}]`).join(' ')}`).join('\n')}`);
    expect(violations).toEqual([]);
    expect(certify.failed).toEqual([]);
    expect(certify.ok).toBeGreaterThan(5);
    expect(watchers.filter((w) => w.reconnects > 0).length).toBeGreaterThanOrEqual(moved.length);
  }, 150_000);
});
