import { generateKeyPairSync } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createIssuer, createTrustAnchor, writeTrustMaterial } from '@meshbus/trust';

const day = 86_400_000;

/** Files of the workload-token key pair next to the trust material. */
export const tokenKeyFiles = { privateKey: 'token.key', publicKey: 'token.pub' } as const;

/**
 * Creates what the identity service needs in local mode, in `dir`: a trust
 * anchor and an issuer (ECDSA P-256, `ca.crt`/`ca.key`/`issuer.crt`/`issuer.key`)
 * and an ES256 key pair for signing workload tokens (`token.key`/`token.pub`).
 * Refuses to overwrite anything. Returns the paths written.
 */
export async function createDevIdentity(dir: string, now: Date = new Date()): Promise<string[]> {
  const notBefore = new Date(now.getTime() - 60_000);
  const anchor = createTrustAnchor({ commonName: 'root.meshbus.cluster.local', validity: { notBefore, notAfter: new Date(now.getTime() + 3650 * day) } });
  const issuer = createIssuer({ anchor, commonName: 'identity.meshbus.cluster.local', validity: { notBefore, notAfter: new Date(now.getTime() + 365 * day) } });
  const written = await writeTrustMaterial(dir, { anchor, issuer });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keys: [string, string, number][] = [
    [join(dir, tokenKeyFiles.privateKey), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600],
    [join(dir, tokenKeyFiles.publicKey), publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644],
  ];
  for (const [path, pem, mode] of keys) {
    await writeFile(path, pem, { mode, flag: 'wx' });
    await chmod(path, mode);
    written.push(path);
  }
  return written;
}
