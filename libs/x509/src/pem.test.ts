import { describe, expect, it } from 'vitest';
import { X509Error } from './errors.js';
import { decodePem, decodePemAll, decodePemBlocks, encodePem } from './pem.js';

function pemErrorCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(X509Error);
    return (error as X509Error).code;
  }
  throw new Error('expected an X509Error');
}

describe('PEM', () => {
  const der = new Uint8Array(100).map((_, i) => i);

  it('wraps base64 at 64 columns and round-trips', () => {
    const pem = encodePem('CERTIFICATE', der);
    const lines = pem.trimEnd().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-1)).toBe('-----END CERTIFICATE-----');
    expect(lines.slice(1, -1).every((line) => line.length <= 64)).toBe(true);
    expect(decodePem(pem, 'CERTIFICATE')).toEqual(der);
  });

  it('reads every block in order, ignores text around them, and accepts CRLF', () => {
    const text = `subject=CN = x\r\n${encodePem('CERTIFICATE', der).replace(/\n/g, '\r\n')}junk\n${encodePem('PRIVATE KEY', der.subarray(0, 10))}${encodePem('CERTIFICATE', der.subarray(50))}`;
    expect(decodePemBlocks(text).map((block) => block.label)).toEqual(['CERTIFICATE', 'PRIVATE KEY', 'CERTIFICATE']);
    expect(decodePemAll(text, 'CERTIFICATE')).toEqual([der, der.subarray(50)]);
    expect(decodePem(text, 'PRIVATE KEY')).toEqual(der.subarray(0, 10));
  });

  it('refuses missing blocks, mismatched labels and invalid base64', () => {
    expect(pemErrorCode(() => decodePem('nothing here', 'CERTIFICATE'))).toBe('MalformedPem');
    expect(pemErrorCode(() => decodePem(encodePem('PRIVATE KEY', der), 'CERTIFICATE'))).toBe('MalformedPem');
    expect(pemErrorCode(() => decodePemBlocks('-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----'))).toBe('MalformedPem');
    expect(pemErrorCode(() => decodePemBlocks('-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----'))).toBe('MalformedPem');
    expect(pemErrorCode(() => decodePemBlocks('-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----'))).toBe('MalformedPem');
    expect(pemErrorCode(() => decodePemBlocks('-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----'))).toBe('MalformedPem');
  });
});
