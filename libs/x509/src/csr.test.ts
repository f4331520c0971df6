import { generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { X509Error } from './errors.js';
import { derBitString, derInteger, derObjectIdentifier, derSequence, derSet } from './der-encoder.js';
import { encodeCommonName } from './name.js';
import { Oid } from './oids.js';
import { createCsr, parseCsr, verifyCsrSignature } from './csr.js';
import { subjectPublicKeyInfoOf } from './public-key.js';

const p256 = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

async function x509ErrorCode(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(X509Error);
    expect((error as X509Error).name).toBe('X509Error');
    return (error as X509Error).code;
  }
  throw new Error('expected an X509Error');
}

describe('createCsr and parseCsr', () => {
  it('round-trips subject, key and every SAN kind', async () => {
    const privateKey = p256();
    const der = createCsr({
      privateKey,
      commonName: 'web.shop',
      subjectAltNames: [
        { type: 'dns', value: 'web.shop.serviceaccount.identity.meshbus.cluster.local' },
        { type: 'ip', value: '10.0.0.7' },
        { type: 'ip', value: 'fd00::7' },
        { type: 'email', value: 'ops@example.com' },
        { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
      ],
    });
    const csr = parseCsr(der);
    expect(csr.subject.commonNames).toEqual(['web.shop']);
    expect(csr.subject.attributes).toEqual([{ type: Oid.commonName, value: 'web.shop' }]);
    expect(csr.subjectPublicKeyInfo.algorithm).toBe(Oid.ecPublicKey);
    expect(csr.subjectPublicKeyInfo.namedCurve).toBe(Oid.prime256v1);
    expect(csr.subjectPublicKeyInfo.der).toEqual(subjectPublicKeyInfoOf(privateKey).der);
    expect(csr.signatureAlgorithm).toBe(Oid.ecdsaWithSha256);
    expect(csr.requestedExtensions.map((extension) => extension.oid)).toEqual([Oid.subjectAltName]);
    expect(csr.requestedExtensions[0]!.critical).toBe(false);
    expect(csr.subjectAltNames).toEqual([
      { type: 'dns', value: 'web.shop.serviceaccount.identity.meshbus.cluster.local' },
      { type: 'ip', value: '10.0.0.7' },
      { type: 'ip', value: 'fd00::7' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
    ]);
    const publicKey = await verifyCsrSignature(csr);
    expect(publicKey.asymmetricKeyType).toBe('ec');
    expect(publicKey.export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(csr.subjectPublicKeyInfo.der));
  });

  it('gives an empty subject, a critical SAN, and no attributes when asked for nothing', () => {
    const withSan = parseCsr(createCsr({ privateKey: p256(), subjectAltNames: [{ type: 'dns', value: 'a.b' }] }));
    expect(withSan.subject.attributes).toEqual([]);
    expect(withSan.requestedExtensions[0]!.critical).toBe(true);
    const bare = parseCsr(createCsr({ privateKey: p256() }));
    expect(bare.requestedExtensions).toEqual([]);
    expect(bare.subjectAltNames).toEqual([]);
  });

  it('parses a request whose attributes field is absent', async () => {
    const privateKey = p256();
    const spki = subjectPublicKeyInfoOf(privateKey).der;
    const info = derSequence(derInteger(0), encodeCommonName('x'), spki);
    const { sign } = await import('node:crypto');
    const der = derSequence(info, derSequence(derObjectIdentifier(Oid.ecdsaWithSha256)), derBitString(sign('sha256', info, privateKey)));
    const csr = parseCsr(der);
    expect(csr.requestedExtensions).toEqual([]);
    await verifyCsrSignature(csr);
  });
});

describe('verifyCsrSignature', () => {
  it('rejects RSA, P-384 and Ed25519 keys as unsupported', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const ed25519 = generateKeyPairSync('ed25519').privateKey;
    for (const [privateKey, described] of [
      [rsa, 'RSA'],
      [p384, 'ECDSA P-384'],
      [ed25519, 'Ed25519'],
    ] as const) {
      const csr = parseCsr(createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: 'a.b' }] }));
      await expect(verifyCsrSignature(csr)).rejects.toMatchObject({ code: 'UnsupportedKey', message: expect.stringContaining(described) });
    }
  });

  it('rejects a P-256 request signed with another digest', async () => {
    const csr = parseCsr(createCsr({ privateKey: p256() }));
    const tampered = { ...csr, signatureAlgorithm: Oid.ecdsaWithSha384 };
    expect(await x509ErrorCode(() => verifyCsrSignature(tampered))).toBe('UnsupportedSignatureAlgorithm');
  });

  it('rejects a signature that does not match the request', async () => {
    const der = createCsr({ privateKey: p256(), subjectAltNames: [{ type: 'dns', value: 'web.shop' }] });
    const csr = parseCsr(der);
    const reassemble = (info: Uint8Array, signature: Uint8Array): Uint8Array =>
      derSequence(info, derSequence(derObjectIdentifier(Oid.ecdsaWithSha256)), derBitString(signature));

    const flippedName = der.slice();
    flippedName[Buffer.from(der).indexOf('web.shop')]! ^= 0x01;
    expect(await x509ErrorCode(() => verifyCsrSignature(parseCsr(flippedName)))).toBe('SignatureInvalid');

    const flippedSignature = csr.signature.slice();
    flippedSignature[flippedSignature.length - 1]! ^= 0x01;
    expect(await x509ErrorCode(() => verifyCsrSignature(parseCsr(reassemble(csr.requestInfoDer, flippedSignature))))).toBe('SignatureInvalid');

    const otherSignature = parseCsr(createCsr({ privateKey: p256(), subjectAltNames: [{ type: 'dns', value: 'web.shop' }] })).signature;
    expect(await x509ErrorCode(() => verifyCsrSignature(parseCsr(reassemble(csr.requestInfoDer, otherSignature))))).toBe('SignatureInvalid');

    expect(await x509ErrorCode(() => verifyCsrSignature(parseCsr(reassemble(csr.requestInfoDer, Uint8Array.of(1, 2, 3)))))).toBe('SignatureInvalid');
  });

  it('rejects a key that is not a point on P-256', async () => {
    const csr = parseCsr(createCsr({ privateKey: p256() }));
    const point = csr.subjectPublicKeyInfo.publicKey.slice();
    point[40]! ^= 0x01;
    const offCurve = { ...csr, subjectPublicKeyInfo: { ...csr.subjectPublicKeyInfo, publicKey: point } };
    expect(await x509ErrorCode(() => verifyCsrSignature(offCurve))).toBe('MalformedCsr');
  });
});

