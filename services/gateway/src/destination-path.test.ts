import { describe, expect, it } from 'vitest';
import { DestinationPathError, parseDestinationTarget } from './destination-path.js';

const read = (path: string) => parseDestinationTarget(path, 'cluster.local');
const refusal = (path: string): string => {
  try {
    read(path);
  } catch (err) {
    expect(err).toBeInstanceOf(DestinationPathError);
    return (err as Error).message;
  }
  throw new Error(`${path} was accepted`);
};

describe('parseDestinationTarget', () => {
  it('reads service names as before', () => {
    expect(read('web.shop.svc.cluster.local:8080')).toEqual({ kind: 'service', service: { service: 'web', namespace: 'shop', port: 8080, fqdn: 'web.shop.svc.cluster.local' } });
  });

  it('reads IPv4 and bracketed IPv6 addresses with their port, in canonical form', () => {
    expect(read('10.1.0.5:8080')).toEqual({ kind: 'address', address: { ip: '10.1.0.5', port: 8080, key: '10.1.0.5:8080' } });
    expect(read('[FD00:0:0::5]:8080')).toEqual({ kind: 'address', address: { ip: 'fd00::5', port: 8080, key: '[fd00::5]:8080' } });
    expect(read('[::ffff:10.1.0.5]:443')).toEqual({ kind: 'address', address: { ip: '::ffff:a01:5', port: 443, key: '[::ffff:a01:5]:443' } });
    // Port 80 when absent, as for names.
    expect(read('10.1.0.5')).toEqual({ kind: 'address', address: { ip: '10.1.0.5', port: 80, key: '10.1.0.5:80' } });
    expect(read('[fd00::5]')).toEqual({ kind: 'address', address: { ip: 'fd00::5', port: 80, key: '[fd00::5]:80' } });
  });

  it('refuses broken addresses with a reason', () => {
    expect(refusal('10.1.0.256:80')).toMatch(/not an IPv4 address/);
    expect(refusal('010.1.0.5:80')).toMatch(/not an IPv4 address/);
    expect(refusal('10.1.0.5:0')).toMatch(/invalid port "0"/);
    expect(refusal('10.1.0.5:65536')).toMatch(/invalid port/);
    expect(refusal('10.1.0.5:http')).toMatch(/invalid port/);
    expect(refusal('fd00::5')).toMatch(/in brackets with a port: \[fd00::5\]:<port>/);
    expect(refusal('fd00::5:80')).toMatch(/in brackets/);
    expect(refusal('[fd00::5:80')).toMatch(/does not close it/);
    expect(refusal('[fd00::5]80')).toMatch(/must be \[<ipv6>\]:<port>/);
    expect(refusal('[10.1.0.5]:80')).toMatch(/not an IPv6 address/);
    expect(refusal('[fe80::1%eth0]:80')).toMatch(/not an IPv6 address/);
    expect(refusal('[fd00::5]:')).toMatch(/invalid port/);
    expect(refusal('a:b:c')).toMatch(/neither <name>:<port> nor <ip>:<port>/);
    expect(refusal('')).toMatch(/<ip>:<port>/);
    expect(refusal('10.1.0.5:80 ')).toMatch(/printable ASCII/);
    // Names still get the name's reasons.
    expect(refusal('web.shop:80')).toMatch(/not a service name/);
  });
});
