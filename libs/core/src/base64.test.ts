import { describe, expect, it } from 'vitest';
import { Base64Error, decodeBase64, decodeBase64Url, encodeBase64, encodeBase64Url } from './base64.js';

describe('base64', () => {
  it('round-trips bytes', () => {
    for (let n = 0; n < 10; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      expect([...decodeBase64(encodeBase64(bytes))]).toEqual([...bytes]);
      expect([...decodeBase64Url(encodeBase64Url(bytes))]).toEqual([...bytes]);
    }
  });

  it.each(['a', 'ab=', 'abc', 'ab!d', 'YWJj\n', 'YW Jj', 'YQ==YQ==', '===='])('refuses %j as standard base64, naming the value', (text) => {
    expect(() => decodeBase64(text, 'csr')).toThrow(new Base64Error('csr is not base64'));
  });

  it.each(['a', 'ab+c', 'ab/c', 'YQ==', 'YR'])('refuses %j as base64url', (text) => {
    expect(() => decodeBase64Url(text, 'token')).toThrow(Base64Error);
  });
});
