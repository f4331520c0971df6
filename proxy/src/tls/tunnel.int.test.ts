import { once } from 'node:events';
import { connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkloadCertificate } from '@meshbus/identity-client';
import { MeshTlsError } from './errors.js';
import { MeshTls } from './mesh-tls.js';
import { certificateIdentity } from './peer-identity.js';
import { createTestMesh, TestCertificateSource, type TestMesh } from './test-fixtures.js';
import { TUNNEL_ALPN, TunnelError, connectTunnel } from './tunnel.js';

// A tiny multicluster gateway: real mesh TLS with the gateway's certificate (ALPN meshbus.tunnel),
// CONNECT answered 200 and piped to a real mesh TLS echo server holding the remote workload's
// certificate, or 403 for an authority it does not know.

const client = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const remote = 'api.shop.serviceaccount.identity.meshbus.cluster.local';
const gateway = 'gateway.meshbus-multicluster.serviceaccount.identity.meshbus.cluster.local';
const authority = 'api.shop.svc.cluster.local:8080';

let mesh: TestMesh;
const certificates = new Map<string, WorkloadCertificate>();
const cleanup: (() => void)[] = [];

beforeAll(async () => {
  mesh = createTestMesh();
  for (const identity of [client, remote, gateway]) certificates.set(identity, await mesh.certify(identity));
});

afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

function meshTls(identity: string, serverAlpn?: readonly string[]): MeshTls {
  const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(certificates.get(identity)), ...(serverAlpn ? { serverAlpn } : {}) });
  cleanup.push(() => tls[Symbol.dispose]());
  return tls;
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

function track<T extends Socket>(socket: T): T {
  cleanup.push(() => socket.destroy());
  return socket;
}

/** The remote workload: says who its client is, then echoes. */
async function echoServer(): Promise<number> {
  const server = meshTls(remote).createServer(({ socket, peer }) => {
    track(socket);
    socket.write(`${peer.kind === 'authenticated' ? peer.identity : 'unauthenticated'}\n`);
    socket.pipe(socket);
  });
  return listen(server);
}

/** The gateway: CONNECTs to `authority` reach `workloadPort`; it records the client identities it saw. */
async function testGateway(workloadPort: number, identity = gateway): Promise<{ port: number; clients: string[]; requests: string[] }> {
  const clients: string[] = [];
  const requests: string[] = [];
  const server = meshTls(identity, [TUNNEL_ALPN]).createServer(({ socket, peer }) => {
    track(socket);
    clients.push(peer.kind === 'authenticated' ? peer.identity : 'unauthenticated');
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const text = head.subarray(0, end).toString();
      requests.push(text);
      const rest = head.subarray(end + 4);
      if (text !== `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}`) {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 27\r\n\r\nno export for that service\n');
        return;
      }
      const upstream = track(netConnect({ host: '127.0.0.1', port: workloadPort }, () => {
        socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (rest.length > 0) upstream.write(rest);
        socket.pipe(upstream).pipe(socket);
      }));
      upstream.on('error', () => socket.destroy());
    };
    socket.on('data', onData);
  });
  return { port: await listen(server), clients, requests };
}

async function line(socket: TLSSocket): Promise<string> {
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return chunk.toString().trim();
}

describe('the tunnel through a multicluster gateway', () => {
  it('proves both identities and carries bytes to the remote workload, which sees the client', async () => {
    const gw = await testGateway(await echoServer());
    const inner = track(await connectTunnel(meshTls(client), { host: '127.0.0.1', port: gw.port, gatewayIdentity: gateway, authority, serverIdentity: remote, alpn: ['h2'] }));
    expect(certificateIdentity(inner.getPeerCertificate().raw)).toBe(remote);
    expect(inner.alpnProtocol).toBe('h2');
    expect(await line(inner)).toBe(client);
    inner.write('through the tunnel');
    expect(await line(inner)).toBe('through the tunnel');
    expect(gw.clients).toEqual([client]);
    expect(gw.requests).toEqual([`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}`]);
  });

  it('refuses a gateway that presents another identity, and sends it no CONNECT', async () => {
    const gw = await testGateway(await echoServer(), remote);
    const attempt = connectTunnel(meshTls(client), { host: '127.0.0.1', port: gw.port, gatewayIdentity: gateway, authority, serverIdentity: remote });
    await expect(attempt).rejects.toBeInstanceOf(MeshTlsError);
    await expect(attempt).rejects.toThrow(`names ${remote}, but the destination expects ${gateway}`);
    expect(gw.requests).toEqual([]);
  });

  it('refuses a remote workload that presents another identity inside the tunnel', async () => {
    const gw = await testGateway(await echoServer());
    const attempt = connectTunnel(meshTls(client), { host: '127.0.0.1', port: gw.port, gatewayIdentity: gateway, authority, serverIdentity: client });
    await expect(attempt).rejects.toThrow(`names ${remote}, but the destination expects ${client}`);
  });

  it('reports the gateway\'s 403 with its status and body line', async () => {
    const gw = await testGateway(await echoServer());
    const attempt = connectTunnel(meshTls(client), { host: '127.0.0.1', port: gw.port, gatewayIdentity: gateway, authority: 'db.shop.svc.cluster.local:5432', serverIdentity: remote });
    await expect(attempt).rejects.toBeInstanceOf(TunnelError);
    await expect(attempt).rejects.toMatchObject({ code: 'Refused', status: 403 });
    await expect(attempt).rejects.toThrow(`refused CONNECT db.shop.svc.cluster.local:5432 with 403 Forbidden: no export for that service`);
  });

  it('refuses a mesh server that does not speak the tunnel protocol', async () => {
    const port = await echoServer();
    const attempt = connectTunnel(meshTls(client), { host: '127.0.0.1', port, gatewayIdentity: remote, authority, serverIdentity: remote });
    await expect(attempt).rejects.toBeInstanceOf(MeshTlsError);
  });
});
