import { MeshbusError } from '@meshbus/core';
import { chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrustMaterial } from './trust-material.js';

/** File names {@link writeTrustMaterial} uses inside its directory. */
export const TrustMaterialFile = {
  anchorCertificate: 'ca.crt',
  anchorKey: 'ca.key',
  issuerCertificate: 'issuer.crt',
  issuerKey: 'issuer.key',
} as const;

/** What {@link writeTrustMaterial} writes. */
export interface TrustMaterialFiles {
  /** The anchor; without its key only `ca.crt` is written. */
  readonly anchor: Pick<TrustMaterial, 'certificatePem'> & Partial<Pick<TrustMaterial, 'privateKeyPem'>>;
  readonly issuer: TrustMaterial;
  /** Replace files that already exist. @default false: if any exists, nothing is written ({@link TrustMaterialExistsError}) */
  readonly overwrite?: boolean;
}

/** {@link writeTrustMaterial} found files it would replace and `overwrite` was not set. */
export class TrustMaterialExistsError extends MeshbusError {
  override readonly name = 'TrustMaterialExistsError';
  readonly paths: readonly string[];

  constructor(paths: readonly string[]) {
    super('TrustMaterialExists', `refusing to overwrite existing trust material: ${paths.join(', ')}`);
    this.paths = paths;
  }
}

const KEY_MODE = 0o600;
const CERTIFICATE_MODE = 0o644;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : Promise.reject(error)),
  );
}

/**
 * Writes `ca.crt`, `ca.key`, `issuer.crt` and `issuer.key` into `dir` (created if missing, mode 0700).
 * Keys get mode 0600 from the moment they exist, certificates 0644; a replaced file is swapped in by
 * rename. Returns the paths written.
 */
export async function writeTrustMaterial(dir: string, files: TrustMaterialFiles): Promise<string[]> {
  const entries: [path: string, content: string, mode: number][] = [
    [join(dir, TrustMaterialFile.anchorCertificate), files.anchor.certificatePem, CERTIFICATE_MODE],
  ];
  if (files.anchor.privateKeyPem !== undefined) {
    entries.push([join(dir, TrustMaterialFile.anchorKey), files.anchor.privateKeyPem, KEY_MODE]);
  }
  entries.push([join(dir, TrustMaterialFile.issuerCertificate), files.issuer.certificatePem, CERTIFICATE_MODE]);
  entries.push([join(dir, TrustMaterialFile.issuerKey), files.issuer.privateKeyPem, KEY_MODE]);

  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (files.overwrite !== true) {
    const present: string[] = [];
    for (const [path] of entries) if (await exists(path)) present.push(path);
    if (present.length > 0) throw new TrustMaterialExistsError(present);
  }
  for (const [path, content, mode] of entries) {
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, content, { mode, flag: 'wx' });
    // writeFile's mode is reduced by the umask; set it exactly.
    await chmod(temporary, mode);
    await rename(temporary, path);
  }
  return entries.map(([path]) => path);
}
