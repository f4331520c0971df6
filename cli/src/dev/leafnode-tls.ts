/*
 * The TLS of the leaf node link of `meshbus dev --clusters 2`, as the
 * Kubernetes install does it: a CA of its own and a serving certificate
 * (ECDSA P-256) for east's leaf node listener, made with the install's
 * createLeafnodeTls. They are kept in east's folder across runs; a file that
 * cannot be read, or a certificate that has expired, does not match its key or
 * the CA, or names other hosts, is made again, and the reason is told.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLeafnodeTls } from '@meshbus/install';

/** The hosts the dev leaf node certificate names: west connects to 127.0.0.1. */
export const devLeafnodeHosts = ['127.0.0.1', 'localhost'] as const;

/** The file names in the leaf node TLS folder. */
export const leafnodeTlsFiles = { ca: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

/** A certificate this close to its end is made again. */
const renewBeforeMs = 86_400_000;

/** Where the leaf node TLS material is, and what was done to it on this run. */
export interface DevLeafnodeTls {
  readonly dir: string;
  /** The CA west checks east's certificate with. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** What was made on this run, if anything, and why: for a notice. */
  readonly made?: string;
}

interface Pems {
  caPem: string;
  caKeyPem: string;
}

function why(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The text of `file` in `dir`, or why it cannot be read. */
async function readText(dir: string, file: string): Promise<string | { missing: boolean; reason: string }> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    return { missing, reason: missing ? `${file} is missing` : `cannot read ${file}: ${why(err)}` };
  }
}

/** Marks "nothing there yet": no notice of a problem on the first run. */
const firstRun = '';

/** The CA in `dir`, or why it cannot be used. */
async function readCa(dir: string, now: Date): Promise<Pems | string> {
  const caPem = await readText(dir, leafnodeTlsFiles.ca);
  const caKeyPem = await readText(dir, leafnodeTlsFiles.caKey);
  if (typeof caPem !== 'string' && typeof caKeyPem !== 'string' && caPem.missing && caKeyPem.missing) return firstRun;
  if (typeof caPem !== 'string') return caPem.reason;
  if (typeof caKeyPem !== 'string') return caKeyPem.reason;
  try {
    const ca = new X509Certificate(caPem);
    if (!ca.ca) return `${leafnodeTlsFiles.ca} is not a CA certificate`;
    if (new Date(ca.validTo).getTime() <= now.getTime() + renewBeforeMs) return `the CA expired (${new Date(ca.validTo).toISOString()})`;
    if (!ca.checkPrivateKey(createPrivateKey(caKeyPem))) return `${leafnodeTlsFiles.caKey} is not the key of ${leafnodeTlsFiles.ca}`;
  } catch (err) {
    return `the CA ${leafnodeTlsFiles.ca} is unreadable: ${why(err)}`;
  }
  return { caPem, caKeyPem };
}

/** Why the serving certificate in `dir` cannot be used with `caPem`, or undefined when it can. */
async function checkServing(dir: string, caPem: string, now: Date): Promise<string | undefined> {
  const certPem = await readText(dir, leafnodeTlsFiles.cert);
  const keyPem = await readText(dir, leafnodeTlsFiles.key);
  if (typeof certPem !== 'string') return certPem.reason;
  if (typeof keyPem !== 'string') return keyPem.reason;
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!cert.verify(ca.publicKey) || !cert.checkIssued(ca)) return 'the serving certificate is not signed by the CA';
    if (new Date(cert.validTo).getTime() <= now.getTime() + renewBeforeMs) return `the serving certificate expired (${new Date(cert.validTo).toISOString()})`;
    if (new Date(cert.validFrom).getTime() > now.getTime()) return 'the serving certificate is not valid yet';
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return `${leafnodeTlsFiles.key} is not the key of ${leafnodeTlsFiles.cert}`;
    if (cert.checkIP('127.0.0.1') === undefined || cert.checkHost('localhost') === undefined) return 'the serving certificate does not name 127.0.0.1 and localhost';
  } catch (err) {
    return `the serving certificate ${leafnodeTlsFiles.cert} is unreadable: ${why(err)}`;
  }
  return undefined;
}

/** Writes `text` to `path` with `mode`, replacing the file whole. */
async function put(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/**
 * The leaf node CA and serving certificate in `dir` (`ca.crt`, `ca.key`,
 * `tls.crt`, `tls.key`; keys 0600), made on the first run and kept. A serving
 * certificate that cannot be used is signed again by the CA; a CA that cannot
 * be used is replaced, with a new serving certificate.
 */
export async function loadOrCreateLeafnodeTls(dir: string, cluster: string, now: Date = new Date()): Promise<DevLeafnodeTls> {
  const paths = {
    dir,
    caFile: join(dir, leafnodeTlsFiles.ca),
    certFile: join(dir, leafnodeTlsFiles.cert),
    keyFile: join(dir, leafnodeTlsFiles.key),
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await readCa(dir, now);
  let made: string | undefined;
  let material;
  if (typeof ca === 'string') {
    material = createLeafnodeTls(cluster, devLeafnodeHosts, now);
    made = ca === firstRun ? `created the leaf node CA and serving certificate in ${dir}` : `${ca}; created a new leaf node CA and serving certificate in ${dir}`;
  } else {
    const serving = await checkServing(dir, ca.caPem, now);
    if (serving === undefined) {
      for (const f of [leafnodeTlsFiles.caKey, leafnodeTlsFiles.key]) await chmod(join(dir, f), 0o600);
      return paths;
    }
    material = createLeafnodeTls(cluster, devLeafnodeHosts, now, ca);
    made = `${serving}; signed a new leaf node serving certificate with the CA in ${dir}`;
  }
  if (typeof ca === 'string') {
    await put(join(dir, leafnodeTlsFiles.caKey), material.caKeyPem, 0o600);
    await put(paths.caFile, material.caPem, 0o644);
  }
  await put(paths.keyFile, material.privateKeyPem, 0o600);
  await put(paths.certFile, material.certificatePem, 0o644);
  return { ...paths, made };
}
