import { isIPv6 } from 'node:net';
import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { DerError, X509Error, X509ErrorCode } from './errors.js';
import { createCsr, parseCsr, verifyCsrSignature } from './csr.js';
import { parseCertificate } from './certificate.js';
import { decodePemBlocks, encodePem } from './pem.js';
import { decodeGeneralNames, ipAddressToBytes, ipAddressToText } from './general-name.js';
import type { EncodableGeneralName } from './general-name.js';
import { readDerElement } from './der-decoder.js';
import { csrKey, derInput, encodeTree, mutate, mutation, validCertificates, validCsrs } from './der-fuzz-support.js';

function expectX509Error(run: () => unknown, code: X509ErrorCode): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(X509Error);
    expect((error as X509Error).code).toBe(code);
    expect((error as X509Error).message).toMatch(/\S/);
    return;
  }
}

async function expectX509Rejection(run: () => Promise<unknown>): Promise<X509Error> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(X509Error);
    return error as X509Error;
  }
  return expect.fail('expected the request to be refused');
}

const csrInput = derInput(validCsrs);
const p256Csrs = validCsrs.slice(0, 3);

describe('parseCsr', () => {
  fuzzProperty('returns a request or throws X509Error MalformedCsr with a DerError cause', [csrInput], (der) => {
    let csr;
    try {
      csr = parseCsr(der);
    } catch (error) {
      expect(error).toBeInstanceOf(X509Error);
      expect((error as X509Error).code).toBe(X509ErrorCode.MalformedCsr);
      expect((error as X509Error).cause).toBeInstanceOf(DerError);
      return;
    }
    // An accepted request is made of views into its input.
    expect(csr.der).toBe(der);
    expect(csr.requestInfoDer.buffer).toBe(der.buffer);
    expect(readDerElement(csr.requestInfoDer, 0).end).toBe(csr.requestInfoDer.length);
  }, { runs: 500 });

  fuzzProperty(
    'never accepts the signature of a mutated request',
    [fc.constantFrom(...p256Csrs), fc.array(mutation, { minLength: 1, maxLength: 3 })],
    async (original, edits) => {
      const der = mutate(original, edits);
      fc.pre(!Buffer.from(der).equals(Buffer.from(original)));
      let csr;
      try {
        csr = parseCsr(der);
      } catch (error) {
        expect(error).toBeInstanceOf(X509Error);
        return;
      }
      await expectX509Rejection(() => verifyCsrSignature(csr));
    },
    { runs: 300 },
  );
});

const asciiText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 40 });
const generalName: fc.Arbitrary<EncodableGeneralName> = fc.oneof(
  asciiText.map((value) => ({ type: 'dns' as const, value })),
  asciiText.map((value) => ({ type: 'email' as const, value })),
  asciiText.map((value) => ({ type: 'uri' as const, value })),
  fc.ipV4().map((value) => ({ type: 'ip' as const, value })),
  fc.ipV6().map((value) => ({ type: 'ip' as const, value })),
);

describe('createCsr and parseCsr', () => {
  fuzzProperty(
    'round-trip any commonName and subjectAltNames, and the signature verifies',
    [fc.option(fc.string({ unit: 'grapheme', maxLength: 30 }), { nil: undefined }), fc.array(generalName, { maxLength: 5 })],
    async (commonName, subjectAltNames) => {
      const csr = parseCsr(createCsr({ privateKey: csrKey, ...(commonName === undefined ? {} : { commonName }), subjectAltNames }));
      expect(csr.subject.commonNames).toEqual(commonName === undefined ? [] : [commonName]);
      const bytesOf = (name: EncodableGeneralName): string =>
        name.type === 'ip' ? `ip:${Buffer.from(ipAddressToBytes(name.value)!).toString('hex')}` : `${name.type}:${name.value}`;
      expect(csr.subjectAltNames.map((name) => bytesOf(name as EncodableGeneralName))).toEqual(subjectAltNames.map(bytesOf));
      await verifyCsrSignature(csr);
    },
    { runs: 100, maxRuns: 10_000 },
  );
});

describe('parseCertificate', () => {
  fuzzProperty('returns a certificate or throws X509Error MalformedCertificate', [derInput(validCertificates)], (der) => {
    expectX509Error(() => parseCertificate(der), X509ErrorCode.MalformedCertificate);
  }, { runs: 400 });
});

