import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePem, parseCertificate } from '@meshbus/x509';
import { InstallMaterialError, checkIdentityMaterial, createIdentityMaterial, createInjectorTls } from './material.js';
import { chooseMaterial } from './plan.js';

const now = new Date('2026-06-01T00:00:00Z');
const version = '0.1.0';
const notAfter = (pem: string) => parseCertificate(decodePem(pem, 'CERTIFICATE')).notAfter;

describe('chooseMaterial', () => {
  it('creates what there is nothing to keep: an issuer that chains to its anchor, a webhook certificate, NATS logins', () => {
    const material = chooseMaterial({ values: {}, version, now });
    expect(() => checkIdentityMaterial(material.identity, 'generated', now)).not.toThrow();
    expect(material.gatewayTls?.certificatePem).toContain(material.identity.issuer?.certificatePem);
    expect(Object.keys(material.natsUsers).sort()).toEqual(['destination', 'gateway', 'identity', 'injector', 'multicluster', 'policy', 'reader', 'tap', 'workload']);
    expect(new Set(Object.values(material.natsUsers).map((l) => l.password)).size).toBe(9);
  });

  it('keeps the running installation\'s material, and adds a login for a role it lacks', () => {
    const first = chooseMaterial({ values: {}, version, now });
    const { reader: _dropped, ...logins } = first.natsUsers;
    const second = chooseMaterial({ values: {}, version, now, existing: { identity: first.identity, injectorTls: first.injectorTls, gatewayTls: first.gatewayTls!, natsUsers: logins } });
    expect(second.identity).toBe(first.identity);
    expect(second.injectorTls).toBe(first.injectorTls);
    expect(second.gatewayTls).toBe(first.gatewayTls);
    expect(second.natsUsers.identity).toEqual(first.natsUsers.identity);
    expect(second.natsUsers.reader.password).not.toBe(first.natsUsers.reader.password);
  });

  it('renews a webhook certificate near its end, and re-signs the gateway certificate for a new issuer', () => {
    const first = chooseMaterial({ values: {}, version, now });
    const later = new Date(notAfter(first.injectorTls.certificatePem).getTime() - 86_400_000);
    const renewed = chooseMaterial({ values: { gateway: { tls: false } }, version, now: later, existing: { identity: first.identity, injectorTls: first.injectorTls } });
    expect(renewed.injectorTls.caPem).not.toBe(first.injectorTls.caPem);
    expect(() => chooseMaterial({ values: {}, version, now: later, existing: { identity: first.identity } })).toThrow(/^the issuer expired on .*--identity-dir$/);
    const rotated = createIdentityMaterial('cluster.local', now);
    const next = chooseMaterial({ values: {}, version, now, identity: rotated, existing: { identity: first.identity, injectorTls: first.injectorTls, gatewayTls: first.gatewayTls! } });
    expect(next.identity).toBe(rotated);
    expect(next.gatewayTls?.certificatePem).not.toBe(first.gatewayTls?.certificatePem);
    expect(next.injectorTls).toBe(first.injectorTls);
  });

  it('with an external issuer, needs the anchors and renders no gateway certificate of its own', () => {
    expect(() => chooseMaterial({ values: { identity: { issuer: { external: true } } }, version, now })).toThrow(InstallMaterialError);
    const anchors = { trustAnchorsPem: createIdentityMaterial('cluster.local', now).trustAnchorsPem };
    const material = chooseMaterial({ values: { identity: { issuer: { external: true } } }, version, now, identity: anchors });
    expect(material.identity.issuer).toBeUndefined();
    expect(material.gatewayTls).toBeUndefined();
  });

  it('refuses anchors without an issuer when the issuer is not external', () => {
    const anchors = { trustAnchorsPem: createIdentityMaterial('cluster.local', now).trustAnchorsPem };
    expect(() => chooseMaterial({ values: {}, version, now, identity: anchors })).toThrow(/issuer certificate and key are needed/);
  });

  it('refuses an issuer that does not chain to the anchors', () => {
    const a = createIdentityMaterial('cluster.local', now);
    const b = createIdentityMaterial('cluster.local', now);
    expect(() => checkIdentityMaterial({ trustAnchorsPem: a.trustAnchorsPem, issuer: b.issuer! }, '--identity-dir x', now)).toThrow(/^--identity-dir x: the identity service would refuse this issuer/);
  });

  it('signs the webhook certificate for the injector Service of the namespace', () => {
    const tls = createInjectorTls('mesh-system', now);
    expect(parseCertificate(decodePem(tls.certificatePem, 'CERTIFICATE')).subject).toBeDefined();
    expect(Buffer.from(decodePem(tls.certificatePem, 'CERTIFICATE')).toString('latin1')).toContain('meshbus-injector.mesh-system.svc');
  });
});

