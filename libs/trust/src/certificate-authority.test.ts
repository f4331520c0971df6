import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Oid,
  basicConstraintsExtension,
  createCsr,
  encodeCommonName,
  encodePem,
  keyIdentifierOf,
  keyUsageExtension,
  parseCertificate,
  randomSerialNumber,
  signCertificate,
  subjectKeyIdentifierExtension,
  subjectPublicKeyInfoOf,
  authorityKeyIdentifierExtension,
} from '@meshbus/x509';
import type { EncodableGeneralName, Extension, KeyUsage } from '@meshbus/x509';
import { CertificateAuthority } from './certificate-authority.js';
import type { CertificateAuthorityOptions } from './certificate-authority.js';
import { IdentityError } from './identity-error.js';
import type { IdentityErrorCode } from './identity-error.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const now = new Date(Date.UTC(2031, 5, 1, 12, 0, 0, 500));
const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

interface TestCa {
  readonly der: Uint8Array;
  readonly key: KeyObject;
  readonly pem: string;
  readonly keyPem: string;
}

interface CaSpec {
  readonly commonName: string;
  /** Signs the new certificate; self-signed when absent. */
  readonly signer?: TestCa;
  readonly key?: KeyObject;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly ca?: boolean;
  readonly pathLen?: number;
  readonly keyUsage?: readonly KeyUsage[] | null;
}

function makeCa(spec: CaSpec): TestCa {
  const key = spec.key ?? p256();
  const spki = subjectPublicKeyInfoOf(key);
  const signerKey = spec.signer?.key ?? key;
  const extensions: Extension[] = [
    basicConstraintsExtension(spec.ca === false ? { ca: false } : spec.pathLen === undefined ? { ca: true } : { ca: true, pathLen: spec.pathLen }),
    subjectKeyIdentifierExtension(keyIdentifierOf(spki)),
    authorityKeyIdentifierExtension(keyIdentifierOf(subjectPublicKeyInfoOf(signerKey))),
  ];
  if (spec.keyUsage !== null) extensions.push(keyUsageExtension(spec.keyUsage ?? ['keyCertSign', 'cRLSign']));
  const der = signCertificate(
    {
      serialNumber: randomSerialNumber(),
      issuer: spec.signer === undefined ? encodeCommonName(spec.commonName) : parseCertificate(spec.signer.der).subject.der,
      subject: encodeCommonName(spec.commonName),
      notBefore: spec.notBefore ?? new Date(now.getTime() - DAY),
      notAfter: spec.notAfter ?? new Date(now.getTime() + 365 * DAY),
      subjectPublicKeyInfo: spki.der,
      extensions,
    },
    signerKey,
  );
  return { der, key, pem: encodePem('CERTIFICATE', der), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function standardChain() {
  const anchor = makeCa({ commonName: 'root.meshbus' });
  const issuer = makeCa({ commonName: 'issuer.meshbus', signer: anchor, pathLen: 0 });
  return { anchor, issuer };
}

function authorityFor(anchor: TestCa, issuer: TestCa, overrides: Partial<CertificateAuthorityOptions> = {}): CertificateAuthority {
  return CertificateAuthority.fromPem({
    trustAnchorsPem: anchor.pem,
    issuerCertificatePem: issuer.pem,
    issuerKeyPem: issuer.keyPem,
    now,
    ...overrides,
  });
}

function refusal(run: () => unknown): IdentityErrorCode {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(IdentityError);
    expect((error as IdentityError).name).toBe('IdentityError');
    expect((error as IdentityError).message.length).toBeGreaterThan(20);
    return (error as IdentityError).code;
  }
  throw new Error('expected an IdentityError');
}

async function asyncRefusal(run: () => Promise<unknown>): Promise<IdentityErrorCode> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(IdentityError);
    return (error as IdentityError).code;
  }
  throw new Error('expected an IdentityError');
}

function csrFor(options: { key?: KeyObject; commonName?: string; names?: readonly EncodableGeneralName[] } = {}): Uint8Array {
  return createCsr({
    privateKey: options.key ?? p256(),
    ...(options.commonName === undefined ? {} : { commonName: options.commonName }),
    subjectAltNames: options.names ?? [{ type: 'dns', value: identity }],
  });
}

