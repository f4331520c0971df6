import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '@meshbus/proxy';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { repoRoot, startMesh, startMeshProxy, SteadyLoad, viaProxy, type Mesh } from './harness.js';
import { Fleet, metricSum, metricValue, type ServiceName, type ServiceProcess } from './process-harness.js';

// A rolling replacement of the whole control plane under traffic: every
// service runs as two processes (services/<svc>/dist/main.js) on a real
// nats-server, the proxies know both gateways, and while A calls B at a
// steady rate each of the eight processes is stopped (SIGTERM) and started
// again, one at a time. No call may fail; afterwards the new control plane
// still reaches the proxies (a new endpoint, a route change, a certificate).

const ns = 'roll';
const hosts = { a: '127.0.0.91', b1: '127.0.0.92', b2: '127.0.0.93' } as const;
const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });

function manifests(appPort: number): string {
  const workload = (name: string, address: string, app: string) => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${app}}}
spec:
  address: ${address}
  ports: [{name: http, port: ${appPort}}]
  serviceAccount: ${app}
`;
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: a, namespace: ${ns}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: b, namespace: ${ns}}
${workload('a-1', hosts.a, 'a')}${workload('b-1', hosts.b1, 'b')}---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: ${ns}}
spec:
  selector: {app: b}
  ports: [{name: http, port: 80, targetPort: http}]
---
# Only A may call b: a stale or empty inbound policy on b's proxy would refuse A.
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: b-http, namespace: ${ns}}
spec:
  podSelector: {matchLabels: {app: b}}
  port: http
  proxyProtocol: HTTP/1
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: only-a, namespace: ${ns}}
spec:
  identityRefs: [{kind: ServiceAccount, name: a}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: b-from-a, namespace: ${ns}}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: b-http}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: only-a}]
`;
}

/** Added after the rollout: a second b workload, and a route that marks b's answers. */
function afterRollout(appPort: number): string {
  return `apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: b-2, namespace: ${ns}, labels: {app: b}}
spec:
  address: ${hosts.b2}
  ports: [{name: http, port: ${appPort}}]
  serviceAccount: b
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b-marked, namespace: ${ns}}
spec:
  parentRefs: [{group: core, kind: Service, name: b, port: 80}]
  rules:
    - filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: {set: [{name: x-rolled, value: "yes"}]}
      backendRefs: [{name: b, port: 80}]
`;
}

const leaderMetric: Partial<Record<ServiceName, string>> = { destination: 'meshbus_destination_leader', policy: 'meshbus_policy_leader' };

