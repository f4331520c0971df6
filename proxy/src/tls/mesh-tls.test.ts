import type { PeerCertificate } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { MeshTls } from './mesh-tls.js';
import { MeshTlsError } from './errors.js';
import { certificateDnsNames, certificateIdentity } from './peer-identity.js';
import { createTestMesh, TestCertificateSource, type TestMesh } from './test-fixtures.js';
import { decodePem } from '@meshbus/x509';
import type { WorkloadCertificate } from '@meshbus/identity-client';

const web = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const api = 'api.shop.serviceaccount.identity.meshbus.cluster.local';

let mesh: TestMesh;
let other: TestMesh;
let webCertificate: WorkloadCertificate;

beforeAll(async () => {
  mesh = createTestMesh();
  other = createTestMesh('other.test');
  webCertificate = await mesh.certify(web);
});

function leafDer(certificate: WorkloadCertificate): Buffer {
  return Buffer.from(decodePem(certificate.certificatePem, 'CERTIFICATE'));
}

describe('certificateIdentity', () => {
  it('reads the DNS subjectAltName of a mesh leaf', () => {
    expect(certificateIdentity(leafDer(webCertificate))).toBe(web);
    expect(certificateDnsNames(leafDer(webCertificate))).toEqual([web]);
  });

  it('is undefined for bytes that are not a certificate, or a CA without a DNS name', () => {
    expect(certificateIdentity(Buffer.from('not a certificate'))).toBeUndefined();
    expect(certificateIdentity(Buffer.from(decodePem(mesh.anchor.certificatePem, 'CERTIFICATE')))).toBeUndefined();
  });
});

describe('MeshTls', () => {
  it('refuses trust anchors that hold no certificate', () => {
    expect(() => new MeshTls({ trustAnchorsPem: '' })).toThrow(/trust anchors could not be read: no PEM block labelled CERTIFICATE/);
    expect(() => new MeshTls({ trustAnchorsPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })).toThrow(MeshTlsError);
  });

  it('has no options before the first certificate', () => {
    const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem });
    expect(tls.ready).toBe(false);
    expect(() => tls.serverOptions()).toThrow(/no certificate yet/);
    expect(() => tls.clientOptions({ serverIdentity: api })).toThrow(expect.objectContaining({ code: 'NoCertificate' }));
  });

  it('makes TLS 1.3-only options that ask for a client certificate and check the server identity', () => {
    const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: new TestCertificateSource(webCertificate) });
    expect(tls.identity).toBe(web);
    expect(tls.serverOptions()).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] });
    const client = tls.clientOptions({ serverIdentity: api });
    expect(client).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', servername: api, rejectUnauthorized: true, ALPNProtocols: ['h2'] });
    const check = client.checkServerIdentity!;
    expect(check(api, { raw: leafDer(webCertificate) } as PeerCertificate)).toMatchObject({
      code: 'IdentityMismatch',
      message: `the server's certificate names ${web}, but the destination expects ${api}`,
    });
    expect(tls.clientOptions({ serverIdentity: web.toUpperCase() }).checkServerIdentity!(web, { raw: leafDer(webCertificate) } as PeerCertificate)).toBeUndefined();
  });

  it('keeps the previous certificate when a renewal is unusable, and reports why', async () => {
    const source = new TestCertificateSource(webCertificate);
    const tls = new MeshTls({ trustAnchorsPem: mesh.anchor.certificatePem, certificates: source });
    const errors: MeshTlsError[] = [];
    const updates: WorkloadCertificate[] = [];
    tls.on('error', (error) => errors.push(error));
    tls.on('update', (certificate) => updates.push(certificate));

    source.renew(await other.certify(web));
    expect(errors[0]?.message).toMatch(/does not chain to the trust anchors; peers would refuse it/);
    const renewed = await mesh.certify(web);
    source.renew({ ...renewed, privateKeyPem: webCertificate.privateKeyPem });
    expect(errors[1]).toMatchObject({ code: 'InvalidCertificate' });
    expect(errors[1]?.message).toMatch(/cannot be used/);
    expect(tls.certificate).toBe(webCertificate);

    source.renew(renewed);
    expect(tls.certificate).toBe(renewed);
    expect(updates).toEqual([renewed]);

    tls[Symbol.dispose]();
    source.renew(await mesh.certify(web));
    expect(tls.certificate).toBe(renewed);
  });
});
