import { describe, expect, it } from 'vitest';
import { createLeafnodeTls, leafnodeTlsHosts, type LeafnodeTlsMaterial } from '@meshbus/install';
import { apiChecks } from './checks-api.js';
import { controlPlaneChecks } from './checks-control-plane.js';
import { multiclusterChecks } from './checks-multicluster.js';
import { ClusterReader } from './cluster.js';
import type { CheckContext } from './context.js';
import type { KubeHttp } from './kube-http.js';
import { runChecks, type CheckOutcome } from './model.js';

/*
 * The leaf node TLS checks, on real certificates (made as the installation
 * makes them), read through a hand-written KubeHttp.
 */

const day = 86_400_000;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const ids = ['mc.leafnode-tls.certificate', 'mc.leafnode-tls.chain', 'mc.link-ca'];

function answering(objects: Record<string, unknown>): KubeHttp {
  return {
    server: 'https://cluster.example:6443',
    request: async ({ method, path }) => {
      if (method === 'GET' && path in objects) return { status: 200, body: JSON.stringify(objects[path]) };
      return { status: 404, body: JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: `${path} not found` }) };
    },
  };
}

const secretPath = (name: string) => `/api/v1/namespaces/meshbus/secrets/${name}`;
const leafSecret = (m: LeafnodeTlsMaterial, drop: string[] = []) => ({
  metadata: { name: 'meshbus-nats-leafnode-tls' },
  data: Object.fromEntries(Object.entries({ 'tls.crt': m.certificatePem, 'tls.key': m.privateKeyPem, 'ca.crt': m.caPem, 'ca.key': m.caKeyPem }).filter(([k]) => !drop.includes(k)).map(([k, v]) => [k, b64(v)])),
});

async function outcomes(valuesYaml: string, objects: Record<string, unknown>, now = new Date()): Promise<Record<string, CheckOutcome>> {
  const http = answering({
    '/version': { major: '1', minor: '30', gitVersion: 'v1.30.2' },
    '/api/v1/namespaces/meshbus': { metadata: { name: 'meshbus' } },
    '/api/v1/namespaces/meshbus/configmaps/meshbus-install-values': { data: { 'values.yaml': valuesYaml } },
    ...objects,
  });
  const context: CheckContext = { cluster: new ClusterReader(http), namespace: 'meshbus', now: () => now, natsGreeting: () => Promise.reject(new Error('no NATS here')) };
  const checks = [...apiChecks(), ...controlPlaneChecks(), ...multiclusterChecks()].filter((c) => ['api.reachable', 'cp.namespace', 'cp.values', ...ids].includes(c.id));
  const results = await runChecks(checks, context, { timeoutMs: 5000 });
  return Object.fromEntries(results.filter((r) => ids.includes(r.id)).map((r) => [r.id, r.outcome]));
}

const eastValues = 'version: 0.1.0\nmulticluster:\n  enabled: true\n  clusterName: east\n  exportTo: [west]\n  leafnode:\n    tls:\n      hosts: [nats.east.example, 203.0.113.9]\n';
const eastHosts = leafnodeTlsHosts('meshbus', 'cluster.local', ['nats.east.example', '203.0.113.9']);

