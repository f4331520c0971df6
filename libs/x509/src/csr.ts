import { createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { DerError, DerErrorCode, X509Error, X509ErrorCode, withMalformedAs } from './errors.js';
import { DerTag, contextTag } from './der-tag.js';
import {
  DerReader,
  decodeDer,
  decodeObjectIdentifier,
  decodeOctetAlignedBitString,
  decodeSmallInteger,
  derEncoding,
  expectTag,
} from './der-decoder.js';
import { derBitString, derConstructed, derInteger, derObjectIdentifier, derSequence, derSet } from './der-encoder.js';
import { decodeExtensions, decodeSubjectAltName, encodeExtension, subjectAltNameExtension } from './extensions.js';
import type { Extension } from './extensions.js';
import type { EncodableGeneralName, GeneralName } from './general-name.js';
import { decodeName, encodeCommonName } from './name.js';
import type { DistinguishedName } from './name.js';
import { Oid } from './oids.js';
import { decodeAlgorithmIdentifier, decodeSubjectPublicKeyInfo, requireEcP256, signatureAlgorithmFor } from './public-key.js';
import type { SubjectPublicKeyInfo } from './public-key.js';

/** A decoded PKCS#10 certification request (RFC 2986). */
export interface CertificationRequest {
  readonly der: Uint8Array;
  /** The encoded CertificationRequestInfo: the bytes the signature covers. */
  readonly requestInfoDer: Uint8Array;
  readonly subject: DistinguishedName;
  readonly subjectPublicKeyInfo: SubjectPublicKeyInfo;
  /** Extensions from the extensionRequest attribute; empty if there is none. */
  readonly requestedExtensions: readonly Extension[];
  /** Entries of the requested subjectAltName; empty if none was requested. */
  readonly subjectAltNames: readonly GeneralName[];
  /** The signature algorithm OID. */
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
}

function decodeRequestedExtensions(attributes: DerReader): Extension[] {
  let extensions: Extension[] = [];
  let found = false;
  while (attributes.hasMore) {
    const attribute = new DerReader(attributes.next(DerTag.Sequence, 'Attribute'), 'Attribute');
    const type = decodeObjectIdentifier(attribute.next(DerTag.ObjectIdentifier, 'type'));
    const values = new DerReader(attribute.next(DerTag.Set, 'values'), 'Attribute values');
    attribute.end();
    if (type !== Oid.extensionRequest) continue;
    if (found) throw new DerError(DerErrorCode.InvalidValue, 'extensionRequest attribute appears twice');
    found = true;
    extensions = decodeExtensions(values.next(DerTag.Sequence, 'Extensions'));
    values.end();
  }
  return extensions;
}

/**
 * Parses a DER PKCS#10 request. Throws {@link X509Error} `MalformedCsr` (with the {@link DerError}
 * as cause) for anything that is not a well-formed request. Does not check the signature.
 */
export function parseCsr(der: Uint8Array): CertificationRequest {
  return withMalformedAs(X509ErrorCode.MalformedCsr, 'malformed certification request', () => {
    const request = new DerReader(expectTag(decodeDer(der), DerTag.Sequence, 'CertificationRequest'), 'CertificationRequest');
    const infoElement = request.next(DerTag.Sequence, 'certificationRequestInfo');
    const signatureAlgorithm = decodeAlgorithmIdentifier(request.next(DerTag.Sequence, 'signatureAlgorithm'));
    const signature = decodeOctetAlignedBitString(request.next(DerTag.BitString, 'signature'));
    request.end();

    const info = new DerReader(infoElement, 'CertificationRequestInfo');
    decodeSmallInteger(info.next(DerTag.Integer, 'version'), 0, 0);
    const subject = decodeName(info.next(DerTag.Sequence, 'subject'));
    const subjectPublicKeyInfo = decodeSubjectPublicKeyInfo(info.next(DerTag.Sequence, 'subjectPKInfo'));
    const attributesElement = info.optional(contextTag(0, true));
    info.end();
    const requestedExtensions =
      attributesElement === undefined ? [] : decodeRequestedExtensions(new DerReader(attributesElement, 'attributes'));
    const san = requestedExtensions.find((extension) => extension.oid === Oid.subjectAltName);
    return {
      der,
      requestInfoDer: derEncoding(infoElement),
      subject,
      subjectPublicKeyInfo,
      requestedExtensions,
      subjectAltNames: san === undefined ? [] : decodeSubjectAltName(san.value),
      signatureAlgorithm,
      signature,
    };
  });
}

const UNCOMPRESSED_P256_POINT_LENGTH = 65;

/**
 * The request's P-256 public key as a KeyObject, checked to be a point on the curve. An
 * uncompressed point (what proxies send) goes in as a JWK: of the ways node:crypto (OpenSSL 3)
 * takes a public key, that is the cheapest, several times cheaper than decoding the
 * SubjectPublicKeyInfo, and it needs no WebCrypto CryptoKey or promise. Any other point encoding
 * goes through the SubjectPublicKeyInfo decoder.
 */
function importP256PublicKey(spki: SubjectPublicKeyInfo): KeyObject {
  const point = spki.publicKey;
  try {
    if (point.length === UNCOMPRESSED_P256_POINT_LENGTH && point[0] === 0x04) {
      const bytes = Buffer.from(point.buffer, point.byteOffset, point.length);
      return createPublicKey({
        key: { kty: 'EC', crv: 'P-256', x: bytes.toString('base64url', 1, 33), y: bytes.toString('base64url', 33, 65) },
        format: 'jwk',
      });
    }
    return createPublicKey({ key: Buffer.from(spki.der.buffer, spki.der.byteOffset, spki.der.length), format: 'der', type: 'spki' });
  } catch (error) {
    throw new X509Error(X509ErrorCode.MalformedCsr, 'certification request public key is not a valid P-256 point', { cause: error });
  }
}

/**
 * Checks that the request is signed by its own key with ecdsa-with-SHA256 over P-256, and returns
 * that public key. Rejects with {@link X509Error}: `UnsupportedKey` for any other key type or curve,
 * `UnsupportedSignatureAlgorithm` for any other algorithm, `SignatureInvalid` if it does not verify,
 * `MalformedCsr` if the key is not a valid point.
 */
export async function verifyCsrSignature(request: CertificationRequest): Promise<KeyObject> {
  requireEcP256(request.subjectPublicKeyInfo, 'certification request');
  if (request.signatureAlgorithm !== Oid.ecdsaWithSha256) {
    throw new X509Error(
      X509ErrorCode.UnsupportedSignatureAlgorithm,
      `certification request is signed with ${request.signatureAlgorithm}; only ecdsa-with-SHA256 is accepted`,
    );
  }
  const publicKey = importP256PublicKey(request.subjectPublicKeyInfo);
  let valid: boolean;
  try {
    valid = verify('sha256', request.requestInfoDer, publicKey, request.signature);
  } catch {
    valid = false;
  }
  if (!valid) throw new X509Error(X509ErrorCode.SignatureInvalid, 'certification request signature does not verify');
  return publicKey;
}

/** What goes into a certification request made by {@link createCsr}. */
export interface CsrOptions {
  /** The key that signs the request; its public half is the requested key. */
  readonly privateKey: KeyObject;
  /** Subject commonName; omitted gives the empty subject. */
  readonly commonName?: string;
  /** subjectAltName entries to request; none gives no extensionRequest attribute. */
  readonly subjectAltNames?: readonly EncodableGeneralName[];
}

/**
 * A DER PKCS#10 request signed by `privateKey` (P-256 signs with ecdsa-with-SHA256; other EC curves,
 * RSA and Ed25519 keys are accepted too, so tests can build requests a mesh CA must refuse).
 */
export function createCsr(options: CsrOptions): Uint8Array {
  const algorithm = signatureAlgorithmFor(options.privateKey);
  const publicKeyDer = new Uint8Array(createPublicKey(options.privateKey).export({ type: 'spki', format: 'der' }));
  const names = options.subjectAltNames ?? [];
  const attributes: Uint8Array[] = [];
  if (names.length > 0) {
    const san = subjectAltNameExtension(names, { critical: options.commonName === undefined });
    attributes.push(derSequence(derObjectIdentifier(Oid.extensionRequest), derSet(derSequence(encodeExtension(san)))));
  }
  const requestInfo = derSequence(
    derInteger(0),
    encodeCommonName(options.commonName),
    publicKeyDer,
    derConstructed(contextTag(0, true), attributes),
  );
  const signature = sign(algorithm.digest, requestInfo, options.privateKey);
  return derSequence(requestInfo, algorithm.encoded, derBitString(signature));
}
