import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsCreateServer, type Server, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkloadCertificate } from '@meshbus/identity-client';
import { decodePem } from '@meshbus/x509';
import { peekClientHello } from './client-hello.js';
import { MeshTls, type AcceptedConnection } from './mesh-tls.js';
import { certificateIdentity } from './peer-identity.js';
import { createTestMesh, probeWithOpenssl, TestCertificateSource, type TestMesh } from './test-fixtures.js';

const web = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const api = 'api.shop.serviceaccount.identity.meshbus.cluster.local';

let mesh: TestMesh;
let other: TestMesh;
let webCertificate: WorkloadCertificate;
let apiCertificate: WorkloadCertificate;
const cleanup: (() => void)[] = [];

beforeAll(async () => {
  mesh = createTestMesh();
  other = createTestMesh('other.test');
  [webCertificate, apiCertificate] = await Promise.all([mesh.certify(web), mesh.certify(api)]);
});

afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

function meshTls(certificate: WorkloadCertificate, anchorsPem = mesh.anchor.certificatePem): { tls: MeshTls; source: TestCertificateSource } {
  const source = new TestCertificateSource(certificate);
  const tls = new MeshTls({ trustAnchorsPem: anchorsPem, certificates: source });
  cleanup.push(() => tls[Symbol.dispose]());
  return { tls, source };
}

