import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, decodeEvent, encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { createTapService, tapServiceDefinition, type ReportTrust, type TapService } from '@meshbus/gateway';
import { TapClient, type Proxy, type TapRequestRecord } from '@meshbus/proxy';
import { natsInboxPrefix, Registry, silentLogger } from '@meshbus/runtime';
import { freePort, natsAuthorizationConfig, selfSignedServingCertificate, startNats, waitFor, type NatsCluster, type ServingCertificate } from '@meshbus/testing';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import { clientServerManifests, meshIdentity, repoRoot, startMesh, startMeshProxy, viaProxy, type Mesh } from './harness.js';

const HOUR = 3_600_000;
const validator = busValidator();
const run = promisify(execFile);

/** A mesh CA of the test's own: its anchor (the gateway's trust) and leaves as the proxy's certificate client holds them. */
function newMesh() {
  const now = Date.now();
  const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) };
  const anchor = createTrustAnchor({ commonName: 'root.tap.test', validity });
  const issuer = createIssuer({ anchor, commonName: 'issuer.tap.test', validity });
  const ca = CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
  return {
    trust: { trustDomain: 'cluster.local', anchors: [new X509Certificate(anchor.certificatePem)] } satisfies ReportTrust,
    async certify(identity: string) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const issued = await ca.issue({ identity, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: identity }] }) });
      return {
        certificatePem: new X509Certificate(Buffer.from(issued.leafDer)).toString(),
        chainPem: issued.intermediatesDer.map((d) => new X509Certificate(Buffer.from(d)).toString()).join(''),
        privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      };
    },
  };
}

async function requestTap(nc: NatsConnection, request: TapRequest): Promise<void> {
  const subject = subjects.tapRequest(request.namespace, request.workload);
  const encoded = encodeEvent('tapRequest', subject, request, { source: '/meshbus/cli/test', subject: `${request.namespace}/${request.workload}` }, validator);
  nc.publish(subject, encoded.payload, { headers: encoded.headers });
  await nc.flush();
}

/** The tap events of one session, as `meshbus tap` would read them. */
async function collect(nc: NatsConnection, sessionId: string): Promise<TapEvent[]> {
  const got: TapEvent[] = [];
  nc.subscribe(subjects.tapEvents(sessionId), { callback: (err, msg) => void (err || got.push(decodeEvent(msg.subject, msg.headers, msg.data, validator).data as TapEvent)) });
  await nc.flush();
  return got;
}

const startRequest = (sessionId: string, workload: string, extra: Partial<TapRequest> = {}): TapRequest => ({ sessionId, action: 'start', namespace: 'shop', workload, filter: {}, maxRps: 50, expiresInMs: 30_000, ...extra });

