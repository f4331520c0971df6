import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet } from '@meshbus/testing';
import { envToConfig } from './config.js';
import { createInjectorService, type InjectorService } from './injector-service.js';

let dir: string;
let service: InjectorService;
let ca: Buffer;
let port: number;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** POSTs `body` to the webhook over HTTPS, checking its certificate against the test CA and the service name. */
function post(body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/inject', method: 'POST', ca, servername: 'meshbus-injector.meshbus.svc', headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-5d8c-', namespace: 'shop', labels: { app: 'web' } },
  spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8080 }] }] },
};

function review(uid: string, object: unknown, namespace = 'shop'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace, operation: 'CREATE', object },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshbus-injector-'));
  // A CA, and the webhook's certificate for the name the API server calls it by.
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-subj', '/CN=webhook-ca', '-days', '2', '-out', 'ca.pem');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'tls.key', '-subj', '/CN=meshbus-injector', '-out', 'tls.csr');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:meshbus-injector.meshbus.svc\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'tls.pem');
  ca = readFileSync(join(dir, 'ca.pem'));
  writeFileSync(join(dir, 'namespaces.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshbus.io/inject: enabled\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n');
  port = await freePort();
  const config = envToConfig({
    MESHBUS_INJECTOR_ADDR: `127.0.0.1:${port}`,
    MESHBUS_INJECTOR_TLS_CERT: join(dir, 'tls.pem'),
    MESHBUS_INJECTOR_TLS_KEY: join(dir, 'tls.key'),
    MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
    MESHBUS_MANIFESTS_DIR: dir,
    MESHBUS_INJECTOR_TRUST_ANCHORS: join(dir, 'ca.pem'),
  });
  service = createInjectorService(config, { logger: silentLogger() });
  await service.start();
});

afterAll(async () => {
  await service?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

describe('injector webhook over HTTPS', () => {
  it('is ready, and injects a pod of an enabled namespace with a JSON Patch echoing the uid', async () => {
    expect((await httpGet(`${service.adminUrl}/ready`)).status).toBe(200);
    const { status, json } = await post(review('a6c1-1', pod));
    expect(status).toBe(200);
    expect(json).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'a6c1-1', allowed: true, patchType: 'JSONPatch' } });
    const patch = JSON.parse(Buffer.from((json.response as { patch: string }).patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[];
    const patched = fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument as typeof pod & { spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }> } };
    expect(() => new PodModel(patched as never).validate()).not.toThrow();
    expect(patched.spec.containers.map((c) => c.name)).toEqual(['meshbus-proxy', 'web']);
    const env = Object.fromEntries(patched.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ MESHBUS_PROXY_MODE: 'transparent', MESHBUS_PROXY_INBOUND_PORTS: '8080' });
    // The trust-root annotation is the hash of the configured anchors file.
    const { createHash } = await import('node:crypto');
    expect((patched.metadata as unknown as { annotations: Record<string, string> }).annotations['meshbus.io/trust-root-sha256']).toBe(createHash('sha256').update(ca).digest('hex'));
  });

  it('allows without a patch a pod of a namespace that did not ask, and refuses a bad annotation with its message', async () => {
    const skipped = await post(review('b-2', pod, 'other'));
    expect(skipped.json.response).toEqual({ uid: 'b-2', allowed: true });
    const bad = { ...pod, metadata: { ...pod.metadata, annotations: { 'config.meshbus.io/access-log': 'loud' } } };
    const refused = await post(review('c-3', bad));
    expect(refused.json.response).toMatchObject({ uid: 'c-3', allowed: false, status: { code: 400, message: 'annotation config.meshbus.io/access-log: "loud" is not allowed; expected one of off, apache, json' } });
  });

  it('answers a clear 400 to bodies that are not AdmissionReviews', async () => {
    expect(await post('{not json')).toEqual({ status: 400, json: { error: 'the body is not JSON; expected an AdmissionReview (admission.k8s.io/v1)' } });
    expect(await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' }))).toMatchObject({ status: 400 });
    expect(await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' }, operation: 'CREATE' } }))).toEqual({ status: 400, json: { error: 'request.uid is missing' } });
  });
});