describe('malformed requests', () => {
  const der = createCsr({ privateKey: p256(), commonName: 'x', subjectAltNames: [{ type: 'dns', value: 'a.b' }] });

  it('throws MalformedCsr for every truncation and for trailing bytes', async () => {
    for (let length = 0; length < der.length; length++) {
      expect(await x509ErrorCode(() => parseCsr(der.subarray(0, length)))).toBe('MalformedCsr');
    }
    expect(await x509ErrorCode(() => parseCsr(new Uint8Array([...der, 0])))).toBe('MalformedCsr');
  });

  it('throws MalformedCsr with the DER error as its cause', () => {
    try {
      parseCsr(Uint8Array.of(0x31, 0x00));
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'MalformedCsr' });
      expect((error as Error).cause).toMatchObject({ name: 'DerError', code: 'UnexpectedTag' });
    }
  });

  it('throws only X509Error for any single corrupted byte', async () => {
    for (let index = 0; index < der.length; index++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const corrupted = der.slice();
        corrupted[index]! ^= mask;
        try {
          await verifyCsrSignature(parseCsr(corrupted));
        } catch (error) {
          expect(error).toBeInstanceOf(X509Error);
        }
      }
    }
  });

  it('refuses version 1 requests', async () => {
    const csr = parseCsr(der);
    const info = csr.requestInfoDer.slice();
    const headerLength = info[1]! < 0x80 ? 2 : 2 + (info[1]! & 0x7f);
    expect(Array.from(info.subarray(headerLength, headerLength + 3))).toEqual([0x02, 0x01, 0x00]);
    info[headerLength + 2] = 1;
    expect(await x509ErrorCode(() => parseCsr(derSequence(info, derSequence(derObjectIdentifier(Oid.ecdsaWithSha256)), derBitString(csr.signature))))).toBe('MalformedCsr');
  });

  it('refuses a subject whose attribute value is not a string (OpenSSL refuses it too)', async () => {
    const key = p256();
    const spki = subjectPublicKeyInfoOf(key).der;
    for (const value of [Uint8Array.of(0x01, 0x00), Uint8Array.of(0x02, 0x01, 0x05), Uint8Array.of(0x82, 0x01, 0x61), Uint8Array.of(0x30, 0x00), Uint8Array.of(0x1a, 0x00), Uint8Array.of(0x1c, 0x01, 0x61), Uint8Array.of(0x1c, 0x04, 0xf0, 0x90, 0x80, 0x80)]) {
      const subject = derSequence(derSet(derSequence(derObjectIdentifier(Oid.commonName), value)));
      const info = derSequence(derInteger(0), subject, spki, Uint8Array.of(0xa0, 0x00));
      const request = derSequence(info, derSequence(derObjectIdentifier(Oid.ecdsaWithSha256)), derBitString(sign('sha256', info, key)));
      expect(await x509ErrorCode(() => parseCsr(request))).toBe('MalformedCsr');
    }
  });
});
