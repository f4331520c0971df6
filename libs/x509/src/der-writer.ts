import { DerError, DerErrorCode } from './errors.js';
import { DerTag } from './der-tag.js';

/**
 * Writes one DER structure front to back into a single growing buffer, for hot paths where the
 * per-element allocations of the `der*` encoder functions add up. Constructed elements are opened
 * with {@link begin} and closed with {@link end}; a length that needs the long form moves the
 * content right by the extra header bytes when the element is closed.
 */
export class DerWriter {
  private buffer: Uint8Array;
  private offset = 0;
  private readonly open: number[] = [];

  constructor(initialCapacity = 1024) {
    this.buffer = new Uint8Array(initialCapacity);
  }

  private reserve(extra: number): void {
    if (this.offset + extra <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.offset + extra));
    grown.set(this.buffer.subarray(0, this.offset));
    this.buffer = grown;
  }

  /** Forgets everything written, keeping the buffer, so that one writer can serve many structures in turn. */
  reset(): this {
    this.offset = 0;
    this.open.length = 0;
    return this;
  }

  /** How many bytes have been written so far. */
  get length(): number {
    return this.offset;
  }

  /**
   * A view of the bytes written from offset `start` on, such as a closed element to sign. It shares
   * this writer's buffer: use it before writing more.
   */
  written(start: number): Uint8Array {
    return this.buffer.subarray(start, this.offset);
  }

  /** Opens a constructed element with identifier `tag`. */
  begin(tag: number): this {
    this.reserve(2);
    this.buffer[this.offset] = tag;
    // One length byte is assumed; end() widens it if the content turns out longer.
    this.offset += 2;
    this.open.push(this.offset);
    return this;
  }

  /** Closes the element opened last, writing its length. */
  end(): this {
    const contentStart = this.open.pop();
    if (contentStart === undefined) throw new DerError(DerErrorCode.Unencodable, 'end() without begin()');
    const length = this.offset - contentStart;
    if (length < 0x80) {
      this.buffer[contentStart - 1] = length;
      return this;
    }
    const lengthBytes = length < 0x100 ? 1 : length < 0x10000 ? 2 : length < 0x1000000 ? 3 : 4;
    this.reserve(lengthBytes);
    this.buffer.copyWithin(contentStart + lengthBytes, contentStart, this.offset);
    this.buffer[contentStart - 1] = 0x80 | lengthBytes;
    for (let i = lengthBytes - 1, rest = length; i >= 0; i--, rest = Math.floor(rest / 0x100)) {
      this.buffer[contentStart + i] = rest & 0xff;
    }
    this.offset += lengthBytes;
    return this;
  }

  /** Appends bytes that are already DER (a constant part, a whole element). */
  raw(encoded: Uint8Array): this {
    this.reserve(encoded.length);
    this.buffer.set(encoded, this.offset);
    this.offset += encoded.length;
    return this;
  }

  /** Appends a primitive element with identifier `tag` and `content`. */
  primitive(tag: number, content: Uint8Array): this {
    return this.begin(tag).raw(content).end();
  }

  /** Appends a primitive element whose content is ASCII `text` (IA5String, dNSName and similar). */
  ascii(tag: number, text: string): this {
    this.begin(tag);
    this.reserve(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) throw new DerError(DerErrorCode.Unencodable, `${JSON.stringify(text)} must be ASCII`);
      this.buffer[this.offset++] = code;
    }
    return this.end();
  }

  /** Appends a non-negative INTEGER from big-endian magnitude bytes. */
  unsignedInteger(magnitude: Uint8Array): this {
    let start = 0;
    while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
    this.begin(DerTag.Integer);
    if (magnitude.length === 0 || (magnitude[start]! & 0x80) !== 0) {
      this.reserve(1);
      this.buffer[this.offset++] = 0;
    }
    return this.raw(magnitude.subarray(start)).end();
  }

  /** Appends an X.509 Time: UTCTime for 1950..2049, GeneralizedTime otherwise; seconds precision. */
  time(date: Date): this {
    const year = date.getUTCFullYear();
    if (Number.isNaN(year) || year < 0 || year > 9999) throw new DerError(DerErrorCode.Unencodable, `cannot encode time ${String(date)}`);
    const utc = year >= 1950 && year <= 2049;
    this.begin(utc ? DerTag.UtcTime : DerTag.GeneralizedTime);
    this.reserve(15);
    if (!utc) this.digits(Math.floor(year / 100));
    this.digits(year % 100);
    this.digits(date.getUTCMonth() + 1);
    this.digits(date.getUTCDate());
    this.digits(date.getUTCHours());
    this.digits(date.getUTCMinutes());
    this.digits(date.getUTCSeconds());
    this.buffer[this.offset++] = 0x5a; // 'Z'
    return this.end();
  }

  private digits(value: number): void {
    this.buffer[this.offset++] = 0x30 + Math.floor(value / 10);
    this.buffer[this.offset++] = 0x30 + (value % 10);
  }

  /** The bytes written so far, as a new array. Every begin() must have been closed. */
  finish(): Uint8Array {
    if (this.open.length > 0) throw new DerError(DerErrorCode.Unencodable, `${this.open.length} element(s) left open`);
    return this.buffer.slice(0, this.offset);
  }
}
