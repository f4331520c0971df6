import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { originalDestination, OriginalDestinationError, parseSockaddr } from './original-destination.js';

function sockaddrIn(port: number, ip: number[]): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip).copy(b, 4);
  return b;
}

function sockaddrIn6(port: number, groups: number[]): Uint8Array {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(10, 0);
  b.writeUInt16BE(port, 2);
  groups.forEach((g, i) => b.writeUInt16BE(g, 8 + i * 2));
  return b;
}

describe('parseSockaddr', () => {
  it('reads an IPv4 address and port in network byte order', () => {
    expect(parseSockaddr(sockaddrIn(8080, [10, 231, 0, 3]))).toEqual({ family: 4, address: '10.231.0.3', port: 8080 });
  });

  it('reads an IPv6 address in its shortest form', () => {
    expect(parseSockaddr(sockaddrIn6(443, [0xfd00, 0, 0, 0, 0, 0, 0, 1]))).toEqual({ family: 6, address: 'fd00::1', port: 443 });
    expect(parseSockaddr(sockaddrIn6(1, [0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]))).toMatchObject({ address: '2001:db8:0:1::1' });
    expect(parseSockaddr(sockaddrIn6(1, [1, 2, 3, 4, 5, 6, 7, 8]))).toMatchObject({ address: '1:2:3:4:5:6:7:8' });
  });

  it('refuses other families and short buffers', () => {
    const bad = Buffer.from(sockaddrIn(1, [1, 2, 3, 4]));
    bad.writeUInt16LE(1, 0);
    expect(() => parseSockaddr(bad)).toThrow('family 1');
    expect(() => parseSockaddr(new Uint8Array(4))).toThrow(OriginalDestinationError);
  });
});

describe('originalDestination', () => {
  it('refuses a socket with no descriptor, saying why', () => {
    const err = (() => {
      try {
        originalDestination(new Socket());
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OriginalDestinationError);
    expect((err as OriginalDestinationError).code).toBe(process.platform === 'linux' ? 'NoDescriptor' : 'Unsupported');
  });
});
