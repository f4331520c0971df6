import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { X509Error } from './errors.js';
import { encodeName } from './name.js';
import { Oid } from './oids.js';
import { encodeSerialNumber, parseCertificate, signCertificate } from './certificate.js';
import {
  LeafCertificateSigner,
  createIntermediateCaCertificate,
  createLeafCertificate,
  createRootCaCertificate,
} from './certificate-profiles.js';
import { basicConstraintsExtension, keyUsageExtension } from './extensions.js';
import { keyIdentifierOf, subjectPublicKeyInfoOf } from './public-key.js';
import { randomSerialNumber, serialNumberToHex } from './serial-number.js';

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const now = new Date(Date.UTC(2030, 0, 15, 12, 0, 0, 250));
const year = { notBefore: now, notAfter: new Date(now.getTime() + 365 * 86_400_000) };
const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';

function buildChain() {
  const rootKey = p256();
  const rootDer = createRootCaCertificate({ commonName: 'root.meshbus', privateKey: rootKey, validity: year, pathLen: 1 });
  const issuerKey = p256();
  const issuerDer = createIntermediateCaCertificate({
    commonName: 'issuer.meshbus',
    publicKey: issuerKey,
    issuer: { certificateDer: rootDer, privateKey: rootKey },
    validity: year,
    pathLen: 0,
  });
  return { rootKey, rootDer, issuerKey, issuerDer };
}

