import { describe, expect, it } from 'vitest';
import { canonicalCidr, NetworkError } from './networks.js';

describe('canonicalCidr', () => {
  it.each([
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.168.1.7', '192.168.1.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['fd00:0:0::1/8', 'fd00::/8'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'],
    ['::ffff:10.0.0.1/128', '::ffff:a00:1/128'],
  ])('%s is %s', (input, want) => expect(canonicalCidr(input)).toBe(want));

  it.each(['10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'example.com/8', '10.0.0.0/8/1', '10.0.0.0/x'])('refuses %s', (input) => {
    expect(() => canonicalCidr(input)).toThrow(NetworkError);
  });
});
