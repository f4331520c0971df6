import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outbound } from '@meshbus/proxy-api';
import { createPodNetwork, netnsUnavailableReason, type PodNetwork, type PodProcess } from '@meshbus/proxy';
import { httpGet, waitFor } from '@meshbus/testing';
import { createWorkloadToken } from '@meshbus/trust';
import { repoRoot, startMesh, type Mesh } from './harness.js';

// Transparent mode end to end: pods a, b, c and g are network namespaces on one
// bridge; the control plane (destination, policy, identity, gateway) runs on the
// host and the pods reach the gateway over a host link. In each pod,
// `meshbus proxy-init` writes the iptables rules and `meshbus proxy` runs under
// its own uid beside a small workload. Clients are unmodified programs that
// connect to addresses: a pod's IP, a Service's cluster IP. g runs its proxy in
// ingress mode. Pod a runs both through the CLI; the others run the proxy
// package's own entry points (the same code, lighter to start).

const execFileAsync = promisify(execFile);
const PROXY_UID = 2102;
const CLIENT_UID = 2103;
const WORKLOAD_UID = 2104;
const HTTP_PORT = 8080;
const TCP_PORT = 9000;
const pods = ['a', 'b', 'c', 'g'] as const;
type PodName = (typeof pods)[number];

const cliMain = join(repoRoot, 'cli/dist/main.js');
const proxyMain = join(repoRoot, 'proxy/dist/main.js');
const proxyInitMain = join(repoRoot, 'proxy/dist/transparent/proxy-init-main.js');
const testing = (file: string) => join(repoRoot, 'proxy/src/transparent/testing', file);
const identityOf = (sa: string) => `${sa}.demo.serviceaccount.identity.meshbus.cluster.local`;

// Only "not root" skips: CI runs as root and never skips these.
const unavailable = netnsUnavailableReason();
if (unavailable) console.warn(`skipping the transparent-mode end-to-end tests: ${unavailable}`);

