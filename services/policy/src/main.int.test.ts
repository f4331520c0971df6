import { execFileSync } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { streams, subjects } from '@meshbus/bus-schemas';
import { freePort, httpGet, startNats, startProcess, waitFor, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built service with the policy index of @meshbus/policy, as a deployment runs it.

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const mainJs = join(packageDir, 'dist', 'main.js');

const manifests = (options: { protocol: string; conflicting?: boolean; apiAddress?: string }) => `apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ name: http, port: 80, targetPort: http }] }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: web-1, namespace: shop, labels: { app: web } }
spec: { address: 10.0.0.1, ports: [{ name: http, port: 8080 }], serviceAccount: web }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: api-1, namespace: shop, labels: { app: api } }
spec: { address: ${options.apiAddress ?? '10.0.0.2'}, ports: [{ name: http, port: 8080 }], serviceAccount: api }
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: { name: web-http, namespace: shop }
spec:
  podSelector: { matchLabels: { app: web } }
  port: http
  proxyProtocol: ${options.protocol}
${
  options.conflicting
    ? `---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: { name: web-http-again, namespace: shop }
spec:
  podSelector: { matchLabels: { app: web } }
  port: 8080
  proxyProtocol: opaque
`
    : ''
}`;

async function lastData(nc: NatsConnection, stream: string, subject: string): Promise<Record<string, unknown> | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/** The protocol of a port in an inbound policy, if it has that port. */
const portProtocol = (policy: Record<string, unknown> | undefined, port: number) =>
  (policy?.ports as { port: number; server: { protocol: string } }[] | undefined)?.find((p) => p.port === port)?.server.protocol;

const metric = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('the built policy service as a process', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let dir: string;

  const writeManifests = async (text: string) => {
    await writeFile(join(dir, 'shop.yaml.tmp'), text);
    await rename(join(dir, 'shop.yaml.tmp'), join(dir, 'shop.yaml'));
  };
  const start = async (replicaId: string, env: Record<string, string> = {}) => {
    const adminPort = await freePort();
    const proc = startProcess({
      command: process.execPath,
      args: [mainJs],
      env: {
        PATH: process.env.PATH,
        NATS_URL: nats.url,
        MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
        MESHBUS_REPLICA_ID: replicaId,
        MESHBUS_MANIFESTS_DIR: dir,
        MESHBUS_LEASE_DURATION: '1s',
        MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms',
        ...env,
      },
    });
    return { proc, admin: `http://127.0.0.1:${adminPort}`, replicaId };
  };
  /** Resolves once /ready answers 200; fails at once, with the output, when the process exits first. */
  const ready = (p: { proc: RunningProcess; admin: string; replicaId: string }) =>
    Promise.race([
      waitFor(async () => (await httpGet(`${p.admin}/ready`)).status === 200, { timeoutMs: 20_000, what: `/ready of ${p.replicaId}` }),
      p.proc.exited.then((exit) => {
        throw new Error(`exited with ${JSON.stringify(exit)}`);
      }),
    ]).catch((err: unknown) => {
      throw new Error(`${p.replicaId} did not get ready: ${String(err)}\noutput:\n${p.proc.output().slice(-3000)}`);
    });

  beforeAll(async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '--build', 'services/policy'], { cwd: repoRoot, stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      throw new Error(`tsc --build services/policy failed:\n${(error as { stdout?: string }).stdout ?? ''}`);
    }
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(join(tmpdir(), 'meshbus-policy-main-'));
    await writeManifests(manifests({ protocol: 'HTTP/1' }));
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exits 2 with the variable named when the configuration is invalid', async () => {
    await using proc = startProcess({
      command: process.execPath,
      args: [mainJs],
      env: { PATH: process.env.PATH, MESHBUS_MANIFESTS_DIR: '/nowhere', MESHBUS_CLUSTER_NETWORKS: '10.0.0.0/8,10.0.0.0/99' },
    });
    expect(await proc.exited).toEqual({ code: 2, signal: null });
    const lines = proc.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([expect.objectContaining({ level: 'fatal', service: 'policy', msg: 'invalid configuration: MESHBUS_CLUSTER_NETWORKS: "10.0.0.0/99": the prefix length must be a number from 0 to 32' })]);
  });

  it('serves /live, /ready and /metrics, publishes the policy, logs JSON, and exits 0 on SIGTERM', async () => {
    const p = await start('policy-solo');
    await using proc = p.proc;
    await ready(p);
    expect(await httpGet(`${p.admin}/live`)).toEqual({ status: 200, body: 'live\n' });
    const inbound = await waitFor(async () => portProtocol(await lastData(nc, streams.state.name, subjects.inboundPolicy('shop', 'web-1')), 8080), { what: 'inbound policy of web-1' });
    expect(inbound).toBe('http1');
    expect(await lastData(nc, streams.state.name, subjects.outboundPolicy('shop', 'web', 80))).toMatchObject({ namespace: 'shop', service: 'web', port: 80 });
    expect(await lastData(nc, streams.state.name, subjects.policyDefaults)).toMatchObject({ defaultPolicy: 'all-unauthenticated', identityDomain: 'identity.meshbus.cluster.local' });
    expect(await lastData(nc, streams.state.name, subjects.policyStatus('shop', 'Server', 'web-http'))).toMatchObject({ kind: 'Server', name: 'web-http', accepted: true });
    const metrics = (await httpGet(`${p.admin}/metrics`)).body;
    expect(metric(metrics, 'meshbus_policy_leader')).toBe(1);
    expect(metrics).toMatch(/meshbus_policy_published_total\{kind="inboundPolicy",service="policy"\} \d+/);
    expect(metrics).toContain('meshbus_policy_recompute_duration_seconds_bucket');
    expect(metrics).toContain('meshbus_process_cpu_seconds_total');

    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    const lines = proc.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) expect(line).toMatchObject({ service: 'policy', level: expect.any(String), time: expect.any(String), msg: expect.any(String) });
    expect(lines.some((l) => l.msg === 'became leader' && l.role === 'policy')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' });
  }, 60_000);

  it('two replicas: one leader publishes, an edit republishes only what it affects, a rejection is announced once, and kill -9 of the leader is absorbed', async () => {
    const a = await start('policy-a');
    const b = await start('policy-b');
    // Both are stopped at the end, whatever happened.
    await using _processes = { [Symbol.asyncDispose]: async () => void (await Promise.all([a.proc[Symbol.asyncDispose](), b.proc[Symbol.asyncDispose]()])) };
    await Promise.all([ready(a), ready(b)]);
    const leaderGauge = async (p: { admin: string }) => metric((await httpGet(`${p.admin}/metrics`)).body, 'meshbus_policy_leader');
    const leader = await waitFor(async () => {
      const [ga, gb] = [await leaderGauge(a), await leaderGauge(b)];
      return ga! + gb! === 1 ? (ga === 1 ? a : b) : undefined;
    }, { what: 'one leader' });
    const standby = leader === a ? b : a;

    const seen: { subject: string; source: string }[] = [];
    const sub = nc.subscribe('meshbus.v1.>', { callback: (_e, m) => seen.push({ subject: m.subject, source: m.headers?.get('ce-source') ?? '' }) });
    try {
      // An edit of the Server: the inbound policy of the workload it selects changes, nothing of the api workload or the services.
      await writeManifests(manifests({ protocol: 'HTTP/2' }));
      await waitFor(async () => portProtocol(await lastData(nc, streams.state.name, subjects.inboundPolicy('shop', 'web-1')), 8080) === 'http2', { what: 'web-1 on HTTP/2' });
      await new Promise((r) => setTimeout(r, 500));
      const state = seen.filter((s) => s.subject.startsWith('meshbus.v1.state.'));
      expect(state.map((s) => s.subject)).toContain(subjects.inboundPolicy('shop', 'web-1'));
      expect(state.filter((s) => s.subject !== subjects.inboundPolicy('shop', 'web-1') && s.subject !== subjects.policyStatus('shop', 'Server', 'web-http'))).toEqual([]);
      expect(new Set(seen.map((s) => s.source))).toEqual(new Set([`/meshbus/policy/${leader.replicaId}`]));

      // A second Server on the same port: rejected, announced once, even when the files change again.
      await writeManifests(manifests({ protocol: 'HTTP/2', conflicting: true }));
      const rejected = () => seen.filter((s) => s.subject === subjects.policyRejected);
      await waitFor(() => rejected().length > 0, { what: 'policy.rejected' });
      const event = await lastData(nc, streams.events.name, subjects.policyRejected);
      expect(event).toMatchObject({ kind: 'Server', namespace: 'shop', file: 'shop.yaml' });
      expect(['web-http', 'web-http-again']).toContain(event?.name);
      await waitFor(async () => metric((await httpGet(`${leader.admin}/metrics`)).body, 'meshbus_policy_rejected_resources')! >= 1, { what: 'rejected gauge' });
      const announced = rejected().length;
      await writeManifests(manifests({ protocol: 'HTTP/2', conflicting: true, apiAddress: '10.0.0.3' }));
      await new Promise((r) => setTimeout(r, 800));
      expect(rejected().length).toBe(announced);

      // kill -9 of the leader: the standby takes over and publishes the next change.
      await leader.proc.kill();
      const killedAt = Date.now();
      seen.length = 0;
      await writeManifests(manifests({ protocol: 'HTTP/1', conflicting: false, apiAddress: '10.0.0.3' }));
      await waitFor(async () => portProtocol(await lastData(nc, streams.state.name, subjects.inboundPolicy('shop', 'web-1')), 8080) === 'http1', {
        what: 'the standby publishes web-1 on HTTP/1',
        timeoutMs: 5000,
      });
      expect(Date.now() - killedAt).toBeLessThan(5000);
      expect(new Set(seen.filter((s) => s.subject.startsWith('meshbus.v1.state.')).map((s) => s.source))).toEqual(new Set([`/meshbus/policy/${standby.replicaId}`]));
      expect(await leaderGauge(standby)).toBe(1);
      expect(await lastData(nc, streams.events.name, subjects.leader('policy'))).toMatchObject({ role: 'policy', holder: standby.replicaId });
    } finally {
      sub.unsubscribe();
    }
    expect(await standby.proc.stop()).toEqual({ code: 0, signal: null });
  }, 90_000);
});
