import { MeshbusError } from './errors.js';

/** Text that is not valid base64 (or base64url). */
export class Base64Error extends MeshbusError {
  override name = 'Base64Error';
  constructor(message: string) {
    super('InvalidBase64', message);
  }
}

const STANDARD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;

/** Standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes standard padded base64. Unlike `Buffer.from(text, 'base64')`, which skips characters it
 * does not know, anything but canonical base64 is refused, naming `what`.
 */
export function decodeBase64(text: string, what = 'value'): Buffer {
  if (!STANDARD.test(text)) throw new Base64Error(`${what} is not base64`);
  return Buffer.from(text, 'base64');
}

/** Unpadded base64url (RFC 4648 section 5), as JWT-like tokens use. */
export function encodeBase64Url(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('base64url');
}

/** Decodes unpadded base64url; any other character, or an impossible length, is refused. */
export function decodeBase64Url(text: string, what = 'value'): Buffer {
  if (!URL_SAFE.test(text) || text.length % 4 === 1) throw new Base64Error(`${what} is not base64url`);
  const bytes = Buffer.from(text, 'base64url');
  // Non-zero bits after the last full byte mean the text is not the canonical encoding of anything.
  if (bytes.toString('base64url') !== text) throw new Base64Error(`${what} is not canonical base64url`);
  return bytes;
}
