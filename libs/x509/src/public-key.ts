import { createPublicKey, hash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { DerError, DerErrorCode, X509Error, X509ErrorCode } from './errors.js';
import { DerTag } from './der-tag.js';
import { DerReader, decodeDer, decodeObjectIdentifier, decodeOctetAlignedBitString, derEncoding, expectTag } from './der-decoder.js';
import type { DerElement } from './der-decoder.js';
import { derNull, derObjectIdentifier, derSequence } from './der-encoder.js';
import { Oid } from './oids.js';

/** A decoded SubjectPublicKeyInfo. */
export interface SubjectPublicKeyInfo {
  /** The exact encoding, as it goes into a certificate. */
  readonly der: Uint8Array;
  /** The algorithm OID, such as {@link Oid.ecPublicKey}. */
  readonly algorithm: string;
  /** For EC keys, the named curve OID, such as {@link Oid.prime256v1}. */
  readonly namedCurve: string | undefined;
  /** The subjectPublicKey bits (for EC, the encoded point). */
  readonly publicKey: Uint8Array;
}

/** The algorithm OID of an AlgorithmIdentifier; parameters, if any, are skipped. */
export function decodeAlgorithmIdentifier(element: DerElement): string {
  const algorithm = new DerReader(expectTag(element, DerTag.Sequence, 'AlgorithmIdentifier'), 'AlgorithmIdentifier');
  const oid = decodeObjectIdentifier(algorithm.next(DerTag.ObjectIdentifier, 'algorithm'));
  if (algorithm.hasMore) algorithm.next(undefined, 'parameters');
  algorithm.end();
  return oid;
}

export function decodeSubjectPublicKeyInfo(element: DerElement): SubjectPublicKeyInfo {
  const spki = new DerReader(expectTag(element, DerTag.Sequence, 'SubjectPublicKeyInfo'), 'SubjectPublicKeyInfo');
  const algorithmIdentifier = new DerReader(spki.next(DerTag.Sequence, 'algorithm'), 'AlgorithmIdentifier');
  const algorithm = decodeObjectIdentifier(algorithmIdentifier.next(DerTag.ObjectIdentifier, 'algorithm'));
  let namedCurve: string | undefined;
  if (algorithm === Oid.ecPublicKey) {
    const parameters = algorithmIdentifier.next(undefined, 'parameters');
    if (parameters.tag !== DerTag.ObjectIdentifier) {
      throw new DerError(DerErrorCode.InvalidValue, 'EC keys must name their curve (RFC 5480)', parameters.start);
    }
    namedCurve = decodeObjectIdentifier(parameters);
  } else if (algorithmIdentifier.hasMore) {
    algorithmIdentifier.next();
  }
  algorithmIdentifier.end();
  const publicKey = decodeOctetAlignedBitString(spki.next(DerTag.BitString, 'subjectPublicKey'));
  spki.end();
  return { der: derEncoding(element), algorithm, namedCurve, publicKey };
}

/** The SubjectPublicKeyInfo of a public key, or of the public half of a private key. */
export function subjectPublicKeyInfoOf(key: KeyObject): SubjectPublicKeyInfo {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  return decodeSubjectPublicKeyInfo(decodeDer(der));
}

/** Whether the key is ECDSA on P-256, the only key mesh certificates carry. */
export function isEcP256(spki: SubjectPublicKeyInfo): boolean {
  return spki.algorithm === Oid.ecPublicKey && spki.namedCurve === Oid.prime256v1;
}

const CURVE_NAMES = new Map<string, string>([
  [Oid.prime256v1, 'P-256'],
  [Oid.secp384r1, 'P-384'],
  [Oid.secp521r1, 'P-521'],
]);
const ALGORITHM_NAMES = new Map<string, string>([
  [Oid.rsaEncryption, 'RSA'],
  [Oid.ed25519, 'Ed25519'],
  [Oid.ed448, 'Ed448'],
]);

/** A readable name of the key type, such as `ECDSA P-384` or `RSA`, for messages. */
export function describePublicKey(spki: SubjectPublicKeyInfo): string {
  if (spki.algorithm === Oid.ecPublicKey) return `ECDSA ${CURVE_NAMES.get(spki.namedCurve ?? '') ?? `curve ${spki.namedCurve}`}`;
  return ALGORITHM_NAMES.get(spki.algorithm) ?? `algorithm ${spki.algorithm}`;
}

/** Throws {@link X509ErrorCode.UnsupportedKey} unless the key is ECDSA P-256. */
export function requireEcP256(spki: SubjectPublicKeyInfo, whose: string): void {
  if (!isEcP256(spki)) {
    throw new X509Error(X509ErrorCode.UnsupportedKey, `${whose} key is ${describePublicKey(spki)}; only ECDSA P-256 is accepted`);
  }
}

/** The key identifier of RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifierOf(spki: SubjectPublicKeyInfo): Uint8Array {
  const digest = hash('sha1', spki.publicKey, 'buffer');
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length);
}

/** How a key signs: the digest node:crypto uses, and the encoded AlgorithmIdentifier. */
export interface SignatureAlgorithm {
  readonly oid: string;
  /** Digest name for `crypto.sign`, or null for EdDSA. */
  readonly digest: string | null;
  readonly encoded: Uint8Array;
}

function ecdsa(oid: string, digest: string): SignatureAlgorithm {
  // RFC 5758: ECDSA AlgorithmIdentifiers carry no parameters.
  return { oid, digest, encoded: derSequence(derObjectIdentifier(oid)) };
}

// Keyed by the curve names node:crypto reports in asymmetricKeyDetails.
const ECDSA_BY_CURVE = new Map<string, SignatureAlgorithm>([
  ['prime256v1', ecdsa(Oid.ecdsaWithSha256, 'sha256')],
  ['secp384r1', ecdsa(Oid.ecdsaWithSha384, 'sha384')],
  ['secp521r1', ecdsa(Oid.ecdsaWithSha512, 'sha512')],
]);
const RSA_SHA256: SignatureAlgorithm = {
  oid: Oid.sha256WithRsaEncryption,
  digest: 'sha256',
  encoded: derSequence(derObjectIdentifier(Oid.sha256WithRsaEncryption), derNull()),
};
const ED25519: SignatureAlgorithm = { oid: Oid.ed25519, digest: null, encoded: derSequence(derObjectIdentifier(Oid.ed25519)) };

/** ecdsa-with-SHA256, the signature algorithm of mesh certificates. */
export const ECDSA_WITH_SHA256 = ECDSA_BY_CURVE.get('prime256v1')!;

/**
 * The signature algorithm a private key signs certificates and CSRs with: ECDSA with the curve's
 * matching SHA-2 digest, RSA PKCS#1 v1.5 with SHA-256, or Ed25519.
 */
export function signatureAlgorithmFor(privateKey: KeyObject): SignatureAlgorithm {
  const type = privateKey.asymmetricKeyType;
  if (type === 'ec') {
    const algorithm = ECDSA_BY_CURVE.get(privateKey.asymmetricKeyDetails?.namedCurve ?? '');
    if (algorithm !== undefined) return algorithm;
  } else if (type === 'rsa') {
    return RSA_SHA256;
  } else if (type === 'ed25519') {
    return ED25519;
  }
  throw new X509Error(X509ErrorCode.UnsupportedKey, `cannot sign with a ${type ?? 'non-asymmetric'} key`);
}
