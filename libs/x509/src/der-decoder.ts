import { DerError, DerErrorCode } from './errors.js';
import { DerTag, describeTag, isConstructed } from './der-tag.js';

/** One decoded element: a view into `source`, nothing copied. */
export interface DerElement {
  /** The identifier octet. */
  readonly tag: number;
  readonly source: Uint8Array;
  /** Offset of the identifier octet in `source`. */
  readonly start: number;
  /** Offset of the first content byte in `source`. */
  readonly contentStart: number;
  /** Offset just past the last content byte in `source`. */
  readonly end: number;
}

/** Reads the element at `offset`, which must end no later than `limit`. */
export function readDerElement(source: Uint8Array, offset: number, limit: number = source.length): DerElement {
  if (offset >= limit) throw new DerError(DerErrorCode.Truncated, 'expected an element, found end of input', offset);
  const tag = source[offset]!;
  if ((tag & 0x1f) === 0x1f) {
    throw new DerError(DerErrorCode.UnexpectedTag, 'high tag numbers are not used in certificates', offset);
  }
  if (offset + 1 >= limit) throw new DerError(DerErrorCode.Truncated, `${describeTag(tag)} has no length`, offset);
  const first = source[offset + 1]!;
  let contentStart = offset + 2;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const lengthBytes = first & 0x7f;
    if (lengthBytes === 0) throw new DerError(DerErrorCode.BadLength, 'indefinite length is not DER', offset + 1);
    if (lengthBytes > 4) throw new DerError(DerErrorCode.BadLength, `length of ${lengthBytes} bytes is too large`, offset + 1);
    if (contentStart + lengthBytes > limit) {
      throw new DerError(DerErrorCode.Truncated, `${describeTag(tag)} length is cut off`, offset + 1);
    }
    if (source[contentStart] === 0) throw new DerError(DerErrorCode.BadLength, 'length has a leading zero byte', offset + 1);
    length = 0;
    for (let i = 0; i < lengthBytes; i++) length = length * 0x100 + source[contentStart + i]!;
    if (length < 0x80) throw new DerError(DerErrorCode.BadLength, 'short length in long form is not DER', offset + 1);
    contentStart += lengthBytes;
  }
  const end = contentStart + length;
  if (end > limit) {
    throw new DerError(
      DerErrorCode.Truncated,
      `${describeTag(tag)} declares ${length} content bytes but ${limit - contentStart} remain`,
      offset,
    );
  }
  return { tag, source, start: offset, contentStart, end };
}

/** Decodes `bytes` as exactly one element; trailing bytes are an error. */
export function decodeDer(bytes: Uint8Array): DerElement {
  const element = readDerElement(bytes, 0, bytes.length);
  if (element.end !== bytes.length) {
    throw new DerError(DerErrorCode.TrailingBytes, `${bytes.length - element.end} bytes follow the element`, element.end);
  }
  return element;
}

/** The content bytes of an element (a view). */
export function derContent(element: DerElement): Uint8Array {
  return element.source.subarray(element.contentStart, element.end);
}

/** The full encoding of an element, header included (a view). */
export function derEncoding(element: DerElement): Uint8Array {
  return element.source.subarray(element.start, element.end);
}

/** Throws unless `element` has identifier `tag`. `what` names the field for the message. */
export function expectTag(element: DerElement, tag: number, what: string): DerElement {
  if (element.tag !== tag) {
    throw new DerError(
      DerErrorCode.UnexpectedTag,
      `${what}: expected ${describeTag(tag)}, found ${describeTag(element.tag)}`,
      element.start,
    );
  }
  return element;
}

/** Reads the elements inside a constructed element one after the other. */
export class DerReader {
  private offset: number;
  private readonly limit: number;
  private readonly source: Uint8Array;

  constructor(
    parent: DerElement,
    private readonly what: string,
  ) {
    if (!isConstructed(parent.tag)) {
      throw new DerError(DerErrorCode.UnexpectedTag, `${what}: ${describeTag(parent.tag)} is not constructed`, parent.start);
    }
    this.source = parent.source;
    this.offset = parent.contentStart;
    this.limit = parent.end;
  }

  get hasMore(): boolean {
    return this.offset < this.limit;
  }

  /** The identifier octet of the next element, or undefined at the end. */
  peekTag(): number | undefined {
    return this.hasMore ? this.source[this.offset] : undefined;
  }

