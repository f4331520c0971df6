import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Proxy } from '@meshbus/proxy';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { meshIdentity, meshProxyEnv, repoRoot, startMesh, startMeshProxy, SteadyLoad, viaProxy, type Mesh, type ProxiedAnswer } from './harness.js';
import { metricSum, ProxyProcess } from './process-harness.js';

// The proxy end to end on the real control plane (destination, policy,
// identity and gateway in this process, on a real nats-server): A and C are
// clients with in-process proxies; b has two workloads, b-1 and b-2, each a
// program in this process behind a proxy process of its own, so that one can
// be killed with SIGKILL. Load balancing and retries when b-2 dies, a
// weighted canary split, and an authorization policy taken away while C
// calls.

const ns = 'e2e';
const hosts = { a: '127.0.0.81', c: '127.0.0.83', b1: '127.0.0.84', b2: '127.0.0.85' } as const;
const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });

function workload(name: string, address: string, labels: Record<string, string>, port: number): string {
  return `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {${Object.entries(labels).map(([k, v]) => `${k}: ${v}`).join(', ')}}
spec:
  address: ${address}
  ports: [{name: http, port: ${port}}]
  serviceAccount: ${labels.app}
`;
}

function service(name: string, selector: Record<string, string>, annotations: Record<string, string> = {}): string {
  const notes = Object.entries(annotations);
  return `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
${notes.length > 0 ? `  annotations:\n${notes.map(([k, v]) => `    ${k}: "${v}"`).join('\n')}\n` : ''}spec:
  selector: {${Object.entries(selector).map(([k, v]) => `${k}: ${v}`).join(', ')}}
  ports: [{name: http, port: 80, targetPort: http}]
`;
}

function meshManifests(appPort: number): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
${['a', 'b', 'c'].map((sa) => `---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: ${sa}, namespace: ${ns}}\n`).join('')}${workload('a-1', hosts.a, { app: 'a' }, appPort)}${workload('c-1', hosts.c, { app: 'c' }, appPort)}${workload('b-1', hosts.b1, { app: 'b', version: 'v1' }, appPort)}${workload('b-2', hosts.b2, { app: 'b', version: 'v2' }, appPort)}${service('b', { app: 'b' }, {
    // An endpoint that fails three calls in a row is left out of the balancer for a while.
    'balancer.linkerd.io/failure-accrual': 'consecutive',
    'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '3',
  })}${service('b-v1', { app: 'b', version: 'v1' })}${service('b-v2', { app: 'b', version: 'v2' })}${service('canary', { app: 'b' })}---
# GETs to b are retried, up to three times, on 502 and 503 and when no
# answer comes; other methods are sent once.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b-reads, namespace: ${ns}}
spec:
  parentRefs: [{group: core, kind: Service, name: b, port: 80}]
  rules:
    - matches: [{method: GET}]
      backendRefs: [{name: b, port: 80}]
      retry: {attempts: 3, codes: [502, 503], backoff: 10ms}
    - backendRefs: [{name: b, port: 80}]
---
# canary.${ns}: 90 % of the calls to b-1 (b-v1), 10 % to b-2 (b-v2).
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary-split, namespace: ${ns}}
spec:
  parentRefs: [{group: core, kind: Service, name: canary, port: 80}]
  rules:
    - backendRefs:
        - {name: b-v1, port: 80, weight: 90}
        - {name: b-v2, port: 80, weight: 10}
`;
}

/** Only A may call b: removed by the policy test. */
const onlyA = `apiVersion: policy.linkerd.io/v1beta3
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