function manifests(ips: Record<PodName, string>, clusterIp: string): string {
  const workload = (name: PodName) => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: ${name}-1
  namespace: demo
  labels:
    app: ${name}
  annotations:
    config.meshbus.io/opaque-ports: "${TCP_PORT}"
spec:
  address: ${ips[name]}
  ports:
    - name: http
      port: ${HTTP_PORT}
    - name: tcp
      port: ${TCP_PORT}
  serviceAccount: ${name}
`;
  return `apiVersion: v1
kind: Namespace
metadata:
  name: demo
${pods.map((n) => `---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${n}\n  namespace: demo\n`).join('')}---
apiVersion: v1
kind: Service
metadata:
  name: b
  namespace: demo
  annotations:
    config.meshbus.io/opaque-ports: "${TCP_PORT}"
spec:
  clusterIP: ${clusterIp}
  selector:
    app: b
  ports:
    - name: http
      port: 80
      targetPort: http
    - name: tcp
      port: ${TCP_PORT}
      targetPort: tcp
${pods.map(workload).join('')}---
# Calls to the service b get a header on the caller's side: proof that its routes applied.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: b-route
  namespace: demo
spec:
  parentRefs:
    - group: core
      kind: Service
      name: b
      port: 80
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set:
              - name: x-route
                value: b-route
      backendRefs:
        - name: b
          port: 80
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: b-http
  namespace: demo
spec:
  podSelector:
    matchLabels:
      app: b
  port: http
  proxyProtocol: HTTP/1
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: a-and-ingress
  namespace: demo
spec:
  identityRefs:
    - kind: ServiceAccount
      name: a
    - kind: ServiceAccount
      name: g
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: b-from-a-and-ingress
  namespace: demo
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: b-http
  requiredAuthenticationRefs:
    - group: policy.linkerd.io
      kind: MeshTLSAuthentication
      name: a-and-ingress
`;
}

interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}
interface Seen {
  name: string;
  url: string;
  headers: Record<string, string | undefined>;
}

/** One sample of the Prometheus text: name, labels, value. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function sampleValue(text: string, name: string, labels: Record<string, string>): number {
  return samples(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

describe.skipIf(unavailable !== undefined)('transparent mode across network namespaces, with real proxies and the control plane', () => {
  let net: PodNetwork;
  let mesh: Mesh;
  let dir: string;
  let ips: Record<PodName, string>;
  let clusterIp: string;
  const proxies = new Map<PodName, PodProcess>();
  /** Whether the gateway gave the forward backend of B's pod address B's TLS identity. */
  let podAddressesMeshed = false;

  const inPod = async (pod: PodName, argv: string[], uid?: number): Promise<{ code: number; stdout: string; stderr: string }> =>
    net.exec(pod, argv, uid === undefined ? {} : { uid });

  /** An unmodified client in `pod`, under a uid of its own. */
  const get = async (pod: PodName, url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> => {
    const r = await inPod(pod, [process.execPath, testing('http-client.mjs'), url, ...Object.entries(headers).map(([k, v]) => `${k}:${v}`)], CLIENT_UID);
    expect(r.code, `client in ${pod} failed for ${url}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout.trim()) as HttpAnswer;
  };
  /** One line over TCP; with `halfClose`, the client ends its side after it and reads until the workload ends. */
  const tcp = async (pod: PodName, host: string, port: number, text: string, halfClose = false): Promise<{ code: number; reply: string | undefined }> => {
    const r = await inPod(pod, [process.execPath, testing(halfClose ? 'tcp-client.mjs' : 'line-client.mjs'), host, String(port), text], CLIENT_UID);
    return { code: r.code, reply: r.code === 0 ? (JSON.parse(r.stdout.trim()) as { reply: string }).reply : undefined };
  };
  /** The proxy's admin listener is on the pod's address, as in Kubernetes; the test reaches it over the host link. */
  const admin = (pod: PodName, path: string) => httpGet(`http://${ips[pod]}:4191${path}`);
  const metrics = async (pod: PodName): Promise<string> => {
    const r = await admin(pod, '/metrics');
    expect(r.status).toBe(200);
    return r.body;
  };
  const seen = (answer: HttpAnswer): Seen => JSON.parse(answer.body) as Seen;

  beforeAll(async () => {
    for (const built of [cliMain, proxyMain, proxyInitMain]) if (!existsSync(built)) throw new Error(`${built} is missing: run npx tsc --build first`);
    net = await createPodNetwork({ pods: [...pods], hostLink: true });
    ips = Object.fromEntries(pods.map((p) => [p, net.pod(p).ip])) as Record<PodName, string>;
    // A virtual address of the pods' subnet that no pod has: only the proxies know where it leads.
    clusterIp = ips.a.replace(/\.\d+$/, '.250');

    dir = await mkdtemp(join(tmpdir(), 'meshbus-transparent-'));
    await chmod(dir, 0o755);
    await execFileAsync(process.execPath, [cliMain, 'identity', 'init', '--dir', join(dir, 'identity')]);
    // The proxies run under their own uid: they need to read the trust anchors.
    await copyFile(join(dir, 'identity', 'ca.crt'), join(dir, 'ca.crt'));
    await chmod(join(dir, 'ca.crt'), 0o644);
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'demo.yaml'), manifests(ips, clusterIp));

    mesh = await startMesh({
      destination: true,
      policy: true,
      identity: true,
      gateway: true,
      manifests: join(dir, 'manifests'),
      identityDir: join(dir, 'identity'),
      env: { gateway: { MESHBUS_GRPC_ADDR: `${net.hostIp!}:0` } },
    });
    const gateway = `${net.hostIp!}:${mesh.gateway.grpcPort}`;

    // What `meshbus identity token` signs.
    const tokenKey = createPrivateKey(await readFile(join(dir, 'identity', 'token.key'), 'utf8'));
    const tokens = pods.map((name) => createWorkloadToken({ namespace: 'demo', serviceAccount: name, audience: 'identity.meshbus.io', expiresAt: new Date(Date.now() + 3_600_000) }, tokenKey));
    await Promise.all(
      pods.map(async (name, i) => {
        // The init container's part: the rules, through the CLI.
        const init = await inPod(name, [process.execPath, ...(name === 'a' ? [cliMain, 'proxy-init'] : [proxyInitMain]), '--proxy-uid', String(PROXY_UID), '--skip-inbound-ports', '4191']);
        expect(init.code, `proxy-init in ${name}: ${init.stderr}`).toBe(0);
        const workload = net.spawn(name, [process.execPath, testing('http-workload.mjs'), name, String(HTTP_PORT), String(TCP_PORT)], { uid: WORKLOAD_UID });
        const proxy = net.spawn(name, [process.execPath, ...(name === 'a' ? [cliMain, 'proxy'] : [proxyMain])], {
          uid: PROXY_UID,
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            MESHBUS_PROXY_MODE: name === 'g' ? 'ingress' : 'transparent',
            MESHBUS_PROXY_GATEWAYS: gateway,
            MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
            MESHBUS_PROXY_NAMESPACE: 'demo',
            MESHBUS_PROXY_WORKLOAD_NAME: `${name}-1`,
            MESHBUS_PROXY_SERVICE_ACCOUNT: name,
            MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'ca.crt'),
            MESHBUS_PROXY_IDENTITY_TOKEN: tokens[i]!,
            MESHBUS_PROXY_INBOUND_PORTS: String(HTTP_PORT),
            MESHBUS_PROXY_ADMIN_ADDR: '0.0.0.0:4191',
            MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '1s',
          },
        });
        proxies.set(name, proxy);
        await workload.line((l) => l.includes('"listening"'));
      }),
    );
    await Promise.all(
      pods.map((name) =>
        waitFor(
          async () => {
            if (proxies.get(name)!.child.exitCode !== null) throw new Error(`the proxy of ${name} exited:\n${proxies.get(name)!.output()}`);
            return (await admin(name, '/ready').catch(() => undefined))?.status === 200;
          },
          { what: `the proxy of ${name} ready`, timeoutMs: 20_000, intervalMs: 100 },
        ),
      ),
    );

    // Ask the gateway itself what a proxy gets for B's pod address, to know what to expect of it.
    const client = new outbound.OutboundPoliciesClient(gateway, credentials.createInsecure());
    try {
      const [o1, o2, o3, o4] = ips.b.split('.').map(Number) as [number, number, number, number];
      const policy = await new Promise<outbound.OutboundPolicy>((resolve, reject) => {
        const call = client.watch({ sourceWorkload: '{"ns":"demo","name":"a-1"}', target: { $case: 'addr', addr: { ip: { ip: { $case: 'ipv4', ipv4: ((o1 << 24) | (o2 << 16) | (o3 << 8) | o4) >>> 0 } }, port: HTTP_PORT } } });
        call.once('data', (p: outbound.OutboundPolicy) => {
          resolve(p);
          call.cancel();
        });
        call.once('error', reject);
      });
      podAddressesMeshed = JSON.stringify(policy, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).includes(identityOf('b'));
    } finally {
      client.close();
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...proxies.values()].map((p) => p.stop()));
    await net?.destroy();
    await mesh?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("carries a call to B's pod address through both proxies", async () => {
    const answer = await get('a', `http://${ips.b}:${HTTP_PORT}/pod-address`);
    const bMetrics = await metrics('b');
    const aMetrics = await metrics('a');
    // The gateway gives the pod address B's identity: mutual TLS between the proxies.
    expect(podAddressesMeshed).toBe(true);
    expect(answer.status).toBe(200);
    expect(seen(answer)).toMatchObject({ name: 'b', url: '/pod-address' });
    expect(seen(answer).headers['l5d-client-id']).toBe(identityOf('a'));
    expect(sampleValue(bMetrics, 'request_total', { direction: 'inbound', tls: 'true', client_id: identityOf('a') })).toBeGreaterThan(0);
    expect(sampleValue(aMetrics, 'response_total', { direction: 'outbound', target_addr: `${ips.b}:${HTTP_PORT}`, tls: 'true', server_id: identityOf('b') })).toBeGreaterThan(0);
  });

  it("carries a call to B's Service cluster IP over mutual TLS, routed by the Service's policy", async () => {
    const answer = await get('a', `http://${clusterIp}/cluster-ip`);
    expect(answer.status).toBe(200);
    const b = seen(answer);
    expect(b).toMatchObject({ name: 'b', url: '/cluster-ip', httpVersion: '1.1' });
    expect(b.headers['l5d-client-id']).toBe(identityOf('a'));
    expect(b.headers['x-route']).toBe('b-route');
    const bMetrics = await metrics('b');
    expect(sampleValue(bMetrics, 'request_total', { direction: 'inbound', tls: 'true', client_id: identityOf('a') })).toBeGreaterThan(0);
    expect(sampleValue(bMetrics, 'inbound_http_authz_allow_total', { client_id: identityOf('a') })).toBeGreaterThan(0);
    const aMetrics = await metrics('a');
    expect(sampleValue(aMetrics, 'response_total', { direction: 'outbound', authority: 'b.demo.svc.cluster.local:80', tls: 'true', server_id: identityOf('b') })).toBeGreaterThan(0);
  });

  it('carries an opaque TCP port, by the cluster IP over mutual TLS and by the pod address', async () => {
    // A half-close crosses both proxies: the workload's last line is written after it saw the end.
    expect(await tcp('a', clusterIp, TCP_PORT, 'ping', true)).toEqual({ code: 0, reply: 'b echoes ping\nb saw the end\n' });
    const bMetrics = await metrics('b');
    // The connection reached B's workload port 9000 (not its first port) with A's identity.
    expect(sampleValue(bMetrics, 'tcp_open_total', { direction: 'inbound', tls: 'true', client_id: identityOf('a'), target_addr: `127.0.0.1:${TCP_PORT}` })).toBeGreaterThan(0);
    expect(await tcp('a', ips.b, TCP_PORT, 'pong')).toEqual({ code: 0, reply: 'b echoes pong\n' });
    const aMetrics = await metrics('a');
    expect(sampleValue(aMetrics, 'tcp_open_total', { direction: 'outbound', target_addr: `${ips.b}:${TCP_PORT}` })).toBeGreaterThanOrEqual(2);
  });

  it("refuses C by B's policy, and counts the denial", async () => {
    const answer = await get('c', `http://${clusterIp}/from-c`);
    expect(answer.status).toBe(403);
    const bMetrics = await metrics('b');
    expect(sampleValue(bMetrics, 'inbound_http_authz_deny_total', { client_id: identityOf('c') })).toBeGreaterThan(0);
    // By the pod address too: C's proxy reaches B over mutual TLS, and B refuses C's identity.
    expect((await get('c', `http://${ips.b}:${HTTP_PORT}/from-c`)).status).toBe(403);
  });

  it('routes by l5d-dst-override in ingress mode, whatever address the connection was for', async () => {
    // The ingress controller connects to B's pod address but names the service.
    const answer = await get('g', `http://${ips.b}:${HTTP_PORT}/ingress`, { 'l5d-dst-override': 'b.demo.svc.cluster.local:80' });
    expect(answer.status).toBe(200);
    const b = seen(answer);
    expect(b.headers['l5d-client-id']).toBe(identityOf('g'));
    expect(b.headers['x-route']).toBe('b-route');
    expect(b.headers['l5d-dst-override']).toBeUndefined();
    // Without the header, the Host names the service.
    const byHost = await get('g', `http://${clusterIp}/by-host`, { host: 'b.demo' });
    expect(byHost.status).toBe(200);
    expect(seen(byHost).headers['x-route']).toBe('b-route');
    expect(seen(byHost).headers['l5d-client-id']).toBe(identityOf('g'));
    // Neither names a service: the request goes where the connection was going.
    const byAddress = await get('g', `http://${ips.c}:${HTTP_PORT}/by-address`);
    expect(byAddress.status).toBe(200);
    expect(seen(byAddress)).toMatchObject({ name: 'c', url: '/by-address' });
    expect(seen(byAddress).headers['x-route']).toBeUndefined();
  });

  it('leaves traffic to localhost alone and lets the workload use its proxy explicitly', async () => {
    // The workload reaching its own port on localhost is not redirected (no proxy, no identity).
    const local = await get('b', `http://127.0.0.1:${HTTP_PORT}/local`);
    expect(local.status).toBe(200);
    expect(seen(local).headers['l5d-client-id']).toBeUndefined();
    // The outbound port, called directly, is the HTTP proxy of explicit mode.
    const r = await inPod('a', [process.execPath, '-e', `
      const http = require('node:http');
      http.get({ host: '127.0.0.1', port: 4140, path: 'http://b.demo/explicit', headers: { host: 'b.demo' } }, (res) => {
        let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body })));
      }).on('error', (e) => { console.error(e.message); process.exit(1); });`], CLIENT_UID);
    expect(r.code, r.stderr).toBe(0);
    const explicit = JSON.parse(r.stdout.trim()) as HttpAnswer;
    expect(explicit.status).toBe(200);
    expect(seen(explicit).headers['l5d-client-id']).toBe(identityOf('a'));
  });
});
