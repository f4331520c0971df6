import { cp, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, subjects } from '@meshbus/bus-schemas';
import type { inbound, outbound } from '@meshbus/proxy-api';
import { freePort, waitFor } from '@meshbus/testing';
import { policyClients, repoRoot, startMesh, StreamRecorder, type Mesh } from './harness.js';
import { Fleet, metricValue, type ServiceProcess } from './process-harness.js';

// The policy path with the built services as processes, as `npm run dev` runs
// them: two policy replicas and a gateway on a real nats-server, the worked
// examples of docs/policy.md in the manifests folder. The policy leader is
// killed with SIGKILL (no lease release, no clean-up) while an edit is made.

const leaseMs = 1000;
/** Generous for a loaded 2-core machine; the measured times are printed. */
const updateBoundMs = 3000;

async function leaderGauge(p: ServiceProcess): Promise<number | undefined> {
  return p.running ? metricValue(await p.metrics(), 'meshbus_policy_leader') : undefined;
}

/** The last message on a subject of a stream: its data and CloudEvents source. */
async function last(nc: NatsConnection, stream: string, subject: string): Promise<{ data: Record<string, unknown>; source: string } | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m.data.length === 0 ? undefined : { data: JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>, source: m.header.get('ce-source') };
  } catch {
    return undefined;
  }
}

async function edit(file: string, from: string, to: string): Promise<number> {
  const text = await readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} does not contain ${JSON.stringify(from)}`);
  await writeFile(`${file}.tmp`, text.replace(from, to));
  await rename(`${file}.tmp`, file);
  return Date.now();
}

/** `name*weight` of the backends of the first HTTP/1 route of a detected outbound policy. */
function weights(p: outbound.OutboundPolicy): string[] {
  const kind = p.protocol?.kind;
  const dist = kind?.$case === 'detect' ? kind.detect.http1?.routes[0]?.rules[0]?.backends?.kind : undefined;
  if (dist?.$case !== 'randomAvailable') return [];
  return dist.randomAvailable.backends.map((b) => {
    const m = b.backend?.backend?.metadata?.kind;
    return `${m?.$case === 'resource' ? m.resource.name : '?'}*${b.weight}`;
  });
}

/** Identities the server-wide authorizations of an inbound server admit. */
function identities(s: inbound.Server): string[] {
  return s.authorizations.flatMap((a) => {
    const permit = a.authentication?.permit;
    const clients = permit?.$case === 'meshTLS' ? permit.meshTLS.clients : undefined;
    return clients?.$case === 'identities' ? clients.identities.identities.map((i) => i.name) : [];
  });
}

describe('policy end to end with processes: SIGKILL of the policy leader', () => {
  let mesh: Mesh;
  let fleet: Fleet;
  let nc: NatsConnection;
  let policies: ServiceProcess[];
  let gateway: ServiceProcess;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    // NATS and a copy of the example manifests come from the mesh; the services run as processes.
    mesh = await startMesh({ manifests: true });
    const dir = mesh.manifestsDir!;
    await cp(join(repoRoot, 'examples/policy'), dir, { recursive: true });
    fleet = new Fleet(mesh.nats.url, { MESHBUS_LEASE_DURATION: `${leaseMs / 1000}s`, MESHBUS_MANIFESTS_DIR: dir });
    policies = [];
    for (const id of ['policy-1', 'policy-2']) policies.push(fleet.start({ service: 'policy', replicaId: id, adminPort: await freePort() }));
    gateway = fleet.start({ service: 'gateway', replicaId: 'gateway-1', adminPort: await freePort(), grpcPort: await freePort() });
    await Promise.all(fleet.all.map((p) => p.waitReady(45_000)));
    nc = await mesh.connect();
  }, 60_000);

  afterAll(async () => {
    console.log(`policy end to end with processes, measured:\n${Object.entries(timings)
      .map(([k, v]) => `  ${k}: ${v} ms`)
      .join('\n')}`);
    await fleet?.stopAll();
    await mesh?.[Symbol.asyncDispose]();
  }, 30_000);

  it('an edit made right after SIGKILL of the leader reaches the open streams once the standby leads; the next edit as fast as before', async () => {
    const dir = mesh.manifestsDir!;
    const leader = await waitFor(
      async () => {
        const gauges = await Promise.all(policies.map(leaderGauge));
        return gauges.filter((g) => g === 1).length === 1 ? policies[gauges.indexOf(1)] : undefined;
      },
      { what: 'one policy leader', timeoutMs: 15_000 },
    );
    const standby = policies.find((p) => p !== leader)!;
    using clients = policyClients(gateway.grpcPort);
    const port = new StreamRecorder(clients.inbound.watchPort({ workload: '{"ns":"vault","pod":"vault-1"}', port: 8080 }));
    const route = new StreamRecorder(clients.outbound.watch({ sourceWorkload: '', target: { $case: 'authority', authority: 'checkout.store.svc.cluster.local:80' } }));
    try {
      await route.until((m) => weights(m).includes('checkout-v1*90'), 'the canary on the Watch stream');
      await port.until((m) => identities(m).includes('teller.bank.serviceaccount.identity.meshbus.cluster.local'), 'the tellers on the WatchPort stream');

      const killedAt = Date.now();
      await leader.kill();
      const from = route.received.length;
      await edit(join(dir, 'canary.yaml'), 'weight: 90', 'weight: 60');
      const during = await route.until((m) => weights(m).includes('checkout-v1*60'), 'the edit made during the failover', { from, timeoutMs: 15_000 });
      timings[`SIGKILL of ${leader.replicaId} (lease ${leaseMs} ms) -> edit made meanwhile on the Watch stream`] = during.at - killedAt;
      expect(during.at - killedAt).toBeLessThan(leaseMs * 2 + updateBoundMs);
      expect(await leaderGauge(standby)).toBe(1);
      expect((await last(nc, streams.state.name, subjects.outboundPolicy('store', 'checkout', 80)))?.source).toBe(`/meshbus/policy/${standby.replicaId}`);
      expect((await last(nc, streams.events.name, subjects.leader('policy')))?.data).toMatchObject({ role: 'policy', holder: standby.replicaId });

      // The standby leads: the next edit (who may use the vault) is as fast as ever.
      const fromPort = port.received.length;
      const editAt = await edit(join(dir, 'deny-by-default.yaml'), '- teller.bank.', '- auditor.bank.');
      const next = await port.until((m) => identities(m).includes('auditor.bank.serviceaccount.identity.meshbus.cluster.local'), 'the next edit on the WatchPort stream', {
        from: fromPort,
        timeoutMs: updateBoundMs * 3,
      });
      timings['edit after the failover -> WatchPort update'] = next.at - editAt;
      expect(next.at - editAt).toBeLessThan(updateBoundMs);
      expect(identities(next.message)).toEqual(['auditor.bank.serviceaccount.identity.meshbus.cluster.local']);
      expect(port.error ?? route.error).toBeUndefined();
    } finally {
      port.cancel();
      route.cancel();
    }
  }, 60_000);
});