describe('CA certificates', () => {
  it('builds a self-signed root with the CA profile', () => {
    const { rootKey, rootDer } = buildChain();
    const root = parseCertificate(rootDer);
    expect(root.version).toBe(3);
    expect(root.subject.commonNames).toEqual(['root.meshbus']);
    expect(root.issuer.der).toEqual(root.subject.der);
    expect(root.basicConstraints).toEqual({ ca: true, pathLen: 1 });
    expect(root.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
    expect(root.extensions.filter((extension) => extension.critical).map((extension) => extension.oid).sort()).toEqual(
      [Oid.basicConstraints, Oid.keyUsage].sort(),
    );
    expect(root.subjectKeyIdentifier).toEqual(keyIdentifierOf(subjectPublicKeyInfoOf(rootKey)));
    expect(root.authorityKeyIdentifier).toEqual(root.subjectKeyIdentifier);
    expect(root.signatureAlgorithm).toBe(Oid.ecdsaWithSha256);
    expect(root.notBefore.toISOString()).toBe('2030-01-15T12:00:00.000Z');

    const native = new X509Certificate(rootDer);
    expect(native.ca).toBe(true);
    expect(native.verify(native.publicKey)).toBe(true);
    expect(native.checkIssued(native)).toBe(true);
  });

  it('builds an intermediate signed by the root', () => {
    const { rootDer, issuerDer, issuerKey } = buildChain();
    const issuer = parseCertificate(issuerDer);
    const root = parseCertificate(rootDer);
    expect(issuer.issuer.der).toEqual(root.subject.der);
    expect(issuer.basicConstraints).toEqual({ ca: true, pathLen: 0 });
    expect(issuer.authorityKeyIdentifier).toEqual(root.subjectKeyIdentifier);
    expect(issuer.subjectPublicKeyInfo.der).toEqual(subjectPublicKeyInfoOf(issuerKey).der);
    const nativeIssuer = new X509Certificate(issuerDer);
    const nativeRoot = new X509Certificate(rootDer);
    expect(nativeIssuer.checkIssued(nativeRoot)).toBe(true);
    expect(nativeIssuer.verify(nativeRoot.publicKey)).toBe(true);
    expect(nativeIssuer.checkPrivateKey(issuerKey)).toBe(true);
  });

  it('signs with the digest that matches the key: P-384, RSA and Ed25519 roots', () => {
    for (const [privateKey, algorithm] of [
      [generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, Oid.ecdsaWithSha384],
      [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, Oid.sha256WithRsaEncryption],
      [generateKeyPairSync('ed25519').privateKey, Oid.ed25519],
    ] as const) {
      const der = createRootCaCertificate({ commonName: 'r', privateKey, validity: year });
      expect(parseCertificate(der).signatureAlgorithm).toBe(algorithm);
      const native = new X509Certificate(der);
      expect(native.verify(native.publicKey)).toBe(true);
    }
  });
});

describe('leaf certificates', () => {
  it('follows the leaf profile with an empty subject and a critical SAN', () => {
    const { issuerDer, issuerKey } = buildChain();
    const leafKey = p256();
    const serialNumber = randomSerialNumber();
    const leafDer = createLeafCertificate({
      dnsName: identity,
      publicKey: leafKey,
      issuer: { certificateDer: issuerDer, privateKey: issuerKey },
      validity: { notBefore: now, notAfter: new Date(now.getTime() + 86_400_000) },
      serialNumber,
    });
    const leaf = parseCertificate(leafDer);
    const issuer = parseCertificate(issuerDer);
    expect(leaf.subject.attributes).toEqual([]);
    expect(leaf.issuer.der).toEqual(issuer.subject.der);
    expect(leaf.serialNumber).toBe(BigInt(`0x${serialNumberToHex(serialNumber)}`));
    expect(leaf.basicConstraints).toEqual({ ca: false });
    expect(leaf.keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(leaf.extendedKeyUsage).toEqual([Oid.serverAuth, Oid.clientAuth]);
    expect(leaf.subjectAltNames).toEqual([{ type: 'dns', value: identity }]);
    expect(leaf.subjectKeyIdentifier).toEqual(keyIdentifierOf(subjectPublicKeyInfoOf(leafKey)));
    expect(leaf.authorityKeyIdentifier).toEqual(issuer.subjectKeyIdentifier);
    const critical = new Map(leaf.extensions.map((extension) => [extension.oid, extension.critical]));
    expect(Object.fromEntries(critical)).toEqual({
      [Oid.basicConstraints]: true,
      [Oid.keyUsage]: true,
      [Oid.extKeyUsage]: false,
      [Oid.subjectKeyIdentifier]: false,
      [Oid.authorityKeyIdentifier]: false,
      [Oid.subjectAltName]: true,
    });
    expect(leaf.notBefore.toISOString()).toBe('2030-01-15T12:00:00.000Z');
    expect(leaf.notAfter.toISOString()).toBe('2030-01-16T12:00:00.000Z');

    const native = new X509Certificate(leafDer);
    expect(native.verify(new X509Certificate(issuerDer).publicKey)).toBe(true);
    expect(native.checkIssued(new X509Certificate(issuerDer))).toBe(true);
    expect(native.subjectAltName).toBe(`DNS:${identity}`);
    expect(native.ca).toBe(false);
    expect(native.checkHost(identity)).toBe(identity);
  });

  it('puts the commonName in the subject and leaves the SAN non-critical when given one', () => {
    const { issuerDer, issuerKey } = buildChain();
    const signer = new LeafCertificateSigner({ certificateDer: issuerDer, privateKey: issuerKey });
    const leaf = parseCertificate(
      signer.sign({ dnsName: 'a.b', commonName: 'a.b', subjectPublicKeyInfo: subjectPublicKeyInfoOf(p256()), validity: year }),
    );
    expect(leaf.subject.commonNames).toEqual(['a.b']);
    expect(leaf.extensions.find((extension) => extension.oid === Oid.subjectAltName)!.critical).toBe(false);
  });

  it('derives the authority key identifier when the issuer has none', () => {
    const rootKey = p256();
    const name = encodeName([{ type: Oid.commonName, value: 'legacy' }]);
    const rootDer = signCertificate(
      {
        serialNumber: Uint8Array.of(1),
        issuer: name,
        subject: name,
        ...year,
        subjectPublicKeyInfo: subjectPublicKeyInfoOf(rootKey).der,
        extensions: [basicConstraintsExtension({ ca: true }), keyUsageExtension(['keyCertSign'])],
      },
      rootKey,
    );
    expect(parseCertificate(rootDer).subjectKeyIdentifier).toBeUndefined();
    const leafDer = createLeafCertificate({ dnsName: 'a.b', publicKey: p256(), issuer: { certificateDer: rootDer, privateKey: rootKey }, validity: year });
    expect(parseCertificate(leafDer).authorityKeyIdentifier).toEqual(keyIdentifierOf(subjectPublicKeyInfoOf(rootKey)));
  });

  it('encodes validity after 2049 as GeneralizedTime', () => {
    const { issuerDer, issuerKey } = buildChain();
    const validity = { notBefore: new Date(Date.UTC(2049, 11, 31, 12)), notAfter: new Date(Date.UTC(2050, 0, 1, 12)) };
    const leafDer = createLeafCertificate({ dnsName: 'a.b', publicKey: p256(), issuer: { certificateDer: issuerDer, privateKey: issuerKey }, validity });
    const leaf = parseCertificate(leafDer);
    expect(leaf.notBefore.toISOString()).toBe('2049-12-31T12:00:00.000Z');
    expect(leaf.notAfter.toISOString()).toBe('2050-01-01T12:00:00.000Z');
    expect(new X509Certificate(leafDer).validTo).toBe('Jan  1 12:00:00 2050 GMT');
  });

  it('refuses an empty period and an invalid serial', () => {
    const { issuerDer, issuerKey } = buildChain();
    const signer = new LeafCertificateSigner({ certificateDer: issuerDer, privateKey: issuerKey });
    const spki = subjectPublicKeyInfoOf(p256());
    expect(() => signer.sign({ dnsName: 'a.b', subjectPublicKeyInfo: spki, validity: { notBefore: now, notAfter: now } })).toThrow(X509Error);
    expect(() => signer.sign({ dnsName: '', subjectPublicKeyInfo: spki, validity: year })).toThrow(X509Error);
    expect(() => encodeSerialNumber(new Uint8Array(2))).toThrow(X509Error);
    expect(() => encodeSerialNumber(new Uint8Array(21).fill(1))).toThrow(X509Error);
  });
});

describe('serial numbers', () => {
  it('are random, positive and 128 bits', () => {
    const serials = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const serial = randomSerialNumber();
      expect(serial.length).toBe(16);
      const encoded = encodeSerialNumber(serial);
      expect(encoded.length).toBeLessThanOrEqual(2 + 17);
      expect(encoded[2]! & 0x80).toBe(0);
      serials.add(serialNumberToHex(serial));
    }
    expect(serials.size).toBe(1000);
    expect(serialNumberToHex(Uint8Array.of(0, 0, 0xab))).toBe('ab');
  });
});

describe('parseCertificate on malformed input', () => {
  it('throws MalformedCertificate for every truncation, trailing bytes and any corrupted byte', () => {
    const { issuerDer } = buildChain();
    for (let length = 0; length < issuerDer.length; length++) {
      expect(() => parseCertificate(issuerDer.subarray(0, length))).toThrow(expect.objectContaining({ code: 'MalformedCertificate' }));
    }
    expect(() => parseCertificate(new Uint8Array([...issuerDer, 0]))).toThrow(expect.objectContaining({ code: 'MalformedCertificate' }));
    for (let index = 0; index < issuerDer.length; index++) {
      const corrupted = issuerDer.slice();
      corrupted[index]! ^= 0x80;
      try {
        parseCertificate(corrupted);
      } catch (error) {
        expect(error).toBeInstanceOf(X509Error);
      }
    }
  });

  it('refuses a certificate whose inner and outer signature algorithms differ', () => {
    const { rootDer } = buildChain();
    const text = Buffer.from(rootDer);
    const ecdsaWithSha256 = Buffer.from('06082a8648ce3d040302', 'hex');
    const second = text.indexOf(ecdsaWithSha256, text.indexOf(ecdsaWithSha256) + 1);
    const tampered = new Uint8Array(text);
    tampered[second + ecdsaWithSha256.length - 1] = 0x03;
    expect(() => parseCertificate(tampered)).toThrow(expect.objectContaining({ code: 'MalformedCertificate' }));
  });
});