  /** The next element; with `tag`, it must have that identifier. */
  next(tag?: number, field = 'element'): DerElement {
    if (!this.hasMore) {
      throw new DerError(DerErrorCode.Truncated, `${this.what}: ${field} is missing`, this.offset);
    }
    const element = readDerElement(this.source, this.offset, this.limit);
    if (tag !== undefined) expectTag(element, tag, `${this.what} ${field}`);
    this.offset = element.end;
    return element;
  }

  /** The next element if it has identifier `tag`, else undefined (nothing consumed). */
  optional(tag: number): DerElement | undefined {
    return this.peekTag() === tag ? this.next(tag) : undefined;
  }

  /** Throws if elements remain. */
  end(): void {
    if (this.hasMore) {
      throw new DerError(DerErrorCode.TrailingBytes, `${this.what}: unexpected ${describeTag(this.source[this.offset]!)}`, this.offset);
    }
  }
}

/** All elements inside a constructed element. */
export function derChildren(parent: DerElement, what = 'constructed element'): DerElement[] {
  const reader = new DerReader(parent, what);
  const children: DerElement[] = [];
  while (reader.hasMore) children.push(reader.next());
  return children;
}

function invalid(element: DerElement, message: string): DerError {
  return new DerError(DerErrorCode.InvalidValue, message, element.start);
}

function integerContent(element: DerElement): Uint8Array {
  expectTag(element, DerTag.Integer, 'INTEGER');
  const content = derContent(element);
  if (content.length === 0) throw invalid(element, 'INTEGER has no content');
  if (content.length > 1) {
    const first = content[0]!;
    const secondHigh = content[1]! & 0x80;
    if ((first === 0x00 && secondHigh === 0) || (first === 0xff && secondHigh !== 0)) {
      throw invalid(element, 'INTEGER is not minimally encoded');
    }
  }
  return content;
}

export function decodeInteger(element: DerElement): bigint {
  const content = integerContent(element);
  let value = 0n;
  for (const byte of content) value = (value << 8n) | BigInt(byte);
  if ((content[0]! & 0x80) !== 0) value -= 1n << BigInt(content.length * 8);
  return value;
}

/** An INTEGER that must lie in `[min, max]` (safe integers). */
export function decodeSmallInteger(element: DerElement, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = decodeInteger(element);
  if (value < BigInt(min) || value > BigInt(max)) throw invalid(element, `INTEGER ${value} is outside ${min}..${max}`);
  return Number(value);
}

/** The magnitude bytes of a non-negative INTEGER, without the sign byte. */
export function decodeUnsignedIntegerBytes(element: DerElement): Uint8Array {
  const content = integerContent(element);
  if ((content[0]! & 0x80) !== 0) throw invalid(element, 'INTEGER must not be negative');
  return content[0] === 0 && content.length > 1 ? content.subarray(1) : content;
}

export function decodeBoolean(element: DerElement): boolean {
  expectTag(element, DerTag.Boolean, 'BOOLEAN');
  const content = derContent(element);
  if (content.length !== 1) throw invalid(element, 'BOOLEAN must have one content byte');
  if (content[0] === 0xff) return true;
  if (content[0] === 0x00) return false;
  throw invalid(element, 'BOOLEAN TRUE must be 0xFF in DER');
}

export function decodeNull(element: DerElement): null {
  expectTag(element, DerTag.Null, 'NULL');
  if (element.end !== element.contentStart) throw invalid(element, 'NULL must be empty');
  return null;
}

/** An OBJECT IDENTIFIER as dotted text. */
export function decodeObjectIdentifier(element: DerElement): string {
  expectTag(element, DerTag.ObjectIdentifier, 'OBJECT IDENTIFIER');
  const content = derContent(element);
  if (content.length === 0) throw invalid(element, 'OBJECT IDENTIFIER is empty');
  const arcs: string[] = [];
  let value = 0;
  let big: bigint | undefined;
  let arcStart = true;
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!;
    if (arcStart && byte === 0x80) throw invalid(element, 'OBJECT IDENTIFIER arc is not minimally encoded');
    arcStart = false;
    if (big === undefined && value > 2 ** 45) big = BigInt(value);
    if (big === undefined) value = value * 128 + (byte & 0x7f);
    else big = (big << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) !== 0) continue;
    if (arcs.length === 0) {
      const combined = big ?? BigInt(value);
      const first = combined < 40n ? 0n : combined < 80n ? 1n : 2n;
      arcs.push(String(first), String(combined - first * 40n));
    } else {
      arcs.push(big === undefined ? String(value) : String(big));
    }
    value = 0;
    big = undefined;
    arcStart = true;
  }
  if (!arcStart) throw invalid(element, 'OBJECT IDENTIFIER ends inside an arc');
  return arcs.join('.');
}

