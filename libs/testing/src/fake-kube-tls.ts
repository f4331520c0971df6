import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A serving certificate and its key, PEM. */
export interface ServingCertificate {
  certificatePem: string;
  keyPem: string;
}

/**
 * A self-signed P-256 certificate for 127.0.0.1 and localhost, made with `openssl`. It is its own
 * CA: clients trust it through the kubeconfig's `certificate-authority-data`.
 */
export async function selfSignedServingCertificate(): Promise<ServingCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-tls-'));
  try {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await promisify(execFile)(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=fake-kube-api',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
      { timeout: 20_000 },
    ).catch((error: unknown) => {
      throw new Error(`the fake Kubernetes API server's TLS certificate could not be made with openssl: ${(error as Error).message}`);
    });
    return { certificatePem: await readFile(cert, 'utf8'), keyPem: await readFile(key, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
