import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDevIdentity } from './identity-material.js';

describe('createDevIdentity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'meshbus-dev-identity-')), 'identity');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('writes an anchor, an issuer that chains to it, and a token key pair', async () => {
    const written = await createDevIdentity(dir);
    expect(written.map((p) => p.slice(dir.length + 1)).sort()).toEqual(['ca.crt', 'ca.key', 'issuer.crt', 'issuer.key', 'token.key', 'token.pub']);
    const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    const issuer = new X509Certificate(await readFile(join(dir, 'issuer.crt')));
    expect(issuer.verify(ca.publicKey)).toBe(true);
    expect(issuer.ca).toBe(true);
    const tokenKey = createPublicKey(await readFile(join(dir, 'token.pub')));
    expect(tokenKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect((await stat(join(dir, 'token.key'))).mode & 0o777).toBe(0o600);
  });

  it('refuses to overwrite existing material', async () => {
    await createDevIdentity(dir);
    await expect(createDevIdentity(dir)).rejects.toThrow(/refusing to overwrite/);
  });
});