describe('the leaf node listener TLS checks', () => {
  const material = createLeafnodeTls('meshbus', eastHosts, new Date());

  it('pass a certificate of the installation for the configured hosts, signed by its CA', async () => {
    const got = await outcomes(eastValues, { [secretPath('meshbus-nats-leafnode-tls')]: leafSecret(material) });
    expect(got['mc.leafnode-tls.certificate']).toMatchObject({ status: 'pass', detail: expect.stringContaining('names meshbus-nats-leafnodes.meshbus.svc, meshbus-nats-leafnodes.meshbus.svc.cluster.local, nats.east.example, 203.0.113.9') });
    expect(got['mc.leafnode-tls.chain']).toEqual({ status: 'pass', detail: 'CN=meshbus-nats-leafnode-ca.meshbus' });
    expect(got['mc.link-ca']).toBeUndefined();
  });

  it('fail without the secret or one of its keys, and skip the chain', async () => {
    const missing = await outcomes(eastValues, {});
    expect(missing['mc.leafnode-tls.certificate']).toEqual({ status: 'fail', hint: expect.stringContaining('secret meshbus-nats-leafnode-tls not found in namespace meshbus') });
    expect(missing['mc.leafnode-tls.chain']?.status).toBe('skip');
    const noKey = await outcomes(eastValues, { [secretPath('meshbus-nats-leafnode-tls')]: leafSecret(material, ['tls.key']) });
    expect(noKey['mc.leafnode-tls.certificate']).toEqual({ status: 'fail', hint: 'secret meshbus-nats-leafnode-tls has no tls.key; apply the output of meshbus upgrade again' });
  });

  it('fail a certificate that does not name a configured host, or whose key is another', async () => {
    const fewer = createLeafnodeTls('meshbus', leafnodeTlsHosts('meshbus', 'cluster.local', ['nats.east.example']), new Date(), material);
    const got = await outcomes(eastValues, { [secretPath('meshbus-nats-leafnode-tls')]: leafSecret(fewer) });
    expect(got['mc.leafnode-tls.certificate']).toEqual({ status: 'fail', hint: expect.stringMatching(/^the leaf node certificate does not name 203\.0\.113\.9 \(multicluster\.leafnode\.tls\.hosts\).*run meshbus upgrade/) });
    const otherKey = await outcomes(eastValues, { [secretPath('meshbus-nats-leafnode-tls')]: leafSecret({ ...material, privateKeyPem: fewer.privateKeyPem }) });
    expect(otherKey['mc.leafnode-tls.certificate']).toMatchObject({ status: 'fail', hint: expect.stringContaining('tls.key of secret meshbus-nats-leafnode-tls does not belong to its tls.crt') });
  });

  it('warn within 30 days of the certificate\'s end, and fail after it', async () => {
    const objects = { [secretPath('meshbus-nats-leafnode-tls')]: leafSecret(material) };
    const end = new Date(Date.now() + 3650 * day);
    const soon = await outcomes(eastValues, objects, new Date(end.getTime() - 10 * day));
    expect(soon['mc.leafnode-tls.certificate']).toEqual({ status: 'warn', hint: expect.stringMatching(/^the leaf node certificate .* expires in (9|10) days .*run meshbus upgrade/) });
    const after = await outcomes(eastValues, objects, new Date(end.getTime() + day));
    expect(after['mc.leafnode-tls.certificate']).toEqual({ status: 'fail', hint: expect.stringMatching(/expired on .*; linked clusters refuse it/) });
  });

  it('fail a certificate its Secret\'s CA did not sign', async () => {
    const other = createLeafnodeTls('meshbus', eastHosts, new Date());
    const got = await outcomes(eastValues, { [secretPath('meshbus-nats-leafnode-tls')]: leafSecret({ ...material, caPem: other.caPem }) });
    expect(got['mc.leafnode-tls.certificate']?.status).toBe('pass');
    expect(got['mc.leafnode-tls.chain']).toEqual({ status: 'fail', hint: expect.stringContaining('tls.crt of secret meshbus-nats-leafnode-tls is not signed by its ca.crt') });
  });

  it('leave the listener checks out when its TLS is off, nothing is exported, or NATS is external', async () => {
    for (const values of [
      eastValues.replace('hosts: [nats.east.example, 203.0.113.9]', 'enabled: false'),
      'version: 0.1.0\nmulticluster:\n  enabled: true\n  clusterName: east\n',
      `${eastValues}nats:\n  url: nats://nats.example:4222\n`,
    ]) {
      expect(await outcomes(values, {})).toEqual({});
    }
  });
});

describe('the link CA check', () => {
  const ca = createLeafnodeTls('meshbus', ['nats.east.example'], new Date()).caPem;
  const westValues = (link: string) => `version: 0.1.0\nmulticluster:\n  enabled: true\n  clusterName: west\n  links:\n    - cluster: east\n      url: tls://nats.east.example:7422\n${link}`;

  it('passes a CA under ca.crt of the link\'s password Secret, or the Secret and key the link names', async () => {
    const byDefault = await outcomes(westValues(''), { [secretPath('meshbus-link-east')]: { data: { password: b64('pw'), 'ca.crt': b64(ca) } } });
    expect(byDefault['mc.link-ca']).toEqual({ status: 'pass', detail: 'east: meshbus-link-east/ca.crt' });
    const named = await outcomes(westValues('      tls:\n        caSecret: {name: east-ca, key: root.pem}\n'), { [secretPath('east-ca')]: { data: { 'root.pem': b64(ca) } } });
    expect(named['mc.link-ca']).toEqual({ status: 'pass', detail: 'east: east-ca/root.pem' });
    expect(named['mc.leafnode-tls.certificate']).toBeUndefined();
  });

  it('fails a missing Secret, a missing key and a value that is no PEM certificate, saying where the CA comes from', async () => {
    const missing = await outcomes(westValues(''), {});
    expect(missing['mc.link-ca']).toEqual({ status: 'fail', hint: expect.stringMatching(/^link to east: secret meshbus-link-east not found; copy ca\.crt of secret meshbus-nats-leafnode-tls in east there .*restart the meshbus-nats pods$/) });
    const noKey = await outcomes(westValues(''), { [secretPath('meshbus-link-east')]: { data: { password: b64('pw') } } });
    expect(noKey['mc.link-ca']).toMatchObject({ status: 'fail', hint: expect.stringContaining('link to east: secret meshbus-link-east has no key ca.crt') });
    const notPem = await outcomes(westValues(''), { [secretPath('meshbus-link-east')]: { data: { password: b64('pw'), 'ca.crt': b64('not a certificate') } } });
    expect(notPem['mc.link-ca']).toMatchObject({ status: 'fail', hint: expect.stringContaining('link to east: ca.crt of secret meshbus-link-east holds no PEM certificate') });
  });

  it('is left out for a link in clear and with an external NATS', async () => {
    expect(await outcomes(westValues('      tls:\n        enabled: false\n'), {})).toEqual({});
    expect(await outcomes(`${westValues('')}nats:\n  url: nats://nats.example:4222\n`, {})).toEqual({});
  });
});
