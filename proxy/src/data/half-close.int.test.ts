import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@meshbus/runtime';
import { freePort, waitFor } from '@meshbus/testing';
import { anyone, authz, everywhere, opaqueServer } from '../inbound/test-policy.js';
import { ProxyMetrics } from '../metrics/index.js';
import { MeshTls } from '../tls/index.js';
import { createTestMesh, TestCertificateSource, type TestMesh } from '../tls/test-fixtures.js';
import { OriginalDestinationError, type OriginalDestination } from '../transparent/original-destination.js';
import { tcpAddress } from './discovery.js';
import { InboundProxy } from './inbound-proxy.js';
import { OutboundProxy } from './outbound-proxy.js';
import { TestDiscovery } from './test-fixtures.js';
import { forwardPolicy, servicePolicy } from './transparent-test-policies.js';
import { TransparentOutbound } from './transparent.js';

// Half-closes of opaque TCP on real sockets and real mesh TLS between two
// proxies: a client writes its request, ends its side, and reads the whole
// answer, which the workload sends only once it has seen the end.

const clientId = 'api.shop.serviceaccount.identity.meshbus.test';
const serverId = 'reply.shop.serviceaccount.identity.meshbus.test';
const authority = 'reply.shop.svc.cluster.local:7000';

const listen = (server: NetServer): Promise<number> => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

/** Writes `text`, ends its side, and resolves with everything read until the other side ends ('' when it is closed or reset first). */
function halfClosingClient(port: number, text: string, before?: (socket: Socket) => void): Promise<{ reply: string; ended: boolean }> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      before?.(socket);
      socket.end(text);
    });
    let reply = '';
    let ended = false;
    socket.on('data', (c: Buffer) => (reply += c.toString()));
    socket.on('end', () => {
      ended = true;
      socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ reply, ended }));
  });
}

