import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { connect as http2Connect } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { inbound } from '@meshbus/proxy-api';
import { silentLogger } from '@meshbus/runtime';
import type { WorkloadCertificate } from '@meshbus/identity-client';
import { anyone, authz, everywhere, http1Server, inboundHttpRoute, opaqueServer, prefixMatch, resource } from '../inbound/test-policy.js';
import { ProxyMetrics } from '../metrics/index.js';
import { MeshTls } from '../tls/index.js';
import { createTestMesh, TestCertificateSource, type TestMesh } from '../tls/test-fixtures.js';
import { OriginalDestinationError, type OriginalDestination } from '../transparent/original-destination.js';
import { InboundProxy } from './inbound-proxy.js';
import { OutboundProxy } from './outbound-proxy.js';
import { TestDiscovery } from './test-fixtures.js';
import { forwardPolicy, servicePolicy } from './transparent-test-policies.js';
import { TransparentOutbound, transparentInboundPort } from './transparent.js';

// Transparent and ingress modes on real sockets and real mesh TLS, in one
// process: the kernel's original destination is the one thing given by the
// test (the network-namespace test in tests/ covers the real redirects). A
// client proxy (outbound side) and a peer proxy (inbound side) stand beside a
// workload with an HTTP port and a line-echo TCP port.

const clientId = 'api.shop.serviceaccount.identity.meshbus.test';
const serverId = 'web.shop.serviceaccount.identity.meshbus.test';

const listen = (server: Server | NetServer): Promise<number> => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

