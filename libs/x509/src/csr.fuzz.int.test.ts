import { execFile } from 'node:child_process';
import { sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fc } from '@fast-check/vitest';
import { afterAll, describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { createCsr, derBitString, derSequence, parseCsr, verifyCsrSignature } from './index.js';
import type { CertificationRequest, EncodableGeneralName } from './index.js';
import { csrKey, leafMutation, mutate, validCsrs } from './der-fuzz-support.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'meshbus-csr-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNumber = 0;

/** Whether `openssl req -verify` reads the request and finds its signature good. */
async function opensslVerifies(der: Uint8Array): Promise<{ ok: boolean; output: string }> {
  const file = join(dir, `csr-${fileNumber++}.der`);
  writeFileSync(file, der);
  try {
    const { stdout, stderr } = await run('openssl', ['req', '-inform', 'DER', '-in', file, '-noout', '-verify']);
    return { ok: /verify OK/i.test(stdout + stderr), output: stdout + stderr };
  } catch (error) {
    return { ok: false, output: String((error as { stderr?: string }).stderr ?? error) };
  } finally {
    rmSync(file, { force: true });
  }
}

/** The request if the project accepts it as identity would (parse, then signature with P-256). */
async function accepted(der: Uint8Array): Promise<CertificationRequest | undefined> {
  try {
    const csr = parseCsr(der);
    await verifyCsrSignature(csr);
    return csr;
  } catch {
    return undefined;
  }
}

const asciiText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 40 });
const generalName: fc.Arbitrary<EncodableGeneralName> = fc.oneof(
  asciiText.map((value) => ({ type: 'dns' as const, value })),
  asciiText.map((value) => ({ type: 'uri' as const, value })),
  fc.oneof(fc.ipV4(), fc.ipV6()).map((value) => ({ type: 'ip' as const, value })),
);

const signedInfo = (info: Uint8Array): Uint8Array =>
  derSequence(info, derSequence(Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02)), derBitString(sign('sha256', info, csrKey)));

describe('CSRs the project accepts, checked by openssl', () => {
  fuzzProperty(
    'openssl req -verify accepts every request createCsr makes',
    [fc.option(fc.string({ unit: 'grapheme', maxLength: 30 }), { nil: undefined }), fc.array(generalName, { maxLength: 4 })],
    async (commonName, subjectAltNames) => {
      const der = createCsr({ privateKey: csrKey, ...(commonName === undefined ? {} : { commonName }), subjectAltNames });
      expect(await accepted(der)).toBeDefined();
      const result = await opensslVerifies(der);
      expect(result.ok, result.output).toBe(true);
    },
    { runs: 8, maxRuns: 1500 },
  );

  fuzzProperty(
    'openssl req -verify accepts every re-signed edited request the project accepts',
    [fc.constantFrom(...validCsrs.slice(0, 2)), fc.array(leafMutation, { minLength: 1, maxLength: 2 })],
    async (original, edits) => {
      const info = parseCsr(original).requestInfoDer;
      const der = signedInfo(mutate(info, edits));
      if ((await accepted(der)) === undefined) return;
      const result = await opensslVerifies(der);
      expect(result.ok, `${result.output}\n${Buffer.from(der).toString('base64')}`).toBe(true);
    },
    { runs: 40, maxRuns: 20_000 },
  );
});
