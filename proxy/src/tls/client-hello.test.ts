import { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { fc } from '@fast-check/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { isTlsClientHello, peekClientHello } from './client-hello.js';

/** The first flight of a real Node TLS client, captured without a network. */
function captureClientHello(options: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const transport = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        if (!done) {
          done = true;
          setImmediate(() => {
            resolve(Buffer.concat(chunks));
            socket.destroy();
          });
        }
        callback();
      },
    });
    const socket = connect({ socket: transport, ...options, minVersion: 'TLSv1.2' });
    socket.on('error', () => undefined);
  });
}

/** Re-frames a single-record ClientHello as two handshake records split at `at`. */
function splitIntoTwoRecords(hello: Buffer, at: number): Buffer {
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const record = (part: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff]), part]);
  return Buffer.concat([record(body.subarray(0, at)), record(body.subarray(at))]);
}

const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
let withSni: Buffer;
let withoutSni: Buffer;

beforeAll(async () => {
  withSni = await captureClientHello({ servername: identity, ALPNProtocols: ['h2', 'http/1.1'] });
  withoutSni = await captureClientHello({});
});

describe('peekClientHello', () => {
  it('reads the SNI and ALPN of a real ClientHello', () => {
    expect(peekClientHello(withSni)).toEqual({ status: 'clientHello', serverName: identity, alpn: ['h2', 'http/1.1'] });
    expect(isTlsClientHello(withSni)).toBe(true);
  });

  it('reads a ClientHello without SNI or ALPN', () => {
    expect(peekClientHello(withoutSni)).toEqual({ status: 'clientHello', serverName: undefined, alpn: [] });
  });

  it('asks for more bytes on every proper prefix of a ClientHello', () => {
    for (let length = 0; length < withSni.length; length++) {
      expect(peekClientHello(withSni.subarray(0, length)), `prefix of ${length} bytes`).toEqual({ status: 'incomplete' });
    }
  });

  it('reassembles a ClientHello split over two records', () => {
    for (const at of [1, 3, 4, 40, withSni.length - 20]) {
      expect(peekClientHello(splitIntoTwoRecords(withSni, at))).toMatchObject({ status: 'clientHello', serverName: identity });
    }
  });

  it('ignores bytes after the ClientHello', () => {
    expect(peekClientHello(Buffer.concat([withSni, Buffer.from('GET / HTTP/1.1\r\n')]))).toMatchObject({ serverName: identity });
  });

  it('tells plain protocols and other TLS records from a ClientHello', () => {
    expect(peekClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: web\r\n\r\n'))).toEqual({ status: 'notTls' });
    expect(peekClientHello(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toEqual({ status: 'notTls' });
    expect(peekClientHello(Buffer.from([0x17, 0x03, 0x03, 0x00, 0x10]))).toEqual({ status: 'notTls' }); // application data
    expect(peekClientHello(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]))).toEqual({ status: 'notTls' }); // ServerHello
    expect(peekClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]))).toEqual({ status: 'notTls' }); // empty record
    expect(peekClientHello(Buffer.from([0x16, 0x02]))).toEqual({ status: 'notTls' });
    expect(peekClientHello(Buffer.from([0x16, 0x03]))).toEqual({ status: 'incomplete' });
  });

  it('lowercases the SNI and drops a name that is not a DNS name', () => {
    const upper = Buffer.from(withSni);
    const at = upper.indexOf(identity);
    upper.write(identity.toUpperCase(), at, 'latin1');
    expect(peekClientHello(upper)).toMatchObject({ serverName: identity });
    const bad = Buffer.from(withSni);
    bad[at + 3] = 0x2f; // '/'
    expect(peekClientHello(bad)).toMatchObject({ status: 'clientHello', serverName: undefined });
  });

  it('calls a ClientHello whose inner lengths overrun it not TLS', () => {
    const broken = Buffer.from(withSni);
    broken[5 + 4 + 2 + 32] = 0xff; // session id length
    expect(peekClientHello(broken)).toEqual({ status: 'notTls' });
  });

  fuzzProperty('never throws on any bytes', [fc.uint8Array({ maxLength: 600 })], (bytes) => {
    const peek = peekClientHello(bytes);
    return ['clientHello', 'incomplete', 'notTls'].includes(peek.status);
  });

  fuzzProperty(
    'never throws on a real ClientHello with bytes changed',
    [fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })],
    (edits) => {
      const bytes = Buffer.from(withSni);
      for (const [index, value] of edits) bytes[index % bytes.length] = value;
      const peek = peekClientHello(bytes);
      return ['clientHello', 'incomplete', 'notTls'].includes(peek.status);
    },
  );

  fuzzProperty('finds the SNI whatever follows the ClientHello', [fc.uint8Array({ maxLength: 200 })], (suffix) => {
    const peek = peekClientHello(Buffer.concat([withSni, suffix]));
    return peek.status === 'clientHello' && peek.serverName === identity;
  });
});
