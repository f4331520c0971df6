import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, subjects } from '@meshbus/bus-schemas';
import { leafnodeListenConfig, leafnodeRemotesConfig, linkUser, natsAuthorizationConfig } from '@meshbus/local-nats';
import { createMulticlusterService, envToConfig, type MulticlusterService } from '@meshbus/multicluster-service';
import { createPodNetwork, netnsUnavailableReason, type PodNetwork, type PodProcess } from '@meshbus/proxy';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import { meshIdentity, meshProxyEnv, repoRoot, startMesh, type Mesh } from './harness.js';

// Two meshes, east and west, each with its own nats-server (JetStream domain,
// joined by a leaf node with east's link login) and its own control plane,
// under one trust anchor with an issuer each. The workloads and proxies live
// in network namespaces: east's web and east's multicluster gateway (a proxy
// in gateway mode); west's client and west's own web. iptables in west's pods
// let them reach west's control plane and east's gateway, and nothing else of
// east. A west client, an unmodified curl behind its proxy, calls web-east.shop
// (east's web, mirrored), then web.shop split between west and east, with
// failover both ways: when west's web goes, and when the link to east goes.

const execFileAsync = promisify(execFile);
const unavailable = netnsUnavailableReason();
if (unavailable) console.warn(`skipping the two-mesh multicluster test: ${unavailable}`);

const cliMain = join(repoRoot, 'cli/dist/main.js');
const proxyMain = join(repoRoot, 'proxy/dist/main.js');
const workloadScript = join(repoRoot, 'proxy/src/transparent/testing/http-workload.mjs');
const APP_PORT = 8080;
const INBOUND_PORT = 4143;
const GATEWAY_PORT = 4180;
const pods = ['eweb', 'egw', 'wcli', 'wweb'] as const;
type PodName = (typeof pods)[number];
const gatewayIdentity = meshIdentity('meshbus', 'multicluster-gateway');
const clientIdentity = meshIdentity('shop', 'client');

const admin = { user: 'admin', password: 'admin-pw', permissions: { publish: ['>'], subscribe: ['>'] } };

function eastManifests(ip: Record<PodName, string>, exported: boolean): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: meshbus}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: multicluster-gateway, namespace: meshbus}
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  address: ${ip.eweb}
  ports: [{name: http, port: ${APP_PORT}}]
  serviceAccount: web
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web${exported ? ', mirror.meshbus.io/exported: "true"' : ''}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
# The same workload behind a Service east keeps to itself.
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`;
}

function westManifests(ip: Record<PodName, string>, localWeb: boolean): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: shop}
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: client-1, namespace: shop, labels: {app: client}}
spec:
  address: ${ip.wcli}
  ports: [{name: http, port: ${APP_PORT}}]
  serviceAccount: client
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
${
  localWeb
    ? `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec:
  address: ${ip.wweb}
  ports: [{name: http, port: ${APP_PORT}}]
  serviceAccount: web
`
    : ''
}`;
}

/** West's split of web.shop between its own web and east's, failing over to what is ready. */
const splitRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web-split
  namespace: shop
  annotations:
    failover.meshbus.io/primary-service: web
spec:
  parentRefs:
    - {group: core, kind: Service, name: web, port: 80}
  rules:
    - backendRefs:
        - {name: web, port: 80, weight: 50}
        - {name: web-east, port: 80, weight: 50}
