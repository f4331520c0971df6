import { DerError, DerErrorCode } from './errors.js';
import { DerTag, contextTag } from './der-tag.js';

function headerLength(contentLength: number): number {
  if (contentLength < 0x80) return 2;
  if (contentLength < 0x100) return 3;
  if (contentLength < 0x10000) return 4;
  if (contentLength < 0x1000000) return 5;
  return 6;
}

function writeHeader(out: Uint8Array, tag: number, contentLength: number): number {
  out[0] = tag;
  if (contentLength < 0x80) {
    out[1] = contentLength;
    return 2;
  }
  const lengthBytes = headerLength(contentLength) - 2;
  out[1] = 0x80 | lengthBytes;
  for (let i = lengthBytes; i >= 1; i--) {
    out[1 + i] = contentLength & 0xff;
    contentLength = Math.floor(contentLength / 0x100);
  }
  return 2 + lengthBytes;
}

/** One element: identifier octet `tag`, DER length, `content`. */
export function derElement(tag: number, content: Uint8Array): Uint8Array {
  const out = new Uint8Array(headerLength(content.length) + content.length);
  out.set(content, writeHeader(out, tag, content.length));
  return out;
}

/** A constructed element whose content is the concatenation of `parts` (already encoded). */
export function derConstructed(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  let contentLength = 0;
  for (const part of parts) contentLength += part.length;
  const out = new Uint8Array(headerLength(contentLength) + contentLength);
  let offset = writeHeader(out, tag, contentLength);
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function derSequence(...elements: Uint8Array[]): Uint8Array {
  return derConstructed(DerTag.Sequence, elements);
}

function compareForSetOf(a: Uint8Array, b: Uint8Array): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** A SET OF; DER orders the encoded elements ascending (X.690 11.6). */
export function derSet(...elements: Uint8Array[]): Uint8Array {
  const sorted = elements.length > 1 ? [...elements].sort(compareForSetOf) : elements;
  return derConstructed(DerTag.Set, sorted);
}

/** An INTEGER in minimal two's complement. */
export function derInteger(value: bigint | number): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new DerError(DerErrorCode.Unencodable, `INTEGER must be a safe integer, got ${value}`);
  }
  let remaining = BigInt(value);
  const bytes: number[] = [];
  // Emit low bytes until the remaining value is all sign bits and the last byte carries that sign.
  for (;;) {
    const byte = Number(remaining & 0xffn);
    bytes.push(byte);
    remaining >>= 8n;
    const signBitSet = (byte & 0x80) !== 0;
    if ((remaining === 0n && !signBitSet) || (remaining === -1n && signBitSet)) break;
  }
  return derElement(DerTag.Integer, Uint8Array.from(bytes.reverse()));
}

/** A non-negative INTEGER from big-endian magnitude bytes (such as a serial number). */
export function derUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const significant = magnitude.subarray(start);
  if (significant.length === 0) return derElement(DerTag.Integer, Uint8Array.of(0));
  if ((significant[0]! & 0x80) === 0) return derElement(DerTag.Integer, significant);
  const content = new Uint8Array(significant.length + 1);
  content.set(significant, 1);
  return derElement(DerTag.Integer, content);
}

const oidCache = new Map<string, Uint8Array>();

function pushBase128(out: number[], arc: bigint): void {
  const groups: number[] = [Number(arc & 0x7fn)];
  for (arc >>= 7n; arc > 0n; arc >>= 7n) groups.push(Number(arc & 0x7fn) | 0x80);
  for (let i = groups.length - 1; i >= 0; i--) out.push(groups[i]!);
}

/** An OBJECT IDENTIFIER from dotted text such as `2.5.29.17`. */
export function derObjectIdentifier(oid: string): Uint8Array {
  const cached = oidCache.get(oid);
  if (cached !== undefined) return cached;
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(oid)) {
    throw new DerError(DerErrorCode.Unencodable, `not a dotted OBJECT IDENTIFIER: ${JSON.stringify(oid)}`);
  }
  const arcs = oid.split('.').map((arc) => BigInt(arc));
  const first = arcs[0]!;
  const second = arcs[1]!;
  if (first < 2n && second > 39n) {
    throw new DerError(DerErrorCode.Unencodable, `second arc of ${oid} must be below 40`);
  }
  const content: number[] = [];
  pushBase128(content, first * 40n + second);
  for (const arc of arcs.slice(2)) pushBase128(content, arc);
  const encoded = derElement(DerTag.ObjectIdentifier, Uint8Array.from(content));
  oidCache.set(oid, encoded);
  return encoded;
}

