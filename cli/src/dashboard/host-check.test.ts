import { describe, expect, it } from 'vitest';
import { isAllowedHost } from './host-check.js';

describe('the dashboard Host check', () => {
  const bound = { address: '127.0.0.1', port: 50750 };
  it('accepts its own address and loopback names on its port', () => {
    for (const host of ['127.0.0.1:50750', 'localhost:50750', 'LOCALHOST:50750', '[::1]:50750']) expect(isAllowedHost(host, bound)).toBe(true);
  });
  it('refuses other names, other ports and a missing header', () => {
    for (const host of ['evil.example:50750', '127.0.0.1:80', '127.0.0.1', 'localhost.evil.example:50750', '', undefined]) expect(isAllowedHost(host, bound)).toBe(false);
  });
  it('accepts only the bound address when bound elsewhere', () => {
    expect(isAllowedHost('10.0.0.5:8000', { address: '10.0.0.5', port: 8000 })).toBe(true);
    expect(isAllowedHost('localhost:8000', { address: '10.0.0.5', port: 8000 })).toBe(false);
  });
});
