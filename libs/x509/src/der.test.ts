import { describe, expect, it } from 'vitest';
import { DerError } from './errors.js';
import { DerTag, contextTag } from './der-tag.js';
import {
  derBitString,
  derBoolean,
  derExplicit,
  derGeneralizedTime,
  derIa5String,
  derImplicit,
  derInteger,
  derNull,
  derObjectIdentifier,
  derOctetString,
  derPrintableString,
  derSequence,
  derSet,
  derTime,
  derUnsignedInteger,
  derUtcTime,
  derUtf8String,
} from './der-encoder.js';
import {
  DerReader,
  decodeBitString,
  decodeBoolean,
  decodeDer,
  decodeInteger,
  decodeNull,
  decodeObjectIdentifier,
  decodeOctetString,
  decodeString,
  decodeTime,
  decodeUnsignedIntegerBytes,
  derChildren,
  derContent,
} from './der-decoder.js';
import { DerWriter } from './der-writer.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

function derErrorCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DerError);
    expect((error as DerError).name).toBe('DerError');
    return (error as DerError).code;
  }
  throw new Error('expected a DerError');
}

describe('INTEGER', () => {
  it.each([
    [0n, '020100'],
    [127n, '02017f'],
    [128n, '02020080'],
    [255n, '020200ff'],
    [256n, '02020100'],
    [-1n, '0201ff'],
    [-128n, '020180'],
    [-129n, '0202ff7f'],
  ])('encodes %s minimally and decodes it back', (value, encoded) => {
    expect(hex(derInteger(value))).toBe(encoded);
    expect(decodeInteger(decodeDer(fromHex(encoded)))).toBe(value);
  });

  it('round-trips a positive 128-bit serial whose top bit is set, adding one sign byte', () => {
    const magnitude = fromHex('ff'.repeat(16));
    const encoded = derUnsignedInteger(magnitude);
    expect(hex(encoded)).toBe(`021100${'ff'.repeat(16)}`);
    expect(decodeInteger(decodeDer(encoded))).toBe((1n << 128n) - 1n);
    expect(hex(decodeUnsignedIntegerBytes(decodeDer(encoded)))).toBe('ff'.repeat(16));
  });

  it('drops leading zero bytes of an unsigned magnitude', () => {
    expect(hex(derUnsignedInteger(fromHex('00000102')))).toBe('02020102');
    expect(hex(derUnsignedInteger(fromHex('0000')))).toBe('020100');
  });

  it('rejects non-minimal and empty encodings', () => {
    expect(derErrorCode(() => decodeInteger(decodeDer(fromHex('0202007f'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeInteger(decodeDer(fromHex('0202ff80'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeInteger(decodeDer(fromHex('0200'))))).toBe('InvalidValue');
  });

  it('rejects unsafe numbers', () => {
    expect(derErrorCode(() => derInteger(2 ** 60))).toBe('Unencodable');
    expect(derErrorCode(() => derInteger(1.5))).toBe('Unencodable');
  });
});

describe('OBJECT IDENTIFIER', () => {
  it.each([
    ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
    ['2.5.29.17', '0603551d11'],
    ['1.3.6.1.5.5.7.3.1', '06082b06010505070301'],
    ['2.999.3', '0603883703'],
  ])('%s', (oid, encoded) => {
    expect(hex(derObjectIdentifier(oid))).toBe(encoded);
    expect(decodeObjectIdentifier(decodeDer(fromHex(encoded)))).toBe(oid);
  });

  it('round-trips arcs beyond 2^53', () => {
    const oid = '2.25.329800735698586629295641978511506172918';
    expect(decodeObjectIdentifier(decodeDer(derObjectIdentifier(oid)))).toBe(oid);
  });

  it('rejects malformed text and content', () => {
    expect(derErrorCode(() => derObjectIdentifier('1'))).toBe('Unencodable');
    expect(derErrorCode(() => derObjectIdentifier('1.40'))).toBe('Unencodable');
    expect(derErrorCode(() => derObjectIdentifier('1.2.03'))).toBe('Unencodable');
    expect(derErrorCode(() => decodeObjectIdentifier(decodeDer(fromHex('0600'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeObjectIdentifier(decodeDer(fromHex('0602 2a86'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeObjectIdentifier(decodeDer(fromHex('0603 2a8001'))))).toBe('InvalidValue');
  });
});

describe('strings, BOOLEAN, NULL, OCTET STRING, BIT STRING', () => {
  it('round-trips each string type', () => {
    expect(decodeString(decodeDer(derUtf8String('grüße, 世界')))).toBe('grüße, 世界');
    expect(decodeString(decodeDer(derPrintableString("Acme (EU) Ltd.-1 +:=?'")))).toBe("Acme (EU) Ltd.-1 +:=?'");
    expect(decodeString(decodeDer(derIa5String('ops@example.com')))).toBe('ops@example.com');
    expect(decodeDer(derUtf8String('x')).tag).toBe(DerTag.Utf8String);
    expect(decodeDer(derPrintableString('x')).tag).toBe(DerTag.PrintableString);
    expect(decodeDer(derIa5String('x')).tag).toBe(DerTag.Ia5String);
  });

  it('refuses characters outside a string type', () => {
    expect(derErrorCode(() => derPrintableString('a@b'))).toBe('Unencodable');
    expect(derErrorCode(() => derIa5String('é'))).toBe('Unencodable');
    expect(derErrorCode(() => decodeString(decodeDer(fromHex('0c02c328'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeString(decodeDer(fromHex('130140'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeString(decodeDer(fromHex('020100'))))).toBe('UnexpectedTag');
  });

  it('encodes BOOLEAN as DER requires and rejects other true values', () => {
    expect(hex(derBoolean(true))).toBe('0101ff');
    expect(hex(derBoolean(false))).toBe('010100');
    expect(decodeBoolean(decodeDer(derBoolean(true)))).toBe(true);
    expect(decodeBoolean(decodeDer(derBoolean(false)))).toBe(false);
    expect(derErrorCode(() => decodeBoolean(decodeDer(fromHex('010101'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeBoolean(decodeDer(fromHex('0102ffff'))))).toBe('InvalidValue');
  });

  it('round-trips NULL and OCTET STRING', () => {
    expect(hex(derNull())).toBe('0500');
    expect(decodeNull(decodeDer(derNull()))).toBeNull();
    expect(derErrorCode(() => decodeNull(decodeDer(fromHex('050100'))))).toBe('InvalidValue');
    expect(hex(decodeOctetString(decodeDer(derOctetString(fromHex('0102')))))).toBe('0102');
  });

  it('round-trips BIT STRING with unused bits and rejects non-zero padding', () => {
    const encoded = derBitString(fromHex('a0'), 5);
    expect(hex(encoded)).toBe('030205a0');
    expect(decodeBitString(decodeDer(encoded))).toEqual({ bytes: fromHex('a0'), unusedBits: 5 });
    expect(derErrorCode(() => decodeBitString(decodeDer(fromHex('030205a1'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeBitString(decodeDer(fromHex('030108'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeBitString(decodeDer(fromHex('0300'))))).toBe('InvalidValue');
    expect(derErrorCode(() => derBitString(new Uint8Array(0), 3))).toBe('Unencodable');
  });
});

describe('time', () => {
  it('uses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280)', () => {
    const in2049 = new Date(Date.UTC(2049, 11, 31, 23, 59, 59));
    const in2050 = new Date(Date.UTC(2050, 0, 1, 0, 0, 0));
    expect(Buffer.from(derContent(decodeDer(derTime(in2049)))).toString()).toBe('491231235959Z');
    expect(decodeDer(derTime(in2049)).tag).toBe(DerTag.UtcTime);
    expect(Buffer.from(derContent(decodeDer(derTime(in2050)))).toString()).toBe('20500101000000Z');
    expect(decodeDer(derTime(in2050)).tag).toBe(DerTag.GeneralizedTime);
    expect(decodeDer(derTime(new Date(Date.UTC(1949, 5, 1)))).tag).toBe(DerTag.GeneralizedTime);
    expect(decodeDer(derTime(new Date(Date.UTC(1950, 0, 1)))).tag).toBe(DerTag.UtcTime);
  });

  it('round-trips at second precision, dropping milliseconds', () => {
    for (const ms of [Date.UTC(1950, 0, 1), Date.UTC(2024, 1, 29, 12, 30, 15, 999), Date.UTC(2050, 6, 4), Date.UTC(9999, 11, 31, 23, 59, 59)]) {
      expect(decodeTime(decodeDer(derTime(new Date(ms)))).getTime()).toBe(Math.floor(ms / 1000) * 1000);
    }
    expect(decodeTime(decodeDer(derGeneralizedTime(new Date(Date.UTC(2030, 0, 1))))).toISOString()).toBe('2030-01-01T00:00:00.000Z');
  });

  it('reads two-digit years 50..99 as 19xx and 00..49 as 20xx', () => {
    const utc = (text: string): Uint8Array => new Uint8Array([DerTag.UtcTime, text.length, ...Buffer.from(text)]);
    expect(decodeTime(decodeDer(utc('500101000000Z'))).getUTCFullYear()).toBe(1950);
    expect(decodeTime(decodeDer(utc('491231235959Z'))).getUTCFullYear()).toBe(2049);
  });

  it('rejects times RFC 5280 does not allow', () => {
    const utc = (text: string): Uint8Array => new Uint8Array([DerTag.UtcTime, text.length, ...Buffer.from(text)]);
    const generalized = (text: string): Uint8Array => new Uint8Array([DerTag.GeneralizedTime, text.length, ...Buffer.from(text)]);
    for (const bad of ['2401011200Z', '240101120000+0100', '241301000000Z', '240230000000Z', '230229000000Z', '240101240000Z', '24010112000Z']) {
      expect(derErrorCode(() => decodeTime(decodeDer(utc(bad))))).toBe('InvalidValue');
    }
    expect(decodeTime(decodeDer(utc('240229000000Z'))).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(derErrorCode(() => decodeTime(decodeDer(generalized('20240101120000.5Z'))))).toBe('InvalidValue');
    expect(derErrorCode(() => decodeTime(decodeDer(derInteger(1))))).toBe('UnexpectedTag');
    expect(derErrorCode(() => derUtcTime(new Date(Date.UTC(2050, 0, 1))))).toBe('Unencodable');
    expect(derErrorCode(() => derTime(new Date(Number.NaN)))).toBe('Unencodable');
  });
});

describe('constructed types and tags', () => {
  it('nests SEQUENCE and reads it back with DerReader', () => {
    const encoded = derSequence(derInteger(5), derSequence(derBoolean(true), derNull()), derOctetString(fromHex('ab')));
    const outer = new DerReader(decodeDer(encoded), 'test');
    expect(decodeInteger(outer.next(DerTag.Integer))).toBe(5n);
    const inner = new DerReader(outer.next(DerTag.Sequence), 'inner');
    expect(decodeBoolean(inner.next())).toBe(true);
    expect(inner.optional(DerTag.Integer)).toBeUndefined();
    decodeNull(inner.next(DerTag.Null));
    inner.end();
    expect(outer.peekTag()).toBe(DerTag.OctetString);
    outer.next(DerTag.OctetString);
    outer.end();
    expect(outer.hasMore).toBe(false);
  });

  it('sorts SET OF elements by encoding', () => {
    const set = derSet(derInteger(3), derInteger(1), derOctetString(fromHex('00')), derInteger(2));
    expect(derChildren(decodeDer(set)).map((child) => hex(child.source.subarray(child.start, child.end)))).toEqual([
      '020101',
      '020102',
      '020103',
      '040100',
    ]);
  });

  it('writes explicit and implicit context tags', () => {
    expect(hex(derExplicit(0, derInteger(2)))).toBe('a003020102');
    expect(hex(derImplicit(0, derOctetString(fromHex('0102'))))).toBe('80020102');
    expect(hex(derImplicit(1, derSequence(derNull())))).toBe('a1020500');
    expect(contextTag(3, true)).toBe(0xa3);
    expect(() => contextTag(31, false)).toThrow(RangeError);
  });

  it('uses long-form lengths exactly when needed', () => {
    expect(hex(derOctetString(new Uint8Array(127))).slice(0, 4)).toBe('047f');
    expect(hex(derOctetString(new Uint8Array(128))).slice(0, 6)).toBe('048180');
    expect(hex(derOctetString(new Uint8Array(256))).slice(0, 8)).toBe('04820100');
    expect(hex(derOctetString(new Uint8Array(70000))).slice(0, 10)).toBe('0483011170');
    for (const size of [0, 127, 128, 255, 256, 65535, 65536]) {
      expect(decodeOctetString(decodeDer(derOctetString(new Uint8Array(size)))).length).toBe(size);
    }
  });
});

describe('DerWriter', () => {
  it('produces the same bytes as the encoder functions, including long lengths and shifts', () => {
    const date = new Date(Date.UTC(2031, 4, 6, 7, 8, 9));
    const later = new Date(Date.UTC(2051, 4, 6, 7, 8, 9));
    const expected = derSequence(
      derUnsignedInteger(fromHex('80' + '11'.repeat(15))),
      derSequence(derTime(date), derTime(later)),
      derExplicit(3, derSequence(derOctetString(new Uint8Array(300).fill(7)), derSequence(derImplicit(2, derIa5String('a.b'))))),
    );
    const written = new DerWriter(8)
      .begin(DerTag.Sequence)
      .unsignedInteger(fromHex('80' + '11'.repeat(15)))
      .begin(DerTag.Sequence)
      .time(date)
      .time(later)
      .end()
      .begin(contextTag(3, true))
      .begin(DerTag.Sequence)
      .primitive(DerTag.OctetString, new Uint8Array(300).fill(7))
      .begin(DerTag.Sequence)
      .ascii(contextTag(2, false), 'a.b')
      .end()
      .end()
      .end()
      .end()
      .finish();
    expect(hex(written)).toBe(hex(expected));
  });

  it('refuses unbalanced use and non-ASCII text', () => {
    expect(derErrorCode(() => new DerWriter().end())).toBe('Unencodable');
    expect(derErrorCode(() => new DerWriter().begin(DerTag.Sequence).finish())).toBe('Unencodable');
    expect(derErrorCode(() => new DerWriter().ascii(DerTag.Ia5String, 'ü'))).toBe('Unencodable');
  });
});

describe('malformed input', () => {
  const sample = derSequence(derInteger(1n << 100n), derSequence(derUtf8String('x'.repeat(200)), derNull()), derBitString(fromHex('00ff')));

  it('throws Truncated for every proper prefix', () => {
    for (let length = 0; length < sample.length; length++) {
      const code = derErrorCode(() => {
        const root = decodeDer(sample.subarray(0, length));
        derChildren(root);
      });
      expect(code).toBe('Truncated');
    }
  });

  it('throws TrailingBytes for bytes after the element', () => {
    const padded = new Uint8Array([...sample, 0]);
    expect(derErrorCode(() => decodeDer(padded))).toBe('TrailingBytes');
    const reader = new DerReader(decodeDer(derSequence(derNull(), derNull())), 'two nulls');
    reader.next(DerTag.Null);
    expect(derErrorCode(() => reader.end())).toBe('TrailingBytes');
  });

  it('throws BadLength for indefinite, non-minimal and oversized lengths', () => {
    expect(derErrorCode(() => decodeDer(fromHex('3080 0500 0000')))).toBe('BadLength');
    expect(derErrorCode(() => decodeDer(fromHex('0481 05 0102030405')))).toBe('BadLength');
    expect(derErrorCode(() => decodeDer(fromHex('0482 0080' + '00'.repeat(128))))).toBe('BadLength');
    expect(derErrorCode(() => decodeDer(fromHex('0485 0100000000')))).toBe('BadLength');
  });

  it('throws Truncated when a length claims more than there is', () => {
    expect(derErrorCode(() => decodeDer(fromHex('0405 0102')))).toBe('Truncated');
    expect(derErrorCode(() => decodeDer(fromHex('0484 7fffffff')))).toBe('Truncated');
    expect(derErrorCode(() => decodeDer(fromHex('30')))).toBe('Truncated');
  });

  it('throws UnexpectedTag for a wrong tag or a high tag number', () => {
    const reader = new DerReader(decodeDer(derSequence(derInteger(1))), 'test');
    expect(derErrorCode(() => reader.next(DerTag.Sequence, 'field'))).toBe('UnexpectedTag');
    expect(derErrorCode(() => decodeDer(fromHex('1f2200')))).toBe('UnexpectedTag');
    expect(derErrorCode(() => new DerReader(decodeDer(derNull()), 'primitive'))).toBe('UnexpectedTag');
  });

  it('never throws anything but DerError on random and mutated bytes', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const walk = (bytes: Uint8Array): void => {
      const visit = (element: ReturnType<typeof decodeDer>, depth: number): void => {
        if (depth > 20 || (element.tag & 0x20) === 0) return;
        for (const child of derChildren(element)) visit(child, depth + 1);
      };
      visit(decodeDer(bytes), 0);
    };
    for (let i = 0; i < 3000; i++) {
      const bytes = i % 2 === 0 ? sample.slice() : new Uint8Array(random() % 64).map(() => random() & 0xff);
      if (bytes.length > 0) bytes[random() % bytes.length] = random() & 0xff;
      try {
        walk(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(DerError);
      }
    }
  });
});
