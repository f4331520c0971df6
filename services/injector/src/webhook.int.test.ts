import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, waitFor } from '@meshbus/testing';
import { envToConfig } from './config.js';
import { createInjectorService } from './composition-root.js';
import type { InjectorService } from './injector-service.js';
import { makeSelfSigned, makeWebhookTls, metricValue, patchOf, podReview, postReview, type WebhookTls } from './test-fixtures.js';

let tls: WebhookTls;
let service: InjectorService;
let port: number;
const anchorsFile = () => join(tls.dir, 'anchors.pem');
const gatewayCaFile = () => join(tls.dir, 'gateway-ca.pem');

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-5d8c-', namespace: 'shop', labels: { app: 'web' } },
  spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8080 }] }] },
};

type PatchedPod = typeof pod & { metadata: { annotations: Record<string, string> }; spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }>; volumes: Array<{ name: string }> } };

const post = (body: string) => postReview(port, tls.ca, body);

function patched(json: Record<string, unknown>): PatchedPod {
  return fastJsonPatch.applyPatch(structuredClone(pod), patchOf(json) as fastJsonPatch.Operation[], true, false).newDocument as PatchedPod;
}

const proxyEnv = (p: PatchedPod) => Object.fromEntries(p.spec.containers[0]!.env.map((e) => [e.name, e.value]));
const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

