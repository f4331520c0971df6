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

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    bytes.push(Number(part));
  }
  return bytes;
}

function parseIpv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  // A dotted quad may only end the address: in the part after '::' if there is one.
  const groupsOf = (half: string, mayEndInQuad: boolean): number[] | undefined => {
    if (half === '') return [];
    const words: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (mayEndInQuad && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        words.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return words.flatMap((word) => [word >> 8, word & 0xff]);
}

/** The 4 or 16 bytes of a textual IPv4 or IPv6 address, or undefined if it is neither. */
export function ipAddressToBytes(text: string): Uint8Array | undefined {
  const bytes = text.includes(':') ? parseIpv6(text) : parseIpv4(text);
  return bytes === undefined ? undefined : Uint8Array.from(bytes);
}

/** Text of a 4-byte (dotted quad) or 16-byte (RFC 5952, IPv4-mapped as `::ffff:a.b.c.d`) address. */
export function ipAddressToText(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new DerError(DerErrorCode.InvalidValue, `iPAddress must be 4 or 16 bytes, got ${bytes.length}`);
  if (bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hexWords = words.map((word) => word.toString(16));
  if (bestStart < 0) return hexWords.join(':');
  return `${hexWords.slice(0, bestStart).join(':')}::${hexWords.slice(bestStart + bestLength).join(':')}`;
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