describe('CertificateAuthority.issue', () => {
  const { anchor, issuer } = standardChain();
  const authority = authorityFor(anchor, issuer);

  it('signs a leaf for the identity that chains to the anchor', async () => {
    const leafKey = p256();
    const issued = await authority.issue({ identity, csrDer: csrFor({ key: leafKey }), now });
    const leaf = parseCertificate(issued.leafDer);
    expect(leaf.subject.attributes).toEqual([]);
    expect(leaf.subjectAltNames).toEqual([{ type: 'dns', value: identity }]);
    expect(leaf.extensions.find((extension) => extension.oid === Oid.subjectAltName)!.critical).toBe(true);
    expect(leaf.basicConstraints).toEqual({ ca: false });
    expect(leaf.keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(leaf.extendedKeyUsage).toEqual([Oid.serverAuth, Oid.clientAuth]);
    expect(leaf.signatureAlgorithm).toBe(Oid.ecdsaWithSha256);
    expect(leaf.subjectPublicKeyInfo.der).toEqual(subjectPublicKeyInfoOf(leafKey).der);
    expect(leaf.authorityKeyIdentifier).toEqual(parseCertificate(issuer.der).subjectKeyIdentifier);
    expect(leaf.notBefore.toISOString()).toBe('2031-06-01T11:59:40.000Z');
    expect(leaf.notAfter.toISOString()).toBe('2031-06-02T12:00:20.000Z');
    expect(issued.validUntil).toEqual(leaf.notAfter);
    expect(BigInt(`0x${issued.serial}`)).toBe(leaf.serialNumber);
    expect(issued.serial).toMatch(/^[0-9a-f]+$/);
    expect(issued.intermediatesDer).toEqual([issuer.der]);

    const nativeLeaf = new X509Certificate(issued.leafDer);
    const nativeIssuer = new X509Certificate(issuer.der);
    expect(nativeLeaf.checkIssued(nativeIssuer)).toBe(true);
    expect(nativeLeaf.verify(nativeIssuer.publicKey)).toBe(true);
    expect(nativeIssuer.verify(new X509Certificate(anchor.der).publicKey)).toBe(true);
  });

  it('accepts a CSR whose subject CN is the identity', async () => {
    await expect(authority.issue({ identity, csrDer: csrFor({ commonName: identity }), now })).resolves.toBeDefined();
  });

  it('gives every leaf a different serial', async () => {
    const serials = new Set<string>();
    const csrDer = csrFor();
    for (let i = 0; i < 50; i++) serials.add((await authority.issue({ identity, csrDer, now })).serial);
    expect(serials.size).toBe(50);
  });

  it('applies the lifetime and skew it is given', async () => {
    const issued = await authority.issue({ identity, csrDer: csrFor(), now, lifetimeMs: HOUR, clockSkewMs: 0 });
    const leaf = parseCertificate(issued.leafDer);
    expect(leaf.notBefore.toISOString()).toBe('2031-06-01T12:00:00.000Z');
    expect(leaf.notAfter.toISOString()).toBe('2031-06-01T13:00:00.000Z');
  });

  it('caps notAfter at the issuer notAfter', async () => {
    const shortIssuer = makeCa({ commonName: 'short.meshbus', signer: anchor, notAfter: new Date(now.getTime() + HOUR) });
    const issued = await authorityFor(anchor, shortIssuer).issue({ identity, csrDer: csrFor(), now });
    expect(issued.validUntil.toISOString()).toBe('2031-06-01T13:00:00.000Z');
    expect(parseCertificate(issued.leafDer).notAfter).toEqual(parseCertificate(shortIssuer.der).notAfter);
  });

  it('caps notAfter at an intermediate that expires before the issuer', async () => {
    const intermediate = makeCa({ commonName: 'intermediate.meshbus', signer: anchor, notAfter: new Date(now.getTime() + 2 * HOUR) });
    const chained = makeCa({ commonName: 'issuer.meshbus', signer: intermediate });
    const ca = authorityFor(anchor, chained, { issuerCertificatePem: chained.pem + intermediate.pem });
    expect(ca.chainNotAfter.toISOString()).toBe('2031-06-01T14:00:00.000Z');
    const issued = await ca.issue({ identity, csrDer: csrFor(), now });
    expect(issued.validUntil.toISOString()).toBe('2031-06-01T14:00:00.000Z');
  });

  it('refuses to sign once the issuer has expired', async () => {
    const later = new Date(now.getTime() + 400 * DAY);
    expect(await asyncRefusal(() => authority.issue({ identity, csrDer: csrFor(), now: later }))).toBe('IssuerExpired');
  });

  describe('refusals', () => {
    const cases: [string, () => Uint8Array, IdentityErrorCode, string?][] = [
      ['a SAN for another name', () => csrFor({ names: [{ type: 'dns', value: 'db.shop.serviceaccount.identity.meshbus.cluster.local' }] }), 'CsrSanMismatch'],
      ['no SAN at all', () => createCsr({ privateKey: p256(), commonName: identity }), 'CsrSanMismatch'],
      ['two DNS names', () => csrFor({ names: [{ type: 'dns', value: identity }, { type: 'dns', value: 'extra.example' }] }), 'CsrSanMismatch'],
      ['an extra IP SAN', () => csrFor({ names: [{ type: 'dns', value: identity }, { type: 'ip', value: '10.0.0.1' }] }), 'CsrForbiddenSan', 'ip'],
      ['an email SAN', () => csrFor({ names: [{ type: 'dns', value: identity }, { type: 'email', value: 'a@b.c' }] }), 'CsrForbiddenSan', 'email'],
      ['a URI SAN', () => csrFor({ names: [{ type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' }] }), 'CsrForbiddenSan', 'uri'],
      ['a different CN', () => csrFor({ commonName: 'admin' }), 'CsrSubjectMismatch', 'admin'],
      ['an RSA key', () => csrFor({ key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }), 'CsrKeyUnsupported', 'RSA'],
      ['a P-384 key', () => csrFor({ key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey }), 'CsrKeyUnsupported', 'P-384'],
      ['an Ed25519 key', () => csrFor({ key: generateKeyPairSync('ed25519').privateKey }), 'CsrKeyUnsupported'],
      [
        'a byte flipped in the signed part',
        () => {
          const der = csrFor();
          der[Buffer.from(der).indexOf(identity)]! ^= 0x20;
          return der;
        },
        'CsrSignatureInvalid',
      ],
      [
        'a byte flipped in the signature',
        () => {
          const der = csrFor();
          der[der.length - 2]! ^= 0x01;
          return der;
        },
        'CsrSignatureInvalid',
      ],
      ['garbage', () => Uint8Array.from(Buffer.from('not a csr')), 'MalformedCsr'],
      ['a truncated request', () => csrFor().subarray(0, 100), 'MalformedCsr'],
      ['a certificate instead of a request', () => issuer.der, 'MalformedCsr'],
    ];

    it.each(cases)('refuses a CSR with %s', async (_, csrDer, code, mentioned) => {
      const error = await authority.issue({ identity, csrDer: csrDer(), now }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(IdentityError);
      expect((error as IdentityError).code).toBe(code);
      if (mentioned !== undefined) expect((error as IdentityError).message).toContain(mentioned);
    });

    it('refuses a CSR for another identity than the one requested', async () => {
      expect(await asyncRefusal(() => authority.issue({ identity: 'db.shop.serviceaccount.identity.meshbus.cluster.local', csrDer: csrFor(), now }))).toBe(
        'CsrSanMismatch',
      );
    });

    it.each([
      [{ identity: 'Web.Shop' }, 'identity with capitals'],
      [{ identity: '' }, 'empty identity'],
      [{ identity: 'a..b' }, 'empty label'],
      [{ lifetimeMs: 0 }, 'zero lifetime'],
      [{ lifetimeMs: Number.POSITIVE_INFINITY }, 'infinite lifetime'],
      [{ clockSkewMs: -1 }, 'negative skew'],
      [{ now: new Date(Number.NaN) }, 'invalid now'],
    ])('refuses a malformed request: %j (%s)', async (override, _description) => {
      expect(await asyncRefusal(() => authority.issue({ identity, csrDer: csrFor(), now, ...override }))).toBe('MalformedRequest');
    });
  });
});

describe('CertificateAuthority.fromPem issuer validation', () => {
  it('accepts an issuer that chains through intermediates, with or without the anchor appended', () => {
    const anchor = makeCa({ commonName: 'root.meshbus', pathLen: 2 });
    const intermediate = makeCa({ commonName: 'intermediate.meshbus', signer: anchor, pathLen: 1 });
    const issuer = makeCa({ commonName: 'issuer.meshbus', signer: intermediate, pathLen: 0 });
    const chain = issuer.pem + intermediate.pem;
    const withoutAnchor = authorityFor(anchor, issuer, { issuerCertificatePem: chain });
    const withAnchor = authorityFor(anchor, issuer, { issuerCertificatePem: chain + anchor.pem });
    for (const ca of [withoutAnchor, withAnchor]) {
      expect(ca.issuerCertificateDer).toEqual(issuer.der);
      expect(ca.trustAnchorsDer).toEqual([anchor.der]);
    }
  });

  it('returns the intermediates without the anchor', async () => {
    const anchor = makeCa({ commonName: 'root.meshbus' });
    const intermediate = makeCa({ commonName: 'intermediate.meshbus', signer: anchor });
    const issuer = makeCa({ commonName: 'issuer.meshbus', signer: intermediate });
    const ca = authorityFor(anchor, issuer, { issuerCertificatePem: issuer.pem + intermediate.pem + anchor.pem });
    const issued = await ca.issue({ identity, csrDer: csrFor(), now });
    expect(issued.intermediatesDer).toEqual([issuer.der, intermediate.der]);
  });

  it('accepts an issuer signed by any of several anchors', () => {
    const oldAnchor = makeCa({ commonName: 'old-root.meshbus' });
    const newAnchor = makeCa({ commonName: 'new-root.meshbus' });
    const issuer = makeCa({ commonName: 'issuer.meshbus', signer: newAnchor });
    expect(() => authorityFor(oldAnchor, issuer, { trustAnchorsPem: oldAnchor.pem + newAnchor.pem })).not.toThrow();
  });

  it('accepts an anchor used directly as the issuer, sending no intermediates', async () => {
    const anchor = makeCa({ commonName: 'root.meshbus' });
    const issued = await authorityFor(anchor, anchor).issue({ identity, csrDer: csrFor(), now });
    expect(issued.intermediatesDer).toEqual([]);
    expect(new X509Certificate(issued.leafDer).verify(new X509Certificate(anchor.der).publicKey)).toBe(true);
  });

  it('refuses an issuer that is not a CA', () => {
    const { anchor } = standardChain();
    const leafLike = makeCa({ commonName: 'not-a-ca', signer: anchor, ca: false, keyUsage: ['digitalSignature'] });
    expect(refusal(() => authorityFor(anchor, leafLike))).toBe('IssuerNotCa');
  });

  it('refuses a CA issuer without keyCertSign, or without keyUsage at all', () => {
    const { anchor } = standardChain();
    expect(refusal(() => authorityFor(anchor, makeCa({ commonName: 'i', signer: anchor, keyUsage: ['digitalSignature', 'cRLSign'] })))).toBe('IssuerNotCa');
    expect(refusal(() => authorityFor(anchor, makeCa({ commonName: 'i', signer: anchor, keyUsage: null })))).toBe('IssuerNotCa');
  });

  it('refuses an issuer that does not chain to the anchors', () => {
    const { anchor } = standardChain();
    const stranger = makeCa({ commonName: 'root.meshbus' });
    const foreignIssuer = makeCa({ commonName: 'issuer.meshbus', signer: stranger });
    expect(refusal(() => authorityFor(anchor, foreignIssuer))).toBe('IssuerNotTrusted');
  });

  it('refuses a chain with a missing or misplaced intermediate', () => {
    const anchor = makeCa({ commonName: 'root.meshbus' });
    const intermediate = makeCa({ commonName: 'intermediate.meshbus', signer: anchor });
    const other = makeCa({ commonName: 'other.meshbus', signer: anchor });
    const issuer = makeCa({ commonName: 'issuer.meshbus', signer: intermediate });
    expect(refusal(() => authorityFor(anchor, issuer))).toBe('IssuerNotTrusted');
    expect(refusal(() => authorityFor(anchor, issuer, { issuerCertificatePem: issuer.pem + other.pem + intermediate.pem }))).toBe('IssuerNotTrusted');
  });

  it('refuses a chain longer than a pathLen constraint allows', () => {
    const anchor = makeCa({ commonName: 'root.meshbus', pathLen: 0 });
    const intermediate = makeCa({ commonName: 'intermediate.meshbus', signer: anchor });
    const issuer = makeCa({ commonName: 'issuer.meshbus', signer: intermediate });
    expect(refusal(() => authorityFor(anchor, issuer, { issuerCertificatePem: issuer.pem + intermediate.pem }))).toBe('IssuerNotTrusted');
  });

  it('refuses an intermediate that is not a CA', () => {
    const anchor = makeCa({ commonName: 'root.meshbus' });
    const intermediate = makeCa({ commonName: 'intermediate.meshbus', signer: anchor, ca: false });
    const issuer = makeCa({ commonName: 'issuer.meshbus', signer: intermediate });
    expect(refusal(() => authorityFor(anchor, issuer, { issuerCertificatePem: issuer.pem + intermediate.pem }))).toBe('IssuerNotCa');
  });

  it('refuses an expired or not yet valid issuer', () => {
    const { anchor } = standardChain();
    const expired = makeCa({ commonName: 'issuer', signer: anchor, notBefore: new Date(now.getTime() - 10 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const future = makeCa({ commonName: 'issuer', signer: anchor, notBefore: new Date(now.getTime() + DAY) });
    expect(refusal(() => authorityFor(anchor, expired))).toBe('IssuerExpired');
    expect(refusal(() => authorityFor(anchor, future))).toBe('IssuerNotYetValid');
  });

  it('refuses an issuer under an expired anchor', () => {
    const anchor = makeCa({ commonName: 'root.meshbus', notBefore: new Date(now.getTime() - 10 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const issuer = makeCa({ commonName: 'issuer', signer: anchor, notBefore: new Date(now.getTime() - 2 * DAY) });
    expect(refusal(() => authorityFor(anchor, issuer))).toBe('IssuerExpired');
  });

  it('refuses a key that does not belong to the issuer certificate', () => {
    const { anchor, issuer } = standardChain();
    const otherKeyPem = p256().export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(refusal(() => authorityFor(anchor, issuer, { issuerKeyPem: otherKeyPem }))).toBe('IssuerKeyMismatch');
  });

  it('accepts the issuer key in SEC1 form too', () => {
    const { anchor, issuer } = standardChain();
    const sec1 = issuer.key.export({ type: 'sec1', format: 'pem' }).toString();
    expect(() => authorityFor(anchor, issuer, { issuerKeyPem: sec1 })).not.toThrow();
  });

  it('refuses an issuer whose key is not ECDSA P-256', () => {
    const { anchor } = standardChain();
    const rsaIssuer = makeCa({ commonName: 'issuer', signer: anchor, key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey });
    const p384Issuer = makeCa({ commonName: 'issuer', signer: anchor, key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey });
    expect(refusal(() => authorityFor(anchor, rsaIssuer))).toBe('UnsupportedIssuerKey');
    expect(refusal(() => authorityFor(anchor, p384Issuer))).toBe('UnsupportedIssuerKey');
  });

  it('accepts a P-256 issuer under an RSA anchor', () => {
    const anchor = makeCa({ commonName: 'rsa-root', key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey });
    const issuer = makeCa({ commonName: 'issuer', signer: anchor });
    expect(() => authorityFor(anchor, issuer)).not.toThrow();
  });

  it('refuses unreadable anchors, issuer certificates and keys', () => {
    const { anchor, issuer } = standardChain();
    expect(refusal(() => authorityFor(anchor, issuer, { trustAnchorsPem: '' }))).toBe('MalformedTrustAnchors');
    expect(refusal(() => authorityFor(anchor, issuer, { trustAnchorsPem: encodePem('CERTIFICATE', Uint8Array.of(0x30, 0x03, 1, 2, 3)) }))).toBe(
      'MalformedTrustAnchors',
    );
    expect(refusal(() => authorityFor(anchor, issuer, { issuerCertificatePem: issuer.keyPem }))).toBe('MalformedIssuer');
    expect(refusal(() => authorityFor(anchor, issuer, { issuerKeyPem: issuer.pem }))).toBe('MalformedIssuer');
    const publicKeyPem = createPublicKey(issuer.key).export({ type: 'spki', format: 'pem' }).toString();
    expect(refusal(() => authorityFor(anchor, issuer, { issuerKeyPem: publicKeyPem }))).toBe('MalformedIssuer');
  });
});
