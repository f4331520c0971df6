import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { JetStreamPublisher } from '@meshbus/bus';
import { busValidator, streams, subjects, type OutboundPolicy } from '@meshbus/bus-schemas';
import { createLogger, type Logger } from '@meshbus/runtime';
import { freePort, httpGet, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPolicyService } from './composition-root.js';
import { envToConfig } from './config.js';
import type { PolicyService } from './policy-service.js';
import { TestPolicyComputation } from './test-computation.js';

// The service's own behaviour — election, publishing only what differs, failover, fencing,
// registered workloads — with the small test computation in place of the policy index, whose
// own tests cover what it computes. main.int.test.ts runs the built process with the real index.

const manifest = (webPort: number, apiPort: number) => `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { selector: { app: api }, ports: [{ port: 80, targetPort: 8080 }] }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: web-1, namespace: shop, labels: { app: web } }
spec: { address: 10.0.0.1, ports: [{ port: ${webPort} }] }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: api-1, namespace: shop, labels: { app: api } }
spec: { address: 10.0.0.2, ports: [{ port: ${apiPort} }] }
`;

const expectedSubjects = [
  subjects.inboundPolicy('shop', 'api-1'),
  subjects.inboundPolicy('shop', 'web-1'),
  subjects.outboundPolicy('shop', 'api', 80),
  subjects.outboundPolicy('shop', 'web', 80),
  subjects.policyDefaults,
].sort();

/** The last message stored on a subject: its data (undefined for a tombstone) and its CloudEvents source. */
async function last(nc: NatsConnection, stream: string, subject: string): Promise<{ data: Record<string, unknown> | undefined; source: string | undefined; type: string | undefined } | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return {
      data: m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>),
      source: m.header.get('ce-source') || undefined,
      type: m.header.get('ce-type') || undefined,
    };
  } catch {
    return undefined;
  }
}

/** Every state message published on the bus, with its source, as it goes by. */
class StateRecorder {
  readonly seen: { subject: string; source: string; type: string }[] = [];
  private readonly sub: Subscription;
  constructor(nc: NatsConnection) {
    this.sub = nc.subscribe('meshbus.v1.state.>', {
      callback: (_err, m) => this.seen.push({ subject: m.subject, source: m.headers?.get('ce-source') ?? '', type: m.headers?.get('ce-type') ?? '' }),
    });
  }
  policy(): { subject: string; source: string; type: string }[] {
    return this.seen.filter((s) => !s.subject.startsWith('meshbus.v1.state.workloads.'));
  }
  clear(): void {
    this.seen.length = 0;
  }
  stop(): void {
    this.sub.unsubscribe();
  }
}

