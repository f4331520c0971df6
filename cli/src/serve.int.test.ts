import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { CommanderError } from 'commander';
import { freePort, startFakeKubeApi, startNats, waitFor, type FakeKubeApi, type FakeKubeObject, type NatsCluster } from '@meshbus/testing';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from './context.js';
import { createProgram } from './program.js';

// Rendered objects are read by path in these tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

type Obj = FakeKubeObject & Record<string, Loose>;

/** Runs the CLI in this process until `stop` is aborted; resolves with the exit code. */
function meshbus(args: string[], env: Record<string, string>, signal: AbortSignal, out: { text: string }): Promise<number> {
  const context: CliContext = {
    env,
    cwd: tmpdir(),
    stdout: { write: (s: string) => (out.text += s) },
    stderr: { write: (s: string) => (out.text += s) },
    signal,
  };
  return createProgram(context)
    .parseAsync(args, { from: 'user' })
    .then(
      () => 0,
      (error: unknown) => {
        if (error instanceof CommanderError) return error.exitCode;
        throw error;
      },
    );
}

const find = (objects: Obj[], kind: string, name: string): Obj => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};

const secretValue = (objects: Obj[], name: string, key: string) => Buffer.from(find(objects, 'Secret', name).data[key] as string, 'base64').toString();

/** The environment a Deployment gives its container, with Secret references and the pod name filled in. */
function deploymentEnv(objects: Obj[], name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of find(objects, 'Deployment', name).spec.template.spec.containers[0].env as { name: string; value?: string; valueFrom?: Loose }[]) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = secretValue(objects, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = `${name}-test`;
  }
  return env;
}

