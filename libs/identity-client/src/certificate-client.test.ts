import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '@meshbus/trust';
import type { identity } from '@meshbus/proxy-api';
import { createCsr } from '@meshbus/x509';
import { CertificateClientError, resolveCertificateClientOptions, toWorkloadCertificate } from './certificate-client.js';

const HOUR = 3_600_000;
const name = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

function newCa(): CertificateAuthority {
  const now = Date.now();
  const validity = { notBefore: new Date(now - HOUR), notAfter: new Date(now + 24 * HOUR) };
  const anchor = createTrustAnchor({ commonName: 'root.test', validity });
  const issuer = createIssuer({ anchor, commonName: 'issuer.test', validity });
  return CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
}

const ca = newCa();

async function issue(privateKey: KeyObject, san = name, options: { intermediates?: Uint8Array[] } = {}): Promise<identity.CertifyResponse> {
  const issued = await ca.issue({ identity: san, csrDer: createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: san }] }) });
  return {
    leafCertificate: Buffer.from(issued.leafDer),
    intermediateCertificates: (options.intermediates ?? issued.intermediatesDer).map((der) => Buffer.from(der)),
    validUntil: issued.validUntil,
  };
}

function p256(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function invalidCertificate(fn: () => unknown): CertificateClientError {
  try {
    fn();
  } catch (error) {
    if (error instanceof CertificateClientError) return error;
    throw error;
  }
  throw new Error('expected a CertificateClientError');
}

describe('toWorkloadCertificate', () => {
  it('turns a response into PEM with the leaf validity', async () => {
    const key = p256();
    const certificate = toWorkloadCertificate(await issue(key), key, name, Date.now());

    const leaf = new X509Certificate(certificate.certificatePem);
    expect(leaf.subjectAltName).toBe(`DNS:${name}`);
    expect(leaf.checkPrivateKey(key)).toBe(true);
    expect(new X509Certificate(certificate.chainPem).verify(leaf.publicKey)).toBe(false);
    expect(leaf.verify(new X509Certificate(certificate.chainPem).publicKey)).toBe(true);
    expect(certificate.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(certificate.validUntil.getTime()).toBe(new Date(leaf.validTo).getTime());
    expect(certificate.validFrom.getTime()).toBe(new Date(leaf.validFrom).getTime());
    expect(certificate.serial).toBe(leaf.serialNumber.toLowerCase());
  });

  it('refuses a leaf for another key', async () => {
    const response = await issue(p256());
    expect(invalidCertificate(() => toWorkloadCertificate(response, p256(), name, Date.now())).message).toMatch(/does not certify the key/);
  });

  it('refuses a leaf for another identity', async () => {
    const key = p256();
    const response = await issue(key, 'db.shop.serviceaccount.identity.meshbus.cluster.local');
    expect(invalidCertificate(() => toWorkloadCertificate(response, key, name, Date.now())).message).toMatch(/does not name exactly/);
  });

  it('refuses an expired leaf', async () => {
    const key = p256();
    const response = await issue(key);
    expect(invalidCertificate(() => toWorkloadCertificate(response, key, name, Date.now() + 48 * HOUR)).message).toMatch(/expired/);
  });

  it('refuses a chain whose first certificate did not sign the leaf', async () => {
    const key = p256();
    const response = await issue(key, name, { intermediates: [newCa().issuerCertificateDer] });
    expect(invalidCertificate(() => toWorkloadCertificate(response, key, name, Date.now())).message).toMatch(/not signed by the first/);
  });

  it('refuses bytes that are not a certificate', () => {
    const error = invalidCertificate(() =>
      toWorkloadCertificate({ leafCertificate: Buffer.from([0x30, 0x00]), intermediateCertificates: [], validUntil: undefined }, p256(), name, Date.now()),
    );
    expect(error.code).toBe('InvalidCertificate');
  });
});

describe('resolveCertificateClientOptions', () => {
  const base = { identity: name, tokenProvider: async () => new Uint8Array([1]), gateways: ['127.0.0.1:4143'] };

  it('fills in the defaults', () => {
    const resolved = resolveCertificateClientOptions(base);
    expect(resolved).toMatchObject({ renewAt: 0.7, backoff: { initialMs: 500, maxMs: 30_000 }, callTimeoutMs: 10_000, gateways: ['127.0.0.1:4143'] });
    expect(resolved.credentials._isSecure()).toBe(true);
  });

  it('keeps insecure credentials when asked', () => {
    expect(resolveCertificateClientOptions({ ...base, credentials: credentials.createInsecure() }).credentials._isSecure()).toBe(false);
  });

  it.each([
    [{ identity: '' }, /identity is empty/],
    [{ gateways: [] }, /gateways is empty/],
    [{ gateways: ['gateway.meshbus'] }, /"gateway.meshbus" is not host:port/],
    [{ renewAt: 1 }, /renewAt must be between 0 and 1/],
    [{ renewAt: 0 }, /renewAt must be between 0 and 1/],
    [{ backoff: { initialMs: 0, maxMs: 10 } }, /backoff.initialMs must be a positive number/],
    [{ backoff: { initialMs: 100, maxMs: 10 } }, /backoff.maxMs \(10\) is below/],
    [{ callTimeoutMs: -1 }, /callTimeoutMs must be a positive number/],
  ])('refuses %o', (overrides, message) => {
    expect(() => resolveCertificateClientOptions({ ...base, ...overrides })).toThrow(message);
  });
});