const metric = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('policy service: two replicas on a real NATS', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let dir: string;
  let recorder: StateRecorder;
  const replicas: { id: string; service: PolicyService; nc: NatsConnection }[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger: Logger = createLogger({ service: 'policy', level: 'info', destination: { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) } });

  const writeManifests = async (text: string) => {
    const file = path.join(dir, 'shop.yaml');
    await writeFile(`${file}.tmp`, text);
    await rename(`${file}.tmp`, file);
  };
  const startReplica = async (id: string) => {
    const own = await connect({ servers: nats.url, name: `meshbus-policy/${id}` });
    const config = envToConfig({
      NATS_URL: nats.url,
      MESHBUS_MANIFESTS_DIR: dir,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
      MESHBUS_REPLICA_ID: id,
      MESHBUS_LEASE_DURATION: '1s',
      MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms',
    });
    const service = createPolicyService(config, { logger, nc: own, computation: (settings) => new TestPolicyComputation(settings) });
    await service.start();
    replicas.push({ id, service, nc: own });
    return replicas.at(-1)!;
  };
  const leader = () => {
    const leaders = replicas.filter((r) => r.service.state === 'started' && r.service.isLeader);
    return leaders.length === 1 ? leaders[0] : undefined;
  };

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    recorder = new StateRecorder(nc);
    dir = await mkdtemp(path.join(tmpdir(), 'meshbus-policy-'));
    await writeManifests(manifest(8080, 8080));
    await startReplica('policy-a');
    await startReplica('policy-b');
  }, 30_000);

  afterAll(async () => {
    for (const r of replicas) await r.service[Symbol.asyncDispose]();
    for (const r of replicas) await r.nc.close().catch(() => undefined);
    recorder?.stop();
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('elects one leader, which alone publishes; an edit republishes only the keys it affects; a killed leader is replaced by a standby that writes only differences', async () => {
    const first = await waitFor(leader, { what: 'one policy leader', timeoutMs: 10_000 });
    const standby = replicas.find((r) => r !== first)!;
    for (const subject of expectedSubjects) await waitFor(() => last(nc, streams.state.name, subject), { what: subject });
    // Readiness and metrics of both replicas.
    for (const r of replicas) {
      await waitFor(async () => (await httpGet(`${r.service.adminUrl}/ready`)).status === 200, { what: `${r.id} ready` });
      const text = (await httpGet(`${r.service.adminUrl}/metrics`)).body;
      expect(metric(text, 'meshbus_policy_leader'), r.id).toBe(r === first ? 1 : 0);
      expect(text).toContain('meshbus_policy_recompute_duration_seconds_count');
      expect(metric(text, 'meshbus_policy_rejected_resources')).toBe(0);
    }
    expect(metric((await httpGet(`${first.service.adminUrl}/metrics`)).body, 'meshbus_policy_published_total')).toBeGreaterThanOrEqual(1);
    // Only the leader wrote, each key once.
    await new Promise((r) => setTimeout(r, 300));
    expect(recorder.policy().map((s) => s.source).every((s) => s === `/meshbus/policy/${first.id}`)).toBe(true);
    expect(recorder.policy().map((s) => s.subject).sort()).toEqual(expectedSubjects);
    const leaderEvent = await last(nc, streams.events.name, subjects.leader('policy'));
    expect(leaderEvent?.data).toMatchObject({ role: 'policy', holder: first.id });

    // One workload's port changes: only its inbound policy is written again.
    recorder.clear();
    await writeManifests(manifest(9090, 8080));
    await waitFor(async () => JSON.stringify((await last(nc, streams.state.name, subjects.inboundPolicy('shop', 'web-1')))?.data).includes('9090'), { what: 'web-1 on port 9090' });
    await new Promise((r) => setTimeout(r, 500));
    expect(recorder.policy().map((s) => s.subject)).toEqual([subjects.inboundPolicy('shop', 'web-1')]);

    // The leader's connection dies without releasing the lease, as in a crash.
    recorder.clear();
    await first.nc.close();
    const second = await waitFor(() => (standby.service.isLeader ? standby : undefined), { what: 'the standby leads', timeoutMs: 10_000 });
    // Warm: the bus already holds what it computes, so taking over writes nothing.
    await new Promise((r) => setTimeout(r, 500));
    expect(recorder.policy()).toEqual([]);
    await writeManifests(manifest(9090, 7070));
    await waitFor(async () => JSON.stringify((await last(nc, streams.state.name, subjects.inboundPolicy('shop', 'api-1')))?.data).includes('7070'), { what: 'api-1 on port 7070', timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(recorder.policy()).toEqual([{ subject: subjects.inboundPolicy('shop', 'api-1'), source: `/meshbus/policy/${second.id}`, type: 'io.meshbus.v1.policy.inbound.snapshot' }]);

    // A late write of the deposed leader (an older term) is fenced, and the new leader writes the key again.
    const term = Number((await last(nc, streams.events.name, subjects.leader('policy')))?.data?.term);
    expect(term).toBeGreaterThan(1);
    const ghost = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: `/meshbus/policy/${first.id}`, term: () => term - 1 });
    const stale = (await last(nc, streams.state.name, subjects.outboundPolicy('shop', 'web', 80)))!.data!;
    await ghost.publish('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), 'shop/web/80', { ...(stale as unknown as OutboundPolicy), protocol: 'opaque' });
    await waitFor(async () => (await last(nc, streams.state.name, subjects.outboundPolicy('shop', 'web', 80)))?.source === `/meshbus/policy/${second.id}`, {
      what: 'the fenced key written again by the leader',
    });
    expect((await last(nc, streams.state.name, subjects.outboundPolicy('shop', 'web', 80)))?.data).toEqual(stale);
    expect(logs.some((l) => l.msg === 'ignored a state write from a deposed leader' && l.replica === second.id)).toBe(true);
  }, 60_000);

  it('follows the workloads registered on the bus: a registration gets an inbound policy, a deregistration its tombstone', async () => {
    const destination = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/destination/test' });
    const subject = subjects.inboundPolicy('shop', 'vm-1');
    await destination.publish('workloadRegistered', subjects.workload('shop', 'vm-1'), 'shop/vm-1', {
      namespace: 'shop',
      name: 'vm-1',
      address: '10.0.0.50',
      ports: [{ name: 'http', port: 8080 }],
      labels: { app: 'web' },
      heartbeatIntervalMs: 10_000,
    });
    const policy = await waitFor(async () => (await last(nc, streams.state.name, subject))?.data, { what: 'inbound policy of vm-1' });
    expect(policy).toMatchObject({ namespace: 'shop', workload: 'vm-1', ports: [{ port: 8080 }] });
    await destination.publish('workloadDeregistered', subjects.workload('shop', 'vm-1'), 'shop/vm-1', { reason: 'test' });
    await waitFor(async () => (await last(nc, streams.state.name, subject))?.type === 'io.meshbus.v1.policy.inbound.deleted', { what: 'tombstone of vm-1' });
  }, 30_000);
});