describe('transparent and ingress modes in one process', () => {
  let mesh: TestMesh;
  let clientCert: WorkloadCertificate;
  let workload: Server;
  let echo: NetServer;
  let httpPort: number;
  let tcpPort: number;
  let peer: InboundProxy;
  let transparentPeer: InboundProxy;
  let client: OutboundProxy;
  let transparent: TransparentOutbound;
  let ingress: TransparentOutbound;
  const discovery = new TestDiscovery();
  const registry = new Registry();
  const peerRegistry = new Registry();
  const seen: IncomingHttpHeaders[] = [];
  const policies = new Map<number, inbound.Server>();
  /** What the "kernel" answers for the next connection accepted. */
  let nextDestination: (() => OriginalDestination) | undefined;
  const redirectedFrom = (address: string, port: number) => () => ({ family: 4 as const, address, port });
  const originalDestination = (socket: Socket): OriginalDestination => {
    const answer = nextDestination;
    nextDestination = undefined;
    if (!answer) throw new OriginalDestinationError('NotRedirected', `no redirect for ${socket.localAddress}:${socket.localPort}`);
    return answer();
  };

  beforeAll(async () => {
    mesh = createTestMesh();
    clientCert = await mesh.certify(clientId);
    workload = createServer((req, res) => {
      seen.push(req.headers);
      res.end(`workload ${req.url}\n`);
    });
    httpPort = await listen(workload);
    echo = createNetServer((socket) => {
      socket.setEncoding('utf8');
      socket.on('data', (line: string) => socket.write(`echo ${line}`));
      socket.on('error', () => undefined);
    });
    tcpPort = await listen(echo);
    const open = http1Server([], [inboundHttpRoute(resource('HTTPRoute', 'shop', 'all'), [authz(anyone, { networks: everywhere })], [prefixMatch('/')])]);
    policies.set(httpPort, open);
    policies.set(tcpPort, opaqueServer([authz(anyone, { networks: everywhere })]));
    const peerTls = () => mesh.certify(serverId).then((c) => new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(c) }));
    // The peer in explicit mode: opaque mesh TLS reaches its first port, the echo server.
    peer = new InboundProxy({ tls: await peerTls(), policy: (p) => policies.get(p), ports: [tcpPort, httpPort], metrics: new ProxyMetrics(peerRegistry), logger: silentLogger(), detectTimeoutMs: 300 });
    await peer.listen('127.0.0.1', 0);
    // A peer in transparent mode: the workload port comes from the original destination.
    transparentPeer = new InboundProxy({
      tls: await peerTls(),
      policy: (p) => policies.get(p),
      ports: [httpPort],
      metrics: new ProxyMetrics(new Registry()),
      logger: silentLogger(),
      detectTimeoutMs: 300,
      redirectedPort: transparentInboundPort({ originalDestination, ownPorts: () => [1], watchPort: () => Promise.resolve(), isLocalAddress: () => true, logger: silentLogger() }),
      acceptsPort: (p) => p !== 1,
    });
    await transparentPeer.listen('127.0.0.1', 0);

    const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(clientCert) });
    client = new OutboundProxy({ tls, discovery, metrics: new ProxyMetrics(registry), logger: silentLogger(), peerInboundPort: peer.port, policyTimeoutMs: 500 });
    const outboundOptions = { outbound: client, discovery, clusterDomain: 'cluster.local', ownPorts: () => [peer.port], originalDestination, isLocalAddress: () => false, logger: silentLogger(), policyTimeoutMs: 500 };
    transparent = new TransparentOutbound({ ...outboundOptions, mode: 'transparent' });
    await transparent.listen('127.0.0.1', 0);
    ingress = new TransparentOutbound({ ...outboundOptions, mode: 'ingress' });
    await ingress.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await Promise.all([transparent?.close(), ingress?.close()]);
    await client?.close(100);
    await Promise.all([peer?.close(100), transparentPeer?.close(100)]);
    workload?.close();
    echo?.close();
  });

  /** An unmodified client's GET, "redirected" from `from` to `listener`. */
  const get = (listener: number, from: () => OriginalDestination, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      nextDestination = from;
      const req = httpRequest({ host: '127.0.0.1', port: listener, path, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  /** One line over TCP and the line back; '' when the connection is closed first. */
  const line = (listener: number, from: (() => OriginalDestination) | undefined, text: string): Promise<string> =>
    new Promise((resolve) => {
      nextDestination = from;
      const s = netConnect(listener, '127.0.0.1', () => s.write(`${text}\n`));
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('\n')) s.destroy();
      });
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
    });

  it('sends HTTP for a forward backend without identity to the address, in plain', async () => {
    discovery.byAddr.set('192.0.2.10:80', forwardPolicy({ ip: '127.0.0.1', port: httpPort }));
    expect(await get(transparent.port, redirectedFrom('192.0.2.10', 80), '/plain', { 'l5d-client-id': 'forged' })).toEqual({ status: 200, body: 'workload /plain\n' });
    // Straight to the workload: no proxy in between set a client identity.
    expect(seen.at(-1)!['l5d-client-id']).toBe('forged');
    expect(discovery.addrLookups).toContain('192.0.2.10:80');
    expect(await registry.metrics()).toMatch(new RegExp(`response_total\\{[^}]*direction="outbound"[^}]*authority="192\\.0\\.2\\.10:80"[^}]*target_addr="127\\.0\\.0\\.1:${httpPort}"[^}]*tls="no_identity",no_tls_reason="not_provided_by_service_discovery"`));
  });

  it("sends HTTP for a forward backend with a TLS identity over mesh TLS to the peer's inbound port", async () => {
    discovery.byAddr.set('192.0.2.11:80', forwardPolicy({ ip: '127.0.0.1', port: httpPort, identity: serverId }));
    expect(await get(transparent.port, redirectedFrom('192.0.2.11', 80), '/meshed', { 'l5d-client-id': 'forged' })).toEqual({ status: 200, body: 'workload /meshed\n' });
    expect(seen.at(-1)!['l5d-client-id']).toBe(clientId);
    expect(await registry.metrics()).toMatch(new RegExp(`response_total\\{[^}]*authority="192\\.0\\.2\\.11:80"[^}]*tls="true",server_id="${serverId.replace(/\./g, '\\.')}"`));
  });

  it('carries TCP opaquely: detected, or at once for an opaque hint, with and without identity', async () => {
    discovery.byAddr.set('192.0.2.12:5000', forwardPolicy({ ip: '127.0.0.1', port: tcpPort }, { detectMs: 200 }));
    expect(await line(transparent.port, redirectedFrom('192.0.2.12', 5000), 'ping')).toBe('echo ping\n');
    // The hint skips detection (which, for these bytes, would wait out a timeout longer than the
    // test's); mesh TLS reaches the peer's first port, the echo server.
    discovery.byAddr.set('192.0.2.13:5000', forwardPolicy({ ip: '127.0.0.1', port: tcpPort, identity: serverId, opaqueHint: true }, { detectMs: 120_000 }));
    expect(await line(transparent.port, redirectedFrom('192.0.2.13', 5000), 'PING')).toBe('echo PING\n');
    expect(await peerRegistry.metrics()).toMatch(new RegExp(`tcp_open_total\\{[^}]*direction="inbound"[^}]*tls="true",client_id="${clientId.replace(/\./g, '\\.')}"`));
  });

  it("routes a service's address by the service's policy, balanced over its endpoints", async () => {
    discovery.byAddr.set('192.0.2.100:80', servicePolicy('web', 'shop', 80, { routeHeader: 'web-route' }));
    discovery.paths.set('web.shop.svc.cluster.local:80', [{ addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x7f000001 } }, port: httpPort }, weight: 1, metricLabels: {}, tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: serverId } } } }]);
    expect((await get(transparent.port, redirectedFrom('192.0.2.100', 80), '/svc')).status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ 'x-route': 'web-route', 'l5d-client-id': clientId });
    expect(await registry.metrics()).toMatch(/response_total\{[^}]*authority="web\.shop\.svc\.cluster\.local:80"/);
  });

  it('refuses connections that would loop, and serves direct connections as the explicit HTTP proxy', async () => {
    expect(await line(transparent.port, redirectedFrom('127.0.0.1', tcpPort), 'loop')).toBe('');
    expect(await line(transparent.port, () => ({ family: 4, address: '10.9.9.9', port: peer.port }), 'own')).toBe('');
    discovery.byAddr.set('192.0.2.12:5000', forwardPolicy({ ip: '127.0.0.1', port: tcpPort }, { detectMs: 200 }));
    // Not redirected: an absolute-form request by authority.
    discovery.byAuthority.set('web.shop.svc.cluster.local:80', forwardPolicy({ ip: '127.0.0.1', port: httpPort }));
    expect(await get(transparent.port, () => { throw new OriginalDestinationError('NotRedirected', 'direct'); }, 'http://web.shop/explicit', { host: 'web.shop' })).toEqual({ status: 200, body: 'workload /explicit\n' });
  });

  it('routes by l5d-dst-override in ingress mode, then by a Host that names a service, else by the original destination', async () => {
    discovery.byAuthority.set('web.shop.svc.cluster.local:80', servicePolicy('web', 'shop', 80, { routeHeader: 'by-name' }));
    discovery.byAddr.set('192.0.2.20:8080', forwardPolicy({ ip: '127.0.0.1', port: httpPort }));
    const override = await get(ingress.port, redirectedFrom('192.0.2.20', 8080), '/o', { 'l5d-dst-override': 'web.shop.svc.cluster.local:80' });
    expect(override.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ 'x-route': 'by-name', 'l5d-client-id': clientId });
    expect(seen.at(-1)!['l5d-dst-override']).toBeUndefined();
    expect((await get(ingress.port, redirectedFrom('192.0.2.20', 8080), '/h', { host: 'web.shop' })).status).toBe(200);
    expect(seen.at(-1)!['x-route']).toBe('by-name');
    // An external Host, or an address: the original destination's policy.
    expect((await get(ingress.port, redirectedFrom('192.0.2.20', 8080), '/e', { host: 'example.org' })).status).toBe(200);
    expect(seen.at(-1)!['x-route']).toBeUndefined();
    expect((await get(ingress.port, redirectedFrom('192.0.2.20', 8080), '/i', { host: '192.0.2.20:8080' })).status).toBe(200);
    expect(seen.at(-1)!['x-route']).toBeUndefined();
    // An override that names no service is an error, not a silent fallback.
    expect((await get(ingress.port, redirectedFrom('192.0.2.20', 8080), '/x', { 'l5d-dst-override': 'nope.shop.svc.cluster.local:80' })).status).toBe(503);
    // Transparent mode ignores the header.
    expect((await get(transparent.port, redirectedFrom('192.0.2.20', 8080), '/t', { 'l5d-dst-override': 'web.shop.svc.cluster.local:80' })).status).toBe(200);
    expect(seen.at(-1)!['x-route']).toBeUndefined();
  });

  it('inbound: a redirected connection is for its original port, whatever l5d-dst-port says; own ports are closed', async () => {
    // Plain HTTP redirected from the HTTP port, claiming the TCP port.
    expect((await get(transparentPeer.port, redirectedFrom('192.0.2.30', httpPort), '/in', { 'l5d-dst-port': String(tcpPort) })).body).toBe('workload /in\n');
    // Opaque TCP redirected from the TCP port: not the first port, still reached.
    expect(await line(transparentPeer.port, redirectedFrom('192.0.2.30', tcpPort), 'tcp')).toBe('echo tcp\n');
    // Redirected from a listener of the proxy's own.
    expect(await line(transparentPeer.port, redirectedFrom('192.0.2.30', 1), 'x')).toBe('');
  });

  it('inbound: mesh TLS made to the inbound port itself keeps l5d-dst-port', async () => {
    const session = http2Connect(`http://127.0.0.1:${transparentPeer.port}`, {
      createConnection: () =>
        tlsConnect({ host: '127.0.0.1', port: transparentPeer.port, servername: serverId, ca: mesh.anchor.certificatePem, cert: `${clientCert.certificatePem}${clientCert.chainPem}`, key: clientCert.privateKeyPem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
    });
    try {
      nextDestination = undefined;
      const status = await new Promise<number>((resolve, reject) => {
        // As a peer proxy sends an HTTP/1.1 request of its workload.
        const stream = session.request({ ':path': '/mesh-in', 'l5d-dst-port': String(httpPort), 'l5d-orig-proto': 'HTTP/1.1' });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end();
      });
      expect(status).toBe(200);
      expect(seen.at(-1)!['l5d-client-id']).toBe(clientId);
    } finally {
      session.close();
    }
  });
});
