import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, createIssuer, createTrustAnchor, grpcStatusFor, type TrustMaterial } from '@meshbus/trust';
import { identity } from '@meshbus/proxy-api';
import { CertificateClient, CertificateClientError, type WorkloadCertificate } from './certificate-client.js';

const HOUR = 3_600_000;
const LEAF_LIFETIME_MS = 3_000;
const TOKEN = 'workload-token';
const name = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

type Mode = 'sign' | 'unavailable' | 'deny';

/** A gateway stand-in: a real grpc-js server whose Identity service signs with a real CA. */
class TestGateway {
  readonly server = new Server();
  mode: Mode;
  signed = 0;
  address = '';

  constructor(ca: CertificateAuthority, mode: Mode) {
    this.mode = mode;
    const handler: identity.IdentityServer = {
      certify: (call: ServerUnaryCall<identity.CertifyRequest, identity.CertifyResponse>, callback: sendUnaryData<identity.CertifyResponse>) => {
        if (this.mode === 'unavailable') return callback({ code: status.UNAVAILABLE, details: 'no identity service answered' });
        if (this.mode === 'deny' || call.request.token.toString() !== TOKEN) {
          const metadata = new Metadata();
          metadata.set('meshbus-error-code', 'IdentityMismatch');
          return callback({ code: status.PERMISSION_DENIED, details: 'not entitled', metadata });
        }
        ca.issue({ identity: call.request.identity, csrDer: call.request.certificateSigningRequest, lifetimeMs: LEAF_LIFETIME_MS, clockSkewMs: 0 }).then(
          (issued) => {
            this.signed++;
            callback(null, {
              leafCertificate: Buffer.from(issued.leafDer),
              intermediateCertificates: issued.intermediatesDer.map((der) => Buffer.from(der)),
              validUntil: issued.validUntil,
            });
          },
          (error: Error) => callback({ code: grpcStatusFor(error), details: error.message }),
        );
      },
    };
    this.server.addService(identity.IdentityService, handler);
  }

  async start(): Promise<this> {
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  kill(): void {
    this.server.forceShutdown();
  }
}

function nextCertificate(client: CertificateClient, timeoutMs: number): Promise<WorkloadCertificate> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('certificate', onCertificate);
      reject(new Error(`no certificate within ${timeoutMs} ms`));
    }, timeoutMs);
    const onCertificate = (certificate: WorkloadCertificate) => {
      clearTimeout(timer);
      resolve(certificate);
    };
    client.once('certificate', onCertificate);
  });
}

function nextError(client: CertificateClient, timeoutMs: number): Promise<CertificateClientError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no error within ${timeoutMs} ms`)), timeoutMs);
    client.once('error', (error) => {
      clearTimeout(timer);
      resolve(error);
    });
  });
}

describe('CertificateClient against real gRPC gateways', () => {
  let dir: string;
  let anchor: TrustMaterial;
  let issuer: TrustMaterial;
  let ca: CertificateAuthority;
  const gateways: TestGateway[] = [];
  const clients: CertificateClient[] = [];

  function opensslVerify(certificate: WorkloadCertificate): string {
    writeFileSync(join(dir, 'anchor.pem'), anchor.certificatePem);
    writeFileSync(join(dir, 'chain.pem'), certificate.chainPem);
    writeFileSync(join(dir, 'leaf.pem'), certificate.certificatePem);
    return execFileSync('openssl', ['verify', '-CAfile', 'anchor.pem', '-untrusted', 'chain.pem', 'leaf.pem'], { cwd: dir, encoding: 'utf8' });
  }

  async function gateway(mode: Mode): Promise<TestGateway> {
    const g = await new TestGateway(ca, mode).start();
    gateways.push(g);
    return g;
  }

  function client(addresses: string[]): CertificateClient {
    const c = new CertificateClient({
      identity: name,
      tokenProvider: async () => Buffer.from(TOKEN),
      gateways: addresses,
      credentials: credentials.createInsecure(),
      backoff: { initialMs: 50, maxMs: 200 },
      callTimeoutMs: 2_000,
    });
    clients.push(c);
    return c;
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshbus-identity-client-'));
    const now = Date.now();
    const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) };
    anchor = createTrustAnchor({ commonName: 'root.test', validity });
    issuer = createIssuer({ anchor, commonName: 'issuer.test', validity });
    ca = CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c[Symbol.asyncDispose]()));
    for (const g of gateways.splice(0)) g.kill();
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets a certificate, renews it before expiry, and fails over to the second gateway', async () => {
    const first = await gateway('sign');
    const second = await gateway('unavailable');
    const c = client([first.address, second.address]);

    const initial = await c.start();
    expect(c.current).toBe(initial);
    expect(opensslVerify(initial)).toMatch(/leaf.pem: OK/);
    expect(initial.validUntil.getTime() - initial.validFrom.getTime()).toBeLessThanOrEqual(LEAF_LIFETIME_MS);

    const renewed = await nextCertificate(c, 5_000);
    expect(Date.now()).toBeLessThan(initial.validUntil.getTime());
    expect(renewed.serial).not.toBe(initial.serial);
    expect(renewed.privateKeyPem).not.toBe(initial.privateKeyPem);
    expect(first.signed).toBe(2);

    first.kill();
    second.mode = 'sign';
    const failedOver = await nextCertificate(c, 5_000);
    expect(Date.now()).toBeLessThan(renewed.validUntil.getTime());
    expect(second.signed).toBe(1);
    expect(c.current).toBe(failedOver);
    expect(opensslVerify(failedOver)).toMatch(/leaf.pem: OK/);
  });

  it('retries while no gateway can sign, then gets a certificate', async () => {
    const only = await gateway('unavailable');
    const c = client([only.address]);
    const started = c.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(c.current).toBeUndefined();
    only.mode = 'sign';
    await expect(started).resolves.toMatchObject({ identity: name });
  });

  it('gives up on a refusal before the first certificate', async () => {
    const only = await gateway('deny');
    const c = client([only.address]);
    const error = nextError(c, 5_000);
    const started = c.start();
    await expect(started).rejects.toMatchObject({ code: 'CertificateRefused', grpcCode: status.PERMISSION_DENIED, reason: 'IdentityMismatch' });
    expect((await error).message).toMatch(/refused a certificate for web\.shop.* with PERMISSION_DENIED: not entitled; not retrying/);
  });

  it('keeps the current certificate when a renewal is refused', async () => {
    const only = await gateway('sign');
    const c = client([only.address]);
    const initial = await c.start();
    only.mode = 'deny';
    const error = await nextError(c, 5_000);
    expect(error).toBeInstanceOf(CertificateClientError);
    expect(c.current).toBe(initial);
  });

  it('rejects start when disposed before any certificate', async () => {
    const c = client(['127.0.0.1:1']);
    const started = c.start();
    await c[Symbol.asyncDispose]();
    await expect(started).rejects.toMatchObject({ code: 'ClientDisposed' });
  });
});