describe('half-closed opaque TCP through two proxies', () => {
  let mesh: TestMesh;
  let workload: NetServer;
  let workloadPort: number;
  let peer: InboundProxy;
  let client: OutboundProxy;
  let transparent: TransparentOutbound;
  let mappedPort: number;
  const discovery = new TestDiscovery();
  /** The workload's connections, open or closed. */
  const accepted: Socket[] = [];
  let nextDestination: (() => OriginalDestination) | undefined;
  const originalDestination = (): OriginalDestination => {
    const answer = nextDestination;
    nextDestination = undefined;
    if (!answer) throw new OriginalDestinationError('NotRedirected', 'not redirected');
    return answer();
  };

  beforeAll(async () => {
    mesh = createTestMesh();
    // Answers once the client ended its side, after a pause, so that nothing can race the end.
    workload = createNetServer({ allowHalfOpen: true }, (socket) => {
      accepted.push(socket);
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString()));
      socket.on('end', () => setTimeout(() => socket.end(`got ${got.length} bytes: ${got}`), 50));
      socket.on('error', () => undefined);
    });
    workloadPort = await listen(workload);
    const serverTls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(serverId)) });
    peer = new InboundProxy({ tls: serverTls, policy: () => opaqueServer([authz(anyone, { networks: everywhere })]), ports: [workloadPort], metrics: new ProxyMetrics(new Registry()), logger: silentLogger(), detectTimeoutMs: 300 });
    await peer.listen('127.0.0.1', 0);
    const clientTls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(await mesh.certify(clientId)) });
    client = new OutboundProxy({ tls: clientTls, discovery, metrics: new ProxyMetrics(new Registry()), logger: silentLogger(), peerInboundPort: peer.port, policyTimeoutMs: 500, forwardIdleMs: 300, maxForwardBalancers: 3 });
    await client.listen('127.0.0.1', 0);
    discovery.byAuthority.set(authority, servicePolicy('reply', 'shop', 7000));
    discovery.paths.set(authority, [{ addr: tcpAddress(`127.0.0.1:${workloadPort}`), weight: 1, metricLabels: {}, tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: serverId } } } }]);
    mappedPort = await freePort();
    await client.listenMappings('127.0.0.1', [{ localPort: mappedPort, authority }]);
    transparent = new TransparentOutbound({ outbound: client, discovery, mode: 'transparent', ownPorts: () => [peer.port], originalDestination, isLocalAddress: () => false, logger: silentLogger(), policyTimeoutMs: 500 });
    await transparent.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    await transparent?.close();
    await client?.close(100);
    await peer?.close(100);
    workload?.close();
  });

  const request = 'a request that the workload answers only after the end\n';
  const answer = `got ${request.length} bytes: ${request}`;

  it('explicit mode: a port mapping carries the end to the workload over mesh TLS, and the answer back', async () => {
    expect(await halfClosingClient(mappedPort, request)).toEqual({ reply: answer, ended: true });
    // Several at once, each with its own answer.
    const texts = ['one\n', 'two\n', 'three\n'];
    expect(await Promise.all(texts.map((t) => halfClosingClient(mappedPort, t)))).toEqual(texts.map((t) => ({ reply: `got ${t.length} bytes: ${t}`, ended: true })));
  });

  it('explicit mode: so does a CONNECT tunnel', async () => {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: client.port, method: 'CONNECT', path: authority, agent: false });
      req.on('connect', (res, s: Socket) => (res.statusCode === 200 ? resolve(s) : reject(new Error(`CONNECT answered ${res.statusCode}`))));
      req.on('error', reject);
      req.end();
    });
    const result = await new Promise<string>((resolve) => {
      let reply = '';
      socket.on('data', (c: Buffer) => (reply += c.toString()));
      socket.on('end', () => resolve(reply));
      socket.on('close', () => resolve(reply));
      socket.end(request);
    });
    socket.destroy();
    expect(result).toBe(answer);
  });

  it('transparent mode: the outbound listener carries the end, meshed (opaque hint) and plain (detected)', async () => {
    discovery.byAddr.set('192.0.2.50:7000', forwardPolicy({ ip: '127.0.0.1', port: workloadPort, identity: serverId, opaqueHint: true }));
    nextDestination = () => ({ family: 4, address: '192.0.2.50', port: 7000 });
    expect(await halfClosingClient(transparent.port, request)).toEqual({ reply: answer, ended: true });
    discovery.byAddr.set('192.0.2.51:7000', forwardPolicy({ ip: '127.0.0.1', port: workloadPort }, { detectMs: 200 }));
    nextDestination = () => ({ family: 4, address: '192.0.2.51', port: 7000 });
    expect(await halfClosingClient(transparent.port, request)).toEqual({ reply: answer, ended: true });
  });

  it('a reset of the client closes the connection to the workload; a reset of the workload closes the client', async () => {
    const before = accepted.length;
    const socket = netConnect({ port: mappedPort, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    socket.write('half a request');
    await waitFor(() => accepted.length > before);
    const upstream = accepted.at(-1)!;
    socket.resetAndDestroy();
    await waitFor(() => upstream.destroyed, { timeoutMs: 2_000 });

    // Plain TCP (transparent mode, an endpoint without identity): the reset reaches the client as a reset, not as an end.
    nextDestination = () => ({ family: 4, address: '192.0.2.51', port: 7000 });
    const plain = accepted.length;
    const resetPlain = halfClosingClient(transparent.port, 'x', () => undefined);
    await waitFor(() => accepted.length > plain);
    accepted.at(-1)!.resetAndDestroy();
    expect(await resetPlain).toEqual({ reply: '', ended: false });

    // Over mesh TLS the reset arrives as a close: no answer either.
    const meshed = accepted.length;
    const resetMeshed = halfClosingClient(mappedPort, 'y', () => undefined);
    await waitFor(() => accepted.length > meshed);
    accepted.at(-1)!.resetAndDestroy();
    expect((await resetMeshed).reply).toBe('');
  });

  it('closes forward balancers once idle, and beyond the cap, never one with a connection in flight', async () => {
    await waitFor(() => client.forwardBalancers === 0, { timeoutMs: 3_000 });
    // A connection held open (the workload answers only after the end) well past the idle time.
    discovery.byAddr.set('192.0.2.60:7000', forwardPolicy({ ip: '127.0.0.1', port: workloadPort, identity: serverId, opaqueHint: true }));
    nextDestination = () => ({ family: 4, address: '192.0.2.60', port: 7000 });
    const before = accepted.length;
    const held = netConnect({ port: transparent.port, host: '127.0.0.1', allowHalfOpen: true });
    held.write('held ');
    await waitFor(() => accepted.length > before);
    // More addresses than the cap, one after the other.
    for (let i = 61; i <= 65; i++) {
      discovery.byAddr.set(`192.0.2.${i}:7000`, forwardPolicy({ ip: '127.0.0.1', port: workloadPort }, { detectMs: 200 }));
      nextDestination = () => ({ family: 4, address: `192.0.2.${i}`, port: 7000 });
      expect(await halfClosingClient(transparent.port, request)).toEqual({ reply: answer, ended: true });
      expect(client.forwardBalancers).toBeLessThanOrEqual(3);
    }
    await new Promise((resolve) => setTimeout(resolve, 800));
    // Only the balancer in use is left, and its connection still works.
    expect(client.forwardBalancers).toBe(1);
    const reply = new Promise<string>((resolve) => {
      let got = '';
      held.on('data', (c: Buffer) => (got += c.toString()));
      held.on('end', () => resolve(got));
    });
    held.end('then the end');
    expect(await reply).toBe('got 17 bytes: held then the end');
    held.destroy();
    await waitFor(() => client.forwardBalancers === 0, { timeoutMs: 3_000 });
  });
});
