import { describe, expect, it } from 'vitest';
import { MAX_CONNECT_HEAD_BYTES, parseConnectHead, parseTunnelAuthority } from './connect-request.js';

const authority = 'web.shop.svc.cluster.local:8080';
const connect = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('parseConnectHead', () => {
  it('reads a CONNECT and keeps the bytes after the header block', () => {
    const parsed = parseConnectHead(connect(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n\x16\x03\x01`));
    expect(parsed).toEqual({
      kind: 'connect',
      target: { authority, service: 'web', namespace: 'shop', clusterDomain: 'cluster.local', port: 8080 },
      rest: Buffer.from([0x16, 0x03, 0x01]),
    });
  });

  it('takes other headers and a Host in any case', () => {
    const parsed = parseConnectHead(connect(`CONNECT ${authority} HTTP/1.1\r\nuser-agent: test\r\nHOST:  WEB.shop.svc.cluster.local:8080 \r\n\r\n`));
    expect(parsed.kind).toBe('connect');
  });

  it('waits while the header block is incomplete', () => {
    expect(parseConnectHead(connect(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`))).toEqual({ kind: 'incomplete' });
    expect(parseConnectHead(Buffer.alloc(0))).toEqual({ kind: 'incomplete' });
  });

  it.each([
    ['another method', `GET ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 'CONNECT only'],
    ['another version', `CONNECT ${authority} HTTP/1.0\r\nHost: ${authority}\r\n\r\n`, 'HTTP/1.1 only'],
    ['no Host', `CONNECT ${authority} HTTP/1.1\r\n\r\n`, 'no Host'],
    ['two Hosts', `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nHost: ${authority}\r\n\r\n`, 'more than one Host'],
    ['a Host that differs', `CONNECT ${authority} HTTP/1.1\r\nHost: db.shop.svc.cluster.local:8080\r\n\r\n`, 'is not the CONNECT authority'],
    ['no port', `CONNECT web.shop.svc.cluster.local HTTP/1.1\r\nHost: web.shop.svc.cluster.local\r\n\r\n`, 'is not <service>'],
    ['a short name', `CONNECT web.shop:80 HTTP/1.1\r\nHost: web.shop:80\r\n\r\n`, 'is not <service>'],
    ['port 0', `CONNECT web.shop.svc.cluster.local:0 HTTP/1.1\r\nHost: web.shop.svc.cluster.local:0\r\n\r\n`, 'not in 1-65535'],
    ['a bare LF', `CONNECT ${authority} HTTP/1.1\nHost: ${authority}\r\n\r\n`, 'bare CR, LF or NUL'],
    ['a folded header', `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n x: y\r\n\r\n`, 'not a header line'],
    ['a header without a colon', `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\ngarbage\r\n\r\n`, 'not a header line'],
    ['garbage', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', 'bare CR, LF or NUL'],
    ['a line of text', 'hello there\r\n\r\n', 'request line'],
  ])('refuses %s', (_what, text, reason) => {
    const parsed = parseConnectHead(connect(text));
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason).toContain(reason);
  });

  it('refuses a header block beyond the bound, complete or not', () => {
    const filler = `x-fill: ${'a'.repeat(MAX_CONNECT_HEAD_BYTES)}\r\n`;
    const incomplete = parseConnectHead(connect(`CONNECT ${authority} HTTP/1.1\r\n${filler}`));
    expect(incomplete).toMatchObject({ kind: 'malformed', reason: expect.stringContaining('larger than 8192 bytes') });
    const complete = parseConnectHead(connect(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${filler}\r\n`));
    expect(complete.kind).toBe('malformed');
  });

  it('takes a header block of exactly the bound', () => {
    const start = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nx-fill: `;
    const text = `${start}${'a'.repeat(MAX_CONNECT_HEAD_BYTES - start.length - 4)}\r\n\r\n`;
    expect(Buffer.byteLength(text)).toBe(MAX_CONNECT_HEAD_BYTES);
    expect(parseConnectHead(connect(text)).kind).toBe('connect');
    expect(parseConnectHead(connect(text.replace('x-fill: ', 'x-fill: a'))).kind).toBe('malformed');
  });
});

describe('parseTunnelAuthority', () => {
  it('splits a service authority', () => {
    expect(parseTunnelAuthority('Web.Shop.svc.east.example:443')).toEqual({ authority: 'web.shop.svc.east.example:443', service: 'web', namespace: 'shop', clusterDomain: 'east.example', port: 443 });
  });

  it.each(['-web.shop.svc.cluster.local:80', 'web.shop.svc..local:80', 'web.shop.svc.cluster.local:99999', '10.0.0.1:80', 'web.shop.svc.cluster.local:80/x'])('refuses %s', (text) => {
    expect(typeof parseTunnelAuthority(text)).toBe('string');
  });
});
