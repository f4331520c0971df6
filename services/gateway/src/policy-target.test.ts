import { describe, expect, it } from 'vitest';
import { inboundTarget, ipText, NotAServiceError, outboundTarget, parseAuthority, PolicyRequestError, sourceWorkload } from './policy-target.js';

describe('parseAuthority', () => {
  it('reads the full name and the short forms of a service', () => {
    const web = { service: 'web', namespace: 'shop', port: 80, fqdn: 'web.shop.svc.cluster.local' };
    expect(parseAuthority('web.shop.svc.cluster.local:80', 'cluster.local')).toEqual(web);
    expect(parseAuthority('web.shop.svc:80', 'cluster.local')).toEqual(web);
    expect(parseAuthority('web.shop:80', 'cluster.local')).toEqual(web);
    expect(parseAuthority('web.shop', 'cluster.local')).toEqual(web);
    expect(parseAuthority('Web.Shop.', 'cluster.local')).toEqual(web);
    expect(parseAuthority('web.shop:8080', 'cluster.local').port).toBe(8080);
  });

  it('tells a bad port (INVALID_ARGUMENT) from a name that is no service (NOT_FOUND)', () => {
    expect(() => parseAuthority('web.shop:0', 'cluster.local')).toThrow(PolicyRequestError);
    expect(() => parseAuthority('web.shop:http', 'cluster.local')).toThrow('invalid port "http"');
    expect(() => parseAuthority('', 'cluster.local')).toThrow('authority is empty');
    expect(() => parseAuthority('www.example.com:443', 'cluster.local')).toThrow(NotAServiceError);
    // Two labels are the short form of a service name, whatever they spell: asked for, it has no policy.
    expect(parseAuthority('example.com:443', 'cluster.local')).toMatchObject({ service: 'example', namespace: 'com' });
    expect(() => parseAuthority('web:80', 'cluster.local')).toThrow(NotAServiceError);
    expect(() => parseAuthority('a.b.c.shop.svc.cluster.local:80', 'cluster.local')).toThrow('is not a service of this cluster');
  });
});

describe('outboundTarget', () => {
  it('keys an address by its canonical text and port', () => {
    const v4 = outboundTarget({ $case: 'addr', addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a60000a } }, port: 80 } }, 'cluster.local');
    expect(v4).toMatchObject({ kind: 'addr', key: '10.96.0.10:80' });
    const v6 = outboundTarget({ $case: 'addr', addr: { ip: { ip: { $case: 'ipv6', ipv6: { first: 0xfd00000000000000n, last: 1n } } }, port: 443 } }, 'cluster.local');
    expect(v6).toMatchObject({ kind: 'addr', key: '[fd00::1]:443' });
  });

  it('refuses a missing target, an address without IP and a bad port', () => {
    expect(() => outboundTarget(undefined, 'cluster.local')).toThrow('target is missing');
    expect(() => outboundTarget({ $case: 'addr', addr: { port: 80 } }, 'cluster.local')).toThrow('no IP address');
    expect(() => outboundTarget({ $case: 'addr', addr: { ip: { ip: { $case: 'ipv4', ipv4: 1 } }, port: 0 } }, 'cluster.local')).toThrow('target.addr.port 0 is not a port');
  });
});

describe('inboundTarget and sourceWorkload', () => {
  it('reads a PortSpec and refuses bad ports and workloads with PolicyRequestError', () => {
    expect(inboundTarget({ workload: 'shop:web-1', port: 8080 })).toEqual({ workload: { namespace: 'shop', name: 'web-1' }, port: 8080 });
    expect(() => inboundTarget({ workload: 'shop:web-1', port: 0 })).toThrow('port 0 is not a port (1 to 65535)');
    expect(() => inboundTarget({ workload: 'shop:web-1', port: 65536 })).toThrow(PolicyRequestError);
    expect(() => inboundTarget({ workload: 'web-1', port: 80 })).toThrow(PolicyRequestError);
  });

  it('takes an empty source workload as a caller of no namespace', () => {
    expect(sourceWorkload('')).toBeUndefined();
    expect(sourceWorkload('{"ns":"canary","pod":"c"}')).toEqual({ namespace: 'canary', name: 'c' });
    expect(() => sourceWorkload('c')).toThrow('source_workload: workload "c" names no namespace');
  });
});

describe('ipText', () => {
  it('writes IPv4 and IPv6 in canonical form', () => {
    expect(ipText({ ip: { $case: 'ipv4', ipv4: 0xc0000207 } })).toBe('192.0.2.7');
    expect(ipText({ ip: { $case: 'ipv6', ipv6: { first: 0x20010db800000000n, last: 0n } } })).toBe('2001:db8::');
    expect(ipText({})).toBeUndefined();
  });
});
