import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, startFakeKubeApi, waitFor, type FakeKubeApi } from '@meshbus/testing';
import { envToConfig } from './config.js';
import { createInjectorService } from './composition-root.js';
import type { InjectorService } from './injector-service.js';
import { makeWebhookTls, patchOf, podReview, postReview, type WebhookTls } from './test-fixtures.js';

let kube: FakeKubeApi;
let tls: WebhookTls;
let service: InjectorService;
let port: number;

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-' }, spec: { serviceAccountName: 'web', containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 8080 }] }] } };
const namespace = (name: string, annotations?: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(annotations ? { annotations } : {}) } });
const review = (uid: string, ns: string) => postReview(port, tls.ca, podReview(uid, { ...pod, metadata: { ...pod.metadata, namespace: ns } }, ns));

beforeAll(async () => {
  kube = await startFakeKubeApi();
  kube.apply(namespace('shop'));
  kube.apply(namespace('billing', { 'meshbus.io/inject': 'enabled' }));
  tls = makeWebhookTls();
  // The fake serves plain HTTP, which the client accepts only with TLS verification off.
  const kubeconfig = JSON.parse(kube.kubeconfig()) as { clusters: Array<{ cluster: Record<string, unknown> }> };
  for (const c of kubeconfig.clusters) c.cluster['insecure-skip-tls-verify'] = true;
  writeFileSync(join(tls.dir, 'kubeconfig'), JSON.stringify(kubeconfig));
  port = await freePort();
  // Listing namespaces fails at first: the injector keeps trying and is not ready meanwhile.
  kube.failRequests(503, /namespaces/);
  service = createInjectorService(
    envToConfig({
      MESHBUS_RESOURCE_SOURCE: 'kubernetes',
      KUBECONFIG: join(tls.dir, 'kubeconfig'),
      MESHBUS_INJECTOR_ADDR: `127.0.0.1:${port}`,
      MESHBUS_INJECTOR_TLS_CERT: tls.certFile,
      MESHBUS_INJECTOR_TLS_KEY: tls.keyFile,
      MESHBUS_ADMIN_ADDR: '127.0.0.1:0',
      MESHBUS_INJECTOR_TRUST_ANCHORS: tls.caFile,
      MESHBUS_INJECTOR_EVENTS: 'false',
    }),
    { logger: silentLogger() },
  );
  await service.start();
}, 30_000);

afterAll(async () => {
  await service?.[Symbol.asyncDispose]();
  await kube?.stop();
  if (tls) rmSync(tls.dir, { recursive: true, force: true });
});

describe('namespaces from the Kubernetes API', () => {
  it('is ready once the namespaces are listed', async () => {
    const before = await httpGet(`${service.adminUrl}/ready`);
    expect(before.status).toBe(503);
    expect(before.body).toContain('namespaces not listed yet');
    kube.failRequests(undefined);
    await waitFor(async () => (await httpGet(`${service.adminUrl}/ready`)).status === 200, { what: 'ready after the list', timeoutMs: 10_000 });
  });

  it('injects pods of a namespace annotated in the API, and sees an annotation added later with its configuration', async () => {
    expect((await review('k-1', 'billing')).json.response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect((await review('k-2', 'shop')).json.response).toEqual({ uid: 'k-2', allowed: true });

    kube.apply(namespace('shop', { 'meshbus.io/inject': 'enabled', 'config.meshbus.io/proxy-log-level': 'debug' }));
    const answer = await waitFor(
      async () => {
        const r = await review('k-3', 'shop');
        return (r.json.response as { patchType?: string }).patchType === 'JSONPatch' && r;
      },
      { what: 'the new annotation seen by the watch' },
    );
    const patch = patchOf(answer.json);
    // The namespace's configuration is inherited, and recorded on the pod.
    expect(patch).toContainEqual({ op: 'add', path: '/metadata/annotations/config.meshbus.io~1proxy-log-level', value: 'debug' });
    const proxy = patch.find((op) => op.path === '/spec/containers/0')!.value as { env: Array<{ name: string; value?: string }> };
    expect(proxy.env).toContainEqual({ name: 'MESHBUS_PROXY_LOG_LEVEL', value: 'debug' });

    kube.remove({ apiVersion: 'v1', kind: 'Namespace', name: 'billing' });
    await waitFor(async () => (await review('k-4', 'billing')).json.response as { patchType?: string }, { what: 'any answer' });
    await waitFor(async () => (((await review('k-5', 'billing')).json.response as { patchType?: string }).patchType === undefined), { what: 'the deleted namespace forgotten' });
  });

  it('lists and watches namespaces, and asks the API for nothing else', () => {
    const paths = new Set(kube.requests.map((r) => r.path));
    expect([...paths].every((p) => p === '/api/v1/namespaces'), [...paths].join(' ')).toBe(true);
    expect(kube.requests.some((r) => r.query.watch === 'true' || r.query.watch === '1')).toBe(true);
  });

  it('keeps answering from its cache across a lost watch', async () => {
    kube.closeWatches();
    kube.apply(namespace('late', { 'meshbus.io/inject': 'enabled' }));
    await waitFor(async () => (((await review('k-6', 'late')).json.response as { patchType?: string }).patchType === 'JSONPatch'), { what: 'a namespace created after the watch was lost' });
  });
});