/** A mesh server answering each connection with its client's identity, then echoing. */
async function listen(server: Server | NetServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

function track<T extends Socket>(socket: T): T {
  cleanup.push(() => socket.destroy());
  return socket;
}

async function meshServer(tls: MeshTls): Promise<{ port: number; accepted: AcceptedConnection[] }> {
  const accepted: AcceptedConnection[] = [];
  const server = tls.createServer((connection) => {
    accepted.push(connection);
    track(connection.socket);
    const peer = connection.peer.kind === 'authenticated' ? connection.peer.identity : 'unauthenticated';
    connection.socket.write(`${peer}\n`);
    connection.socket.pipe(connection.socket);
  });
  return { port: await listen(server), accepted };
}

async function firstLine(socket: TLSSocket): Promise<string> {
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return chunk.toString().trim();
}

function serverIdentityOf(socket: TLSSocket): string | undefined {
  return certificateIdentity(socket.getPeerCertificate().raw);
}

describe('mesh TLS over real sockets', () => {
  it('completes mutual TLS 1.3 and each side sees the other identity', async () => {
    const server = meshTls(apiCertificate).tls;
    const { port, accepted } = await meshServer(server);
    const client = meshTls(webCertificate).tls;
    const socket = track(await client.connect({ host: '127.0.0.1', port, serverIdentity: api }));

    expect(socket.getProtocol()).toBe('TLSv1.3');
    expect(socket.alpnProtocol).toBe('h2');
    expect(serverIdentityOf(socket)).toBe(api);
    expect(await firstLine(socket)).toBe(web);
    expect(accepted[0]?.peer).toEqual({ kind: 'authenticated', identity: web });
    expect(accepted[0]?.socket.alpnProtocol).toBe('h2');
  });

  it('refuses a server whose identity is not the expected one, naming both', async () => {
    const { port } = await meshServer(meshTls(apiCertificate).tls);
    const client = meshTls(webCertificate).tls;
    const expected = 'store.shop.serviceaccount.identity.meshbus.cluster.local';
    await expect(client.connect({ host: '127.0.0.1', port, serverIdentity: expected })).rejects.toMatchObject({
      code: 'IdentityMismatch',
      message: `the server's certificate names ${api}, but the destination expects ${expected}`,
    });
  });

  it('refuses a server whose certificate comes from another CA', async () => {
    const stranger = await other.certify(api);
    const { port } = await meshServer(meshTls(stranger, other.anchor.certificatePem).tls);
    const client = meshTls(webCertificate).tls;
    const refused = client.connect({ host: '127.0.0.1', port, serverIdentity: api });
    await expect(refused).rejects.toMatchObject({ code: 'UntrustedCertificate' });
    await expect(refused).rejects.toThrow(/does not chain to the mesh trust anchors/);
  });

  it('disconnects a client whose certificate comes from another CA', async () => {
    const { port, accepted } = await meshServer(meshTls(apiCertificate).tls);
    const stranger = meshTls(await other.certify(web), `${other.anchor.certificatePem}${mesh.anchor.certificatePem}`).tls;
    const socket = track(await stranger.connect({ host: '127.0.0.1', port, serverIdentity: api }));
    await once(socket, 'close');
    expect(accepted).toEqual([]);
  });

  it('refuses TLS 1.2 in both directions', async () => {
    const { port } = await meshServer(meshTls(apiCertificate).tls);
    const legacyClient = track(tlsConnect({ host: '127.0.0.1', port, maxVersion: 'TLSv1.2', ca: mesh.anchor.certificatePem, servername: api }));
    const [clientError] = (await once(legacyClient, 'error')) as [Error];
    expect(clientError.message).toMatch(/protocol version|unsupported protocol/i);

    const legacyServer = tlsCreateServer({ cert: apiCertificate.certificatePem + apiCertificate.chainPem, key: apiCertificate.privateKeyPem, maxVersion: 'TLSv1.2' });
    const legacyPort = await listen(legacyServer);
    const client = meshTls(webCertificate).tls;
    await expect(client.connect({ host: '127.0.0.1', port: legacyPort, serverIdentity: api })).rejects.toMatchObject({
      code: 'HandshakeFailed',
      message: expect.stringMatching(/protocol version|unsupported protocol/i),
    });
  });

  it('admits a TLS client without a certificate as unauthenticated', async () => {
    const { port, accepted } = await meshServer(meshTls(apiCertificate).tls);
    const socket = track(tlsConnect({ host: '127.0.0.1', port, ca: mesh.anchor.certificatePem, servername: api, minVersion: 'TLSv1.3' }));
    await once(socket, 'secureConnect');
    expect(await firstLine(socket)).toBe('unauthenticated');
    expect(accepted[0]?.peer).toEqual({ kind: 'unauthenticated' });
  });

  it('serves new connections with a renewed certificate and keeps open ones', async () => {
    const { tls: server, source } = meshTls(apiCertificate);
    const { port } = await meshServer(server);
    const client = meshTls(webCertificate).tls;
    const before = track(await client.connect({ host: '127.0.0.1', port, serverIdentity: api }));
    await firstLine(before);

    const renewed = await mesh.certify(api);
    source.renew(renewed);
    const after = track(await client.connect({ host: '127.0.0.1', port, serverIdentity: api }));
    await firstLine(after);
    expect(after.getPeerCertificate().serialNumber.toLowerCase()).toBe(renewed.serial);
    expect(before.getPeerCertificate().serialNumber.toLowerCase()).toBe(apiCertificate.serial);

    before.write('still open');
    const [echo] = (await once(before, 'data')) as [Buffer];
    expect(echo.toString()).toBe('still open');
  });

  it('takes connections from a plain listener after peeking the ClientHello for its SNI', async () => {
    const server = meshTls(apiCertificate).tls;
    const seen: { serverName: string | undefined; peer: AcceptedConnection['peer'] }[] = [];
    const sni = new Map<string, string | undefined>();
    const key = (socket: Socket): string => `${socket.remoteAddress}:${socket.remotePort}`;
    const tlsServer = server.createServer((connection) => {
      track(connection.socket);
      seen.push({ serverName: sni.get(key(connection.socket)), peer: connection.peer });
      connection.socket.end('hello\n');
    });
    const listener = createNetServer((raw) => {
      track(raw);
      raw.once('readable', () => {
        const first = raw.read() as Buffer;
        const peek = peekClientHello(first);
        if (peek.status !== 'clientHello') return raw.destroy();
        sni.set(key(raw), peek.serverName);
        raw.unshift(first);
        tlsServer.emit('connection', raw);
      });
    });
    const port = await listen(listener);
    const socket = track(await meshTls(webCertificate).tls.connect({ host: '127.0.0.1', port, serverIdentity: api }));
    expect(await firstLine(socket)).toBe('hello');
    expect(seen).toEqual([{ serverName: api, peer: { kind: 'authenticated', identity: web } }]);
  });

  it('shows openssl s_client the chain to the anchor and the server identity', async () => {
    const { port } = await meshServer(meshTls(apiCertificate).tls);
    const probe = await probeWithOpenssl({ port, trustAnchorsPem: mesh.anchor.certificatePem, client: webCertificate, serverName: api });
    expect(probe.verified, probe.output).toBe(true);
    expect(probe.protocol).toBe('TLSv1.3');
    expect(probe.serverIdentity).toBe(api);
    expect(probe.chainPem).toHaveLength(2);
    expect(Buffer.from(decodePem(probe.chainPem[1]!, 'CERTIFICATE'))).toEqual(Buffer.from(decodePem(mesh.issuer.certificatePem, 'CERTIFICATE')));

    const legacy = await probeWithOpenssl({ port, trustAnchorsPem: mesh.anchor.certificatePem, client: webCertificate, protocolFlag: '-tls1_2' });
    expect(legacy.chainPem, legacy.output).toEqual([]);
  });
});
