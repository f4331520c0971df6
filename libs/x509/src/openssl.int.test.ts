import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Oid,
  createCsr,
  createIntermediateCaCertificate,
  createLeafCertificate,
  createRootCaCertificate,
  decodePem,
  encodePem,
  parseCertificate,
  parseCsr,
  verifyCsrSignature,
} from './index.js';

let dir: string;

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshbus-x509-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const now = new Date();
const validity = { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 30 * 86_400_000) };
const identity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

describe('certificates we build, checked by openssl', () => {
  it('verifies root, intermediate and leaf under -x509_strict for TLS server and client use', () => {
    const rootKey = p256();
    const rootDer = createRootCaCertificate({ commonName: 'root.meshbus', privateKey: rootKey, validity });
    const issuerKey = p256();
    const issuerDer = createIntermediateCaCertificate({
      commonName: 'issuer.meshbus',
      publicKey: issuerKey,
      issuer: { certificateDer: rootDer, privateKey: rootKey },
      validity,
      pathLen: 0,
    });
    const leafDer = createLeafCertificate({
      dnsName: identity,
      publicKey: p256(),
      issuer: { certificateDer: issuerDer, privateKey: issuerKey },
      validity: { notBefore: now, notAfter: new Date(now.getTime() + 86_400_000) },
    });
    write('root.pem', encodePem('CERTIFICATE', rootDer));
    write('issuer.pem', encodePem('CERTIFICATE', issuerDer));
    write('leaf.pem', encodePem('CERTIFICATE', leafDer));

    expect(openssl('verify', '-x509_strict', '-CAfile', 'root.pem', 'root.pem')).toContain('root.pem: OK');
    expect(openssl('verify', '-x509_strict', '-CAfile', 'root.pem', 'issuer.pem')).toContain('issuer.pem: OK');
    for (const purpose of ['sslserver', 'sslclient']) {
      expect(openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', 'root.pem', '-untrusted', 'issuer.pem', 'leaf.pem')).toContain('leaf.pem: OK');
    }
    const text = openssl('x509', '-in', 'leaf.pem', '-noout', '-text');
    expect(text).toMatch(/Subject Alternative Name: critical\s+DNS:web\.shop\.serviceaccount\.identity\.meshbus\.cluster\.local/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    const serial = openssl('x509', '-in', 'leaf.pem', '-noout', '-serial').trim().split('=')[1]!;
    expect(BigInt(`0x${serial}`)).toBe(parseCertificate(leafDer).serialNumber);
    expect(() => openssl('asn1parse', '-in', 'leaf.pem', '-strictpem')).not.toThrow();
  });

  it('produces CSRs that openssl reads and verifies', () => {
    const der = createCsr({
      privateKey: p256(),
      commonName: identity,
      subjectAltNames: [
        { type: 'dns', value: identity },
        { type: 'ip', value: '10.0.0.7' },
        { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
      ],
    });
    write('request.pem', encodePem('CERTIFICATE REQUEST', der));
    const result = execFileSync('openssl', ['req', '-in', 'request.pem', '-verify', '-noout', '-text'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(result).toContain(`Subject: CN = ${identity}`);
    expect(result).toMatch(/DNS:web\.shop\.serviceaccount\.identity\.meshbus\.cluster\.local, IP Address:10\.0\.0\.7, URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/);
    const verify = execFileSync('sh', ['-c', 'openssl req -in request.pem -verify -noout 2>&1'], { cwd: dir, encoding: 'utf8' });
    expect(verify).toMatch(/verify OK/i);
  });
});

describe('certificates and CSRs made by openssl, read by us', () => {
  it('parses an openssl CSR with every SAN kind and verifies its signature', async () => {
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem');
    openssl(
      'req', '-new', '-key', 'key.pem', '-subj', `/CN=${identity}/O=shop`,
      '-addext', `subjectAltName=DNS:${identity},IP:192.0.2.1,IP:2001:db8::1,email:ops@example.com,URI:spiffe://cluster.local/ns/shop/sa/web`,
      '-outform', 'DER', '-out', 'request.der',
    );
    const csr = parseCsr(new Uint8Array(readFileSync(join(dir, 'request.der'))));
    expect(csr.subject.commonNames).toEqual([identity]);
    expect(csr.subject.attributes.map((attribute) => attribute.type)).toEqual([Oid.commonName, Oid.organizationName]);
    expect(csr.subjectAltNames).toEqual([
      { type: 'dns', value: identity },
      { type: 'ip', value: '192.0.2.1' },
      { type: 'ip', value: '2001:db8::1' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'uri', value: 'spiffe://cluster.local/ns/shop/sa/web' },
    ]);
    await verifyCsrSignature(csr);
  });

  it('parses an openssl CSR with an empty subject', async () => {
    openssl('req', '-new', '-key', 'key.pem', '-subj', '/', '-addext', `subjectAltName=DNS:${identity}`, '-outform', 'DER', '-out', 'empty.der');
    const csr = parseCsr(new Uint8Array(readFileSync(join(dir, 'empty.der'))));
    expect(csr.subject.attributes).toEqual([]);
    expect(csr.subjectAltNames).toEqual([{ type: 'dns', value: identity }]);
    await verifyCsrSignature(csr);
  });

  it('refuses openssl CSRs with RSA and P-384 keys as unsupported', async () => {
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.pem');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'p384.pem');
    for (const key of ['rsa.pem', 'p384.pem']) {
      openssl('req', '-new', '-key', key, '-subj', '/', '-addext', `subjectAltName=DNS:${identity}`, '-outform', 'DER', '-out', `${key}.der`);
      const csr = parseCsr(new Uint8Array(readFileSync(join(dir, `${key}.der`))));
      await expect(verifyCsrSignature(csr)).rejects.toMatchObject({ code: 'UnsupportedKey' });
    }
  });

  it('parses an openssl CA certificate with v3 extensions, RSA and EC alike', () => {
    write(
      'ca.cnf',
      [
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '[v3_ca]',
        'basicConstraints = critical,CA:TRUE,pathlen:2',
        'keyUsage = critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'),
    );
    for (const key of ['key.pem', 'rsa.pem']) {
      openssl('req', '-x509', '-new', '-key', key, '-subj', '/C=DE/O=Example/CN=Example Root', '-days', '3650', '-config', 'ca.cnf', '-extensions', 'v3_ca', '-out', `${key}.crt`);
    }
    for (const key of ['key.pem', 'rsa.pem']) {
      const pem = readFileSync(join(dir, `${key}.crt`), 'utf8');
      const certificate = parseCertificate(decodePem(pem, 'CERTIFICATE'));
      expect(certificate.subject.attributes).toEqual([
        { type: Oid.countryName, value: 'DE' },
        { type: Oid.organizationName, value: 'Example' },
        { type: Oid.commonName, value: 'Example Root' },
      ]);
      expect(certificate.basicConstraints).toEqual({ ca: true, pathLen: 2 });
      expect(certificate.keyUsage).toEqual(['keyCertSign', 'cRLSign']);
      expect(certificate.authorityKeyIdentifier).toEqual(certificate.subjectKeyIdentifier);
      const serial = openssl('x509', '-in', `${key}.crt`, '-noout', '-serial').trim().split('=')[1]!;
      expect(certificate.serialNumber).toBe(BigInt(`0x${serial}`));
      const expectedDays = (certificate.notAfter.getTime() - certificate.notBefore.getTime()) / 86_400_000;
      expect(expectedDays).toBe(3650);
    }
  });
});
