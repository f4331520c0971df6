import { DerError, DerErrorCode } from './errors.js';
import { DerTag, contextTag } from './der-tag.js';
import {
  DerReader,
  decodeBitString,
  decodeBoolean,
  decodeDer,
  decodeObjectIdentifier,
  decodeOctetString,
  decodeSmallInteger,
  derContent,
  expectTag,
} from './der-decoder.js';
import type { DerElement } from './der-decoder.js';
import {
  derBitString,
  derBoolean,
  derElement,
  derInteger,
  derObjectIdentifier,
  derOctetString,
  derSequence,
} from './der-encoder.js';
import { decodeGeneralNames, encodeGeneralNames } from './general-name.js';
import type { EncodableGeneralName, GeneralName } from './general-name.js';
import { Oid } from './oids.js';

/** A certificate extension: its OID, criticality, and the DER inside extnValue. */
export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** Names of the keyUsage bits, in bit order (RFC 5280 4.2.1.3). */
export const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

/** The basicConstraints extension's content. */
export interface BasicConstraints {
  readonly ca: boolean;
  /** Most intermediate CA certificates that may follow this one in a path; absent means unlimited. */
  readonly pathLen?: number;
}

/** Encodes an Extension (SEQUENCE of extnID, critical if true, extnValue). */
export function encodeExtension(extension: Extension): Uint8Array {
  const parts = [derObjectIdentifier(extension.oid)];
  if (extension.critical) parts.push(derBoolean(true));
  parts.push(derOctetString(extension.value));
  return derSequence(...parts);
}

/** basicConstraints, critical. A non-CA certificate carries the empty SEQUENCE (cA defaults to FALSE). */
export function basicConstraintsExtension(constraints: BasicConstraints): Extension {
  const parts: Uint8Array[] = [];
  if (constraints.ca) {
    parts.push(derBoolean(true));
    if (constraints.pathLen !== undefined) parts.push(derInteger(constraints.pathLen));
  } else if (constraints.pathLen !== undefined) {
    throw new DerError(DerErrorCode.Unencodable, 'pathLen is only allowed on CA certificates');
  }
  return { oid: Oid.basicConstraints, critical: true, value: derSequence(...parts) };
}

/** keyUsage, critical, as a DER named bit list (trailing zero bits dropped). */
export function keyUsageExtension(usages: readonly KeyUsage[]): Extension {
  if (usages.length === 0) throw new DerError(DerErrorCode.Unencodable, 'keyUsage needs at least one usage');
  let highestBit = 0;
  const bits = new Uint8Array(2);
  for (const usage of usages) {
    const bit = KEY_USAGES.indexOf(usage);
    if (bit < 0) throw new DerError(DerErrorCode.Unencodable, `unknown key usage ${String(usage)}`);
    bits[bit >> 3]! |= 0x80 >> (bit & 7);
    highestBit = Math.max(highestBit, bit);
  }
  const byteCount = (highestBit >> 3) + 1;
  const unusedBits = 7 - (highestBit & 7);
  return { oid: Oid.keyUsage, critical: true, value: derBitString(bits.subarray(0, byteCount), unusedBits) };
}

/** extKeyUsage, not critical, with the given purpose OIDs (such as serverAuth, clientAuth). */
export function extendedKeyUsageExtension(purposes: readonly string[]): Extension {
  return { oid: Oid.extKeyUsage, critical: false, value: derSequence(...purposes.map(derObjectIdentifier)) };
}

/** subjectAltName; RFC 5280 wants it critical when the subject is empty. */
export function subjectAltNameExtension(names: readonly EncodableGeneralName[], options: { critical: boolean }): Extension {
  if (names.length === 0) throw new DerError(DerErrorCode.Unencodable, 'subjectAltName needs at least one name');
  return { oid: Oid.subjectAltName, critical: options.critical, value: encodeGeneralNames(names) };
}

export function subjectKeyIdentifierExtension(keyIdentifier: Uint8Array): Extension {
  return { oid: Oid.subjectKeyIdentifier, critical: false, value: derOctetString(keyIdentifier) };
}

/** authorityKeyIdentifier holding only the keyIdentifier ([0] IMPLICIT OCTET STRING). */
export function authorityKeyIdentifierExtension(keyIdentifier: Uint8Array): Extension {
  return {
    oid: Oid.authorityKeyIdentifier,
    critical: false,
    value: derSequence(derElement(contextTag(0, false), keyIdentifier)),
  };
}

