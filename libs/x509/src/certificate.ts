import { sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { DerError, DerErrorCode, X509Error, X509ErrorCode, withMalformedAs } from './errors.js';
import { DerTag, contextTag } from './der-tag.js';
import {
  DerReader,
  decodeDer,
  decodeInteger,
  decodeOctetAlignedBitString,
  decodeSmallInteger,
  decodeTime,
  derEncoding,
  expectTag,
} from './der-decoder.js';
import { derBitString, derExplicit, derInteger, derSequence, derTime, derUnsignedInteger } from './der-encoder.js';
import { decodeExtensions, decodeKnownExtensions, encodeExtension } from './extensions.js';
import type { Extension, KnownExtensions } from './extensions.js';
import { decodeName } from './name.js';
import type { DistinguishedName } from './name.js';
import { decodeAlgorithmIdentifier, decodeSubjectPublicKeyInfo, signatureAlgorithmFor } from './public-key.js';
import type { SubjectPublicKeyInfo } from './public-key.js';

/** A decoded X.509 certificate. Parsing checks structure only, not signatures or validity. */
export interface DecodedCertificate extends KnownExtensions {
  readonly der: Uint8Array;
  /** The encoded TBSCertificate: the bytes the signature covers. */
  readonly tbsDer: Uint8Array;
  /** 1 or 3. */
  readonly version: number;
  readonly serialNumber: bigint;
  readonly issuer: DistinguishedName;
  readonly subject: DistinguishedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectPublicKeyInfo: SubjectPublicKeyInfo;
  readonly extensions: readonly Extension[];
  /** The signature algorithm OID. */
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
}

/**
 * Parses a DER certificate. Throws {@link X509Error} `MalformedCertificate` (with the
 * {@link DerError} as cause) for anything that is not a well-formed v1 or v3 certificate.
 */
export function parseCertificate(der: Uint8Array): DecodedCertificate {
  return withMalformedAs(X509ErrorCode.MalformedCertificate, 'malformed certificate', () => {
    const certificate = new DerReader(expectTag(decodeDer(der), DerTag.Sequence, 'Certificate'), 'Certificate');
    const tbsElement = certificate.next(DerTag.Sequence, 'tbsCertificate');
    const signatureAlgorithm = decodeAlgorithmIdentifier(certificate.next(DerTag.Sequence, 'signatureAlgorithm'));
    const signature = decodeOctetAlignedBitString(certificate.next(DerTag.BitString, 'signatureValue'));
    certificate.end();

    const tbs = new DerReader(tbsElement, 'TBSCertificate');
    const versionElement = tbs.optional(contextTag(0, true));
    let version = 1;
    if (versionElement !== undefined) {
      const inner = new DerReader(versionElement, 'version');
      version = decodeSmallInteger(inner.next(DerTag.Integer, 'Version'), 0, 2) + 1;
      inner.end();
    }
    const serialNumber = decodeInteger(tbs.next(DerTag.Integer, 'serialNumber'));
    const innerSignatureAlgorithm = decodeAlgorithmIdentifier(tbs.next(DerTag.Sequence, 'signature'));
    const issuer = decodeName(tbs.next(DerTag.Sequence, 'issuer'));
    const validity = new DerReader(tbs.next(DerTag.Sequence, 'validity'), 'Validity');
    const notBefore = decodeTime(validity.next(undefined, 'notBefore'));
    const notAfter = decodeTime(validity.next(undefined, 'notAfter'));
    validity.end();
    const subject = decodeName(tbs.next(DerTag.Sequence, 'subject'));
    const subjectPublicKeyInfo = decodeSubjectPublicKeyInfo(tbs.next(DerTag.Sequence, 'subjectPublicKeyInfo'));
    tbs.optional(contextTag(1, false));
    tbs.optional(contextTag(2, false));
    const extensionsElement = tbs.optional(contextTag(3, true));
    tbs.end();

    let extensions: Extension[] = [];
    if (extensionsElement !== undefined) {
      const wrapper = new DerReader(extensionsElement, 'extensions');
      extensions = decodeExtensions(wrapper.next(DerTag.Sequence, 'Extensions'));
      wrapper.end();
    }
    if (innerSignatureAlgorithm !== signatureAlgorithm) {
      throw new DerError(
        DerErrorCode.InvalidValue,
        `TBSCertificate names signature algorithm ${innerSignatureAlgorithm} but the certificate is signed with ${signatureAlgorithm}`,
      );
    }
    return {
      der,
      tbsDer: derEncoding(tbsElement),
      version,
      serialNumber,
      issuer,
      subject,
      notBefore,
      notAfter,
      subjectPublicKeyInfo,
      extensions,
      signatureAlgorithm,
      signature,
      ...decodeKnownExtensions(extensions),
    };
  });
}

/** The caller-chosen fields of a v3 TBSCertificate; already-encoded parts are passed as DER. */
export interface CertificateFields {
  /** Positive serial number, big-endian; 1 to 20 significant bytes (RFC 5280 4.1.2.2). */
  readonly serialNumber: Uint8Array;
  /** The encoded issuer Name: the issuing certificate's subject, byte for byte. */
  readonly issuer: Uint8Array;
  /** The encoded subject Name. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The encoded SubjectPublicKeyInfo of the certified key. */
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly extensions: readonly Extension[];
}

const VERSION_3 = derExplicit(0, derInteger(2));

/** Checks a serial number and returns its encoded INTEGER. */
export function encodeSerialNumber(serialNumber: Uint8Array): Uint8Array {
  let start = 0;
  while (start < serialNumber.length && serialNumber[start] === 0) start++;
  const significant = serialNumber.length - start;
  if (significant === 0 || significant > 20) {
    throw new X509Error(X509ErrorCode.InvalidArgument, `serial number must be 1 to 20 non-zero bytes, got ${significant}`);
  }
  return derUnsignedInteger(serialNumber.subarray(start));
}

/** Encodes the TBSCertificate, signs it with `signingKey` (see `signatureAlgorithmFor`), and returns the certificate DER. */
export function signCertificate(fields: CertificateFields, signingKey: KeyObject): Uint8Array {
  if (!(fields.notAfter.getTime() > fields.notBefore.getTime())) {
    throw new X509Error(X509ErrorCode.InvalidArgument, 'notAfter must be later than notBefore');
  }
  const algorithm = signatureAlgorithmFor(signingKey);
  const tbs = derSequence(
    VERSION_3,
    encodeSerialNumber(fields.serialNumber),
    algorithm.encoded,
    fields.issuer,
    derSequence(derTime(fields.notBefore), derTime(fields.notAfter)),
    fields.subject,
    fields.subjectPublicKeyInfo,
    ...(fields.extensions.length > 0 ? [derExplicit(3, derSequence(...fields.extensions.map(encodeExtension)))] : []),
  );
  return derSequence(tbs, algorithm.encoded, derBitString(sign(algorithm.digest, tbs, signingKey)));
}