`;

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

interface Answer {
  readonly status: number;
  /** The name of the workload that answered, and what it received. */
  readonly name?: string;
  readonly clientId?: string;
}

describe.skipIf(unavailable !== undefined)('two meshes linked over the bus, in network namespaces', () => {
  let net: PodNetwork;
  let dir: string;
  let ip: Record<PodName, string>;
  let eastNats: NatsCluster;
  let westNats: NatsCluster;
  let east: Mesh;
  let west: Mesh;
  let westNc: NatsConnection;
  const multicluster: MulticlusterService[] = [];
  const processes: PodProcess[] = [];

  const dirOf = (...parts: string[]) => join(dir, ...parts);
  const inPod = (pod: PodName, argv: string[]) => net.exec(pod, argv);

  /** One GET from west's client pod through its proxy, as a program with HTTP_PROXY set sends it. */
  const call = async (url: string): Promise<Answer> => {
    const r = await inPod('wcli', ['curl', '-s', '-m', '10', '-o', '-', '-w', '\n%{http_code}', '-x', 'http://127.0.0.1:4140', url]);
    const lines = r.stdout.trimEnd().split('\n');
    const status = Number(lines.pop() ?? 0);
    if (status !== 200) {
      if (process.env['MESHBUS_E2E_DEBUG']) console.log(`${url}: ${status} ${lines.join(' ')}`);
      return { status };
    }
    const seen = JSON.parse(lines.join('\n')) as { name: string; headers: Record<string, string | undefined> };
    return { status, name: seen.name, ...(seen.headers['l5d-client-id'] ? { clientId: seen.headers['l5d-client-id'] } : {}) };
  };
  const calls = async (url: string, n: number): Promise<Answer[]> => {
    const out: Answer[] = [];
    for (let i = 0; i < n; i++) out.push(await call(url));
    return out;
  };
  const names = (answers: Answer[]) => new Set(answers.map((a) => (a.status === 200 ? a.name : `status ${a.status}`)));

  const mirrorReady = async (): Promise<boolean | undefined> => {
    try {
      const m = await (await westNc.jetstreamManager()).streams.getMessage(streams.state.name, { last_by_subj: subjects.mirroredService('shop', 'web-east') });
      return m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as { ready: boolean }).ready;
    } catch {
      return undefined;
    }
  };

  const spawnProxy = async (pod: PodName, identityDir: string, grpc: string, spec: { namespace: string; serviceAccount: string; ports: number[]; env?: Record<string, string> }): Promise<void> => {
    const env = await meshProxyEnv({
      gateways: [grpc],
      namespace: spec.namespace,
      name: `${pod}-1`,
      serviceAccount: spec.serviceAccount,
      identityDir,
      address: ip[pod],
      inboundPort: INBOUND_PORT,
      ports: spec.ports,
      outboundPort: 4140,
      env: { MESHBUS_PROXY_ADMIN_ADDR: '0.0.0.0:4191', ...spec.env },
    });
    const proxy = net.spawn(pod, [process.execPath, proxyMain], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
    processes.push(proxy);
    await waitFor(
      async () => {
        if (proxy.child.exitCode !== null) throw new Error(`the proxy of ${pod} exited:\n${proxy.output()}`);
        return (await httpGet(`http://${ip[pod]}:4191/ready`).catch(() => undefined))?.status === 200;
      },
      { what: `the proxy of ${pod} ready`, timeoutMs: 30_000, intervalMs: 200 },
    );
  };

  beforeAll(async () => {
    net = await createPodNetwork({ pods: [...pods], hostLink: true });
    ip = Object.fromEntries(pods.map((p) => [p, net.pod(p).ip])) as Record<PodName, string>;
    dir = await mkdtemp(join(tmpdir(), 'meshbus-mc-e2e-'));
    await chmod(dir, 0o755);

    // One trust anchor, an issuer for each cluster.
    await execFileAsync(process.execPath, [cliMain, 'identity', 'init', '--dir', dirOf('east-identity')]);
    await execFileAsync(process.execPath, [cliMain, 'identity', 'init', '--dir', dirOf('west-identity'), '--anchor-cert', dirOf('east-identity', 'ca.crt'), '--anchor-key', dirOf('east-identity', 'ca.key')]);
    for (const cluster of ['east', 'west']) {
      await mkdir(dirOf(`${cluster}-manifests`));
      await chmod(dirOf(`${cluster}-identity`, 'ca.crt'), 0o644);
    }
    await writeFile(dirOf('east-manifests', 'shop.yaml'), eastManifests(ip, false));
    await writeFile(dirOf('west-manifests', 'shop.yaml'), westManifests(ip, true));

    // The buses: east listens for leaf nodes and holds west's link login; west connects with it.
    const leafPort = await freePort();
    const noAuth = 'no_auth_user: admin\n';
    eastNats = await startNats({ jetstreamDomain: 'east', authorization: natsAuthorizationConfig([], [admin, linkUser('east', 'west', 'link-pw')]), extraConfig: noAuth + leafnodeListenConfig('127.0.0.1', leafPort) });
    westNats = await startNats({
      jetstreamDomain: 'west',
      authorization: natsAuthorizationConfig([], [admin]),
      extraConfig: noAuth + leafnodeRemotesConfig([{ url: `nats-leaf://127.0.0.1:${leafPort}`, user: 'link-west', password: 'link-pw' }]),
    });
    westNc = await connect({ servers: westNats.url, user: 'admin', pass: 'admin-pw' });

    const mesh = (cluster: 'east' | 'west', nats: NatsCluster) =>
      startMesh({
        nats,
        destination: true,
        policy: true,
        identity: true,
        gateway: true,
        manifests: dirOf(`${cluster}-manifests`),
        identityDir: dirOf(`${cluster}-identity`),
        env: { gateway: { MESHBUS_GRPC_ADDR: `${net.hostIp!}:0` }, destination: { MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms' }, policy: { MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms' } },
      });
    east = await mesh('east', eastNats);
    west = await mesh('west', westNats);
    const mcEnv = (cluster: string, nats: NatsCluster, extra: Record<string, string>) =>
      envToConfig({
        MESHBUS_CLUSTER_NAME: cluster,
        NATS_URL: nats.url,
        MESHBUS_MANIFESTS_DIR: dirOf(`${cluster}-manifests`),
        MESHBUS_MANIFESTS_QUIET_PERIOD: '50ms',
        MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
        MESHBUS_REPLICA_ID: `multicluster-${cluster}-1`,
        MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL: '500ms',
        MESHBUS_MULTICLUSTER_GRACE: '60s',
        ...extra,
      });
    multicluster.push(createMulticlusterService(mcEnv('east', eastNats, { MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES: `${ip.egw}:${GATEWAY_PORT}` }), { logger: silentLogger() }));
    multicluster.push(createMulticlusterService(mcEnv('west', westNats, { MESHBUS_MULTICLUSTER_LINKS: 'east' }), { logger: silentLogger() }));
    for (const service of multicluster) await service.start();

    const eastGrpc = `${net.hostIp!}:${east.gateway.grpcPort}`;
    const westGrpc = `${net.hostIp!}:${west.gateway.grpcPort}`;
    // West's pods reach their own pods, west's control plane and east's gateway: nothing else.
    for (const pod of ['wcli', 'wweb'] as const) {
      const rules = [
        ['-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT'],
        ['-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
        ['-A', 'OUTPUT', '-d', ip.wcli, '-j', 'ACCEPT'],
        ['-A', 'OUTPUT', '-d', ip.wweb, '-j', 'ACCEPT'],
        ['-A', 'OUTPUT', '-p', 'tcp', '-d', net.hostIp!, '--dport', String(west.gateway.grpcPort), '-j', 'ACCEPT'],
        ['-A', 'OUTPUT', '-p', 'tcp', '-d', ip.egw, '--dport', String(GATEWAY_PORT), '-j', 'ACCEPT'],
        ['-A', 'OUTPUT', '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'],
        ['-A', 'OUTPUT', '-j', 'REJECT'],
      ];
      for (const rule of rules) {
        const r = await inPod(pod, ['iptables', '-w', '5', ...rule]);
        expect(r.code, `iptables ${rule.join(' ')} in ${pod}: ${r.stderr}`).toBe(0);
      }
    }

    for (const pod of ['eweb', 'wweb'] as const) {
      const app = net.spawn(pod, [process.execPath, workloadScript, pod, String(APP_PORT)]);
      processes.push(app);
      await app.line((l) => l.includes('"listening"'));
    }
    await Promise.all([
      spawnProxy('eweb', dirOf('east-identity'), eastGrpc, { namespace: 'shop', serviceAccount: 'web', ports: [APP_PORT] }),
      spawnProxy('egw', dirOf('east-identity'), eastGrpc, {
        namespace: 'meshbus',
        serviceAccount: 'multicluster-gateway',
        ports: [],
        env: { MESHBUS_PROXY_MODE: 'gateway', MESHBUS_PROXY_GATEWAY_ADDR: `0.0.0.0:${GATEWAY_PORT}` },
      }),
      spawnProxy('wcli', dirOf('west-identity'), westGrpc, { namespace: 'shop', serviceAccount: 'client', ports: [APP_PORT] }),
      spawnProxy('wweb', dirOf('west-identity'), westGrpc, { namespace: 'shop', serviceAccount: 'web', ports: [APP_PORT] }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    for (const service of multicluster.reverse()) await service[Symbol.asyncDispose]();
    await westNc?.close();
    await west?.[Symbol.asyncDispose]();
    await east?.[Symbol.asyncDispose]();
    await westNats?.stop();
    await eastNats?.stop();
    await net?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("calls east's exported web from west through east's gateway, over mesh TLS to the workload", async () => {
    // Before the export: west's web answers, and web-east does not exist.
    expect(await call('http://web.shop.svc.cluster.local/')).toMatchObject({ status: 200, name: 'wweb', clientId: clientIdentity });
    expect((await call('http://web-east.shop.svc.cluster.local/')).status).not.toBe(200);

    const exportedAt = Date.now();
    await writeAtomically(dirOf('east-manifests', 'shop.yaml'), eastManifests(ip, true));
    const answer = await waitFor(
      async () => {
        const a = await call('http://web-east.shop.svc.cluster.local/first');
        return a.status === 200 ? a : undefined;
      },
      { what: 'web-east answering in west', timeoutMs: 30_000, intervalMs: 100 },
    );
    console.log(`export written in east to web-east answering in west: ${Date.now() - exportedAt} ms`);
    // East's workload answered, and its proxy saw west's client by its mesh identity.
    expect(answer).toEqual({ status: 200, name: 'eweb', clientId: clientIdentity });
  });

  it("leaves west no way to east but the gateway", async () => {
    for (const port of [APP_PORT, INBOUND_PORT]) {
      const r = await inPod('wcli', ['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${ip.eweb}:${port}/`]);
      expect(r.code, `west reached east's web at port ${port}`).not.toBe(0);
    }
    const r = await inPod('wcli', ['curl', '-s', '-m', '3', '-o', '/dev/null', `http://${net.hostIp!}:${east.gateway.grpcPort}/`]);
    expect(r.code, "west reached east's control plane").not.toBe(0);
  });

  it('shows with openssl the identities on each side of the gateway', async () => {
    // A west workload's certificate, from west's issuer.
    const westCa = CertificateAuthority.fromPem({
      trustAnchorsPem: await readFile(dirOf('west-identity', 'ca.crt'), 'utf8'),
      issuerCertificatePem: await readFile(dirOf('west-identity', 'issuer.crt'), 'utf8'),
      issuerKeyPem: await readFile(dirOf('west-identity', 'issuer.key'), 'utf8'),
    });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = await westCa.issue({ identity: clientIdentity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: clientIdentity }] }) });
    const pem = (der: Uint8Array) => new X509Certificate(Buffer.from(der)).toString();
    await writeFile(dirOf('client.crt'), pem(issued.leafDer) + issued.intermediatesDer.map(pem).join(''));
    await writeFile(dirOf('client.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const anchor = dirOf('east-identity', 'ca.crt');

    // The client's leaf chains to the one anchor through west's issuer, and names the client.
    const verified = await execFileAsync('openssl', ['verify', '-CAfile', anchor, '-untrusted', dirOf('west-identity', 'issuer.crt'), dirOf('client.crt')]);
    expect(verified.stdout).toContain(': OK');
    const clientSan = await execFileAsync('openssl', ['x509', '-in', dirOf('client.crt'), '-noout', '-ext', 'subjectAltName']);
    expect(clientSan.stdout).toContain(`DNS:${clientIdentity}`);

    // From west's client pod: mesh TLS to east's gateway, verified against the anchor and the gateway's identity.
    // The client sends its issuer with its leaf (-cert_chain), as a proxy does, then asks for `authority`.
    const sClient = (cert: string, chain: string, key: string, authority: string) =>
      inPod('wcli', [
        'sh',
        '-c',
        `printf 'CONNECT ${authority} HTTP/1.1\\r\\nHost: ${authority}\\r\\n\\r\\n' | timeout 15 openssl s_client -connect ${ip.egw}:${GATEWAY_PORT} -alpn meshbus.tunnel -cert ${cert} -cert_chain ${chain} -key ${key} -CAfile ${anchor} -verify_hostname ${gatewayIdentity} -verify_return_error -showcerts -ign_eof 2>&1`,
      ]);
    const westIssuer = dirOf('west-identity', 'issuer.crt');
    const accepted = await sClient(dirOf('client.crt'), westIssuer, dirOf('client.key'), 'nothing.shop.svc.cluster.local:80');
    if (process.env['MESHBUS_E2E_DEBUG']) console.log(accepted.stdout.replace(/-----BEGIN[\s\S]+?-----END CERTIFICATE-----/g, '<cert>'));
    expect(accepted.stdout).toContain('Verify return code: 0 (ok)');
    expect(accepted.stdout).toContain(`Verified peername: ${gatewayIdentity}`);
    expect(accepted.stdout).toContain('ALPN protocol: meshbus.tunnel');
    expect(accepted.stdout).not.toMatch(/alert/i);
    const gatewayLeaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(accepted.stdout)![0];
    await writeFile(dirOf('gateway.crt'), `${gatewayLeaf}\n`);
    const gatewaySan = await execFileAsync('openssl', ['x509', '-in', dirOf('gateway.crt'), '-noout', '-ext', 'subjectAltName']);
    expect(gatewaySan.stdout).toContain(`DNS:${gatewayIdentity}`);
    const gatewayVerified = await execFileAsync('openssl', ['verify', '-CAfile', anchor, '-untrusted', dirOf('east-identity', 'issuer.crt'), dirOf('gateway.crt')]);
    expect(gatewayVerified.stdout).toContain(': OK');

    // The gateway answers the authenticated client: no such service, and a service east does not export.
    expect(accepted.stdout).toContain('HTTP/1.1 404 Not Found');
    expect(accepted.stdout).toContain('no service nothing.shop.svc.cluster.local:80 in this cluster');
    const unexported = await sClient(dirOf('client.crt'), westIssuer, dirOf('client.key'), 'orders.shop.svc.cluster.local:80');
    expect(unexported.stdout).toContain(`Verified peername: ${gatewayIdentity}`);
    expect(unexported.stdout).toContain('HTTP/1.1 403 Forbidden');
    expect(unexported.stdout).toContain('orders.shop.svc.cluster.local:80 is not exported to linked clusters');

    // A certificate of another anchor, with its own issuer, gets no answer at all.
    const now = Date.now();
    const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) };
    const foreignAnchor = createTrustAnchor({ commonName: 'root.elsewhere', validity });
    const foreignIssuer = createIssuer({ anchor: foreignAnchor, commonName: 'issuer.elsewhere', validity });
    const foreignCa = CertificateAuthority.fromPem({ trustAnchorsPem: foreignAnchor.certificatePem, issuerCertificatePem: foreignIssuer.certificatePem, issuerKeyPem: foreignIssuer.privateKeyPem });
    const foreign = await foreignCa.issue({ identity: clientIdentity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: clientIdentity }] }) });
    await writeFile(dirOf('foreign.crt'), pem(foreign.leafDer));
    await writeFile(dirOf('foreign-issuer.crt'), foreign.intermediatesDer.map(pem).join(''));
    const refused = await sClient(dirOf('foreign.crt'), dirOf('foreign-issuer.crt'), dirOf('client.key'), 'web.shop.svc.cluster.local:80');
    expect(refused.stdout).toContain(`Verified peername: ${gatewayIdentity}`);
    expect(refused.stdout).not.toContain('HTTP/1.1');
  });

  it('splits web.shop between west and east, fails over to east when west has no ready endpoint, and back', async () => {
    await writeAtomically(dirOf('west-manifests', 'split.yaml'), splitRoute);
    await waitFor(async () => names(await calls('http://web.shop.svc.cluster.local/split', 12)).size === 2, { what: 'both webs answering web.shop', timeoutMs: 30_000 });
    const split = await calls('http://web.shop.svc.cluster.local/split', 20);
    expect(names(split)).toEqual(new Set(['wweb', 'eweb']));
    expect(split.every((a) => a.clientId === clientIdentity)).toBe(true);

    const goneAt = Date.now();
    await writeAtomically(dirOf('west-manifests', 'shop.yaml'), westManifests(ip, false));
    await waitFor(async () => [...names(await calls('http://web.shop.svc.cluster.local/failover', 6))].join() === 'eweb', { what: 'all of web.shop answered by east', timeoutMs: 30_000, intervalMs: 100 });
    console.log(`west's web endpoint removed to all calls answered by east: ${Date.now() - goneAt} ms`);
    expect(names(await calls('http://web.shop.svc.cluster.local/failover', 10))).toEqual(new Set(['eweb']));

    await writeAtomically(dirOf('west-manifests', 'shop.yaml'), westManifests(ip, true));
    await waitFor(async () => names(await calls('http://web.shop.svc.cluster.local/back', 12)).has('wweb'), { what: "west's web back in the split", timeoutMs: 30_000 });
  });

  it("keeps west serving when east's bus goes, takes east out of the split, and brings it back when east returns", async () => {
    const lostAt = Date.now();
    await eastNats.kill(0);
    const during: Answer[] = [];
    await waitFor(
      async () => {
        const round = await calls('http://web.shop.svc.cluster.local/link-lost', 4);
        during.push(...round);
        return (await mirrorReady()) === false && [...names(round)].join() === 'wweb';
      },
      { what: 'web-east not ready and web.shop answered by west alone', timeoutMs: 30_000, intervalMs: 100 },
    );
    console.log(`east's bus killed to web-east not ready and all calls answered by west: ${Date.now() - lostAt} ms`);
    // West's own traffic never failed meanwhile.
    expect(during.every((a) => a.status === 200)).toBe(true);
    expect(names(await calls('http://web.shop.svc.cluster.local/link-lost', 10))).toEqual(new Set(['wweb']));

    const backAt = Date.now();
    await eastNats.restart(0);
    await waitFor(async () => (await mirrorReady()) === true, { what: 'web-east ready again', timeoutMs: 60_000, intervalMs: 200 });
    await waitFor(async () => names(await calls('http://web.shop.svc.cluster.local/link-back', 12)).has('eweb'), { what: 'east back in the split', timeoutMs: 30_000 });
    console.log(`east's bus restarted to east answering in the split again: ${Date.now() - backAt} ms (no west service restarted)`);
    expect(await call('http://web-east.shop.svc.cluster.local/again')).toMatchObject({ status: 200, name: 'eweb', clientId: clientIdentity });
  }, 120_000);
});
