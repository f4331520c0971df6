import { describe, expect, it } from 'vitest';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isIpAddress, isPortName } from './names.js';

describe('name rules', () => {
  it.each<[string, (v: string) => boolean, string, boolean]>([
    ['dns-1123 label', isDns1123Label, 'web', true],
    ['dns-1123 label', isDns1123Label, '1web', true],
    ['dns-1123 label', isDns1123Label, 'a'.repeat(63), true],
    ['dns-1123 label', isDns1123Label, 'a'.repeat(64), false],
    ['dns-1123 label', isDns1123Label, 'Web', false],
    ['dns-1123 label', isDns1123Label, 'web-', false],
    ['dns-1123 label', isDns1123Label, 'a.b', false],
    ['dns-1123 label', isDns1123Label, '', false],
    ['dns-1035 label', isDns1035Label, 'web-1', true],
    ['dns-1035 label', isDns1035Label, '1web', false],
    ['dns-1123 subdomain', isDns1123Subdomain, 'web.shop', true],
    ['dns-1123 subdomain', isDns1123Subdomain, 'web..shop', false],
    ['port name', isPortName, 'http', true],
    ['port name', isPortName, 'http-alt2', true],
    ['port name', isPortName, '8080', false],
    ['port name', isPortName, 'http--alt', false],
    ['port name', isPortName, 'a-very-long-port', false],
    ['port name', isPortName, 'HTTP', false],
    ['ip address', isIpAddress, '127.0.0.1', true],
    ['ip address', isIpAddress, 'fd00::1', true],
    ['ip address', isIpAddress, '127.0.0.256', false],
    ['ip address', isIpAddress, '10.0.0.0/8', false],
    ['ip address', isIpAddress, 'localhost', false],
  ])('%s %j', (_rule, check, value, valid) => {
    expect(check(value)).toBe(valid);
  });
});
