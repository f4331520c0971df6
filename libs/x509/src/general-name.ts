import { formatIp, isIpAddress, parseIp } from '@meshbus/core';
import { DerError, DerErrorCode } from './errors.js';
import { DerTag, contextTag } from './der-tag.js';
import { DerReader, derContent, derEncoding, expectTag } from './der-decoder.js';
import type { DerElement } from './der-decoder.js';
import { derElement, derSequence } from './der-encoder.js';

/** A subjectAltName entry this library can write. */
export type EncodableGeneralName =
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'ip'; readonly value: string }
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string };

/**
 * A decoded subjectAltName entry: dNSName, iPAddress (as text), rfc822Name, uniformResourceIdentifier,
 * or any other GeneralName choice, kept as its context tag number and encoding.
 */
export type GeneralName =
  | EncodableGeneralName
  | { readonly type: 'other'; readonly tagNumber: number; readonly der: Uint8Array };

const GeneralNameTag = {
  rfc822Name: 1,
  dNSName: 2,
  uniformResourceIdentifier: 6,
  iPAddress: 7,
} as const;

const textEncoder = new TextEncoder();

function ia5Bytes(type: string, value: string): Uint8Array {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) {
      throw new DerError(DerErrorCode.Unencodable, `${type} name ${JSON.stringify(value)} must be ASCII`);
    }
  }
  if (value.length === 0) throw new DerError(DerErrorCode.Unencodable, `${type} name must not be empty`);
  return textEncoder.encode(value);
}

/** The 4 or 16 bytes of a textual IPv4 or IPv6 address, or undefined if it is neither. */
export function ipAddressToBytes(text: string): Uint8Array | undefined {
  if (!isIpAddress(text)) return undefined;
  const ip = parseIp(text);
  if (ip.family === 4) return Uint8Array.of(ip.value >>> 24, (ip.value >>> 16) & 0xff, (ip.value >>> 8) & 0xff, ip.value & 0xff);
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, ip.high, false);
  view.setBigUint64(8, ip.low, false);
  return bytes;
}

/** Text of a 4-byte (dotted quad) or 16-byte (RFC 5952, IPv4-mapped as `::ffff:a.b.c.d`) address. */
export function ipAddressToText(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new DerError(DerErrorCode.InvalidValue, `iPAddress must be 4 or 16 bytes, got ${bytes.length}`);
  if (bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  return formatIp({ family: 6, high: view.getBigUint64(0, false), low: view.getBigUint64(8, false) });
}

export function encodeGeneralName(name: EncodableGeneralName): Uint8Array {
  switch (name.type) {
    case 'dns':
      return derElement(contextTag(GeneralNameTag.dNSName, false), ia5Bytes('dNSName', name.value));
    case 'email':
      return derElement(contextTag(GeneralNameTag.rfc822Name, false), ia5Bytes('rfc822Name', name.value));
    case 'uri':
      return derElement(contextTag(GeneralNameTag.uniformResourceIdentifier, false), ia5Bytes('URI', name.value));
    case 'ip': {
      const bytes = ipAddressToBytes(name.value);
      if (bytes === undefined) throw new DerError(DerErrorCode.Unencodable, `${JSON.stringify(name.value)} is not an IP address`);
      return derElement(contextTag(GeneralNameTag.iPAddress, false), bytes);
    }
  }
}

/** GeneralNames: a SEQUENCE OF GeneralName (the value of subjectAltName). */
export function encodeGeneralNames(names: readonly EncodableGeneralName[]): Uint8Array {
  return derSequence(...names.map(encodeGeneralName));
}

const latin1 = new TextDecoder('latin1');

function ia5Text(element: DerElement, type: string): string {
  const content = derContent(element);
  for (const byte of content) {
    if (byte > 0x7f) throw new DerError(DerErrorCode.InvalidValue, `${type} holds a non-ASCII byte`, element.start);
  }
  return latin1.decode(content);
}

export function decodeGeneralNames(element: DerElement): GeneralName[] {
  const reader = new DerReader(expectTag(element, DerTag.Sequence, 'GeneralNames'), 'GeneralNames');
  const names: GeneralName[] = [];
  if (!reader.hasMore) throw new DerError(DerErrorCode.InvalidValue, 'GeneralNames must not be empty', element.start);
  while (reader.hasMore) {
    const entry = reader.next();
    if ((entry.tag & 0xc0) !== 0x80) {
      throw new DerError(DerErrorCode.UnexpectedTag, 'GeneralName must have a context tag', entry.start);
    }
    const tagNumber = entry.tag & 0x1f;
    const primitive = (entry.tag & 0x20) === 0;
    if (primitive && tagNumber === GeneralNameTag.dNSName) names.push({ type: 'dns', value: ia5Text(entry, 'dNSName') });
    else if (primitive && tagNumber === GeneralNameTag.rfc822Name) names.push({ type: 'email', value: ia5Text(entry, 'rfc822Name') });
    else if (primitive && tagNumber === GeneralNameTag.uniformResourceIdentifier) names.push({ type: 'uri', value: ia5Text(entry, 'URI') });
    else if (primitive && tagNumber === GeneralNameTag.iPAddress) names.push({ type: 'ip', value: ipAddressToText(derContent(entry)) });
    else names.push({ type: 'other', tagNumber, der: derEncoding(entry) });
  }
  return names;
}