describe('rolling replacement of every control-plane replica under steady load', () => {
  let mesh: Mesh;
  let dir: string;
  let fleet: Fleet;
  let appPort: number;
  let inboundPort: number;
  let identityDir: string;
  let gateways: string[];
  const replicas: ServiceProcess[] = [];
  const proxies: Proxy[] = [];
  const apps: Server[] = [];
  // The callers' keep-alive pool: with a timeout, Node honours the proxy's Keep-Alive: timeout=5 and drops an idle connection before the proxy does.
  const agent = new Agent({ keepAlive: true, maxSockets: 32, timeout: 60_000 });
  const figures: string[] = [];

  /** b-1 answers this late: slowed down once b-2 is added, so that A's balancer (P2C on latency) sends calls to b-2 as soon as it knows it. */
  let b1DelayMs = 0;
  const serveB = async (name: string, host: string) => {
    const app = createServer((_req, res) => {
      const delay = name === 'b-1' ? b1DelayMs : 0;
      if (delay > 0) setTimeout(() => res.end(`${name}\n`), delay);
      else res.end(`${name}\n`);
    });
    await new Promise<void>((resolve) => app.listen(appPort, host, resolve));
    apps.push(app);
  };
  const spec = (name: string, serviceAccount: string, address: string) => ({ gateways, namespace: ns, name, serviceAccount, identityDir, address, inboundPort, ports: [appPort] });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-rollout-'));
    identityDir = join(dir, 'identity');
    cli(['identity', 'init', '--dir', identityDir]);
    appPort = await freePort();
    inboundPort = await freePort();
    const manifestsDir = join(dir, 'manifests');
    await mkdir(manifestsDir);
    await writeFile(join(manifestsDir, 'roll.yaml'), manifests(appPort));
    // NATS from the mesh; every service is a process of the fleet.
    mesh = await startMesh({ manifests: manifestsDir });
    fleet = new Fleet(mesh.nats.url, {
      MESHBUS_MANIFESTS_DIR: manifestsDir,
      MESHBUS_LEASE_DURATION: '1s',
      MESHBUS_IDENTITY_DIR: identityDir,
      MESHBUS_TOKEN_PUBLIC_KEY: join(identityDir, 'token.pub'),
      MESHBUS_DRAIN_MS: '1000',
    });
    // The destinations first: they create the streams the others use; then the rest together.
    for (const group of [['destination'], ['policy', 'identity', 'gateway']] as const) {
      const started: ServiceProcess[] = [];
      for (const service of group) {
        for (const n of [1, 2]) started.push(fleet.start({ service, replicaId: `${service}-${n}`, adminPort: await freePort(), ...(service === 'gateway' ? { grpcPort: await freePort() } : {}) }));
      }
      await Promise.all(started.map((p) => p.waitReady(45_000)));
      replicas.push(...started);
    }
    gateways = replicas.filter((p) => p.spec.service === 'gateway').map((p) => `127.0.0.1:${p.grpcPort}`);
    await serveB('b-1', hosts.b1);
    proxies.push(...(await Promise.all([startMeshProxy(spec('a-1', 'a', hosts.a)), startMeshProxy(spec('b-1', 'b', hosts.b1))])));
    await waitFor(async () => (await viaProxy(proxies[0]!.ports.outbound, `http://b.${ns}/`, { agent })).status === 200, { what: 'A reaches B', timeoutMs: 20_000 });
  }, 90_000);

  afterAll(async () => {
    console.log(`rolling replacement, measured:\n${figures.map((f) => `  ${f}`).join('\n')}`);
    agent.destroy();
    await Promise.all(proxies.map((p) => p.stop()));
    for (const app of apps) {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
    await fleet?.stopAll();
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  /** One leader among the running replicas of a role that elects one. */
  const oneLeader = async (service: ServiceName): Promise<boolean> => {
    const metric = leaderMetric[service];
    if (metric === undefined) return true;
    const running = fleet.running().filter((p) => p.spec.service === service);
    const gauges = await Promise.all(running.map(async (p) => metricValue(await p.metrics(), metric)));
    return running.length === 2 && gauges.filter((g) => g === 1).length === 1;
  };

  it('restarts destination, identity, policy and gateway, two replicas each, one at a time, with zero failed calls', async () => {
    const a = proxies[0]!;
    const rate = 50;
    const load = new SteadyLoad(() => viaProxy(a.ports.outbound, `http://b.${ns}/`, { agent, timeoutMs: 5000 }), rate).start();
    const started = Date.now();
    const steps: string[] = [];
    for (const service of ['destination', 'identity', 'policy', 'gateway'] as const) {
      for (const old of replicas.filter((p) => p.spec.service === service)) {
        const t0 = Date.now();
        const exit = await old.terminate(10_000);
        expect(exit, old.tail()).toEqual({ code: 0, signal: null });
        const t1 = Date.now();
        const next = fleet.restart(old);
        replicas[replicas.indexOf(old)] = next;
        await next.waitReady(30_000);
        const t2 = Date.now();
        await waitFor(() => oneLeader(service), { what: `one ${service} leader`, timeoutMs: 15_000 });
        steps.push(`${old.replicaId} at +${t0 - started} ms (stop ${t1 - t0}, ready ${t2 - t1}, leader ${Date.now() - t2})`);
      }
    }
    const rolloutMs = Date.now() - started;
    const samples = await load.stop();
    const failures = load.failures();
    const reconnects = metricSum(await (await fetch(`${a.adminUrl}/metrics`)).text(), 'control_stream_reconnects_total');
    figures.push(`restarted one at a time:\n    ${steps.join('\n    ')}`);
    figures.push(`${samples.length} calls at ${rate}/s during the ${rolloutMs} ms rollout: ${failures.length} failed; A's proxy reopened ${reconnects} control-plane streams`);
    expect(failures.map((f) => `+${f.sentAt - started} ms: ${f.status} ${f.error ?? f.body}`)).toEqual([]);
    expect(samples.length).toBeGreaterThan((rate * rolloutMs) / 1000 - rate);
    // Both gateways were replaced, so every stream of A's proxy moved at least once.
    expect(reconnects).toBeGreaterThan(0);
  }, 120_000);

  it('after the rollout, the new control plane reaches the proxies: a new endpoint with its certificate, and a route change', async () => {
    await serveB('b-2', hosts.b2);
    // Its certificate comes from the new identity replicas, its policy from the new gateways.
    proxies.push(await startMeshProxy(spec('b-2', 'b', hosts.b2)));
    const editedAt = Date.now();
    await writeFile(join(mesh.manifestsDir!, 'after.yaml'), afterRollout(appPort));
    b1DelayMs = 100;
    const answers: Record<string, number> = {};
    await waitFor(
      async () => {
        const r = await viaProxy(proxies[0]!.ports.outbound, `http://b.${ns}/`, { agent });
        const key = `${r.status} ${r.body.trim()} x-rolled=${String(r.headers['x-rolled'])}`;
        answers[key] = (answers[key] ?? 0) + 1;
        return r.status === 200 && r.body === 'b-2\n' && r.headers['x-rolled'] === 'yes';
      },
      { what: 'A reaches b-2 through the new route', timeoutMs: 15_000, intervalMs: 20 },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; A got ${JSON.stringify(answers)}`);
    });
    figures.push(`edit after the rollout -> A calls b-2 on the new route: ${Date.now() - editedAt} ms`);
    expect((await httpGet(`${proxies[2]!.adminUrl}/ready`)).status).toBe(200);
  }, 30_000);
});
