import { MeshbusError } from '@meshbus/core';

/**
 * What the first bytes of an inbound connection say about TLS, read without consuming them.
 *
 * - `clientHello`: a TLS ClientHello (possibly split over several records), with its SNI and ALPN.
 * - `incomplete`: the bytes so far are a valid beginning of a ClientHello; read more and ask again.
 * - `notTls`: the bytes cannot begin a TLS ClientHello (plain text, HTTP, SSLv2 and so on).
 */
export type ClientHelloPeek =
  | {
      readonly status: 'clientHello';
      /** The `host_name` of the server_name extension, lowercased; undefined when absent or not a DNS name. */
      readonly serverName: string | undefined;
      /** The protocols of the ALPN extension, in the client's order (empty when absent). */
      readonly alpn: readonly string[];
    }
  | { readonly status: 'incomplete' }
  | { readonly status: 'notTls' };

const CONTENT_TYPE_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const RECORD_HEADER_LENGTH = 5;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD_LENGTH = 1 << 14;
/** Bound on a ClientHello this reader reassembles; real ones are a few kilobytes. */
const MAX_CLIENT_HELLO_LENGTH = 1 << 16;
const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const SERVER_NAME_HOST = 0;
const DNS_NAME = /^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?(\.[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?)*$/;

const INCOMPLETE: ClientHelloPeek = { status: 'incomplete' };
const NOT_TLS: ClientHelloPeek = { status: 'notTls' };

/** Thrown inside the parser for a malformed ClientHello; never leaves this module. */
class MalformedClientHelloError extends MeshbusError {
  override readonly name = 'MalformedClientHelloError';
  constructor() {
    super('MalformedClientHello', 'the ClientHello is malformed');
  }
}

class Cursor {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  u8(): number {
    if (this.remaining < 1) throw new MalformedClientHelloError();
    return this.bytes[this.offset++]!;
  }

  u16(): number {
    return (this.u8() << 8) | this.u8();
  }

  take(length: number): Uint8Array {
    if (length > this.remaining) throw new MalformedClientHelloError();
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  /** A sub-cursor over a vector with a length prefix of `prefixBytes` bytes. */
  vector(prefixBytes: 1 | 2): Cursor {
    return new Cursor(this.take(prefixBytes === 1 ? this.u8() : this.u16()));
  }
}

/**
 * Reassembles the handshake bytes of the leading handshake records. Returns undefined when the
 * bytes are not TLS handshake records, or the handshake bytes so far (possibly fewer than needed).
 */
function handshakeBytes(bytes: Uint8Array): { data: Uint8Array; complete: boolean } | undefined {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let offset = 0;
  let needed: number | undefined;
  while (offset < bytes.length) {
    if (bytes[offset] !== CONTENT_TYPE_HANDSHAKE) return undefined;
    // Record versions 3.0 to 3.4 (RFC 8446 §5.1: a ClientHello's record may carry an older version).
    if (offset + 1 < bytes.length && bytes[offset + 1] !== 0x03) return undefined;
    if (offset + 2 < bytes.length && bytes[offset + 2]! > 0x04) return undefined;
    if (offset + RECORD_HEADER_LENGTH > bytes.length) break;
    const recordLength = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
    if (recordLength === 0 || recordLength > MAX_RECORD_LENGTH) return undefined;
    const start = offset + RECORD_HEADER_LENGTH;
    const chunk = bytes.subarray(start, Math.min(start + recordLength, bytes.length));
    chunks.push(chunk);
    length += chunk.length;
    offset = start + recordLength;
    if (needed === undefined) {
      if (length === 0) break;
      const head = concat(chunks, length);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return undefined;
      if (length >= 4) {
        needed = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!);
        if (needed > MAX_CLIENT_HELLO_LENGTH) return undefined;
      }
    }
    if (needed !== undefined && length >= needed) break;
  }
  const complete = needed !== undefined && length >= needed;
  return { data: complete ? concat(chunks, length).subarray(0, needed) : new Uint8Array(0), complete };
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function ascii(bytes: Uint8Array): string | undefined {
  let text = '';
  for (const byte of bytes) {
    if (byte < 0x21 || byte > 0x7e) return undefined;
    text += String.fromCharCode(byte);
  }
  return text;
}

function parseServerName(data: Uint8Array): string | undefined {
  const list = new Cursor(data).vector(2);
  while (list.remaining > 0) {
    const type = list.u8();
    const name = list.vector(2);
    if (type !== SERVER_NAME_HOST) continue;
    const text = ascii(name.take(name.remaining))?.toLowerCase().replace(/\.$/, '');
    return text !== undefined && text.length <= 253 && DNS_NAME.test(text) ? text : undefined;
  }
  return undefined;
}

function parseAlpn(data: Uint8Array): string[] {
  const list = new Cursor(data).vector(2);
  const protocols: string[] = [];
  while (list.remaining > 0) {
    const protocol = list.vector(1);
    protocols.push(Buffer.from(protocol.take(protocol.remaining)).toString('latin1'));
  }
  return protocols;
}

function parseClientHello(message: Uint8Array): ClientHelloPeek {
  const body = new Cursor(message);
  body.take(4); // handshake type and length, checked while reassembling
  const major = body.u8();
  body.u8();
  if (major !== 0x03) throw new MalformedClientHelloError();
  body.take(32); // random
  const sessionId = body.vector(1);
  if (sessionId.remaining > 32) throw new MalformedClientHelloError();
  const cipherSuites = body.vector(2);
  if (cipherSuites.remaining === 0 || cipherSuites.remaining % 2 !== 0) throw new MalformedClientHelloError();
  if (body.vector(1).remaining === 0) throw new MalformedClientHelloError(); // compression methods
  let serverName: string | undefined;
  let alpn: string[] = [];
  if (body.remaining > 0) {
    const extensions = body.vector(2);
    while (extensions.remaining > 0) {
      const type = extensions.u16();
      const data = extensions.vector(2);
      const bytes = data.take(data.remaining);
      if (type === EXTENSION_SERVER_NAME) serverName = parseServerName(bytes);
      else if (type === EXTENSION_ALPN) alpn = parseAlpn(bytes);
    }
  }
  return { status: 'clientHello', serverName, alpn };
}

/**
 * Reads the first bytes of a connection as a TLS ClientHello (RFC 8446 §4.1.2), for protocol
 * detection before the handshake: whether it is TLS at all, and the SNI that says whom it is for.
 * Never throws, whatever the bytes.
 */
export function peekClientHello(firstBytes: Uint8Array): ClientHelloPeek {
  if (firstBytes.length === 0) return INCOMPLETE;
  const handshake = handshakeBytes(firstBytes);
  if (handshake === undefined) return NOT_TLS;
  if (!handshake.complete) return INCOMPLETE;
  try {
    return parseClientHello(handshake.data);
  } catch (error) {
    if (error instanceof MalformedClientHelloError) return NOT_TLS;
    throw error;
  }
}

/** Whether `firstBytes` hold a whole TLS ClientHello. See {@link peekClientHello} for its SNI and for "read more". */
export function isTlsClientHello(firstBytes: Uint8Array): boolean {
  return peekClientHello(firstBytes).status === 'clientHello';
}
