import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePem, parseCertificate } from '@meshbus/x509';
import { CertificateAuthority } from './certificate-authority.js';
import { createIssuer, createTrustAnchor } from './trust-material.js';

const now = new Date(Date.UTC(2031, 0, 1));
const DAY = 86_400_000;
const validity = { notBefore: now, notAfter: new Date(now.getTime() + 365 * DAY) };

describe('createTrustAnchor and createIssuer', () => {
  it('make a P-256 anchor and an issuer the CertificateAuthority accepts', () => {
    const anchor = createTrustAnchor({ commonName: 'root.meshbus.cluster.local', validity });
    const issuer = createIssuer({ anchor, commonName: 'identity.meshbus.cluster.local', validity: { notBefore: now, notAfter: new Date(now.getTime() + 30 * DAY) } });
    expect(anchor.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(issuer.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(createPrivateKey(issuer.privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const anchorCertificate = parseCertificate(decodePem(anchor.certificatePem, 'CERTIFICATE'));
    const issuerCertificate = parseCertificate(decodePem(issuer.certificatePem, 'CERTIFICATE'));
    expect(anchorCertificate.subject.commonNames).toEqual(['root.meshbus.cluster.local']);
    expect(anchorCertificate.basicConstraints).toEqual({ ca: true });
    expect(issuerCertificate.basicConstraints).toEqual({ ca: true, pathLen: 0 });
    expect(issuerCertificate.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(issuerCertificate.notAfter.getTime() - issuerCertificate.notBefore.getTime()).toBe(30 * DAY);
    expect(new X509Certificate(issuer.certificatePem).verify(new X509Certificate(anchor.certificatePem).publicKey)).toBe(true);

    const authority = CertificateAuthority.fromPem({
      trustAnchorsPem: anchor.certificatePem,
      issuerCertificatePem: issuer.certificatePem,
      issuerKeyPem: issuer.privateKeyPem,
      now,
    });
    expect(authority.issuerNotAfter).toEqual(issuerCertificate.notAfter);
  });

  it('caps the issuer validity at the anchor notAfter, and applies an anchor pathLen', () => {
    const anchor = createTrustAnchor({ commonName: 'root', validity, pathLen: 1 });
    const issuer = createIssuer({ anchor, commonName: 'issuer', validity: { notBefore: now, notAfter: new Date(now.getTime() + 1000 * DAY) } });
    expect(parseCertificate(decodePem(anchor.certificatePem, 'CERTIFICATE')).basicConstraints).toEqual({ ca: true, pathLen: 1 });
    expect(parseCertificate(decodePem(issuer.certificatePem, 'CERTIFICATE')).notAfter).toEqual(validity.notAfter);
  });
});
