import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePem } from '@meshbus/x509';
import { CertificateAuthority } from '@meshbus/trust';
import type { IdentityError } from '@meshbus/trust';
import { identityName } from '@meshbus/core';
import { createIssuer, createTrustAnchor } from '@meshbus/trust';
import { writeTrustMaterial } from '@meshbus/trust';

const HOUR = 3_600_000;
const identity = identityName({ serviceAccount: 'web', namespace: 'shop', controlNamespace: 'meshbus', trustDomain: 'cluster.local' });
let dir: string;

function openssl(...args: string[]): string {
  try {
    return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`openssl ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

function file(name: string, content?: string | Uint8Array): string {
  if (content !== undefined) writeFileSync(join(dir, name), content);
  return name;
}

function read(name: string): string {
  return readFileSync(join(dir, name), 'utf8');
}

/** An openssl EC P-256 key and a DER CSR for it. */
function opensslCsr(name: string, options: { subject?: string; san?: string; curve?: string } = {}): Uint8Array {
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${options.curve ?? 'P-256'}`, '-out', `${name}.key`);
  openssl('req', '-new', '-key', `${name}.key`, '-subj', options.subject ?? '/', '-addext', `subjectAltName=${options.san ?? `DNS:${identity}`}`, '-outform', 'DER', '-out', `${name}.csr`);
  return new Uint8Array(readFileSync(join(dir, `${name}.csr`)));
}

const V3_EXTENSIONS = [
  '[req]',
  'distinguished_name = dn',
  '[dn]',
  '[root]',
  'basicConstraints = critical,CA:TRUE',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  '[intermediate]',
  'basicConstraints = critical,CA:TRUE,pathlen:1',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
  '[issuer]',
  'basicConstraints = critical,CA:TRUE,pathlen:0',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
  '[not_ca]',
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature',
  '',
].join('\n');

/** An openssl self-signed root (`req -x509`). */
function opensslRoot(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-days', '30', '-config', 'v3.cnf', '-extensions', 'root', '-out', `${name}.pem`);
}