describe('the proxy’s TapClient on the gateway’s Tap server', () => {
  let nats: NatsCluster;
  let gatewayNc: NatsConnection;
  let tapNc: NatsConnection;
  let port: number;
  let service: TapService;
  let server: Server;
  let client: TapClient;
  /** The gateway's serving certificate (for 127.0.0.1): the Watch stream runs over TLS, as in a cluster. */
  let serving: ServingCertificate;
  const registry = new Registry();
  const mesh = newMesh();
  const webIdentity = meshIdentity('shop', 'web');

  async function startGateway(): Promise<void> {
    service = createTapService({ nc: gatewayNc, validator, trust: () => mesh.trust, source: '/meshbus/gateway/test', logger: silentLogger(), expiryCheckMs: 100 });
    await gatewayNc.flush();
    server = new Server();
    server.addService(tapServiceDefinition, service.handlers);
    await new Promise<void>((resolve, reject) => server.bindAsync(
        `127.0.0.1:${port}`,
        ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.certificatePem), private_key: Buffer.from(serving.keyPem) }], false),
        (e) => (e ? reject(e) : resolve())));
  }

  function stopGateway(): void {
    service.close();
    server.forceShutdown();
  }

  const record = (path: string, extra: Partial<TapRequestRecord> = {}): TapRequestRecord => ({
    direction: 'inbound',
    method: 'GET',
    authority: 'web.shop.svc.cluster.local:80',
    path,
    startedAtMs: Date.now(),
    status: 200,
    latencyMs: 3,
    tls: true,
    peerIdentity: meshIdentity('shop', 'front'),
    requestHeaders: { 'user-agent': 'test', authorization: 'Bearer secret' },
    responseHeaders: { 'content-type': 'application/json', 'set-cookie': 'sid=1' },
    ...extra,
  });

  beforeAll(async () => {
    const users = [
      { user: 'gateway', password: 'g', role: 'gateway' as const },
      { user: 'tap', password: 't', role: 'tap' as const },
    ];
    nats = await startNats({ authorization: natsAuthorizationConfig(users) });
    const login = (role: 'gateway' | 'tap') => ({ servers: [nats.url], user: role, password: users.find((u) => u.role === role)!.password, inboxPrefix: natsInboxPrefix(role), name: role });
    gatewayNc = await connectBus(login('gateway'), silentLogger());
    tapNc = await connectBus(login('tap'), silentLogger());
    port = await freePort();
    serving = await selfSignedServingCertificate();
    await startGateway();
    const certificate = await mesh.certify(webIdentity);
    client = new TapClient({ gateways: [`127.0.0.1:${port}`], credentials: credentials.createSsl(Buffer.from(serving.certificatePem)), certificate: () => certificate, instance: 'web-1', registry });
    client.start();
  }, 30_000);

  afterAll(async () => {
    client?.close();
    if (service) stopGateway();
    await tapNc?.close();
    await gatewayNc?.close();
    await nats?.stop();
  });

  it('records for a session the bus asked for, then nothing after stop', async () => {
    await waitFor(() => service.router.proxyCount === 1, { what: 'the client’s hello accepted' });
    expect(client.tapping).toBe(false);
    const first = await collect(tapNc, 'session-web-0001');
    await requestTap(tapNc, startRequest('session-web-0001', 'web', { filter: { path: '/api/' } }));
    await waitFor(() => client.tapping, { what: 'the start at the client' });

    client.record(record('/api/cart?secret=1', { responseHeaders: { 'content-type': 'application/json', 'grpc-status': '0' } }));
    client.record(record('/health'));
    // Every field at its longest: the gateway publishes it all the same.
    client.record(record(`/api/${'x'.repeat(3000)}`, { method: 'AVERYLONGMETHODNAME', authority: 'a'.repeat(400), latencyMs: 99 * HOUR, status: 5000 }));
    await waitFor(() => first.length >= 2, { what: 'two records on the session’s subject' });
    expect(first[0]).toEqual({
      sessionId: 'session-web-0001',
      namespace: 'shop',
      workload: 'web',
      identity: webIdentity,
      instance: 'web-1',
      startedAt: expect.any(String),
      direction: 'inbound',
      method: 'GET',
      authority: 'web.shop.svc.cluster.local:80',
      path: '/api/cart',
      status: 200,
      latencyMs: 3,
      tls: true,
      peerIdentity: meshIdentity('shop', 'front'),
      headers: { 'user-agent': 'test', 'content-type': 'application/json', 'grpc-status': '0' },
    });
    expect(first[1]).toMatchObject({ path: `/api/${'x'.repeat(1019)}`, status: 999, latencyMs: HOUR, method: 'AVERYLONGMETHODN' });

    await requestTap(tapNc, { ...startRequest('session-web-0001', 'web'), action: 'stop' });
    await waitFor(() => !client.tapping, { what: 'the stop at the client' });
    // A second session shows when records arrive again: the stopped one, on the same stream before it, gets none.
    const second = await collect(tapNc, 'session-web-0002');
    await requestTap(tapNc, startRequest('session-web-0002', 'web', { maxRps: 1 }));
    await waitFor(() => client.tapping, { what: 'the second session at the client' });
    client.record(record('/api/after-stop'));
    client.record(record('/api/past-the-rate'));
    await waitFor(() => second.length >= 1, { what: 'the second session’s record' });
    await tapNc.flush();
    expect(second.map((e) => e.path)).toEqual(['/api/after-stop']);
    expect(first).toHaveLength(2);

    const metrics = await registry.metrics();
    expect(metrics).toMatch(/meshbus_proxy_tap_records_total\{result="sent"\} 3/);
    expect(metrics).toMatch(/meshbus_proxy_tap_records_total\{result="rate_limited"\} 1/);
    expect(metrics).toMatch(/meshbus_proxy_tap_sessions 1/);
  });

  it('after the gateway restarts, connects again with a fresh hello and records for a new start', async () => {
    const hellos = client.hellos;
    expect(client.tapping).toBe(true);
    stopGateway();
    // The stream is gone: so are its sessions.
    await waitFor(() => !client.connected || client.hellos > hellos, { what: 'the client sees the stream end' });
    expect(client.tapping).toBe(false);
    await startGateway();
    await waitFor(() => service.router.proxyCount === 1, { what: 'the client’s new hello accepted', timeoutMs: 15_000 });
    expect(client.hellos).toBeGreaterThan(hellos);

    const events = await collect(tapNc, 'session-web-0003');
    await requestTap(tapNc, startRequest('session-web-0003', 'web'));
    await waitFor(() => client.tapping, { what: 'the start on the new stream' });
    client.record(record('/api/after-restart', { direction: 'outbound', peerIdentity: meshIdentity('shop', 'api') }));
    await waitFor(() => events.length >= 1, { what: 'the record after the restart' });
    expect(events[0]).toMatchObject({ path: '/api/after-restart', direction: 'outbound', identity: webIdentity, peerIdentity: meshIdentity('shop', 'api') });
  }, 30_000);
});

