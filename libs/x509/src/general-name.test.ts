import { describe, expect, it } from 'vitest';
import { DerError } from './errors.js';
import { decodeDer } from './der-decoder.js';
import { derSequence, derElement } from './der-encoder.js';
import { contextTag } from './der-tag.js';
import { decodeGeneralNames, encodeGeneralNames, ipAddressToBytes, ipAddressToText } from './general-name.js';

describe('IP addresses', () => {
  it.each([
    ['10.0.0.1', '0a000001'],
    ['255.255.255.255', 'ffffffff'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['2001:db8::8:800:200c:417a', '20010db8000000000008080020 0c417a'.replace(' ', '')],
    ['fe80::1:0:0:1', 'fe800000000000000001000000000001'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'],
  ])('%s', (text, bytes) => {
    expect(Buffer.from(ipAddressToBytes(text)!).toString('hex')).toBe(bytes);
    expect(ipAddressToText(new Uint8Array(Buffer.from(bytes, 'hex')))).toBe(text);
  });

  it('reads uncompressed and uppercase IPv6 forms', () => {
    expect(ipAddressToText(ipAddressToBytes('2001:DB8:0:0:0:0:0:1')!)).toBe('2001:db8::1');
  });

  it.each(['1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'x::', ':1', 'a.b.c.d', '', '0:a:0.0.0.0::', '1.2.3.4::', '::1.2.3.4:1'])('refuses %j', (text) => {
    expect(ipAddressToBytes(text)).toBeUndefined();
  });
});

describe('GeneralNames', () => {
  it('round-trips each supported kind and keeps others as raw entries', () => {
    const encoded = encodeGeneralNames([
      { type: 'dns', value: 'web.shop.svc' },
      { type: 'ip', value: '10.1.2.3' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
    ]);
    expect(decodeGeneralNames(decodeDer(encoded))).toEqual([
      { type: 'dns', value: 'web.shop.svc' },
      { type: 'ip', value: '10.1.2.3' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
    ]);
    const registeredId = derElement(contextTag(8, false), Uint8Array.of(0x2a, 0x03));
    const [other] = decodeGeneralNames(decodeDer(derSequence(registeredId)));
    expect(other).toMatchObject({ type: 'other', tagNumber: 8 });
  });

  it('refuses an empty list, a bad IP length and non-ASCII names', () => {
    expect(() => decodeGeneralNames(decodeDer(derSequence()))).toThrow(DerError);
    expect(() => decodeGeneralNames(decodeDer(derSequence(derElement(contextTag(7, false), Uint8Array.of(1, 2, 3)))))).toThrow(DerError);
    expect(() => decodeGeneralNames(decodeDer(derSequence(derElement(contextTag(2, false), Uint8Array.of(0xc3, 0xa9)))))).toThrow(DerError);
    expect(() => encodeGeneralNames([{ type: 'dns', value: 'bücher.de' }])).toThrow(DerError);
    expect(() => encodeGeneralNames([{ type: 'ip', value: 'not-an-ip' }])).toThrow(DerError);
  });
});
