import { describe, expect, it } from 'vitest';
import { compareAddresses } from './address-order.js';

describe('compareAddresses', () => {
  it('orders by value, IPv4 before IPv6, whatever the spelling', () => {
    const addresses = ['fd00::1:0', 'fd00::10', '::1', '10.0.0.10', 'fd00:0:0:0:0:0:0:9', '10.0.0.9', '::ffff:1.2.3.4', '1.2.3.4', 'fe80::1%eth0'];
    expect(addresses.sort(compareAddresses)).toEqual(['1.2.3.4', '10.0.0.9', '10.0.0.10', '::1', '::ffff:1.2.3.4', 'fd00:0:0:0:0:0:0:9', 'fd00::10', 'fd00::1:0', 'fe80::1%eth0']);
  });

  it('finds equal addresses equal', () => {
    expect(compareAddresses('fd00::1', 'fd00:0::1')).toBe(0);
    expect(compareAddresses('10.0.0.1', '10.0.0.1')).toBe(0);
  });
});