/** A BIT STRING holding `bytes`, whose last `unusedBits` bits are padding. */
export function derBitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new DerError(DerErrorCode.Unencodable, `invalid BIT STRING unused bit count ${unusedBits}`);
  }
  const content = new Uint8Array(bytes.length + 1);
  content[0] = unusedBits;
  content.set(bytes, 1);
  return derElement(DerTag.BitString, content);
}

export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derElement(DerTag.OctetString, bytes);
}

const NULL = Uint8Array.of(DerTag.Null, 0);
const TRUE = Uint8Array.of(DerTag.Boolean, 1, 0xff);
const FALSE = Uint8Array.of(DerTag.Boolean, 1, 0x00);

export function derNull(): Uint8Array {
  return NULL.slice();
}

export function derBoolean(value: boolean): Uint8Array {
  return (value ? TRUE : FALSE).slice();
}

const textEncoder = new TextEncoder();

export function derUtf8String(text: string): Uint8Array {
  return derElement(DerTag.Utf8String, textEncoder.encode(text));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

export function derPrintableString(text: string): Uint8Array {
  if (!PRINTABLE.test(text)) {
    throw new DerError(DerErrorCode.Unencodable, `${JSON.stringify(text)} has characters outside PrintableString`);
  }
  return derElement(DerTag.PrintableString, textEncoder.encode(text));
}

export function derIa5String(text: string): Uint8Array {
  if (!isAscii(text)) {
    throw new DerError(DerErrorCode.Unencodable, `${JSON.stringify(text)} has characters outside IA5String (ASCII)`);
  }
  return derElement(DerTag.Ia5String, textEncoder.encode(text));
}

function twoDigits(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

function timeDigits(date: Date, yearDigits: string): Uint8Array {
  const text =
    yearDigits +
    twoDigits(date.getUTCMonth() + 1) +
    twoDigits(date.getUTCDate()) +
    twoDigits(date.getUTCHours()) +
    twoDigits(date.getUTCMinutes()) +
    twoDigits(date.getUTCSeconds()) +
    'Z';
  return textEncoder.encode(text);
}

function checkDate(date: Date): void {
  if (Number.isNaN(date.getTime())) throw new DerError(DerErrorCode.Unencodable, 'invalid Date');
}

/** UTCTime `YYMMDDHHMMSSZ`; only years 1950 to 2049. Milliseconds are dropped. */
export function derUtcTime(date: Date): Uint8Array {
  checkDate(date);
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) {
    throw new DerError(DerErrorCode.Unencodable, `UTCTime cannot hold year ${year}`);
  }
  return derElement(DerTag.UtcTime, timeDigits(date, twoDigits(year % 100)));
}

/** GeneralizedTime `YYYYMMDDHHMMSSZ`, without fractional seconds. Milliseconds are dropped. */
export function derGeneralizedTime(date: Date): Uint8Array {
  checkDate(date);
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) {
    throw new DerError(DerErrorCode.Unencodable, `GeneralizedTime cannot hold year ${year}`);
  }
  return derElement(DerTag.GeneralizedTime, timeDigits(date, String(year).padStart(4, '0')));
}

/** An X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 and before 1950 (RFC 5280 4.1.2.5). */
export function derTime(date: Date): Uint8Array {
  checkDate(date);
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? derUtcTime(date) : derGeneralizedTime(date);
}

/** `[tagNumber] EXPLICIT`: a constructed context tag wrapping the encoded `element`. */
export function derExplicit(tagNumber: number, element: Uint8Array): Uint8Array {
  return derElement(contextTag(tagNumber, true), element);
}

/**
 * `[tagNumber] IMPLICIT`: the encoded `element` with its identifier replaced by the context tag,
 * keeping its primitive or constructed form.
 */
export function derImplicit(tagNumber: number, element: Uint8Array): Uint8Array {
  const first = element[0];
  if (first === undefined) throw new DerError(DerErrorCode.Unencodable, 'cannot tag an empty encoding');
  const out = element.slice();
  out[0] = contextTag(tagNumber, (first & 0x20) !== 0);
  return out;
}
