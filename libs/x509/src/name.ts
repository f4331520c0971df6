import { DerError, DerErrorCode } from './errors.js';
import { DerTag, describeTag } from './der-tag.js';
import { DerReader, decodeObjectIdentifier, decodeString, derEncoding, expectTag } from './der-decoder.js';
import type { DerElement } from './der-decoder.js';
import { derObjectIdentifier, derPrintableString, derSequence, derSet, derUtf8String } from './der-encoder.js';
import { Oid } from './oids.js';

/** One attribute of a distinguished name, such as `CN=foo`. */
export interface NameAttribute {
  /** The attribute type's OID (see {@link Oid}). */
  readonly type: string;
  /** The value as text; a UniversalString value is given as `#` and hex of its encoding. */
  readonly value: string;
}

/** A decoded X.509 Name (RDNSequence). */
export interface DistinguishedName {
  /** The exact encoding, as found; what issuer/subject matching compares. */
  readonly der: Uint8Array;
  /** The attributes in order, multi-valued RDNs flattened. */
  readonly attributes: readonly NameAttribute[];
  /** The values of every commonName attribute, in order. */
  readonly commonNames: readonly string[];
}

// RFC 5280 appendix A: these attribute types are PrintableString.
const PRINTABLE_ATTRIBUTES = new Set<string>([Oid.countryName, Oid.serialNumber, Oid.dnQualifier]);

/**
 * Encodes a Name with one attribute per RDN, in the order given. Values are UTF8String except
 * countryName, serialNumber and dnQualifier, which are PrintableString. No attributes gives the empty Name.
 */
export function encodeName(attributes: readonly NameAttribute[]): Uint8Array {
  return derSequence(
    ...attributes.map(({ type, value }) =>
      derSet(derSequence(derObjectIdentifier(type), PRINTABLE_ATTRIBUTES.has(type) ? derPrintableString(value) : derUtf8String(value))),
    ),
  );
}

/** A Name holding only `CN=commonName`, or the empty Name when `commonName` is undefined. */
export function encodeCommonName(commonName: string | undefined): Uint8Array {
  return encodeName(commonName === undefined ? [] : [{ type: Oid.commonName, value: commonName }]);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const STRING_TAGS = new Set<number>([
  DerTag.Utf8String,
  DerTag.PrintableString,
  DerTag.Ia5String,
  DerTag.TeletexString,
  DerTag.BmpString,
  DerTag.NumericString,
]);

// The string types OpenSSL reads in names are those of STRING_TAGS and UniversalString (kept as
// its encoding; 4 bytes a character). Other values (VisibleString, GeneralString, BOOLEAN,
// SEQUENCE, context tags...) are refused, as OpenSSL refuses them.
function checkAttributeValue(element: DerElement): void {
  if (STRING_TAGS.has(element.tag)) return;
  if (element.tag === DerTag.UniversalString) {
    if ((element.end - element.contentStart) % 4 !== 0) {
      throw new DerError(DerErrorCode.InvalidValue, 'UniversalString length is not a multiple of 4', element.start);
    }
    const view = new DataView(element.source.buffer, element.source.byteOffset + element.contentStart, element.end - element.contentStart);
    for (let i = 0; i < view.byteLength; i += 4) {
      const codePoint = view.getUint32(i);
      if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
        throw new DerError(DerErrorCode.InvalidValue, `UniversalString holds ${codePoint.toString(16)}, which is not a Unicode character`, element.start);
      }
    }
    return;
  }
  throw new DerError(DerErrorCode.UnexpectedTag, `AttributeValue must be a directory string, found ${describeTag(element.tag)}`, element.start);
}

export function decodeName(element: DerElement): DistinguishedName {
  const rdns = new DerReader(expectTag(element, DerTag.Sequence, 'Name'), 'Name');
  const attributes: NameAttribute[] = [];
  const commonNames: string[] = [];
  while (rdns.hasMore) {
    const rdn = new DerReader(rdns.next(DerTag.Set, 'RelativeDistinguishedName'), 'RelativeDistinguishedName');
    if (!rdn.hasMore) rdn.next(DerTag.Sequence, 'AttributeTypeAndValue');
    while (rdn.hasMore) {
      const pair = new DerReader(rdn.next(DerTag.Sequence, 'AttributeTypeAndValue'), 'AttributeTypeAndValue');
      const type = decodeObjectIdentifier(pair.next(DerTag.ObjectIdentifier, 'type'));
      const valueElement = pair.next(undefined, 'value');
      pair.end();
      checkAttributeValue(valueElement);
      const value = STRING_TAGS.has(valueElement.tag) ? decodeString(valueElement) : `#${hex(derEncoding(valueElement))}`;
      attributes.push({ type, value });
      if (type === Oid.commonName) commonNames.push(value);
    }
  }
  return { der: derEncoding(element), attributes, commonNames };
}

const SHORT_LABELS = new Map<string, string>([
  [Oid.commonName, 'CN'],
  [Oid.organizationName, 'O'],
  [Oid.organizationalUnitName, 'OU'],
  [Oid.countryName, 'C'],
  [Oid.stateOrProvinceName, 'ST'],
  [Oid.localityName, 'L'],
  [Oid.serialNumber, 'serialNumber'],
  [Oid.emailAddress, 'emailAddress'],
]);

/** A one-line rendering such as `CN=root, O=example` for messages; `(empty)` for the empty Name. */
export function formatName(name: DistinguishedName): string {
  if (name.attributes.length === 0) return '(empty)';
  return name.attributes.map(({ type, value }) => `${SHORT_LABELS.get(type) ?? type}=${value}`).join(', ');
}
