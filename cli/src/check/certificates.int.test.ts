import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { createTrustAnchor, type TrustMaterial } from '@meshbus/trust';
import { createIntermediateCaCertificate, decodePem, encodePem } from '@meshbus/x509';
import { canSignCertificates, chainsTo, expiryOf, issuerOf, parseCertificateBundle } from './certificates.js';
import { anchor, issuer, servingCertificate, validity } from './test-installation.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshbus-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Whether `openssl verify` accepts `cert` against `ca`, optionally for a host name. */
async function opensslVerifies(ca: string, cert: string, host?: string): Promise<boolean> {
  const args = ['verify', '-CAfile', await file(`ca-${Math.random()}.pem`, ca), ...(host ? ['-verify_hostname', host] : []), await file(`c-${Math.random()}.pem`, cert)];
  return run('openssl', args).then(
    () => true,
    () => false,
  );
}

describe('certificate checks agree with openssl', () => {
  const anchors = anchor();
  const stranger = anchor('stranger');

  it('finds the issuer a CA certificate chains to, as openssl verify does', async () => {
    for (const [ca, cert] of [
      [anchors, issuer(anchors)],
      [stranger, issuer(anchors)],
      [anchors, issuer(stranger)],
    ] as const) {
      const ours = issuerOf(parseCertificateBundle(cert.certificatePem, 'cert')[0]!, parseCertificateBundle(ca.certificatePem, 'ca')) !== undefined;
      expect(ours).toBe(await opensslVerifies(ca.certificatePem, cert.certificatePem));
    }
  });

  it('refuses a certificate whose signature was tampered with, although its names match, as openssl does', async () => {
    const der = decodePem(issuer(anchors).certificatePem, 'CERTIFICATE');
    der.set([der.at(-1)! ^ 0x01], der.length - 1);
    const tampered = encodePem('CERTIFICATE', der);
    const facts = parseCertificateBundle(tampered, 'tampered')[0];
    const roots = parseCertificateBundle(anchors.certificatePem, 'anchors');
    expect(facts.x509.checkIssued(roots[0].x509)).toBe(true);
    expect(issuerOf(facts, roots)).toBeUndefined();
    expect(await opensslVerifies(anchors.certificatePem, tampered)).toBe(false);
  });

  it('accepts a serving certificate for its service name only, as openssl does', async () => {
    const serving = servingCertificate(anchors, 'meshbus-injector.meshbus.svc');
    const leaf = parseCertificateBundle(serving.certificatePem, 'serving')[0]!;
    expect(leaf.x509.checkHost('meshbus-injector.meshbus.svc')).toBe('meshbus-injector.meshbus.svc');
    expect(await opensslVerifies(anchors.certificatePem, serving.certificatePem, 'meshbus-injector.meshbus.svc')).toBe(true);
    expect(leaf.x509.checkHost('meshbus-injector.other.svc')).toBeUndefined();
    expect(await opensslVerifies(anchors.certificatePem, serving.certificatePem, 'meshbus-injector.other.svc')).toBe(false);
    expect(canSignCertificates(leaf)).toBe(false);
    expect(canSignCertificates(parseCertificateBundle(anchors.certificatePem, 'anchors')[0]!)).toBe(true);
  });

  it('tells expired and expiring certificates apart, as openssl x509 -checkend does', async () => {
    const soon = issuer(anchors, validity(10, 3));
    const pem = await file('soon.pem', soon.certificatePem);
    const facts = parseCertificateBundle(soon.certificatePem, 'soon')[0]!;
    const now = new Date();
    expect(expiryOf(facts, now, 7).state).toBe('expiring');
    expect(expiryOf(facts, now, 2).state).toBe('valid');
    // -checkend N fails when the certificate expires within N seconds.
    await expect(run('openssl', ['x509', '-noout', '-checkend', String(7 * 86_400), '-in', pem])).rejects.toThrow();
    await expect(run('openssl', ['x509', '-noout', '-checkend', String(2 * 86_400), '-in', pem])).resolves.toBeDefined();
    const expired = parseCertificateBundle(issuer(anchors, validity(10, -1)).certificatePem, 'expired')[0]!;
    expect(expiryOf(expired, now, 7).state).toBe('expired');
  });

  it('follows intermediates to the anchors, as openssl verify -untrusted does', async () => {
    // anchor → intermediate (without a path length limit) → issuer
    const middle: TrustMaterial = (() => {
      const key = createTrustAnchor({ commonName: 'throwaway', validity: validity(1, 30) });
      const der = createIntermediateCaCertificate({
        commonName: 'intermediate.meshbus.cluster.local',
        publicKey: createPrivateKey(key.privateKeyPem),
        issuer: { certificateDer: decodePem(anchors.certificatePem, 'CERTIFICATE'), privateKey: createPrivateKey(anchors.privateKeyPem) },
        validity: validity(1, 30),
      });
      return { certificatePem: encodePem('CERTIFICATE', der), privateKeyPem: key.privateKeyPem };
    })();
    const below = issuer(middle);
    const [leaf, ...rest] = parseCertificateBundle(below.certificatePem + middle.certificatePem, 'issuer chain');
    const roots = parseCertificateBundle(anchors.certificatePem, 'anchors');
    expect(chainsTo(leaf, rest, roots)).toBe(true);
    expect(chainsTo(leaf, [], roots)).toBe(false);
    expect(chainsTo(leaf, rest, parseCertificateBundle(stranger.certificatePem, 'stranger'))).toBe(false);
    const args = ['verify', '-CAfile', await file('root.pem', anchors.certificatePem), '-untrusted', await file('mid.pem', middle.certificatePem), await file('leaf.pem', below.certificatePem)];
    await expect(run('openssl', args)).resolves.toBeDefined();
    await expect(run('openssl', ['verify', '-CAfile', await file('root2.pem', anchors.certificatePem), await file('leaf2.pem', below.certificatePem)])).rejects.toThrow();
  });

  it('names what holds no certificate', () => {
    expect(() => parseCertificateBundle('hello', 'configmap meshbus-trust-anchors')).toThrow(/^configmap meshbus-trust-anchors holds no PEM certificate/);
  });
});