/** Reads an Extensions SEQUENCE; duplicate OIDs are an error (RFC 5280 4.2). */
export function decodeExtensions(element: DerElement): Extension[] {
  const reader = new DerReader(expectTag(element, DerTag.Sequence, 'Extensions'), 'Extensions');
  const extensions: Extension[] = [];
  const seen = new Set<string>();
  while (reader.hasMore) {
    const fields = new DerReader(reader.next(DerTag.Sequence, 'Extension'), 'Extension');
    const extnId = fields.next(DerTag.ObjectIdentifier, 'extnID');
    const oid = decodeObjectIdentifier(extnId);
    const criticalElement = fields.optional(DerTag.Boolean);
    const critical = criticalElement === undefined ? false : decodeBoolean(criticalElement);
    const value = decodeOctetString(fields.next(DerTag.OctetString, 'extnValue'));
    fields.end();
    if (seen.has(oid)) throw new DerError(DerErrorCode.InvalidValue, `extension ${oid} appears twice`, extnId.start);
    seen.add(oid);
    extensions.push({ oid, critical, value });
  }
  return extensions;
}

export function decodeBasicConstraints(value: Uint8Array): BasicConstraints {
  const reader = new DerReader(expectTag(decodeDer(value), DerTag.Sequence, 'BasicConstraints'), 'BasicConstraints');
  const caElement = reader.optional(DerTag.Boolean);
  const ca = caElement === undefined ? false : decodeBoolean(caElement);
  const pathLenElement = reader.optional(DerTag.Integer);
  reader.end();
  if (pathLenElement === undefined) return { ca };
  return { ca, pathLen: decodeSmallInteger(pathLenElement, 0, 0x7fffffff) };
}

export function decodeKeyUsage(value: Uint8Array): KeyUsage[] {
  const { bytes } = decodeBitString(decodeDer(value));
  return KEY_USAGES.filter((_, bit) => ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0);
}

export function decodeExtendedKeyUsage(value: Uint8Array): string[] {
  const reader = new DerReader(expectTag(decodeDer(value), DerTag.Sequence, 'ExtKeyUsageSyntax'), 'ExtKeyUsageSyntax');
  const purposes: string[] = [];
  while (reader.hasMore) purposes.push(decodeObjectIdentifier(reader.next(DerTag.ObjectIdentifier, 'KeyPurposeId')));
  return purposes;
}

export function decodeSubjectAltName(value: Uint8Array): GeneralName[] {
  return decodeGeneralNames(decodeDer(value));
}

export function decodeSubjectKeyIdentifier(value: Uint8Array): Uint8Array {
  return decodeOctetString(decodeDer(value));
}

/** The keyIdentifier of an authorityKeyIdentifier, if it has one. */
export function decodeAuthorityKeyIdentifier(value: Uint8Array): Uint8Array | undefined {
  const reader = new DerReader(expectTag(decodeDer(value), DerTag.Sequence, 'AuthorityKeyIdentifier'), 'AuthorityKeyIdentifier');
  const keyIdentifier = reader.optional(contextTag(0, false));
  // authorityCertIssuer [1] and authorityCertSerialNumber [2] may follow; they are not used here.
  return keyIdentifier === undefined ? undefined : derContent(keyIdentifier);
}

/** The decoded extensions X.509 path checks care about; others stay in the raw list. */
export interface KnownExtensions {
  readonly basicConstraints?: BasicConstraints;
  readonly keyUsage?: readonly KeyUsage[];
  readonly extendedKeyUsage?: readonly string[];
  readonly subjectAltNames?: readonly GeneralName[];
  readonly subjectKeyIdentifier?: Uint8Array;
  readonly authorityKeyIdentifier?: Uint8Array;
}

export function decodeKnownExtensions(extensions: readonly Extension[]): KnownExtensions {
  const known: {
    -readonly [K in keyof KnownExtensions]: KnownExtensions[K];
  } = {};
  for (const { oid, value } of extensions) {
    switch (oid) {
      case Oid.basicConstraints:
        known.basicConstraints = decodeBasicConstraints(value);
        break;
      case Oid.keyUsage:
        known.keyUsage = decodeKeyUsage(value);
        break;
      case Oid.extKeyUsage:
        known.extendedKeyUsage = decodeExtendedKeyUsage(value);
        break;
      case Oid.subjectAltName:
        known.subjectAltNames = decodeSubjectAltName(value);
        break;
      case Oid.subjectKeyIdentifier:
        known.subjectKeyIdentifier = decodeSubjectKeyIdentifier(value);
        break;
      case Oid.authorityKeyIdentifier: {
        const keyIdentifier = decodeAuthorityKeyIdentifier(value);
        if (keyIdentifier !== undefined) known.authorityKeyIdentifier = keyIdentifier;
        break;
      }
    }
  }
  return known;
}
