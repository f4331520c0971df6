import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { credentials, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateClient, type WorkloadCertificate } from '@meshbus/identity-client';
import { identity } from '@meshbus/proxy-api';
import { MeshTls } from './mesh-tls.js';
import { createTestMesh, type TestMesh } from './test-fixtures.js';

const web = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const api = 'api.shop.serviceaccount.identity.meshbus.cluster.local';

/** A real gRPC Identity server signing with the test mesh's CA, or answering UNAVAILABLE. */
async function identityServer(mesh: TestMesh, lifetimeMs: number): Promise<{ address: string; server: Server; state: { available: boolean } }> {
  const server = new Server();
  const state = { available: true };
  server.addService(identity.IdentityService, {
    certify: (call: ServerUnaryCall<identity.CertifyRequest, identity.CertifyResponse>, callback: sendUnaryData<identity.CertifyResponse>) => {
      if (!state.available) return callback({ code: status.UNAVAILABLE, details: 'no identity service answered' });
      mesh.ca.issue({ identity: call.request.identity, csrDer: call.request.certificateSigningRequest, lifetimeMs, clockSkewMs: 0 }).then(
        (issued) => callback(null, { leafCertificate: Buffer.from(issued.leafDer), intermediateCertificates: issued.intermediatesDer.map((der) => Buffer.from(der)), validUntil: issued.validUntil }),
        (error: Error) => callback({ code: status.INTERNAL, details: error.message }),
      );
    },
  } satisfies identity.IdentityServer);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { address: `127.0.0.1:${port}`, server, state };
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('MeshTls following the identity client', () => {
  it('swaps to each renewed certificate without dropping connections, and keeps serving while renewals fail', async () => {
    const mesh = createTestMesh();
    const gateway = await identityServer(mesh, 2_000);
    cleanup.push(() => gateway.server.forceShutdown());
    const certificates = new CertificateClient({
      identity: api,
      tokenProvider: async () => Buffer.from('token'),
      gateways: [gateway.address],
      credentials: credentials.createInsecure(),
      renewAt: 0.5,
      backoff: { initialMs: 50, maxMs: 100 },
    });
    cleanup.push(() => certificates[Symbol.asyncDispose]());
    const serverTls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates });
    cleanup.push(() => serverTls[Symbol.dispose]());
    const first = await certificates.start();
    expect(serverTls.certificate).toBe(first);

    const server = serverTls.createServer(({ socket }) => socket.pipe(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const clientTls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem });
    clientTls.update(await mesh.certify(web));

    const open = await clientTls.connect({ host: '127.0.0.1', port, serverIdentity: api });
    cleanup.push(() => open.destroy());
    const [renewed] = (await once(serverTls, 'update')) as [WorkloadCertificate];
    expect(renewed.serial).not.toBe(first.serial);

    const fresh = await clientTls.connect({ host: '127.0.0.1', port, serverIdentity: api });
    cleanup.push(() => fresh.destroy());
    expect(fresh.getPeerCertificate().serialNumber.toLowerCase()).toBe(renewed.serial);
    expect(open.getPeerCertificate().serialNumber.toLowerCase()).toBe(first.serial);
    open.write('ping');
    expect(((await once(open, 'data')) as [Buffer])[0].toString()).toBe('ping');

    gateway.state.available = false;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(serverTls.certificate).toBe(renewed);
    const during = await clientTls.connect({ host: '127.0.0.1', port, serverIdentity: api });
    cleanup.push(() => during.destroy());
    expect(during.getPeerCertificate().serialNumber.toLowerCase()).toBe(renewed.serial);
  });
});