/** How many answers each body had (the B programs answer with their name). */
function tally(answers: readonly ProxiedAnswer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const key = a.status === 200 ? a.body.trim() : `status ${a.status}${a.error ? ` (${a.error})` : ''}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Runs `n` requests, `concurrency` at a time. */
async function batch(n: number, concurrency: number, send: () => Promise<ProxiedAnswer>): Promise<ProxiedAnswer[]> {
  const answers: ProxiedAnswer[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < n) {
        started++;
        answers.push(await send());
      }
    }),
  );
  return answers;
}

describe('the proxy end to end: balancing, retries, a canary split, authorization', () => {
  let mesh: Mesh;
  let dir: string;
  let manifestsDir: string;
  let appPort: number;
  let inboundPort: number;
  const proxies: { a?: Proxy; c?: Proxy } = {};
  const bProxies = new Map<'b1' | 'b2', ProxyProcess>();
  const bApps = new Map<'b1' | 'b2', Server>();
  // The callers' keep-alive pool: with a timeout, Node honours the proxy's Keep-Alive: timeout=5 and drops an idle connection before the proxy does.
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 60_000 });
  const figures: string[] = [];

  const callB = (from: Proxy, path = '/') => viaProxy(from.ports.outbound, `http://b.${ns}${path}`, { agent });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-e2e-'));
    const identityDir = join(dir, 'identity');
    cli(['identity', 'init', '--dir', identityDir]);
    appPort = await freePort();
    inboundPort = await freePort();
    manifestsDir = join(dir, 'manifests');
    await mkdir(manifestsDir);
    await writeFile(join(manifestsDir, 'mesh.yaml'), meshManifests(appPort));
    await writeFile(join(manifestsDir, 'only-a.yaml'), onlyA);
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: true, manifests: manifestsDir, identityDir });
    const gateways = [`127.0.0.1:${mesh.gateway.grpcPort}`];
    const spec = (name: string, serviceAccount: string, address: string) => ({ gateways, namespace: ns, name, serviceAccount, identityDir, address, inboundPort, ports: [appPort] });

    // The B programs answer with their name; /slow after 20 ms, so that calls are in flight when one dies.
    for (const [key, name] of [['b1', 'b-1'], ['b2', 'b-2']] as const) {
      const app = createServer((req, res) => {
        const answer = () => res.end(`${name}\n`);
        if (req.url === '/slow') setTimeout(answer, 20);
        else answer();
      });
      await new Promise<void>((resolve) => app.listen(appPort, hosts[key], resolve));
      bApps.set(key, app);
      const adminPort = await freePort();
      bProxies.set(key, ProxyProcess.start(name, adminPort, await meshProxyEnv({ ...spec(name, 'b', hosts[key]), adminPort })));
    }
    [proxies.a, proxies.c] = await Promise.all([startMeshProxy(spec('a-1', 'a', hosts.a)), startMeshProxy(spec('c-1', 'c', hosts.c))]);
    await Promise.all([...bProxies.values()].map((p) => p.waitReady()));
    // Both B workloads answer A before the tests start.
    await waitFor(async () => Object.keys(tally(await batch(20, 4, () => callB(proxies.a!)))).sort().join() === 'b-1,b-2', {
      what: 'A reaches b-1 and b-2',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }, 90_000);

  afterAll(async () => {
    console.log(`proxy end to end, measured:\n${figures.map((f) => `  ${f}`).join('\n')}`);
    agent.destroy();
    await Promise.all([proxies.a?.stop(), proxies.c?.stop(), ...[...bProxies.values()].map((p) => p.stop())]);
    for (const app of bApps.values()) {
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    }
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('splits canary calls 90/10 between the two backends, within a few percent over 1,000 requests', async () => {
    const answers = await batch(1000, 20, () => viaProxy(proxies.a!.ports.outbound, `http://canary.${ns}/`, { agent }));
    const counts = tally(answers);
    const v2 = (counts['b-2'] ?? 0) / answers.length;
    figures.push(`canary 90/10 over ${answers.length} requests: ${JSON.stringify(counts)} (${(v2 * 100).toFixed(1)} % to v2)`);
    expect((counts['b-1'] ?? 0) + (counts['b-2'] ?? 0), JSON.stringify(counts)).toBe(answers.length);
    // Binomial(1000, 0.1) has a standard deviation of 0.95 points: 3.5 points is 3.7 of them.
    expect(Math.abs(v2 - 0.1)).toBeLessThan(0.035);
  });

  it('refuses C with 403 and counts it in b\'s proxy metrics; without the policy C gets through within a second', async () => {
    const c = proxies.c!;
    let answer: ProxiedAnswer | undefined;
    await waitFor(async () => (answer = await callB(c)).status !== 503, { what: 'C gets an answer from b', timeoutMs: 15_000 });
    expect(answer!.status).toBe(403);
    expect((await callB(proxies.a!)).status).toBe(200);
    const refused = [answer!, ...(await batch(9, 3, () => callB(c)))];
    expect(refused.map((r) => r.status)).toEqual(Array(10).fill(403));
    const denials = async () => {
      const texts = await Promise.all([...bProxies.values()].map((p) => p.metrics()));
      return texts.reduce((sum, t) => sum + metricSum(t, 'inbound_http_authz_deny_total', { client_id: meshIdentity(ns, 'c'), srv_name: 'b-http' }), 0);
    };
    // Every 403 is one denial on the proxy of the b workload that refused it.
    expect(await denials()).toBe(10);

    // Take the policy away (b falls back to the cluster's default, all-unauthenticated). Measured: C's
    // first 200, and when each b proxy admits a caller without identity (a plain GET to its inbound
    // listener, refused until then), whichever endpoint C's balancer picks.
    const plainGet = (key: 'b1' | 'b2') => httpGet(`http://${hosts[key]}:${inboundPort}/`).then((r) => r.status);
    expect(await Promise.all([plainGet('b1'), plainGet('b2')])).toEqual([403, 403]);
    const removedAt = Date.now();
    await rm(join(manifestsDir, 'only-a.yaml'));
    const admitted: Record<string, number> = {};
    await waitFor(
      async () => {
        const [r, b1, b2] = await Promise.all([callB(c), plainGet('b1'), plainGet('b2')]);
        const now = Date.now() - removedAt;
        if (r.status === 200) admitted['C'] ??= now;
        if (b1 === 200) admitted['b-1'] ??= now;
        if (b2 === 200) admitted['b-2'] ??= now;
        return Object.keys(admitted).length === 3;
      },
      { what: 'C let in, and both b proxies open', timeoutMs: 5000, intervalMs: 5 },
    );
    figures.push(`policy removed -> C's first 200: ${admitted['C']} ms; b-1's proxy admits: ${admitted['b-1']} ms; b-2's: ${admitted['b-2']} ms`);
    expect(Math.max(...Object.values(admitted))).toBeLessThan(1000);
  });

  it('spreads A\'s calls over both b workloads; when b-2 dies (SIGKILL of its proxy, its program gone) no retryable call fails', async () => {
    const a = proxies.a!;
    const load = new SteadyLoad(() => callB(a, '/slow'), 150).start();
    // POSTs go by the rule without retries: they show what the retries spare the GETs.
    const posts = new SteadyLoad(() => viaProxy(a.ports.outbound, `http://b.${ns}/slow`, { agent, method: 'POST' }), 30).start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const killedAt = Date.now();
    const b2App = bApps.get('b2')!;
    // Abrupt: the proxy process gets SIGKILL, the program's connections are reset.
    await Promise.all([
      bProxies.get('b2')!.kill(),
      (async () => {
        b2App.closeAllConnections();
        b2App.close();
      })(),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const samples = await load.stop();
    await posts.stop();

    const before = samples.filter((s) => s.sentAt < killedAt - 200);
    const spread = tally(before);
    const after = samples.filter((s) => s.sentAt >= killedAt);
    const metrics = await httpGet(`${a.adminUrl}/metrics`);
    // Attempts to b-2 that failed (reset, refused) and were sent again to an endpoint picked again.
    const failedAttempts = metricSum(metrics.body, 'response_total', { direction: 'outbound', target_addr: `${hosts.b2}:${appPort}`, classification: 'failure' });
    figures.push(`b scaled to 2, before the kill: ${JSON.stringify(spread)}`);
    figures.push(`SIGKILL of b-2 under ${samples.length} GETs at 150/s: failed for the caller ${load.failures().length}, answered after the kill ${JSON.stringify(tally(after))}, failed attempts to b-2 ${failedAttempts}`);
    figures.push(`  meanwhile ${posts.samples.length} POSTs at 30/s on the rule without retries: ${JSON.stringify(tally(posts.failures()))} failed`);
    expect(load.failures(), JSON.stringify(tally(load.failures()))).toEqual([]);
    expect(samples.length).toBeGreaterThan(500);
    // P2C weighs latency, so the shares need not be equal; each gets a good part.
    for (const name of ['b-1', 'b-2']) expect(spread[name] ?? 0, JSON.stringify(spread)).toBeGreaterThan(before.length * 0.1);
    // The kill was seen: calls to b-2 failed and were retried; afterwards b-1 answers alone.
    expect(failedAttempts).toBeGreaterThan(0);
    expect(tally(after.filter((s) => s.sentAt > killedAt + 500))).toEqual({ 'b-1': after.filter((s) => s.sentAt > killedAt + 500).length });
  });
});