// `meshbus serve <component>` with the environment the rendered Deployments give it, against the
// rendered Secrets: a real NATS with the rendered logins, the fake API server holding the objects.
describe('meshbus serve runs the installed components with their rendered configuration', () => {
  let api: FakeKubeApi;
  let nats: NatsCluster;
  let dir: string;
  let objects: Obj[];
  let kubeconfig: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshbus-serve-'));
    const out = { text: '' };
    expect(await meshbus(['install'], {}, new AbortController().signal, out)).toBe(0);
    objects = parseAllDocuments(out.text.slice(out.text.indexOf('---'))).map((d) => d.toJS() as Obj);
    api = await startFakeKubeApi();
    for (const o of objects) api.apply(o);
    const config = JSON.parse(api.kubeconfig()) as { clusters: { cluster: Record<string, unknown> }[] };
    for (const c of config.clusters) c.cluster['insecure-skip-tls-verify'] = true;
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify(config));
    nats = await startNats({ authorization: secretValue(objects, 'meshbus-nats-users', 'auth.conf') });
  });

  afterAll(async () => {
    await nats?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('identity reads the issuer Secret through the API and becomes ready', async () => {
    const admin = await freePort();
    const env = { ...deploymentEnv(objects, 'meshbus-identity'), NATS_URL: nats.url, MESHBUS_ADMIN_ADDR: `127.0.0.1:${admin}`, KUBECONFIG: kubeconfig };
    expect(env).toMatchObject({ MESHBUS_IDENTITY_MODE: 'kubernetes', NATS_USER: 'identity' });
    const stop = new AbortController();
    const out = { text: '' };
    const exited = meshbus(['serve', 'identity'], env, stop.signal, out);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 20_000, what: 'identity to be ready' });
      expect(api.requests.some((r) => r.path.includes('/namespaces/meshbus/secrets'))).toBe(true);
    } finally {
      stop.abort('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it.each(['destination', 'policy'])('%s logs in with its rendered NATS login and becomes ready', async (component) => {
    const admin = await freePort();
    const manifests = join(dir, `${component}-manifests`);
    mkdirSync(manifests);
    const env = {
      ...deploymentEnv(objects, `meshbus-${component}`),
      NATS_URL: nats.url,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${admin}`,
      KUBECONFIG: kubeconfig,
      // Resources from an (empty) manifests folder: this test is about the bus login and permissions.
      MESHBUS_RESOURCE_SOURCE: 'manifests',
      MESHBUS_MANIFESTS_DIR: manifests,
    };
    expect(env).toMatchObject({ NATS_USER: component });
    const stop = new AbortController();
    const out = { text: '' };
    const exited = meshbus(['serve', component], env, stop.signal, out);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000, what: `${component} to be ready` });
    } finally {
      stop.abort('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('the gateway serves TLS with the rendered certificate, which checks against the trust anchors', async () => {
    const admin = await freePort();
    const grpc = await freePort();
    const tlsDir = join(dir, 'gateway-tls');
    mkdirSync(tlsDir);
    writeFileSync(join(tlsDir, 'tls.crt'), secretValue(objects, 'meshbus-gateway-tls', 'tls.crt'));
    writeFileSync(join(tlsDir, 'tls.key'), secretValue(objects, 'meshbus-gateway-tls', 'tls.key'));
    const rendered = deploymentEnv(objects, 'meshbus-gateway');
    expect(rendered.MESHBUS_TLS_CERT).toBe('/var/run/meshbus/tls/tls.crt');
    const env = {
      ...rendered,
      NATS_URL: nats.url,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${admin}`,
      MESHBUS_GRPC_ADDR: `127.0.0.1:${grpc}`,
      MESHBUS_TLS_CERT: join(tlsDir, 'tls.crt'),
      MESHBUS_TLS_KEY: join(tlsDir, 'tls.key'),
    };
    const stop = new AbortController();
    const out = { text: '' };
    const exited = meshbus(['serve', 'gateway'], env, stop.signal, out);
    try {
      const anchors = find(objects, 'ConfigMap', 'meshbus-trust-anchors').data['ca.crt'] as string;
      const authorized = await waitFor(
        () =>
          new Promise<boolean | undefined>((resolve) => {
            const socket = tlsConnect({ host: '127.0.0.1', port: grpc, ca: anchors, servername: 'meshbus-gateway.meshbus.svc.cluster.local', ALPNProtocols: ['h2'] }, () => {
              resolve(socket.authorized);
              socket.destroy();
            });
            socket.on('error', () => resolve(undefined));
          }),
        { timeoutMs: 20_000, what: 'the gateway TLS listener' },
      );
      expect(authorized).toBe(true);
    } finally {
      stop.abort('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('the injector answers the API server\'s call over HTTPS with the rendered certificate, checked against the webhook caBundle', async () => {
    const admin = await freePort();
    const webhookPort = await freePort();
    const files = join(dir, 'injector');
    mkdirSync(join(files, 'manifests'), { recursive: true });
    writeFileSync(join(files, 'tls.crt'), secretValue(objects, 'meshbus-injector-tls', 'tls.crt'));
    writeFileSync(join(files, 'tls.key'), secretValue(objects, 'meshbus-injector-tls', 'tls.key'));
    writeFileSync(join(files, 'ca.crt'), find(objects, 'ConfigMap', 'meshbus-trust-anchors').data['ca.crt'] as string);
    writeFileSync(join(files, 'manifests', 'shop.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshbus.io/inject: enabled\n');
    const env = {
      ...deploymentEnv(objects, 'meshbus-injector'),
      NATS_URL: nats.url,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${admin}`,
      MESHBUS_INJECTOR_ADDR: `127.0.0.1:${webhookPort}`,
      MESHBUS_INJECTOR_TLS_CERT: join(files, 'tls.crt'),
      MESHBUS_INJECTOR_TLS_KEY: join(files, 'tls.key'),
      MESHBUS_INJECTOR_TRUST_ANCHORS: join(files, 'ca.crt'),
      MESHBUS_INJECTOR_GATEWAY_CA: join(files, 'ca.crt'),
      // Namespaces from a manifests folder here: this test is about the webhook's TLS, not its source.
      MESHBUS_RESOURCE_SOURCE: 'manifests',
      MESHBUS_MANIFESTS_DIR: join(files, 'manifests'),
    };
    const webhook = find(objects, 'MutatingWebhookConfiguration', 'meshbus-injector').webhooks[0];
    const caBundle = Buffer.from(webhook.clientConfig.caBundle as string, 'base64');
    const serverName = `${webhook.clientConfig.service.name}.${webhook.clientConfig.service.namespace}.svc`;
    const stop = new AbortController();
    const out = { text: '' };
    const exited = meshbus(['serve', 'injector'], env, stop.signal, out);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 20_000, what: 'the injector to be ready' });
      const body = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'c0ffee',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          namespace: 'shop',
          operation: 'CREATE',
          object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-', namespace: 'shop' }, spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27' }] } },
        },
      });
      const answer = await new Promise<Loose>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: webhookPort, path: webhook.clientConfig.service.path as string, method: 'POST', ca: caBundle, servername: serverName, headers: { 'content-type': 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(answer.response).toMatchObject({ uid: 'c0ffee', allowed: true, patchType: 'JSONPatch' });
    } finally {
      stop.abort('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('refuses a bad configuration with exit code 2', async () => {
    const out = { text: '' };
    expect(await meshbus(['serve', 'gateway'], { MESHBUS_STREAM_REPLICAS: 'nine' }, new AbortController().signal, out)).toBe(2);
    expect(out.text).toContain('MESHBUS_STREAM_REPLICAS');
  });
});

// The multicluster service of an installation with multicluster values, with the environment of its
// rendered Deployment: its NATS login (role multicluster) on a server with the rendered logins and
// JetStream domain, Services from the API server through its ServiceAccount's source.
describe('meshbus serve multicluster runs with its rendered configuration', () => {
  let api: FakeKubeApi;
  let nats: NatsCluster;
  let dir: string;
  let objects: Obj[];
  let kubeconfig: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshbus-serve-mc-'));
    const values = join(dir, 'values.yaml');
    writeFileSync(values, 'multicluster:\n  enabled: true\n  clusterName: east\n  exportTo: [west]\n  gateway:\n    addresses: ["203.0.113.7:4180"]\n');
    const out = { text: '' };
    expect(await meshbus(['install', '-f', values], {}, new AbortController().signal, out)).toBe(0);
    objects = parseAllDocuments(out.text.slice(out.text.indexOf('---'))).map((d) => d.toJS() as Obj);
    api = await startFakeKubeApi();
    for (const o of objects) api.apply(o);
    const config = JSON.parse(api.kubeconfig()) as { clusters: { cluster: Record<string, unknown> }[] };
    for (const c of config.clusters) c.cluster['insecure-skip-tls-verify'] = true;
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify(config));
    nats = await startNats({ jetstreamDomain: 'east', authorization: secretValue(objects, 'meshbus-nats-users', 'auth.conf') });
  });

  afterAll(async () => {
    await nats?.stop();
    await api?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in as multicluster, reads Services through the API, becomes ready and stops cleanly', async () => {
    const admin = await freePort();
    const env = { ...deploymentEnv(objects, 'meshbus-multicluster'), NATS_URL: nats.url, MESHBUS_ADMIN_ADDR: `127.0.0.1:${admin}`, KUBECONFIG: kubeconfig };
    expect(env).toMatchObject({ NATS_USER: 'multicluster', MESHBUS_CLUSTER_NAME: 'east', MESHBUS_RESOURCE_SOURCE: 'kubernetes' });
    const stop = new AbortController();
    const out = { text: '' };
    const exited = meshbus(['serve', 'multicluster'], env, stop.signal, out);
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000, what: 'multicluster to be ready' });
      expect(api.requests.some((r) => r.path.includes('/services'))).toBe(true);
    } finally {
      stop.abort('SIGTERM');
    }
    expect(await exited, out.text).toBe(0);
  });
});
