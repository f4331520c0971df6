import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leafnodeTlsFiles, loadOrCreateLeafnodeTls } from './leafnode-tls.js';

const year = 365 * 86_400_000;

async function read(dir: string): Promise<Record<keyof typeof leafnodeTlsFiles, string>> {
  const out: Record<string, string> = {};
  for (const [k, f] of Object.entries(leafnodeTlsFiles)) out[k] = await readFile(join(dir, f), 'utf8');
  return out as Record<keyof typeof leafnodeTlsFiles, string>;
}

describe('the leaf node TLS material of meshbus dev --clusters 2', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'dev-leaf-tls-')), 'leafnode-tls');
  });
  afterEach(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('creates a CA and a serving certificate for 127.0.0.1 and localhost signed by it, keys 0600', async () => {
    const tls = await loadOrCreateLeafnodeTls(dir, 'east');
    expect(tls.made).toBe(`created the leaf node CA and serving certificate in ${dir}`);
    expect(tls.caFile).toBe(join(dir, 'ca.crt'));
    const files = await read(dir);
    const ca = new X509Certificate(files.ca);
    const cert = new X509Certificate(files.cert);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=meshbus-nats-leafnode-ca.east');
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    for (const f of [leafnodeTlsFiles.caKey, leafnodeTlsFiles.key]) expect((await stat(join(dir, f))).mode & 0o777, f).toBe(0o600);
    expect((await stat(dir)).mode & 0o077).toBe(0);
  });

  it('keeps them across runs, and puts a loosened key back to 0600', async () => {
    await loadOrCreateLeafnodeTls(dir, 'east');
    const before = await read(dir);
    await chmod(join(dir, leafnodeTlsFiles.key), 0o644);
    const again = await loadOrCreateLeafnodeTls(dir, 'east');
    expect(again.made).toBeUndefined();
    expect(await read(dir)).toEqual(before);
    expect((await stat(join(dir, leafnodeTlsFiles.key))).mode & 0o777).toBe(0o600);
  });

  it('signs a new serving certificate with the kept CA when it is unreadable, expired or for another key', async () => {
    await loadOrCreateLeafnodeTls(dir, 'east');
    const first = await read(dir);

    await writeFile(join(dir, leafnodeTlsFiles.cert), 'not a certificate\n');
    const broken = await loadOrCreateLeafnodeTls(dir, 'east');
    expect(broken.made).toMatch(/^the serving certificate tls\.crt is unreadable: .*; signed a new leaf node serving certificate with the CA in /);
    const second = await read(dir);
    expect(second.ca).toBe(first.ca);
    expect(second.caKey).toBe(first.caKey);
    expect(second.key).not.toBe(first.key);
    expect(new X509Certificate(second.cert).checkIssued(new X509Certificate(first.ca))).toBe(true);

    await writeFile(join(dir, leafnodeTlsFiles.key), first.key);
    expect((await loadOrCreateLeafnodeTls(dir, 'east')).made).toMatch(/^tls\.key is not the key of tls\.crt; signed a new/);

    // The serving certificate and the CA are both for 10 years: past the certificate's end, the CA's too.
    const later = new Date(Date.now() + 11 * year);
    const expired = await loadOrCreateLeafnodeTls(dir, 'east', later);
    expect(expired.made).toMatch(/^the CA expired \(\d{4}-.*\); created a new leaf node CA and serving certificate in /);
    const third = await read(dir);
    expect(third.ca).not.toBe(first.ca);
    expect((await loadOrCreateLeafnodeTls(dir, 'east', later)).made).toBeUndefined();
  });

  it('replaces a CA whose key is missing or does not match, with a new serving certificate', async () => {
    await loadOrCreateLeafnodeTls(dir, 'east');
    const first = await read(dir);
    await rm(join(dir, leafnodeTlsFiles.caKey));
    expect((await loadOrCreateLeafnodeTls(dir, 'east')).made).toBe(`ca.key is missing; created a new leaf node CA and serving certificate in ${dir}`);
    const second = await read(dir);
    expect(second.ca).not.toBe(first.ca);
    expect(new X509Certificate(second.cert).checkIssued(new X509Certificate(second.ca))).toBe(true);

    await writeFile(join(dir, leafnodeTlsFiles.caKey), first.caKey);
    expect((await loadOrCreateLeafnodeTls(dir, 'east')).made).toMatch(/^ca\.key is not the key of ca\.crt; created a new leaf node CA/);
  });

  it('signs a new serving certificate when the CA was replaced under it', async () => {
    await loadOrCreateLeafnodeTls(dir, 'east');
    const other = join(dir, '..', 'other');
    await loadOrCreateLeafnodeTls(other, 'east');
    for (const f of [leafnodeTlsFiles.ca, leafnodeTlsFiles.caKey]) await writeFile(join(dir, f), await readFile(join(other, f)));
    expect((await loadOrCreateLeafnodeTls(dir, 'east')).made).toMatch(/^the serving certificate is not signed by the CA; signed a new/);
  });
});
