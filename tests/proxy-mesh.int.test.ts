import { execFileSync, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proxy, proxyConfigFromEnv } from '@meshbus/proxy';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { repoRoot, startMesh, type Mesh } from './harness.js';

// Three workloads on their own loopback addresses, each with a real Proxy on
// the real control plane (destination, policy, identity, gateway): A and C
// call B through their outbound listeners; B's Server admits only A.

const cli = (args: string[]) => execFileSync('node', [join(repoRoot, 'cli/dist/main.js'), ...args], { encoding: 'utf8' });
const identityOf = (sa: string) => `${sa}.demo.serviceaccount.identity.meshbus.cluster.local`;
const hosts = { a: '127.0.0.41', b: '127.0.0.42', c: '127.0.0.43', d: '127.0.0.44' } as const;
type Name = keyof typeof hosts;

function manifests(appPort: number): string {
  const workload = (name: Name, meshed = true) => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: ${name}-1
  namespace: demo
  labels:
    app: ${name}
spec:
  address: ${hosts[name]}
  ports:
    - name: http
      port: ${appPort}
  serviceAccount: ${name}
  meshed: ${meshed}
`;
  return `apiVersion: v1
kind: Namespace
metadata:
  name: demo
${(['a', 'b', 'c', 'd'] as const).map((n) => `---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${n}\n  namespace: demo\n`).join('')}---
apiVersion: v1
kind: Service
metadata:
  name: b
  namespace: demo
spec:
  selector:
    app: b
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: v1
kind: Service
metadata:
  name: d
  namespace: demo
spec:
  selector:
    app: d
  ports:
    - name: http
      port: 80
      targetPort: http
${workload('a')}${workload('b')}${workload('c')}${workload('d', false)}---
# Calls to b are retried once when b answers 503.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: b-retries
  namespace: demo
  annotations:
    retry.linkerd.io/http: "503"
    retry.linkerd.io/limit: "1"
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
                value: b-retries
      backendRefs:
        - name: b
          port: 80
    - matches:
        - path:
            type: PathPrefix
            value: /old
      filters:
        - type: RequestRedirect
          requestRedirect:
            path:
              type: ReplaceFullPath
              replaceFullPath: /new
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
  name: only-a
  namespace: demo
spec:
  identityRefs:
    - kind: ServiceAccount
      name: a
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: b-from-a
  namespace: demo
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: b-http
  requiredAuthenticationRefs:
    - group: policy.linkerd.io
      kind: MeshTLSAuthentication
      name: only-a
`;
}

/** A GET through an HTTP proxy, in absolute form, as a program with HTTP_PROXY set sends it. */
function viaProxy(proxyPort: number, url: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs openssl with an empty stdin; resolves with stdout and stderr. */
function runOpenssl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill(), 10_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    child.stdin.end();
  });
}

describe('two workloads on the mesh through their proxies', () => {
  let mesh: Mesh;
  let dir: string;
  let appPort: number;
  let inboundPort: number;
  /** A's local port mapped to b.demo:80. */
  let mappedPort: number;
  const apps: Server[] = [];
  const proxies = new Map<Name, Proxy>();
  /** What B's program saw of each request. */
  const seenByB: IncomingHttpHeaders[] = [];
  const versionsSeenByB: string[] = [];
  let flakyCalls = 0;
  /** Access-log lines of each proxy. */
  const accessLogs = new Map<Name, string[]>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-proxy-mesh-'));
    cli(['identity', 'init', '--dir', join(dir, 'identity')]);
    appPort = await freePort(hosts.b);
    inboundPort = await freePort(hosts.b);
    mappedPort = await freePort();
    const manifestsDir = join(dir, 'manifests');
    await mkdir(manifestsDir);
    await writeFile(join(manifestsDir, 'demo.yaml'), manifests(appPort));
    mesh = await startMesh({
      destination: true,
      policy: true,
      identity: true,
      gateway: true,
      manifests: manifestsDir,
      identityDir: join(dir, 'identity'),
    });

    // D is outside the mesh: a program without a proxy.
    const d = createServer((_req, res) => res.end('hello from d\n'));
    await new Promise<void>((resolve) => d.listen(appPort, hosts.d, resolve));
    apps.push(d);

    for (const name of ['a', 'b', 'c'] as const) {
      const app = createServer((req, res) => {
        if (req.url === '/flaky') {
          flakyCalls++;
          res.writeHead(flakyCalls % 2 === 1 ? 503 : 200);
          res.end(`attempt ${flakyCalls}\n`);
          return;
        }
        if (req.url === '/slow') {
          setTimeout(() => res.end('slow\n'), 400);
          return;
        }
        if (name === 'b') {
          seenByB.push(req.headers);
          versionsSeenByB.push(req.httpVersion);
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`hello from ${name}\n`);
      });
      await new Promise<void>((resolve) => app.listen(appPort, hosts[name], resolve));
      apps.push(app);
      const token = cli(['identity', 'token', '--namespace', 'demo', '--service-account', name, '--key', join(dir, 'identity', 'token.key')]).trim();
      const config = proxyConfigFromEnv({
        MESHBUS_PROXY_GATEWAYS: `127.0.0.1:${mesh.gateway.grpcPort}`,
        MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
        MESHBUS_PROXY_NAMESPACE: 'demo',
        MESHBUS_PROXY_WORKLOAD_NAME: `${name}-1`,
        MESHBUS_PROXY_SERVICE_ACCOUNT: name,
        MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'identity', 'ca.crt'),
        MESHBUS_PROXY_IDENTITY_TOKEN: token,
        MESHBUS_PROXY_INBOUND_ADDR: `${hosts[name]}:${inboundPort}`,
        MESHBUS_PROXY_INBOUND_PORTS: String(appPort),
        MESHBUS_PROXY_WORKLOAD_ADDR: hosts[name],
        MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '1s',
        MESHBUS_PROXY_ACCESS_LOG: 'json',
        ...(name === 'a' ? { MESHBUS_PROXY_PORT_MAPPINGS: `${mappedPort}=b.demo:80` } : {}),
      });
      const lines: string[] = [];
      accessLogs.set(name, lines);
      const proxy = new Proxy({ ...config, listeners: { ...config.listeners, outbound: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } } }, {}, { accessLogSink: (line) => lines.push(line) });
      proxies.set(name, proxy);
      await proxy.start();
    }
    for (const proxy of proxies.values()) await waitFor(async () => (await httpGet(`${proxy.adminUrl}/ready`)).status === 200, { what: 'proxy ready', timeoutMs: 20_000 });
  }, 90_000);

  afterAll(async () => {
    for (const proxy of proxies.values()) await proxy.stop();
    for (const app of apps) await new Promise((resolve) => app.close(resolve));
    await mesh?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  it('carries A → B over mutual TLS; B sees A\'s identity in l5d-client-id', async () => {
    const a = proxies.get('a')!;
    let answer: Awaited<ReturnType<typeof viaProxy>> | undefined;
    await waitFor(async () => (answer = await viaProxy(a.ports.outbound, 'http://b.demo.svc.cluster.local/hello')).status === 200, { what: 'A reaches B', timeoutMs: 15_000 });
    expect(answer!.body).toBe('hello from b\n');
    expect(seenByB.at(-1)!['l5d-client-id']).toBe(identityOf('a'));
    // The route's request header modifier ran on A's side.
    expect(seenByB.at(-1)!['x-route']).toBe('b-retries');
    // Between the proxies the request travelled over HTTP/2; B's program got HTTP/1.1 back.
    expect(versionsSeenByB.at(-1)).toBe('1.1');
    const inboundLine = JSON.parse(accessLogs.get('b')!.at(-1)!) as Record<string, unknown>;
    expect(inboundLine).toMatchObject({ direction: 'inbound', protocol: 'HTTP/2.0', client_id: identityOf('a'), status: 200, path: '/hello' });
    // The short name works as well.
    expect((await viaProxy(a.ports.outbound, 'http://b.demo/again')).status).toBe(200);

    const metrics = (await httpGet(`${a.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(new RegExp(`response_total\\{[^}]*direction="outbound"[^}]*authority="b.demo.svc.cluster.local:80"[^}]*tls="true"[^}]*server_id="${identityOf('b').replace(/\./g, '\\.')}"`));
  });

  it('refuses a forged l5d-client-id: B sees the identity of the connection', async () => {
    const a = proxies.get('a')!;
    const res = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: a.ports.outbound, path: 'http://b.demo/forged', headers: { 'l5d-client-id': identityOf('c') } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(res).toBe(200);
    expect(seenByB.at(-1)!['l5d-client-id']).toBe(identityOf('a'));
  });

  it('serves TLS 1.3 with B\'s identity on B\'s inbound port, to a client with A\'s certificate', async () => {
    const certificate = proxies.get('a')!.certificates.current!;
    const ca = await readFile(join(dir, 'identity', 'ca.crt'), 'utf8');
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect(
        { host: hosts.b, port: inboundPort, servername: identityOf('b'), ca, cert: `${certificate.certificatePem}${certificate.chainPem}`, key: certificate.privateKeyPem, minVersion: 'TLSv1.3', ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined },
        () => resolve(s),
      );
      s.once('error', reject);
    });
    expect(socket.getProtocol()).toBe('TLSv1.3');
    expect(socket.authorized).toBe(true);
    expect(socket.getPeerCertificate().subjectaltname).toBe(`DNS:${identityOf('b')}`);
    socket.destroy();

    // openssl sees the chain to the anchor for B's identity.
    await writeFile(join(dir, 'a.crt'), `${certificate.certificatePem}${certificate.chainPem}`);
    await writeFile(join(dir, 'a.key'), certificate.privateKeyPem);
    // Asynchronous: B's proxy runs in this process and must answer the handshake.
    // -verify_hostname makes openssl check that the leaf names B's identity.
    const probe = (expected: string) =>
      runOpenssl(['s_client', '-tls1_3', '-connect', `${hosts.b}:${inboundPort}`, '-servername', identityOf('b'), '-cert', join(dir, 'a.crt'), '-key', join(dir, 'a.key'), '-CAfile', join(dir, 'identity', 'ca.crt'), '-verify_hostname', expected, '-showcerts']);
    const out = await probe(identityOf('b'));
    expect(out).toContain('Verify return code: 0 (ok)');
    expect(out).toContain('New, TLSv1.3');
    expect(out.match(/-----BEGIN CERTIFICATE-----/g)?.length).toBeGreaterThanOrEqual(2);
    // The same certificate is not C's.
    expect(await probe(identityOf('c'))).toMatch(/Verify return code: 62 \(hostname mismatch\)/);
  });

  it('refuses C with 403 by B\'s policy, and counts the denial', async () => {
    const c = proxies.get('c')!;
    let answer: Awaited<ReturnType<typeof viaProxy>> | undefined;
    await waitFor(async () => (answer = await viaProxy(c.ports.outbound, 'http://b.demo.svc.cluster.local/')).status !== 503, { what: 'C gets an answer from B', timeoutMs: 15_000 });
    expect(answer!.status).toBe(403);
    const metrics = (await httpGet(`${proxies.get('b')!.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(new RegExp(`inbound_http_authz_deny_total\\{[^}]*client_id="${identityOf('c').replace(/\./g, '\\.')}"[^}]*\\} 1`));
    expect(metrics).toMatch(new RegExp(`inbound_http_authz_allow_total\\{[^}]*client_id="${identityOf('a').replace(/\./g, '\\.')}"`));
  });

  it('sends plain HTTP to a workload outside the mesh, labelled no_identity', async () => {
    const a = proxies.get('a')!;
    let answer: Awaited<ReturnType<typeof viaProxy>> | undefined;
    await waitFor(async () => (answer = await viaProxy(a.ports.outbound, 'http://d.demo/')).status === 200, { what: 'A reaches D', timeoutMs: 15_000 });
    expect(answer!.body).toBe('hello from d\n');
    const metrics = (await httpGet(`${a.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/response_total\{[^}]*direction="outbound"[^}]*authority="d\.demo\.svc\.cluster\.local:80"[^}]*tls="no_identity"[^}]*no_tls_reason="not_provided_by_service_discovery"/);
  });

  it('forwards a local port mapping to b.demo:80 over mesh TLS', async () => {
    const body = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: mappedPort, path: '/mapped', headers: { host: 'b.demo' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toEqual({ status: 200, body: 'hello from b\n' });
    expect(seenByB.at(-1)!['l5d-client-id']).toBe(identityOf('a'));
  });

  it('tunnels CONNECT b.demo:80 to B over mesh TLS', async () => {
    const a = proxies.get('a')!;
    const reply = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: a.ports.outbound, method: 'CONNECT', path: 'b.demo:80' });
      req.on('connect', (res, socket) => {
        expect(res.statusCode).toBe(200);
        let text = '';
        socket.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('hello from b')) {
            socket.end();
            resolve(text);
          }
        });
        socket.on('error', reject);
        socket.write('GET /tunnel HTTP/1.1\r\nhost: b.demo\r\nconnection: close\r\n\r\n');
      });
      req.on('error', reject);
      req.end();
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200/);
    expect(seenByB.at(-1)!['l5d-client-id']).toBe(identityOf('a'));
  });

  it('answers a redirect filter without calling B', async () => {
    const before = seenByB.length;
    const answer = await viaProxy(proxies.get('a')!.ports.outbound, 'http://b.demo/old/page');
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe('http://b.demo/new');
    expect(seenByB.length).toBe(before);
  });

  it('retries a retryable route once when B answers 503', async () => {
    const a = proxies.get('a')!;
    const answer = await viaProxy(a.ports.outbound, 'http://b.demo/flaky');
    expect(answer).toMatchObject({ status: 200, body: 'attempt 2\n' });
    expect(flakyCalls).toBe(2);
  });

  it('drains on stop: a request in flight finishes, then B refuses new connections', async () => {
    const a = proxies.get('a')!;
    const b = proxies.get('b')!;
    const inFlight = viaProxy(a.ports.outbound, 'http://b.demo/slow');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = b.stop();
    expect((await inFlight).body).toBe('slow\n');
    await stopped;
    const refused = await new Promise<boolean>((resolve) => {
      const s = tlsConnect({ host: hosts.b, port: inboundPort, rejectUnauthorized: false });
      s.once('secureConnect', () => resolve(false));
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    expect((await viaProxy(a.ports.outbound, 'http://b.demo/')).status).toBeGreaterThanOrEqual(500);
  });
});
