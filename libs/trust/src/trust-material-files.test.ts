import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createIssuer, createTrustAnchor } from './trust-material.js';
import { TrustMaterialExistsError, writeTrustMaterial } from './trust-material-files.js';

const now = new Date(Date.UTC(2031, 0, 1));
const validity = { notBefore: now, notAfter: new Date(now.getTime() + 365 * 86_400_000) };

describe('writeTrustMaterial', () => {
  const anchor = createTrustAnchor({ commonName: 'root', validity });
  const issuer = createIssuer({ anchor, commonName: 'issuer', validity });

  it('writes keys with mode 0600 and certificates with 0644', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshbus-trust-'));
    try {
      const target = join(dir, 'nested', 'identity');
      const written = await writeTrustMaterial(target, { anchor, issuer });
      expect(written.map((path) => path.slice(target.length + 1))).toEqual(['ca.crt', 'ca.key', 'issuer.crt', 'issuer.key']);
      const mode = async (name: string) => (await stat(join(target, name))).mode & 0o777;
      expect(await mode('ca.key')).toBe(0o600);
      expect(await mode('issuer.key')).toBe(0o600);
      expect(await mode('ca.crt')).toBe(0o644);
      expect(await mode('issuer.crt')).toBe(0o644);
      expect(await readFile(join(target, 'issuer.key'), 'utf8')).toBe(issuer.privateKeyPem);
      expect(await readFile(join(target, 'ca.crt'), 'utf8')).toBe(anchor.certificatePem);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to overwrite unless told to, and then replaces with the right modes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshbus-trust-'));
    try {
      await writeFile(join(dir, 'issuer.key'), 'old', { mode: 0o644 });
      await expect(writeTrustMaterial(dir, { anchor: { certificatePem: anchor.certificatePem }, issuer })).rejects.toBeInstanceOf(TrustMaterialExistsError);
      await expect(stat(join(dir, 'ca.crt'))).rejects.toMatchObject({ code: 'ENOENT' });
      const written = await writeTrustMaterial(dir, { anchor: { certificatePem: anchor.certificatePem }, issuer, overwrite: true });
      expect(written).toHaveLength(3);
      expect((await stat(join(dir, 'issuer.key'))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(dir, 'issuer.key'), 'utf8')).toBe(issuer.privateKeyPem);
      await expect(stat(join(dir, 'ca.key'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