describe('link logins', () => {
  const values = { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west', 'north'] } };

  it('creates a password for each cluster in exportTo, keeps it on upgrade, and drops a cluster no longer listed', () => {
    const first = chooseMaterial({ values, version, now });
    expect(Object.keys(first.linkPasswords ?? {}).sort()).toEqual(['north', 'west']);
    expect(first.linkPasswords!.west).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(first.linkPasswords!.west).not.toBe(first.linkPasswords!.north);
    const second = chooseMaterial({ values: { multicluster: { ...values.multicluster, exportTo: ['west'] } }, version, now, existing: { linkPasswords: first.linkPasswords! } });
    expect(second.linkPasswords).toEqual({ west: first.linkPasswords!.west });
    expect(chooseMaterial({ values: {}, version, now }).linkPasswords).toBeUndefined();
  });
});

describe('the leaf node certificate', () => {
  const values = { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'], leafnode: { tls: { hosts: ['nats.east.example', '203.0.113.9'] } } } };
  const x509 = (pem: string) => new X509Certificate(pem);

  it('is ECDSA P-256, names the Service and the given hosts, and is signed by a CA of its own', () => {
    const tls = chooseMaterial({ values, version, now }).leafnodeTls!;
    const cert = x509(tls.certificatePem);
    const ca = x509(tls.caPem);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(cert.checkPrivateKey(createPrivateKey(tls.privateKeyPem))).toBe(true);
    expect(ca.checkPrivateKey(createPrivateKey(tls.caKeyPem))).toBe(true);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkHost('nats.east.example')).toBe('nats.east.example');
    expect(cert.checkIP('203.0.113.9')).toBe('203.0.113.9');
    expect(cert.checkHost('meshbus-nats-leafnodes.meshbus.svc.cluster.local')).toBe('meshbus-nats-leafnodes.meshbus.svc.cluster.local');
    expect(cert.checkHost('other.example')).toBeUndefined();
    expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(ca.subject).toBe('CN=meshbus-nats-leafnode-ca.meshbus');
  });

  it('keeps the CA and certificate on upgrade, re-signs with the same CA for new hosts or near its end, and is not made in clear or without exports', () => {
    const first = chooseMaterial({ values, version, now }).leafnodeTls!;
    expect(chooseMaterial({ values, version, now, existing: { leafnodeTls: first } }).leafnodeTls).toEqual(first);
    const moved = chooseMaterial({ values: { multicluster: { ...values.multicluster, leafnode: { tls: { hosts: ['leaf.east.example'] } } } }, version, now, existing: { leafnodeTls: first } }).leafnodeTls!;
    expect(moved.caPem).toBe(first.caPem);
    expect(moved.certificatePem).not.toBe(first.certificatePem);
    expect(x509(moved.certificatePem).checkHost('leaf.east.example')).toBe('leaf.east.example');
    expect(x509(moved.certificatePem).checkHost('nats.east.example')).toBeUndefined();
    expect(x509(moved.certificatePem).checkIssued(x509(first.caPem))).toBe(true);
    const later = new Date(notAfter(first.certificatePem).getTime() - 10 * 86_400_000);
    const renewed = chooseMaterial({ values, version, now: later, existing: { leafnodeTls: first } }).leafnodeTls!;
    expect(renewed.caPem).toBe(first.caPem);
    expect(notAfter(renewed.certificatePem).getTime()).toBeLessThanOrEqual(notAfter(first.caPem).getTime());
    expect(chooseMaterial({ values: { multicluster: { ...values.multicluster, leafnode: { tls: { enabled: false } } } }, version, now }).leafnodeTls).toBeUndefined();
    expect(chooseMaterial({ values: { multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'tls://a:7422' }] } }, version, now }).leafnodeTls).toBeUndefined();
  });
});
