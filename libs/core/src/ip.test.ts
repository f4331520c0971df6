import { describe, expect, it } from 'vitest';
import { canonicalIp, compareIp, formatIp, isIpAddress, IpAddressError, parseIp } from './ip.js';

describe('parseIp', () => {
  it('reads IPv4 as one 32-bit value', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203 });
    expect(parseIp('255.255.255.255')).toEqual({ family: 4, value: 0xffffffff });
  });

  it.each([
    ['::', 0n, 0n],
    ['::1', 0n, 1n],
    ['2001:db8::8:800:200c:417a', 0x20010db800000000n, 0x00080800200c417an],
    ['fe80:0:0:0:0:0:0:1', 0xfe80000000000000n, 1n],
    ['::ffff:10.0.0.1', 0n, 0x0000ffff0a000001n],
    ['64:ff9b::192.0.2.33', 0x0064ff9b00000000n, 0x00000000c0000221n],
    ['1:2:3:4:5:6:7.8.9.10', 0x0001000200030004n, 0x000500060708090an],
  ])('reads IPv6 %s', (text, high, low) => {
    expect(parseIp(text)).toEqual({ family: 6, high, low });
  });

  it.each(['', '1.2.3', '256.1.1.1', '01.2.3.4', 'fe80::1%eth0', '1::2::3', 'example.com', '10.0.0.0/8', ' 1.2.3.4'])('refuses %j', (text) => {
    expect(() => parseIp(text)).toThrow(IpAddressError);
    expect(isIpAddress(text)).toBe(false);
  });
});

describe('formatIp', () => {
  it.each([
    ['2001:0DB8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['10.000.0.1'.replace('000', '0'), '10.0.0.1'],
  ])('writes %s as %s', (text, canonical) => {
    expect(canonicalIp(text)).toBe(canonical);
  });

  it('agrees with the WHATWG URL serializer on IPv6', () => {
    for (const text of ['1:0:0:2::3', '::2:0:0:0:1', 'a:b:c:d:e:f:0:0', '0:1:0:1:0:1:0:1', '1::', 'ff02::1:ff00:1']) {
      expect(canonicalIp(text)).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
    }
  });

  it('round-trips values', () => {
    expect(formatIp(parseIp('192.168.0.10'))).toBe('192.168.0.10');
    expect(formatIp({ family: 6, high: 0xffff_ffff_ffff_ffffn, low: 0xffff_ffff_ffff_ffffn })).toBe('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  });
});

describe('compareIp', () => {
  it('orders numerically, IPv4 before IPv6, anything else last', () => {
    const sorted = ['::1', 'not-an-ip', '127.0.0.10', '2001:db8::1', '127.0.0.2', '::ffff:1.2.3.4', '9.9.9.9'].sort(compareIp);
    expect(sorted).toEqual(['9.9.9.9', '127.0.0.2', '127.0.0.10', '::1', '::ffff:1.2.3.4', '2001:db8::1', 'not-an-ip']);
  });
});

describe('compareIp on mixed forms', () => {
  it('treats two spellings of one address as equal and zone ids as text', () => {
    const addresses = ['fe80::1%eth0', 'fd00::10', '10.0.0.10', 'fd00::1:0', '::1', '1.2.3.4', 'fd00:0:0:0:0:0:0:9', '10.0.0.9', '::ffff:1.2.3.4'];
    expect(addresses.sort(compareIp)).toEqual(['1.2.3.4', '10.0.0.9', '10.0.0.10', '::1', '::ffff:1.2.3.4', 'fd00:0:0:0:0:0:0:9', 'fd00::10', 'fd00::1:0', 'fe80::1%eth0']);
    expect(compareIp('fd00::1', 'fd00:0::1')).toBe(0);
  });
});