/** An openssl CA signed by `parent` (`x509 -req` with a v3 extensions file). */
function opensslSigned(name: string, parent: string, section: string): void {
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${name}`, '-config', 'v3.cnf', '-out', `${name}.csr.pem`);
  openssl('x509', '-req', '-in', `${name}.csr.pem`, '-CA', `${parent}.pem`, '-CAkey', `${parent}.key`, '-CAcreateserial', '-days', '10', '-extfile', 'v3.cnf', '-extensions', section, '-out', `${name}.pem`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshbus-identity-'));
  file('v3.cnf', V3_EXTENSIONS);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('meshbus trust material with openssl', () => {
  const now = new Date();
  const validity = { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 365 * 24 * HOUR) };
  const anchor = createTrustAnchor({ commonName: 'root.meshbus.cluster.local', validity });
  const issuer = createIssuer({ anchor, commonName: 'identity.meshbus.cluster.local', validity });
  const authority = CertificateAuthority.fromPem({
    trustAnchorsPem: anchor.certificatePem,
    issuerCertificatePem: issuer.certificatePem,
    issuerKeyPem: issuer.privateKeyPem,
  });

  beforeAll(() => {
    file('anchor.pem', anchor.certificatePem);
    file('issuer.pem', issuer.certificatePem);
  });

  it('makes an anchor and an issuer that openssl verifies strictly', () => {
    expect(openssl('verify', '-x509_strict', '-CAfile', 'anchor.pem', 'anchor.pem')).toContain('anchor.pem: OK');
    expect(openssl('verify', '-x509_strict', '-CAfile', 'anchor.pem', 'issuer.pem')).toContain('issuer.pem: OK');
    expect(openssl('x509', '-in', 'issuer.pem', '-noout', '-text')).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  });

  it('certifies an openssl CSR with an empty subject; openssl verifies the leaf and shows its profile', async () => {
    const issued = await authority.issue({ identity, csrDer: opensslCsr('empty-subject') });
    file('leaf.pem', encodePem('CERTIFICATE', issued.leafDer));
    file('chain.pem', issued.intermediatesDer.map((der) => encodePem('CERTIFICATE', der)).join(''));

    expect(openssl('verify', '-CAfile', 'anchor.pem', '-untrusted', 'issuer.pem', 'leaf.pem')).toContain('leaf.pem: OK');
    for (const purpose of ['sslserver', 'sslclient']) {
      expect(openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', 'anchor.pem', '-untrusted', 'chain.pem', 'leaf.pem')).toContain('leaf.pem: OK');
    }
    const text = openssl('x509', '-in', 'leaf.pem', '-noout', '-text');
    expect(text).toMatch(new RegExp(`Subject Alternative Name: critical\\s+DNS:${identity.replace(/\./g, '\\.')}\\s`));
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toMatch(/Subject: *\n/);

    const dates = openssl('x509', '-in', 'leaf.pem', '-noout', '-dates');
    const notBefore = Date.parse(/notBefore=(.*)/.exec(dates)![1]!);
    const notAfter = Date.parse(/notAfter=(.*)/.exec(dates)![1]!);
    expect(Math.abs(notAfter - notBefore - 24 * HOUR - 40_000)).toBeLessThanOrEqual(1000);
    expect(Math.abs(notBefore - (Date.now() - 20_000))).toBeLessThan(60_000);
    expect(notAfter).toBe(issued.validUntil.getTime());
    const serial = openssl('x509', '-in', 'leaf.pem', '-noout', '-serial').trim().split('=')[1]!;
    expect(BigInt(`0x${serial}`)).toBe(BigInt(`0x${issued.serial}`));
  });

  it('certifies an openssl CSR whose CN is the identity', async () => {
    const issued = await authority.issue({ identity, csrDer: opensslCsr('with-cn', { subject: `/CN=${identity}` }) });
    file('leaf-cn.pem', encodePem('CERTIFICATE', issued.leafDer));
    expect(openssl('verify', '-x509_strict', '-CAfile', 'anchor.pem', '-untrusted', 'issuer.pem', 'leaf-cn.pem')).toContain('leaf-cn.pem: OK');
  });

  it('refuses openssl CSRs with an extra IP SAN, another name, or a P-384 key', async () => {
    const refusal = async (csrDer: Uint8Array) => authority.issue({ identity, csrDer }).then(() => undefined, (error: unknown) => error as IdentityError);
    expect(await refusal(opensslCsr('extra-ip', { san: `DNS:${identity},IP:10.0.0.1` }))).toMatchObject({ code: 'CsrForbiddenSan' });
    expect(await refusal(opensslCsr('other-name', { san: 'DNS:admin.kube-system.serviceaccount.identity.meshbus.cluster.local' }))).toMatchObject({
      code: 'CsrSanMismatch',
    });
    expect(await refusal(opensslCsr('p384', { curve: 'P-384' }))).toMatchObject({ code: 'CsrKeyUnsupported' });
  });

  it('writes files that openssl reads, with the key matching the certificate', async () => {
    await writeTrustMaterial(join(dir, 'written'), { anchor, issuer });
    expect(openssl('verify', '-CAfile', 'written/ca.crt', 'written/issuer.crt')).toContain('OK');
    const fromKey = openssl('pkey', '-in', 'written/issuer.key', '-pubout');
    const fromCertificate = openssl('x509', '-in', 'written/issuer.crt', '-noout', '-pubkey');
    expect(fromKey).toBe(fromCertificate);
  });
});

describe('openssl-made CAs in a CertificateAuthority', () => {
  beforeAll(() => {
    opensslRoot('root');
    opensslSigned('issuer', 'root', 'issuer');
    opensslSigned('intermediate', 'root', 'intermediate');
    opensslSigned('deep-issuer', 'intermediate', 'issuer');
    opensslRoot('stranger');
    opensslSigned('stranger-issuer', 'stranger', 'issuer');
    opensslSigned('not-ca', 'root', 'not_ca');
  });

  const authorityFrom = (issuerPem: string, issuerKey: string, anchors = 'root.pem') =>
    CertificateAuthority.fromPem({ trustAnchorsPem: read(anchors), issuerCertificatePem: issuerPem, issuerKeyPem: read(issuerKey) });

  it('accepts an openssl root and issuer, and its leaves verify', async () => {
    const authority = authorityFrom(read('issuer.pem'), 'issuer.key');
    const issued = await authority.issue({ identity, csrDer: opensslCsr('for-openssl-issuer') });
    file('openssl-issued-leaf.pem', encodePem('CERTIFICATE', issued.leafDer));
    expect(openssl('verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'issuer.pem', 'openssl-issued-leaf.pem')).toContain('OK');
  });

  it('accepts an openssl issuer below an intermediate when the chain file includes it', async () => {
    const authority = authorityFrom(read('deep-issuer.pem') + read('intermediate.pem'), 'deep-issuer.key');
    const issued = await authority.issue({ identity, csrDer: opensslCsr('for-deep-issuer') });
    expect(issued.intermediatesDer).toHaveLength(2);
    file('deep-leaf.pem', encodePem('CERTIFICATE', issued.leafDer));
    file('deep-chain.pem', issued.intermediatesDer.map((der) => encodePem('CERTIFICATE', der)).join(''));
    expect(openssl('verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'deep-chain.pem', 'deep-leaf.pem')).toContain('OK');
  });

  it('refuses an openssl issuer that does not chain to the anchors', () => {
    expect(() => authorityFrom(read('stranger-issuer.pem'), 'stranger-issuer.key')).toThrow(expect.objectContaining({ code: 'IssuerNotTrusted' }));
    expect(() => authorityFrom(read('deep-issuer.pem'), 'deep-issuer.key')).toThrow(expect.objectContaining({ code: 'IssuerNotTrusted' }));
  });

  it('refuses an openssl certificate that is not a CA, and a key from another issuer', () => {
    expect(() => authorityFrom(read('not-ca.pem'), 'not-ca.key')).toThrow(expect.objectContaining({ code: 'IssuerNotCa' }));
    expect(() => authorityFrom(read('issuer.pem'), 'stranger-issuer.key')).toThrow(expect.objectContaining({ code: 'IssuerKeyMismatch' }));
  });
});
