import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { busValidator, subjects } from '@meshbus/bus-schemas';
import { compressEvent, decodeEvent, encodeEvent, MalformedEventError, maxDecodedBytes } from './cloudevents.js';

const validator = busValidator();
const subject = subjects.endpoints('shop', 'web', 80);
const set = (n: number) => ({
  namespace: 'shop',
  service: 'web',
  port: 80,
  endpoints: Array.from({ length: n }, (_, i) => ({ address: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 8080, weight: 10000, zone: 'eu-west-1a' })),
});
const encode = (n: number) => encodeEvent('endpointSet', subject, set(n), { source: '/test', subject: 'shop/web/80' }, validator);

function reason(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof MalformedEventError) return `${err.reason}: ${err.message}`;
    throw err;
  }
  return undefined;
}

describe('compressed event data', () => {
  it('leaves data under the threshold as plain JSON', async () => {
    const e = await compressEvent(encode(2), 1024);
    expect(e.headers.get('content-encoding')).toBe('');
    expect(JSON.parse(new TextDecoder().decode(e.payload)).endpoints).toHaveLength(2);
  });

  it('gzips data from the threshold on, and decodeEvent reads it back transparently', async () => {
    const plain = encode(2000);
    const size = plain.payload.length;
    const e = await compressEvent(plain, size);
    expect(e.headers.get('content-encoding')).toBe('gzip');
    expect(e.payload.length).toBeLessThan(size / 5);
    expect(decodeEvent(subject, e.headers, e.payload, validator).data).toEqual(set(2000));
  });

  it('refuses an unknown encoding, bytes that are not gzip, and gzip that expands beyond the limit', () => {
    const e = encode(1);
    e.headers.set('content-encoding', 'br');
    expect(reason(() => decodeEvent(subject, e.headers, e.payload, validator))).toMatch(/^content-encoding: unsupported content-encoding br/);
    e.headers.set('content-encoding', 'gzip');
    expect(reason(() => decodeEvent(subject, e.headers, e.payload, validator))).toMatch(/^content-encoding: gzip data cannot be read/);
    const bomb = gzipSync(Buffer.alloc(maxDecodedBytes + 1, 0x20));
    expect(reason(() => decodeEvent(subject, e.headers, bomb, validator))).toBe(`content-encoding: gzip data expands beyond ${maxDecodedBytes} bytes`);
  });
});
