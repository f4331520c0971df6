import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { materialFromObjects, storedValues } from './installed-state.js';
import { composeValues } from './plan.js';
import { natsServerConfig } from './render-nats.js';
import { mergeValues, resolveValues, type InstallValues } from './values.js';

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

describe('stored values of an installation made before leaf node TLS', () => {
  const east = { multicluster: { enabled: true, clusterName: 'east', exportTo: ['west'] } };
  const west = (url: string) => ({ multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url }] } });
  /** The nats.conf the values render, as the running installation holds it. */
  const natsConf = (values: InstallValues) => natsServerConfig(resolveValues(values, '0.1.0'));
  const clearEast = natsConf(mergeValues(east, { multicluster: { leafnode: { tls: { enabled: false } } } }));
  const clearWest = natsConf({ multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'nats-leaf://east.example:7422', tls: { enabled: false } }] } });
  const yaml = (values: object) => stringify({ ...values, version: '0.1.0' });
  const leafnodesBlock = (values: InstallValues) => natsConf(values).split('leafnodes {')[1]!.split('\n}')[0]!;

  it('keeps the leaf node listener in clear when the values say nothing of its TLS and there is no leaf node certificate', () => {
    const { values, inClear } = storedValues(yaml(east), 'cm', { leafnodeTlsSecret: false, natsConfig: clearEast });
    expect(inClear).toEqual({ listener: true, links: [] });
    expect(values.multicluster?.leafnode?.tls).toEqual({ enabled: false });
    expect(leafnodesBlock(values)).not.toContain('tls {');
    expect(leafnodesBlock(values)).toContain('# no TLS');
    // Without the ConfigMap of the NATS config, the Secret decides alone.
    expect(storedValues(yaml(east), 'cm', { leafnodeTlsSecret: false }).inClear).toEqual({ listener: true, links: [] });
  });

  it('leaves TLS on when the leaf node certificate is there, the running listener has TLS, or the values name TLS', () => {
    for (const running of [{ leafnodeTlsSecret: true, natsConfig: clearEast }, { leafnodeTlsSecret: false, natsConfig: natsConf(east) }]) {
      const { values, inClear } = storedValues(yaml(east), 'cm', running);
      expect(inClear).toBeUndefined();
      expect(leafnodesBlock(values)).toContain(`cert_file: "/etc/nats/leafnode-tls/tls.crt"`);
    }
    const hosts = mergeValues(east, { multicluster: { leafnode: { tls: { hosts: ['nats.east.example'] } } } });
    expect(storedValues(yaml(hosts), 'cm', { leafnodeTlsSecret: false, natsConfig: clearEast }).inClear).toBeUndefined();
    const explicit = mergeValues(east, { multicluster: { leafnode: { tls: { enabled: true } } } });
    expect(storedValues(yaml(explicit), 'cm', { leafnodeTlsSecret: false, natsConfig: clearEast }).inClear).toBeUndefined();
  });

  it('keeps nothing in clear when the stored values had no listener, or name an external NATS', () => {
    const noListener = { multicluster: { enabled: true, clusterName: 'east' } };
    expect(storedValues(yaml(noListener), 'cm', { leafnodeTlsSecret: false, natsConfig: natsConf(noListener) }).inClear).toBeUndefined();
    // An upgrade that adds exportTo gets the TLS listener.
    const upgraded = composeValues({ stored: storedValues(yaml(noListener), 'cm', { leafnodeTlsSecret: false }).values, sets: ['multicluster.exportTo={west}'] });
    expect(leafnodesBlock(upgraded)).toContain('tls {');
    const external = mergeValues(east, { nats: { url: 'nats://nats.example:4222' } });
    expect(storedValues(yaml(external), 'cm', { leafnodeTlsSecret: false }).inClear).toBeUndefined();
  });

  it('keeps a link in clear when its entry has no tls and the running NATS connects to it without a CA, a nats:// url included', () => {
    for (const url of ['nats-leaf://east.example:7422', 'nats://east.example:7422']) {
      const { values, inClear } = storedValues(yaml(west(url)), 'cm', { leafnodeTlsSecret: false, natsConfig: clearWest });
      expect(inClear).toEqual({ listener: false, links: ['east'] });
      expect(values.multicluster?.links).toEqual([{ cluster: 'east', url, tls: { enabled: false } }]);
      expect(leafnodesBlock(values)).toContain('{ url: $MESHBUS_LINK_EAST_URL }');
      expect(leafnodesBlock(values)).not.toContain('ca_file');
    }
  });

  it('leaves a link with TLS when the running NATS checks it with a CA, names no such link, or its entry has tls', () => {
    const tlsWest = west('tls://east.example:7422');
    for (const natsConfig of [natsConf(tlsWest), clearEast, undefined]) {
      const { values, inClear } = storedValues(yaml(tlsWest), 'cm', { leafnodeTlsSecret: false, ...(natsConfig !== undefined ? { natsConfig } : {}) });
      expect(inClear).toBeUndefined();
      expect(leafnodesBlock(values)).toContain('ca_file: "/etc/nats/links/east/ca.crt"');
    }
    const withCa = { multicluster: { enabled: true, clusterName: 'west', links: [{ cluster: 'east', url: 'tls://east.example:7422', tls: { caSecret: { name: 'east-ca' } } }] } };
    expect(storedValues(yaml(withCa), 'cm', { leafnodeTlsSecret: false, natsConfig: clearWest }).inClear).toBeUndefined();
  });

  it('lets values given at the upgrade turn TLS on over what was kept in clear', () => {
    const stored = storedValues(yaml(east), 'cm', { leafnodeTlsSecret: false, natsConfig: clearEast }).values;
    expect(leafnodesBlock(composeValues({ stored, sets: ['multicluster.leafnode.tls.enabled=true'] }))).toContain('tls {');
    const storedWest = storedValues(yaml(west('nats-leaf://east.example:7422')), 'cm', { leafnodeTlsSecret: false, natsConfig: clearWest }).values;
    const file = { source: 'tls.yaml', text: stringify(west('tls://east.example:7422')) };
    expect(leafnodesBlock(composeValues({ stored: storedWest, files: [file] }))).toContain('ca_file: "/etc/nats/links/east/ca.crt"');
  });
});
