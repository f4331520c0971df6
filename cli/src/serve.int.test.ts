import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('refuses a bad configuration with exit code 2', async () => {
    const out = { text: '' };
    expect(await meshbus(['serve', 'gateway'], { MESHBUS_STREAM_REPLICAS: 'nine' }, new AbortController().signal, out)).toBe(2);
    expect(out.text).toContain('MESHBUS_STREAM_REPLICAS');
  });
});
