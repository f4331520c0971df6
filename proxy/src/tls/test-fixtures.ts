import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toWorkloadCertificate, type WorkloadCertificate } from '@meshbus/identity-client';
import { CertificateAuthority, createIssuer, createTrustAnchor, type TrustMaterial } from '@meshbus/trust';
import { createCsr } from '@meshbus/x509';
import type { CertificateSource } from './mesh-tls.js';

// Shared by this folder's tests and the proxy's end-to-end tests; not part of the built package.

const DAY = 86_400_000;

/** A mesh certificate authority made for a test: its anchor, issuer and signing CA. */
export interface TestMesh {
  readonly anchor: TrustMaterial;
  readonly issuer: TrustMaterial;
  readonly ca: CertificateAuthority;
  /** A leaf for `identity` signed by this mesh's issuer, as the identity client holds it. */
  certify(identity: string, options?: { lifetimeMs?: number }): Promise<WorkloadCertificate>;
}

/** A fresh trust anchor, an issuer signed by it, and the project's CA over them. */
export function createTestMesh(name = 'meshbus.test'): TestMesh {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * DAY) };
  const anchor = createTrustAnchor({ commonName: `root.${name}`, validity });
  const issuer = createIssuer({ anchor, commonName: `identity.${name}`, validity });
  const ca = CertificateAuthority.fromPem({ trustAnchorsPem: anchor.certificatePem, issuerCertificatePem: issuer.certificatePem, issuerKeyPem: issuer.privateKeyPem });
  return {
    anchor,
    issuer,
    ca,
    async certify(identity, options = {}) {
      const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const csrDer = createCsr({ privateKey, subjectAltNames: [{ type: 'dns', value: identity }] });
      const issued = await ca.issue({ identity, csrDer, ...(options.lifetimeMs === undefined ? {} : { lifetimeMs: options.lifetimeMs }) });
      const response = {
        leafCertificate: Buffer.from(issued.leafDer),
        intermediateCertificates: issued.intermediatesDer.map((der) => Buffer.from(der)),
        validUntil: issued.validUntil,
      };
      return toWorkloadCertificate(response, privateKey, identity, Date.now());
    },
  };
}

/** A certificate source a test pushes renewals into, shaped like the identity client. */
export class TestCertificateSource extends EventEmitter<{ certificate: [WorkloadCertificate] }> implements CertificateSource {
  current: WorkloadCertificate | undefined;

  constructor(initial?: WorkloadCertificate) {
    super();
    this.current = initial;
  }

  renew(certificate: WorkloadCertificate): void {
    this.current = certificate;
    this.emit('certificate', certificate);
  }
}

/** What `openssl s_client` saw of a mesh TLS server. */
export interface OpensslProbe {
  /** Whether the chain verified against the anchors (`Verify return code: 0 (ok)`). */
  readonly verified: boolean;
  /** The negotiated protocol, such as `TLSv1.3`, if a handshake completed. */
  readonly protocol: string | undefined;
  /** The certificates the server sent, PEM, leaf first. */
  readonly chainPem: readonly string[];
  /** The DNS name in the server's leaf, read with `openssl x509`. */
  readonly serverIdentity: string | undefined;
  /** Everything s_client printed, for assertion messages. */
  readonly output: string;
}

function run(command: string, args: readonly string[], input = ''): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(command, [...args], { timeout: 15_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ stdout, stderr, code });
    });
    child.stdin?.end(input);
  });
}

/**
 * Connects with `openssl s_client -tls1_3` to `host:port`, presenting `client`'s certificate and
 * key and trusting only `trustAnchorsPem`, and reports the chain and the server's identity.
 */
export async function probeWithOpenssl(options: {
  host?: string;
  port: number;
  trustAnchorsPem: string;
  client?: WorkloadCertificate;
  serverName?: string;
  /** Extra s_client arguments, such as `-tls1_2` instead of the default `-tls1_3`. */
  protocolFlag?: string;
}): Promise<OpensslProbe> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbus-tls-probe-'));
  try {
    writeFileSync(join(dir, 'anchors.pem'), options.trustAnchorsPem);
    const args = ['s_client', options.protocolFlag ?? '-tls1_3', '-connect', `${options.host ?? '127.0.0.1'}:${options.port}`, '-CAfile', join(dir, 'anchors.pem'), '-showcerts'];
    if (options.serverName !== undefined) args.push('-servername', options.serverName);
    if (options.client !== undefined) {
      writeFileSync(join(dir, 'client.pem'), options.client.certificatePem + options.client.chainPem);
      writeFileSync(join(dir, 'client.key'), options.client.privateKeyPem, { mode: 0o600 });
      args.push('-cert', join(dir, 'client.pem'), '-key', join(dir, 'client.key'));
    }
    const { stdout, stderr } = await run('openssl', args);
    const output = `${stdout}\n${stderr}`;
    const chainPem = [...stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)].map((match) => match[0]);
    let serverIdentity: string | undefined;
    if (chainPem[0] !== undefined) {
      const ext = await run('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], chainPem[0]);
      serverIdentity = /DNS:([^\s,]+)/.exec(ext.stdout)?.[1];
    }
    return {
      verified: /Verify return code: 0 \(ok\)/.test(stdout),
      protocol: /Protocol\s*:\s*(\S+)/.exec(stdout)?.[1] ?? /New, (TLSv[\d.]+),/.exec(stdout)?.[1],
      chainPem,
      serverIdentity,
      output,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