// Two workloads with in-process proxies on the real control plane; a request
// from client to server through both proxies is tapped on each side.
const ns = 'taps';
const hosts = { client: '127.0.0.101', server: '127.0.0.102' } as const;

const manifests = (appPort: number): string => clientServerManifests(ns, hosts, appPort);

describe('tapping requests through running proxies', () => {
  let dir: string;
  let mesh: Mesh;
  let backend: HttpServer;
  let nc: NatsConnection;
  const proxies: Partial<Record<keyof typeof hosts, Proxy>> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-tap-'));
    await run('node', [join(repoRoot, 'cli/dist/main.js'), 'identity', 'init', '--dir', join(dir, 'identity')]);
    const appPort = await freePort(hosts.server);
    const inboundPort = await freePort(hosts.server);
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'taps.yaml'), manifests(appPort));
    mesh = await startMesh({ destination: true, policy: true, identity: true, gateway: true, manifests: join(dir, 'manifests'), identityDir: join(dir, 'identity') });
    nc = await mesh.connect();
    backend = createServer((req, res) => {
      res.writeHead(req.url?.startsWith('/missing') ? 404 : 200, { 'content-type': 'text/plain' });
      res.end('server\n');
    });
    await new Promise<void>((resolve) => backend.listen(appPort, hosts.server, resolve));
    for (const name of ['server', 'client'] as const) {
      proxies[name] = await startMeshProxy({
        gateways: [`127.0.0.1:${mesh.gateway.grpcPort}`],
        namespace: ns,
        name: `${name}-1`,
        serviceAccount: name,
        identityDir: join(dir, 'identity'),
        address: hosts[name],
        inboundPort,
        ports: [appPort],
        env: { MESHBUS_PROXY_TELEMETRY_INTERVAL: '0s', MESHBUS_PROXY_TAP_HEADERS: 'content-type,user-agent' },
      });
    }
  }, 60_000);

  afterAll(async () => {
    for (const p of Object.values(proxies)) await p.stop();
    await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
    await mesh?.[Symbol.asyncDispose]();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records the request on the outbound side of the client and the inbound side of the server, metadata only', async () => {
    const { client, server } = proxies as Record<keyof typeof hosts, Proxy>;
    expect(client.tap?.tapping).toBe(false);
    await waitFor(() => client.tap?.connected === true && server.tap?.connected === true, { what: 'both proxies’ Watch streams' });
    const inbound = await collect(nc, 'session-taps-server');
    const outbound = await collect(nc, 'session-taps-client');
    const tapBoth = async () => {
      await requestTap(nc, { ...startRequest('session-taps-server', 'server'), namespace: ns, filter: { method: 'GET' } });
      await requestTap(nc, { ...startRequest('session-taps-client', 'client'), namespace: ns });
    };
    // The gateway may take the proxies' hellos after a first request: ask until both proxies tap.
    await waitFor(
      async () => {
        await tapBoth();
        return client.tap?.tapping === true && server.tap?.tapping === true;
      },
      { what: 'both proxies tapping', intervalMs: 500 },
    );

    const answer = await viaProxy(client.ports.outbound, `http://server.${ns}.svc.cluster.local/missing?token=secret`, { headers: { 'user-agent': 'tap-test', 'x-request-id': 'r-1', authorization: 'Bearer secret' } });
    expect(answer.status).toBe(404);
    await waitFor(() => inbound.length >= 1 && outbound.length >= 1, { what: 'a record from each proxy', timeoutMs: 10_000 });

    const authority = `server.${ns}.svc.cluster.local:80`;
    expect(outbound[0]).toMatchObject({
      namespace: ns,
      workload: 'client',
      identity: meshIdentity(ns, 'client'),
      instance: 'client-1',
      direction: 'outbound',
      method: 'GET',
      authority,
      path: '/missing',
      status: 404,
      tls: true,
      peerIdentity: meshIdentity(ns, 'server'),
      headers: { 'user-agent': 'tap-test', 'content-type': 'text/plain' },
    });
    expect(inbound[0]).toMatchObject({
      namespace: ns,
      workload: 'server',
      identity: meshIdentity(ns, 'server'),
      direction: 'inbound',
      path: '/missing',
      status: 404,
      tls: true,
      peerIdentity: meshIdentity(ns, 'client'),
      headers: { 'user-agent': 'tap-test', 'content-type': 'text/plain' },
    });
    // Not allowlisted here (x-request-id), or never tapped (authorization), and no query string.
    expect(JSON.stringify([...inbound, ...outbound])).not.toMatch(/secret|"r-1"|x-request-id|authorization/);
  }, 60_000);
});