const pemLabel = fc.stringMatching(/^[A-Z0-9][A-Z0-9 ]{0,20}[A-Z0-9]$/);

describe('PEM', () => {
  fuzzProperty(
    'decodes what it encodes, among any other text',
    [fc.array(fc.tuple(pemLabel, fc.uint8Array({ minLength: 1, maxLength: 200 })), { minLength: 1, maxLength: 3 }), fc.string({ maxLength: 40 }).filter((text) => !text.includes('-----'))],
    (blocks, between) => {
      const text = blocks.map(([label, der]) => between + encodePem(label, der)).join('') + between;
      expect(decodePemBlocks(text).map((block) => [block.label, Buffer.from(block.der).toString('hex')])).toEqual(
        blocks.map(([label, der]) => [label, Buffer.from(der).toString('hex')]),
      );
    },
    { runs: 200 },
  );

  const pemish = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.array(fc.oneof(fc.constantFrom('-----BEGIN CERTIFICATE-----\n', '-----END CERTIFICATE-----', '-----BEGIN X-----\r\n', '=', '\n', ' '), fc.base64String({ maxLength: 12 }), fc.string({ maxLength: 6 })), { maxLength: 30 }).map((parts) => parts.join('')),
  );
  fuzzProperty('reads any text into blocks or throws X509Error MalformedPem', [pemish], (text) => {
    expectX509Error(() => decodePemBlocks(text), X509ErrorCode.MalformedPem);
  }, { runs: 300 });
});

const hexGroup = fc.stringMatching(/^[0-9a-fA-F]{1,5}$/);
/** Colon-separated groups, 1 to 10 of them, maybe with '::' and a dotted quad at the end. */
const ipv6ish = fc
  .tuple(fc.array(hexGroup, { minLength: 1, maxLength: 10 }), fc.option(fc.nat(), { nil: undefined }), fc.option(fc.ipV4(), { nil: undefined }))
  .map(([groups, gap, v4]) => {
    const parts: string[] = [...groups, ...(v4 === undefined ? [] : [v4])];
    if (gap !== undefined) parts.splice(gap % (parts.length + 1), 0, '');
    const text = parts.join(':');
    return text.startsWith(':') && !text.startsWith('::') ? `:${text}` : text.endsWith(':') && !text.endsWith('::') ? `${text}:` : text;
  });

describe('general names', () => {
  // GeneralNames-shaped input: a SEQUENCE of context-tagged entries of any length.
  const generalNamesDer = fc
    .array(fc.record({ tag: fc.oneof(fc.integer({ min: 0x80, max: 0x88 }), fc.constantFrom(0xa0, 0xa4, 0x04, 0x16)), content: fc.uint8Array({ maxLength: 20 }) }), { maxLength: 4 })
    .map((children) => encodeTree({ tag: 0x30, children }));
  fuzzProperty('decodeGeneralNames throws only DerError', [fc.oneof(derInput([]), generalNamesDer)], (der) => {
    try {
      decodeGeneralNames(readDerElement(der, 0));
    } catch (error) {
      expect(error).toBeInstanceOf(DerError);
    }
  }, { runs: 300 });

  fuzzProperty('an address as text gives back its bytes', [fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }).map((b) => Uint8Array.from(b)), fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4)))], (bytes) => {
    expect(ipAddressToBytes(ipAddressToText(bytes))).toEqual(bytes);
  }, { runs: 300 });

  fuzzProperty('IPv6 text is what the WHATWG URL parser writes (RFC 5952), apart from IPv4-mapped addresses', [fc.uint8Array({ minLength: 16, maxLength: 16 })], (bytes) => {
    const text = ipAddressToText(bytes);
    fc.pre(!text.startsWith('::ffff:') || text.includes(':', 7));
    expect(`[${text}]`).toBe(new URL(`http://[${text}]/`).hostname);
  }, { runs: 300 });

  fuzzProperty('text parses as IPv6 exactly when node:net says it is IPv6 (without zone)', [fc.oneof(fc.ipV6(), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 }), ipv6ish)], (text) => {
    const bytes = text.includes(':') ? ipAddressToBytes(text) : undefined;
    expect(bytes !== undefined).toBe(isIPv6(text));
  }, { runs: 500 });
});
