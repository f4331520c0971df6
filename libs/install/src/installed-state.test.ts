import { describe, expect, it } from 'vitest';
import { materialFromObjects, storedValues } from './installed-state.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('storedValues', () => {
  it('separates the version the installation was rendered with from the given values', () => {
    expect(storedValues('ha: true\nversion: 0.2.0\nnats:\n  url: nats://a:4222\n', 'cm')).toEqual({ values: { ha: true, nats: { url: 'nats://a:4222' } }, version: '0.2.0' });
    expect(storedValues('', 'cm')).toEqual({ values: {} });
  });

  it('names what is wrong with stored values', () => {
    expect(() => storedValues('- a\n', 'ConfigMap meshbus/meshbus-install-values')).toThrow('the stored values cannot be read: ConfigMap meshbus/meshbus-install-values does not hold a mapping');
    expect(() => storedValues('replicas: 3\n', 'cm')).toThrow('the stored values cannot be read: replicas: is not a known value (in cm)');
  });
});

describe('materialFromObjects', () => {
  it('reads the issuer, anchors, serving certificates and NATS logins an upgrade keeps', () => {
    const material = materialFromObjects({
      issuer: { data: { 'tls.crt': b64('issuer'), 'tls.key': b64('key'), 'ca.crt': b64('anchors from the secret') } },
      anchors: { data: { 'ca.crt': 'anchors' } },
      injectorTls: { data: { 'tls.crt': b64('cert'), 'tls.key': b64('key'), 'ca.crt': b64('ca') } },
      natsUsers: { data: { identity: b64('pw'), 'identity.user': b64('mesh-identity'), gateway: b64('pw2') } },
    });
    expect(material.identity).toEqual({ trustAnchorsPem: 'anchors', issuer: { certificatePem: 'issuer', privateKeyPem: 'key' } });
    expect(material.injectorTls).toEqual({ caPem: 'ca', certificatePem: 'cert', privateKeyPem: 'key' });
    expect(material.gatewayTls).toBeUndefined();
    expect(material.natsUsers).toEqual({ identity: { user: 'mesh-identity', password: 'pw' }, gateway: { user: 'gateway', password: 'pw2' } });
  });

  it('takes the anchors from the issuer Secret when there is no ConfigMap, and a partial TLS Secret as none', () => {
    const material = materialFromObjects({ issuer: { data: { 'ca.crt': b64('anchors') } }, injectorTls: { data: { 'tls.crt': b64('cert') } } });
    expect(material.identity).toEqual({ trustAnchorsPem: 'anchors' });
    expect(material.injectorTls).toBeUndefined();
  });
});

describe('materialFromObjects with link logins', () => {
  it('reads the link passwords an exporting cluster gave, by cluster', () => {
    const material = materialFromObjects({ natsUsers: { data: { multicluster: b64('pw'), 'link-west': b64('link-pw'), 'link-north-1': b64('pw2'), 'auth.conf': b64('authorization {}') } } });
    expect(material.linkPasswords).toEqual({ west: 'link-pw', 'north-1': 'pw2' });
    expect(materialFromObjects({ natsUsers: { data: { multicluster: b64('pw') } } }).linkPasswords).toBeUndefined();
  });
});

describe('materialFromObjects with the leaf node certificate', () => {
  it('reads the leaf node CA with its key and the certificate, and no CA without its key', () => {
    const full = { 'ca.crt': b64('ca'), 'ca.key': b64('ca key'), 'tls.crt': b64('cert'), 'tls.key': b64('key') };
    expect(materialFromObjects({ leafnodeTls: { data: full } }).leafnodeTls).toEqual({ caPem: 'ca', caKeyPem: 'ca key', certificatePem: 'cert', privateKeyPem: 'key' });
    const { 'ca.key': _dropped, ...withoutKey } = full;
    expect(materialFromObjects({ leafnodeTls: { data: withoutKey } }).leafnodeTls).toBeUndefined();
  });
});
