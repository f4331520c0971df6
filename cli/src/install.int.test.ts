import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { startFakeKubeApi, type FakeKubeApi, type FakeKubeObject } from '@meshbus/testing';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from './context.js';
import { createProgram } from './program.js';

// Rendered objects are read by path in these tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function meshbus(args: string[], cwd: string): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const context: CliContext = {
    env: {},
    cwd,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    signal: new AbortController().signal,
  };
  try {
    await createProgram(context).parseAsync(args, { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, stdout, stderr };
    throw error;
  }
}

const objectsOf = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS() as FakeKubeObject & Record<string, Loose>);

function find(objects: readonly (FakeKubeObject & Record<string, Loose>)[], kind: string, name: string) {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

const envOf = (objects: readonly (FakeKubeObject & Record<string, Loose>)[], name: string) =>
  Object.fromEntries((find(objects, 'Deployment', name).spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));

function opensslText(pem: string, dir: string): string {
  const file = join(dir, `cert-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(file, pem);
  return execFileSync('openssl', ['x509', '-in', file, '-noout', '-subject', '-ext', 'subjectAltName'], { encoding: 'utf8' });
}

describe('meshbus install and upgrade against a Kubernetes API server', () => {
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;
  let installed: (FakeKubeObject & Record<string, Loose>)[];

  beforeAll(async () => {
    api = await startFakeKubeApi();
    dir = mkdtempSync(join(tmpdir(), 'meshbus-install-'));
    kubeconfig = join(dir, 'kubeconfig');
    // @kubernetes/client-node speaks plain HTTP only to a cluster marked insecure.
    const config = JSON.parse(api.kubeconfig()) as { clusters: { cluster: Record<string, unknown> }[] };
    for (const c of config.clusters) c.cluster['insecure-skip-tls-verify'] = true;
    writeFileSync(kubeconfig, JSON.stringify(config));
    const init = await meshbus(['identity', 'init', '--dir', join(dir, 'identity')], dir);
    expect(init.exitCode, init.stderr).toBe(0);
    const install = await meshbus(['install', '--ha', '--identity-dir', join(dir, 'identity')], dir);
    expect(install.exitCode, install.stderr).toBe(0);
    installed = objectsOf(install.stdout);
    for (const object of installed) api.apply(object);
  });

  afterAll(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders the issuer from the identity-init files and a webhook certificate for the injector Service', () => {
    const issuer = find(installed, 'Secret', 'meshbus-identity-issuer');
    const fromDisk = execFileSync('cat', [join(dir, 'identity', 'issuer.crt')], { encoding: 'utf8' });
    expect(Buffer.from(issuer.data['tls.crt'], 'base64').toString()).toBe(fromDisk);
    const tls = find(installed, 'Secret', 'meshbus-injector-tls');
    const certificate = Buffer.from(tls.data['tls.crt'], 'base64').toString();
    expect(opensslText(certificate, dir)).toContain('DNS:meshbus-injector.meshbus.svc');
    const ca = join(dir, 'webhook-ca.pem');
    writeFileSync(ca, Buffer.from(find(installed, 'MutatingWebhookConfiguration', 'meshbus-injector').webhooks[0].clientConfig.caBundle, 'base64'));
    const leaf = join(dir, 'webhook.pem');
    writeFileSync(leaf, certificate);
    expect(execFileSync('openssl', ['verify', '-CAfile', ca, leaf], { encoding: 'utf8' })).toContain('OK');
    const gateway = Buffer.from(find(installed, 'Secret', 'meshbus-gateway-tls').data['tls.crt'], 'base64').toString();
    const gatewayFile = join(dir, 'gateway.pem');
    writeFileSync(gatewayFile, gateway);
    // The gateway serves its certificate with the issuer: proxies check it against the trust anchors.
    expect(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'identity', 'ca.crt'), '-untrusted', gatewayFile, gatewayFile], { encoding: 'utf8' })).toContain('OK');
    expect(opensslText(gateway, dir)).toContain('DNS:meshbus-gateway.meshbus.svc.cluster.local');
  });

  it('upgrade keeps the issuer, the webhook CA, the NATS logins and the stored values, and applies a --set', async () => {
    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--set', 'logLevel=debug,components.gateway.replicas=4'], dir);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stderr).toContain('kept the issuer, the trust anchors, the webhook CA and certificate, the gateway certificate, 9 NATS logins');
    const upgraded = objectsOf(upgrade.stdout);
    for (const [kind, name] of [
      ['Secret', 'meshbus-identity-issuer'],
      ['Secret', 'meshbus-injector-tls'],
      ['Secret', 'meshbus-gateway-tls'],
      ['Secret', 'meshbus-nats-users'],
      ['ConfigMap', 'meshbus-trust-anchors'],
    ] as const) {
      expect(find(upgraded, kind, name).data, `${kind} ${name}`).toEqual(find(installed, kind, name).data);
    }
    const webhook = (objects: typeof installed) => find(objects, 'MutatingWebhookConfiguration', 'meshbus-injector').webhooks[0];
    expect(webhook(upgraded).clientConfig.caBundle).toBe(webhook(installed).clientConfig.caBundle);
    // --ha was given at install time and is kept; the --set applies over it.
    expect(webhook(upgraded).failurePolicy).toBe('Fail');
    expect(find(upgraded, 'Deployment', 'meshbus-destination').spec.replicas).toBe(3);
    expect(find(upgraded, 'Deployment', 'meshbus-gateway').spec.replicas).toBe(4);
    expect(envOf(upgraded, 'meshbus-identity').MESHBUS_LOG_LEVEL).toBe('debug');
    expect(envOf(installed, 'meshbus-identity').MESHBUS_LOG_LEVEL).toBe('info');
    const stored = find(upgraded, 'ConfigMap', 'meshbus-install-values').data['values.yaml'] as string;
    expect(stored).toContain('ha: true');
    expect(stored).toContain('logLevel: debug');
    expect(stored).not.toMatch(/BEGIN|password/);
    // What the upgrade read.
    expect(api.requests.some((r) => r.method === 'GET' && r.path === '/api/v1/namespaces/meshbus/secrets/meshbus-identity-issuer')).toBe(true);
  });

  it('a second upgrade starts from the first one\'s values', async () => {
    const first = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--set', 'logLevel=warn'], dir);
    for (const object of objectsOf(first.stdout)) api.apply(object);
    const second = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--set', 'streamReplicas=5'], dir);
    expect(second.exitCode, second.stderr).toBe(0);
    const objects = objectsOf(second.stdout);
    expect(envOf(objects, 'meshbus-policy')).toMatchObject({ MESHBUS_LOG_LEVEL: 'warn', MESHBUS_STREAM_REPLICAS: '5' });
  });

  it('--identity-dir on upgrade replaces the issuer, and the gateway certificate with it', async () => {
    const next = join(dir, 'identity-next');
    expect((await meshbus(['identity', 'init', '--dir', next], dir)).exitCode).toBe(0);
    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--identity-dir', next], dir);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    const objects = objectsOf(upgrade.stdout);
    expect(find(objects, 'Secret', 'meshbus-identity-issuer').data['tls.crt']).not.toBe(find(installed, 'Secret', 'meshbus-identity-issuer').data['tls.crt']);
    expect(find(objects, 'Secret', 'meshbus-gateway-tls').data['tls.crt']).not.toBe(find(installed, 'Secret', 'meshbus-gateway-tls').data['tls.crt']);
    expect(find(objects, 'Secret', 'meshbus-injector-tls').data).toEqual(find(installed, 'Secret', 'meshbus-injector-tls').data);
  });

  it('upgrade of a namespace with no installation fails and says so', async () => {
    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--namespace', 'elsewhere'], dir);
    expect(upgrade.exitCode).toBe(1);
    expect(upgrade.stderr).toContain('no meshbus installation in namespace elsewhere');
    expect(upgrade.stdout).toBe('');
  });

  it('uninstall lists the installed objects, webhook first and CRDs last, from the stored values', async () => {
    const uninstall = await meshbus(['uninstall', '--kubeconfig', kubeconfig], dir);
    expect(uninstall.exitCode, uninstall.stderr).toBe(0);
    expect(uninstall.stderr).toContain('deleting the 8 CustomResourceDefinitions deletes every Server');
    const objects = objectsOf(uninstall.stdout);
    expect(objects[0]?.kind).toBe('MutatingWebhookConfiguration');
    expect(objects.at(-1)?.kind).toBe('CustomResourceDefinition');
    const names = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    for (const o of installed) expect(names.has(`${o.kind}/${o.metadata.name}`), `${o.kind}/${o.metadata.name}`).toBe(true);
    expect(objects.every((o) => Object.keys(o).sort().join() === 'apiVersion,kind,metadata')).toBe(true);
    const kept = objectsOf((await meshbus(['uninstall', '--keep-crds'], dir)).stdout);
    expect(kept.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
  });
});

describe('meshbus upgrade of a multicluster installation', () => {
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    api = await startFakeKubeApi();
    dir = mkdtempSync(join(tmpdir(), 'meshbus-install-mc-'));
    kubeconfig = join(dir, 'kubeconfig');
    const config = JSON.parse(api.kubeconfig()) as { clusters: { cluster: Record<string, unknown> }[] };
    for (const c of config.clusters) c.cluster['insecure-skip-tls-verify'] = true;
    writeFileSync(kubeconfig, JSON.stringify(config));
  });

  afterAll(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the link login of a cluster still exported to, creates one for a new cluster, and never stores a password in the values', async () => {
    writeFileSync(join(dir, 'east.yaml'), 'multicluster:\n  enabled: true\n  clusterName: east\n  exportTo: [west]\n');
    const install = await meshbus(['install', '-f', join(dir, 'east.yaml')], dir);
    expect(install.exitCode, install.stderr).toBe(0);
    const installed = objectsOf(install.stdout);
    for (const object of installed) api.apply(object);
    const users = (objects: typeof installed) => find(objects, 'Secret', 'meshbus-nats-users').data as Record<string, string>;
    expect(users(installed)['link-west']).toBeDefined();

    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--set', 'multicluster.exportTo={west,north}'], dir);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stderr).toContain('the link login of west');
    const upgraded = objectsOf(upgrade.stdout);
    expect(users(upgraded)['link-west']).toBe(users(installed)['link-west']);
    expect(users(upgraded)['link-north']).toBeDefined();
    expect(users(upgraded)['link-north']).not.toBe(users(installed)['link-west']);
    const auth = Buffer.from(users(upgraded)['auth.conf']!, 'base64').toString();
    expect(auth).toContain('user: "link-north"');
    expect(find(upgraded, 'Service', 'meshbus-nats-leafnodes').spec.ports[0].port).toBe(7422);
    // The leaf node CA and certificate are kept: west holds a copy of the CA.
    const leafTls = (objects: typeof installed) => find(objects, 'Secret', 'meshbus-nats-leafnode-tls').data as Record<string, string>;
    expect(Object.keys(leafTls(installed)).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(leafTls(upgraded)).toEqual(leafTls(installed));
    expect(upgrade.stderr).toContain('the leaf node CA and certificate');
    for (const object of upgraded) api.apply(object);
    // Other hosts: a new certificate naming them, signed by the same CA.
    const moved = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--set', 'multicluster.leafnode.tls.hosts={nats.east.example,203.0.113.9}'], dir);
    expect(moved.exitCode, moved.stderr).toBe(0);
    expect(moved.stderr).toContain('the leaf node CA (new certificate)');
    const movedTls = leafTls(objectsOf(moved.stdout));
    expect(movedTls['ca.crt']).toBe(leafTls(installed)['ca.crt']);
    const cert = new X509Certificate(Buffer.from(movedTls['tls.crt']!, 'base64'));
    expect(cert.checkHost('nats.east.example')).toBe('nats.east.example');
    expect(cert.checkIP('203.0.113.9')).toBe('203.0.113.9');
    expect(cert.verify(new X509Certificate(Buffer.from(movedTls['ca.crt']!, 'base64')).publicKey)).toBe(true);
    const stored = find(upgraded, 'ConfigMap', 'meshbus-install-values').data['values.yaml'] as string;
    expect(stored).toContain('clusterName: east');
    expect(stored).not.toContain(Buffer.from(users(installed)['link-west']!, 'base64').toString());
    // Uninstall lists the multicluster objects, from the stored values.
    const uninstall = await meshbus(['uninstall', '--kubeconfig', kubeconfig, '--keep-crds'], dir);
    expect(uninstall.exitCode, uninstall.stderr).toBe(0);
    const removed = objectsOf(uninstall.stdout).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(removed).toEqual(
      expect.arrayContaining(['Deployment/meshbus-multicluster', 'Deployment/meshbus-multicluster-gateway', 'Service/meshbus-nats-leafnodes', 'ServiceAccount/multicluster-gateway', 'Secret/meshbus-nats-leafnode-tls']),
    );
  });
});

describe('meshbus upgrade of a multicluster installation made before leaf node TLS', () => {
  let api: FakeKubeApi;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    api = await startFakeKubeApi();
    dir = mkdtempSync(join(tmpdir(), 'meshbus-install-clear-'));
    kubeconfig = join(dir, 'kubeconfig');
    const config = JSON.parse(api.kubeconfig()) as { clusters: { cluster: Record<string, unknown> }[] };
    for (const c of config.clusters) c.cluster['insecure-skip-tls-verify'] = true;
    writeFileSync(kubeconfig, JSON.stringify(config));
  });

  afterAll(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Installs with the leaf node TLS off (`clear`) and stores `values` without their tls keys, as an installation made before the setting. */
  async function installOld(namespace: string, values: string, clear: string): Promise<void> {
    writeFileSync(join(dir, `${namespace}.yaml`), clear);
    const install = await meshbus(['install', '--namespace', namespace, '-f', join(dir, `${namespace}.yaml`)], dir);
    expect(install.exitCode, install.stderr).toBe(0);
    const objects = objectsOf(install.stdout);
    expect(objects.some((o) => o.metadata.name === 'meshbus-nats-leafnode-tls')).toBe(false);
    const stored = find(objects, 'ConfigMap', 'meshbus-install-values');
    stored.data['values.yaml'] = `${values}namespace: ${namespace}\nversion: 0.0.9\n`;
    for (const object of objects) api.apply(object);
  }

  const natsConf = (objects: ReturnType<typeof objectsOf>) => find(objects, 'ConfigMap', 'meshbus-nats-config').data['nats.conf'] as string;

  it('keeps an exporting cluster\'s leaf node listener in clear, warns how to turn TLS on, and turns it on when asked', async () => {
    const values = 'multicluster:\n  enabled: true\n  clusterName: east\n  exportTo: [west]\n';
    await installOld('east', values, `${values}  leafnode:\n    tls:\n      enabled: false\n`);
    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--namespace', 'east'], dir);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stderr).toContain('meshbus: warning: the leaf node listener stays in clear');
    expect(upgrade.stderr).toContain('--set multicluster.leafnode.tls.enabled=true');
    expect(upgrade.stderr).toContain('under key ca.crt of its link Secret (meshbus-link-east)');
    const upgraded = objectsOf(upgrade.stdout);
    expect(natsConf(upgraded)).toContain('# no TLS (multicluster.leafnode.tls.enabled: false)');
    expect(natsConf(upgraded)).not.toContain('cert_file');
    expect(upgraded.some((o) => o.metadata.name === 'meshbus-nats-leafnode-tls')).toBe(false);
    // The values stored say what runs: the next upgrade keeps it so without a warning.
    expect(find(upgraded, 'ConfigMap', 'meshbus-install-values').data['values.yaml']).toMatch(/leafnode:\n\s+tls:\n\s+enabled: false/);
    for (const object of upgraded) api.apply(object);
    const again = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--namespace', 'east'], dir);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('warning');
    expect(natsConf(objectsOf(again.stdout))).not.toContain('cert_file');

    const on = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--namespace', 'east', '--set', 'multicluster.leafnode.tls.enabled=true'], dir);
    expect(on.exitCode, on.stderr).toBe(0);
    expect(on.stderr).not.toContain('warning');
    expect(natsConf(objectsOf(on.stdout))).toContain('cert_file: "/etc/nats/leafnode-tls/tls.crt"');
    expect(find(objectsOf(on.stdout), 'Secret', 'meshbus-nats-leafnode-tls').data['ca.crt']).toBeDefined();
  });

  it('keeps a linking cluster\'s link in clear, its nats:// url included, and turns it on with a values file', async () => {
    const values = 'multicluster:\n  enabled: true\n  clusterName: west\n  links:\n    - cluster: east\n      url: nats://nats.east.example:7422\n';
    await installOld('west', values, `${values}      tls:\n        enabled: false\n`);

    const upgrade = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--namespace', 'west'], dir);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stderr).toContain('meshbus: warning: the leaf node link to east stays in clear');
    expect(upgrade.stderr).toContain('under key ca.crt of Secret meshbus-link-east here');
    expect(natsConf(objectsOf(upgrade.stdout))).toContain('{ url: $MESHBUS_LINK_EAST_URL }');
    expect(natsConf(objectsOf(upgrade.stdout))).not.toContain('ca_file');

    const file = writeValues('west-tls.yaml', values.replace('nats://', 'tls://'));
    const on = await meshbus(['upgrade', '--kubeconfig', kubeconfig, '--namespace', 'west', '-f', file], dir);
    expect(on.exitCode, on.stderr).toBe(0);
    expect(on.stderr).not.toContain('warning');
    expect(natsConf(objectsOf(on.stdout))).toContain('ca_file: "/etc/nats/links/east/ca.crt"');
  });

  function writeValues(name: string, text: string): string {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  }
});
