import { X509Error, X509ErrorCode } from './errors.js';

/** One PEM block: its label (such as `CERTIFICATE`) and the DER it carries. */
export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

/** PEM text for `der` under `label`, base64 wrapped at 64 columns, ending in a newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines: string[] = [`-----BEGIN ${label}-----`];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  lines.push(`-----END ${label}-----`, '');
  return lines.join('\n');
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Every PEM block in `text`, in order. Text between blocks (such as `openssl x509 -text` output)
 * is ignored; a block with mismatched labels, headers or invalid base64 is an error.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, label = '', body = '', endLabel] = match;
    if (label !== endLabel) {
      throw new X509Error(X509ErrorCode.MalformedPem, `PEM block BEGIN ${label} ends with END ${endLabel}`);
    }
    const base64 = body.replace(/\s+/g, '');
    if (base64.length % 4 !== 0 || !BASE64_BODY.test(base64)) {
      throw new X509Error(X509ErrorCode.MalformedPem, `PEM block ${label} does not hold valid base64`);
    }
    const der = new Uint8Array(Buffer.from(base64, 'base64'));
    if (der.length === 0) throw new X509Error(X509ErrorCode.MalformedPem, `PEM block ${label} is empty`);
    blocks.push({ label, der });
  }
  return blocks;
}

/** The DER of every block labelled `label` in `text`; throws if there is none. */
export function decodePemAll(text: string, label: string): Uint8Array[] {
  const ders = decodePemBlocks(text)
    .filter((block) => block.label === label)
    .map((block) => block.der);
  if (ders.length === 0) throw new X509Error(X509ErrorCode.MalformedPem, `no PEM block labelled ${label} found`);
  return ders;
}

/** The DER of the first block labelled `label` in `text`; throws if there is none. */
export function decodePem(text: string, label: string): Uint8Array {
  return decodePemAll(text, label)[0]!;
}
