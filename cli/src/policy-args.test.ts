import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { parseTcpAddress, parseWorkloadRef, strictlyParsedBy, workloadJson } from './policy-args.js';

describe('policy arguments', () => {
  it('parses <namespace>/<workload> and names the argument when it is wrong', () => {
    expect(parseWorkloadRef('shop/web-1')).toEqual({ namespace: 'shop', workload: 'web-1' });
    expect(() => parseWorkloadRef('web-1')).toThrow('workload "web-1" must be <namespace>/<workload>, e.g. shop/web-1');
    expect(() => parseWorkloadRef('a/b/c', '--source')).toThrow('--source "a/b/c" must be <namespace>/<workload>');
    expect(() => parseWorkloadRef('Shop/web')).toThrow('namespace of workload "Shop" must be a DNS label');
    expect(() => parseWorkloadRef('shop/web.1')).toThrow('workload name "web.1" must be lowercase letters');
  });

  it('writes the workload the way a proxy sends it', () => {
    expect(workloadJson({ namespace: 'shop', workload: 'web-1' })).toBe('{"ns":"shop","pod":"web-1"}');
  });

  it('parses an address into the proxy API form', () => {
    expect(parseTcpAddress('10.0.0.7:8080')).toEqual({ ip: { ip: { $case: 'ipv4', ipv4: 0x0a000007 } }, port: 8080 });
    expect(parseTcpAddress('[fd00::7]:80')).toEqual({ ip: { ip: { $case: 'ipv6', ipv6: { first: 0xfd00000000000000n, last: 7n } } }, port: 80 });
    expect(() => parseTcpAddress('web:80')).toThrow('--address "web:80": "web" is not an IP address');
    expect(() => parseTcpAddress('10.0.0.7:0')).toThrow('--address port 0 is out of range');
    expect(() => parseTcpAddress('10.0.0.7')).toThrow('must be <ip>:<port>');
  });

  it('turns a bad argument into commander exit code 2', () => {
    const parse = strictlyParsedBy((v) => parseWorkloadRef(v));
    let caught: unknown;
    try {
      parse('nope');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as InvalidArgumentError).exitCode).toBe(2);
  });
});