beforeAll(async () => {
  tls = makeWebhookTls();
  writeFileSync(anchorsFile(), tls.ca);
  writeFileSync(gatewayCaFile(), makeSelfSigned(tls.dir, 'gateway-ca'));
  writeFileSync(join(tls.dir, 'namespaces.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshbus.io/inject: enabled\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n');
  port = await freePort();
  const config = envToConfig({
    MESHBUS_INJECTOR_ADDR: `127.0.0.1:${port}`,
    MESHBUS_INJECTOR_TLS_CERT: tls.certFile,
    MESHBUS_INJECTOR_TLS_KEY: tls.keyFile,
    MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
    MESHBUS_MANIFESTS_DIR: tls.dir,
    MESHBUS_INJECTOR_TRUST_ANCHORS: anchorsFile(),
    MESHBUS_INJECTOR_GATEWAY_CA: gatewayCaFile(),
    MESHBUS_INJECTOR_TRUST_RELOAD_INTERVAL: '100ms',
    // Nothing listens there: NATS is down for the whole file.
    NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    MESHBUS_INJECTOR_EVENT_BUFFER: '2',
  });
  service = createInjectorService(config, { logger: silentLogger() });
  await service.start();
});

afterAll(async () => {
  await service?.[Symbol.asyncDispose]();
  rmSync(tls.dir, { recursive: true, force: true });
});

describe('injector webhook over HTTPS', () => {
  it('is ready without NATS, and injects a pod of an enabled namespace with a JSON Patch echoing the uid', async () => {
    const ready = await httpGet(`${service.adminUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body).toContain('pod-injection events: not connected to NATS');
    const { status, json } = await post(podReview('a6c1-1', pod));
    expect(status).toBe(200);
    expect(json).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'a6c1-1', allowed: true, patchType: 'JSONPatch' } });
    const p = patched(json);
    expect(() => new PodModel(p as never).validate()).not.toThrow();
    expect(p.spec.containers.map((c) => c.name)).toEqual(['meshbus-proxy', 'web']);
    const env = proxyEnv(p);
    expect(env).toMatchObject({ MESHBUS_PROXY_MODE: 'transparent', MESHBUS_PROXY_INBOUND_PORTS: '8080' });
    // The anchors and the gateway CA travel in the environment: nothing to create in the namespace.
    expect(env.MESHBUS_PROXY_TRUST_ANCHORS_PEM).toBe(tls.ca.toString('utf8'));
    expect(env.MESHBUS_PROXY_GATEWAY_CA_PEM).toContain('-----BEGIN CERTIFICATE-----');
    expect(env).not.toHaveProperty('MESHBUS_PROXY_TRUST_ANCHORS');
    expect(p.spec.volumes.map((v) => v.name)).toEqual(['meshbus-identity-token']);
    expect(p.metadata.annotations['meshbus.io/trust-root-sha256']).toBe(sha256(tls.ca));
  });

  it('allows without a patch a pod of a namespace that did not ask, and refuses a bad annotation with its message', async () => {
    const skipped = await post(podReview('b-2', pod, 'other'));
    expect(skipped.json.response).toEqual({ uid: 'b-2', allowed: true });
    const bad = { ...pod, metadata: { ...pod.metadata, annotations: { 'config.meshbus.io/access-log': 'loud' } } };
    const refused = await post(podReview('c-3', bad));
    expect(refused.json.response).toMatchObject({ uid: 'c-3', allowed: false, status: { code: 400, message: 'annotation config.meshbus.io/access-log: "loud" is not allowed; expected one of off, apache, json' } });
  });

  it('answers a clear 400 to bodies that are not AdmissionReviews', async () => {
    expect(await post('{not json')).toEqual({ status: 400, json: { error: 'the body is not JSON; expected an AdmissionReview (admission.k8s.io/v1)' } });
    expect(await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' }))).toMatchObject({ status: 400 });
    expect(await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' }, operation: 'CREATE' } }))).toEqual({ status: 400, json: { error: 'request.uid is missing' } });
  });

  it('holds events while NATS is away up to its buffer, then drops them and counts the drops', async () => {
    // Three answers so far gave events; the buffer holds two.
    const metrics = async () => (await httpGet(`${service.adminUrl}/metrics`)).body;
    const before = metricValue(await metrics(), 'meshbus_injector_events_dropped_total{reason="buffer-full",service="injector"}') ?? 0;
    expect(before).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 3; i++) expect((await post(podReview(`d-${i}`, pod))).json.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    const text = await metrics();
    expect(metricValue(text, 'meshbus_injector_events_dropped_total{reason="buffer-full",service="injector"}')).toBe(before + 3);
    expect(metricValue(text, 'meshbus_injector_events_buffered{service="injector"}')).toBe(2);
    expect(metricValue(text, 'meshbus_injector_admissions_total{outcome="injected",service="injector"}')).toBe(4);
  });

  it('gives new pods new anchors when the anchors file changes, and keeps the last good ones when it breaks', async () => {
    const rotated = `${tls.ca.toString('utf8')}${makeSelfSigned(tls.dir, 'next-anchor')}`;
    writeFileSync(anchorsFile(), rotated);
    await waitFor(() => service.injection.trustRootSha256 === sha256(rotated), { what: 'the rotated anchors', timeoutMs: 5000 });
    const p = patched((await post(podReview('e-1', pod))).json);
    expect(p.metadata.annotations['meshbus.io/trust-root-sha256']).toBe(sha256(rotated));
    expect(proxyEnv(p).MESHBUS_PROXY_TRUST_ANCHORS_PEM).toBe(rotated);

    writeFileSync(anchorsFile(), 'not a certificate');
    await new Promise((r) => setTimeout(r, 400));
    expect(service.injection.trustRootSha256).toBe(sha256(rotated));
    expect((await httpGet(`${service.adminUrl}/ready`)).status).toBe(200);
  });
});

describe('injector configuration', () => {
  const base = { MESHBUS_INJECTOR_TLS_CERT: '/t.pem', MESHBUS_INJECTOR_TLS_KEY: '/t.key' };
  it('names the variable at fault', () => {
    expect(() => envToConfig({ ...base, MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile })).toThrow(/^MESHBUS_MANIFESTS_DIR is required with MESHBUS_RESOURCE_SOURCE=manifests/);
    expect(() => envToConfig({ ...base, MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile, MESHBUS_RESOURCE_SOURCE: 'cluster' })).toThrow(/^MESHBUS_RESOURCE_SOURCE must be manifests or kubernetes, got "cluster"/);
    expect(() => envToConfig({ ...base, MESHBUS_INJECTOR_TRUST_ANCHORS: join(tls.dir, 'missing.pem'), MESHBUS_MANIFESTS_DIR: tls.dir })).toThrow(/^MESHBUS_INJECTOR_TRUST_ANCHORS: cannot read/);
    expect(() => envToConfig({ ...base, MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile, MESHBUS_INJECTOR_GATEWAY_CA: tls.keyFile, MESHBUS_MANIFESTS_DIR: tls.dir })).toThrow(/^MESHBUS_INJECTOR_GATEWAY_CA: .* holds no PEM certificate/);
    expect(() => envToConfig({ ...base, MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile, MESHBUS_MANIFESTS_DIR: tls.dir, MESHBUS_INJECTOR_EVENT_BUFFER: '0' })).toThrow(/MESHBUS_INJECTOR_EVENT_BUFFER/);
  });

  it('needs no manifests folder with the Kubernetes source', () => {
    const config = envToConfig({ ...base, MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile, MESHBUS_RESOURCE_SOURCE: 'kubernetes', KUBECONFIG: '/k' });
    expect(config.namespaces).toEqual({ kind: 'kubernetes', kubeconfig: '/k' });
    expect(config.events.bus.inboxPrefix).toBe('_INBOX_injector');
    expect(config.injection.proxyVersion).toMatch(/^\d+\.\d+\.\d+/);
  });
});