/** A BIT STRING's bytes and the count of padding bits in its last byte. */
export interface DecodedBitString {
  readonly bytes: Uint8Array;
  readonly unusedBits: number;
}

export function decodeBitString(element: DerElement): DecodedBitString {
  expectTag(element, DerTag.BitString, 'BIT STRING');
  const content = derContent(element);
  const unusedBits = content[0];
  if (unusedBits === undefined) throw invalid(element, 'BIT STRING has no unused-bits byte');
  if (unusedBits > 7 || (content.length === 1 && unusedBits !== 0)) {
    throw invalid(element, `BIT STRING has an invalid unused-bits count ${unusedBits}`);
  }
  const bytes = content.subarray(1);
  if (unusedBits > 0 && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) {
    throw invalid(element, 'BIT STRING padding bits must be zero in DER');
  }
  return { bytes, unusedBits };
}

/** A BIT STRING that must hold whole bytes (keys, signatures). */
export function decodeOctetAlignedBitString(element: DerElement): Uint8Array {
  const { bytes, unusedBits } = decodeBitString(element);
  if (unusedBits !== 0) throw invalid(element, 'BIT STRING must hold whole bytes');
  return bytes;
}

export function decodeOctetString(element: DerElement): Uint8Array {
  expectTag(element, DerTag.OctetString, 'OCTET STRING');
  return derContent(element);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');
const utf16be = new TextDecoder('utf-16be', { fatal: true });
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function ascii(element: DerElement, content: Uint8Array, type: string): string {
  for (const byte of content) if (byte > 0x7f) throw invalid(element, `${type} holds a non-ASCII byte`);
  return latin1.decode(content);
}

/** The text of a UTF8String, PrintableString, IA5String, or one of the legacy string types of names. */
export function decodeString(element: DerElement): string {
  const content = derContent(element);
  try {
    switch (element.tag) {
      case DerTag.Utf8String:
        return utf8.decode(content);
      case DerTag.PrintableString: {
        const text = ascii(element, content, 'PrintableString');
        if (!PRINTABLE.test(text)) throw invalid(element, 'PrintableString holds a character outside its set');
        return text;
      }
      case DerTag.Ia5String:
      case DerTag.VisibleString:
      case DerTag.NumericString:
        return ascii(element, content, describeTag(element.tag));
      case DerTag.TeletexString:
        return latin1.decode(content);
      case DerTag.BmpString:
        return utf16be.decode(content);
      default:
        throw new DerError(DerErrorCode.UnexpectedTag, `expected a string, found ${describeTag(element.tag)}`, element.start);
    }
  } catch (error) {
    if (error instanceof DerError) throw error;
    throw invalid(element, `${describeTag(element.tag)} is not valid text`);
  }
}

/** The text of an IA5String (ASCII). */
export function decodeIa5String(element: DerElement): string {
  expectTag(element, DerTag.Ia5String, 'IA5String');
  return ascii(element, derContent(element), 'IA5String');
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A UTCTime (`YYMMDDHHMMSSZ`, years 1950..2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as RFC 5280 requires them. */
export function decodeTime(element: DerElement): Date {
  const content = derContent(element);
  let text: string;
  let year: number;
  if (element.tag === DerTag.UtcTime) {
    text = ascii(element, content, 'UTCTime');
    if (!/^\d{12}Z$/.test(text)) throw invalid(element, `UTCTime ${JSON.stringify(text)} is not YYMMDDHHMMSSZ`);
    const yy = Number(text.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    text = text.slice(2);
  } else if (element.tag === DerTag.GeneralizedTime) {
    text = ascii(element, content, 'GeneralizedTime');
    if (!/^\d{14}Z$/.test(text)) throw invalid(element, `GeneralizedTime ${JSON.stringify(text)} is not YYYYMMDDHHMMSSZ`);
    year = Number(text.slice(0, 4));
    text = text.slice(4);
  } else {
    throw new DerError(DerErrorCode.UnexpectedTag, `expected UTCTime or GeneralizedTime, found ${describeTag(element.tag)}`, element.start);
  }
  const month = Number(text.slice(0, 2));
  const day = Number(text.slice(2, 4));
  const hour = Number(text.slice(4, 6));
  const minute = Number(text.slice(6, 8));
  const second = Number(text.slice(8, 10));
  const leapDayInvalid = month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0));
  if (month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]! || leapDayInvalid || hour > 23 || minute > 59 || second > 59) {
    throw invalid(element, 'time has an out-of-range field');
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date;
}
