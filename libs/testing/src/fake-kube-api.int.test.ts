import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig, ListWatch, Watch, makeInformer, CoreV1Api, type V1ConfigMap, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApi, type FakeKubeApi, type FakeKubeObject } from './fake-kube-api.js';
import { selfSignedServingCertificate } from './fake-kube-tls.js';
import { waitFor } from './wait.js';

const widgetsCrd = (extra: Record<string, unknown> = {}): FakeKubeObject => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } },
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Size', type: 'integer', jsonPath: '.spec.size' },
          { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        ],
      },
    ],
    ...extra,
  },
});

const widget = (name: string, size: number): FakeKubeObject => ({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { namespace: 'shop', name }, spec: { size } });

describe('fake Kubernetes API server', () => {
  let kube: FakeKubeApi;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${kube.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${kube.bearerToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  beforeAll(async () => {
    kube = await startFakeKubeApi({ bookmarkIntervalMs: 200 });
  });
  afterAll(async () => {
    await kube?.stop();
  });

  it('answers discovery for the built-in groups', async () => {
    expect((await call('GET', '/version')).body.gitVersion).toMatch(/^v1\.\d+/);
    expect((await call('GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const core = (await call('GET', '/api/v1')).body;
    expect(core.resources).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'] })]));
    expect(core.resources).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'namespaces', namespaced: false, kind: 'Namespace' })]));
    const groups = (await call('GET', '/apis')).body;
    const names = (groups.groups as { name: string }[]).map((g) => g.name);
    for (const g of ['apps', 'batch', 'discovery.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'coordination.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io']) {
      expect(names).toContain(g);
    }
    const apps = (await call('GET', '/apis/apps/v1')).body;
    expect(apps).toMatchObject({ kind: 'APIResourceList', groupVersion: 'apps/v1' });
    expect((apps.resources as { name: string }[]).map((r) => r.name)).toEqual(expect.arrayContaining(['deployments', 'statefulsets', 'daemonsets', 'replicasets', 'deployments/status']));
    expect((await call('GET', '/apis/authentication.k8s.io/v1')).body.resources).toEqual([expect.objectContaining({ name: 'tokenreviews', verbs: ['create'] })]);
    expect((await call('GET', '/apis/nope.example.com/v1')).status).toBe(404);
  });

  it('serves the resources of a CustomResourceDefinition only while it exists', async () => {
    const missing = await call('GET', '/apis/example.com/v1/namespaces/shop/widgets');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ kind: 'Status', reason: 'NotFound' });

    const created = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetsCrd());
    expect(created.status).toBe(201);
    const conditions = created.body.status.conditions as { type: string; status: string }[];
    expect(conditions.map((c) => [c.type, c.status])).toEqual(expect.arrayContaining([['Established', 'True'], ['NamesAccepted', 'True']]));
    expect((await call('GET', '/apis')).body.groups).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'example.com', preferredVersion: { groupVersion: 'example.com/v1', version: 'v1' } })]));
    expect((await call('GET', '/apis/example.com/v1')).body.resources).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'widgets', singularName: 'widget', kind: 'Widget', namespaced: true, shortNames: ['wd'] })]),
    );

    expect((await call('POST', '/apis/example.com/v1/namespaces/shop/widgets', widget('w1', 3))).status).toBe(201);
    const again = await call('POST', '/apis/example.com/v1/namespaces/shop/widgets', widget('w1', 3));
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ reason: 'AlreadyExists', message: 'widgets.example.com "w1" already exists' });
    const listed = await call('GET', '/apis/example.com/v1/namespaces/shop/widgets');
    expect(listed.body).toMatchObject({ kind: 'WidgetList', apiVersion: 'example.com/v1', items: [{ kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } }] });

    const table = await call('GET', '/apis/example.com/v1/namespaces/shop/widgets', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect((table.body.columnDefinitions as { name: string }[]).map((c) => c.name)).toEqual(['Name', 'Size', 'Phase']);
    expect(table.body.rows).toEqual([expect.objectContaining({ cells: ['w1', 3, null], object: expect.objectContaining({ kind: 'PartialObjectMetadata' }) })]);

    expect((await call('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com')).status).toBe(200);
    expect((await call('GET', '/apis/example.com/v1/namespaces/shop/widgets')).status).toBe(404);
    expect((await call('GET', '/apis/example.com/v1')).status).toBe(404);
    kube.apply(widgetsCrd());
    expect((await call('GET', '/apis/example.com/v1/namespaces/shop/widgets')).body.items).toEqual([]);
    expect(() => kube.apply({ ...widgetsCrd(), metadata: { name: 'wrong.example.com' } })).toThrow(/metadata.name must be/);
  });

  it('serves every version of a CRD from one store, in the version asked for', async () => {
    kube.apply({ apiVersion: 'example.com/v1beta1', kind: 'Gizmo', metadata: { name: 'early' } }, { plural: 'gizmos' });
    const versions = [
      { name: 'v1beta1', served: true, storage: false },
      { name: 'v1', served: true, storage: true },
    ];
    kube.apply({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gizmos.example.com' },
      spec: { group: 'example.com', scope: 'Cluster', names: { plural: 'gizmos', kind: 'Gizmo' }, versions },
    });
    expect((await call('GET', '/apis')).body.groups).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'example.com', versions: expect.arrayContaining([{ groupVersion: 'example.com/v1', version: 'v1' }]) })]));
    const watch = fetch(`${kube.url}/apis/example.com/v1/gizmos?watch=true&timeoutSeconds=1`, { headers: { authorization: `Bearer ${kube.bearerToken}` } }).then((r) => r.text());
    await waitFor(() => kube.requests.some((r) => r.path === '/apis/example.com/v1/gizmos' && r.query.watch === 'true'));
    await new Promise((r) => setTimeout(r, 100));
    expect((await call('POST', '/apis/example.com/v1beta1/gizmos', { apiVersion: 'example.com/v1beta1', kind: 'Gizmo', metadata: { name: 'g' } })).status).toBe(201);
    expect((await call('GET', '/apis/example.com/v1/gizmos/g')).body.apiVersion).toBe('example.com/v1');
    expect((await call('GET', '/apis/example.com/v1/gizmos/early')).body.apiVersion).toBe('example.com/v1');
    expect(((await call('GET', '/apis/example.com/v1beta1/gizmos')).body.items as FakeKubeObject[]).map((i) => `${i.apiVersion} ${i.metadata.name}`).sort()).toEqual(['example.com/v1beta1 early', 'example.com/v1beta1 g']);
    const events = (await watch).trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: FakeKubeObject });
    expect(events.map((e) => `${e.type} ${e.object.apiVersion} ${e.object.metadata.name}`)).toEqual(['ADDED example.com/v1 early', 'ADDED example.com/v1 g']);
    expect(kube.remove({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'gizmos.example.com' })).toBe(true);
    expect((await call('GET', '/apis/example.com/v1beta1/gizmos')).status).toBe(404);
  });

  it('patches objects and their status subresource as a real server does', async () => {
    kube.apply(widgetsCrd());
    const w = kube.apply(widget('w2', 1));
    const merge = await call('PATCH', '/apis/example.com/v1/namespaces/shop/widgets/w2', { spec: { size: 2, color: 'red' }, status: { phase: 'Ignored' } }, { 'content-type': 'application/merge-patch+json' });
    expect(merge.status).toBe(200);
    expect(merge.body.spec).toEqual({ size: 2, color: 'red' });
    expect(merge.body.status).toBeUndefined();
    expect(merge.body.metadata.generation).toBe(2);

    const statusPatch = await call('PATCH', '/apis/example.com/v1/namespaces/shop/widgets/w2/status', { status: { phase: 'Ready' }, spec: { size: 99 } }, { 'content-type': 'application/merge-patch+json' });
    expect(statusPatch.body).toMatchObject({ spec: { size: 2 }, status: { phase: 'Ready' } });
    expect(statusPatch.body.metadata.generation).toBe(2);

    const json = await call('PATCH', '/apis/example.com/v1/namespaces/shop/widgets/w2', [{ op: 'remove', path: '/spec/color' }, { op: 'replace', path: '/spec/size', value: 4 }], { 'content-type': 'application/json-patch+json' });
    expect(json.body.spec).toEqual({ size: 4 });
    const badJson = await call('PATCH', '/apis/example.com/v1/namespaces/shop/widgets/w2', [{ op: 'remove', path: '/spec/nothing' }], { 'content-type': 'application/json-patch+json' });
    expect(badJson.status).toBe(422);

    const strategic = await call('PATCH', '/api/v1/namespaces/shop/configmaps/none', { data: {} }, { 'content-type': 'application/strategic-merge-patch+json' });
    expect(strategic.body).toMatchObject({ reason: 'NotFound', message: 'configmaps "none" not found', details: { name: 'none', kind: 'configmaps' } });

    const stale = await call('PUT', '/apis/example.com/v1/namespaces/shop/widgets/w2', { ...widget('w2', 5), metadata: { ...widget('w2', 5).metadata, resourceVersion: w.metadata.resourceVersion } });
    expect(stale.status).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    const current = kube.get({ apiVersion: 'example.com/v1', kind: 'Widget', namespace: 'shop', name: 'w2' })!;
    const replaced = await call('PUT', '/apis/example.com/v1/namespaces/shop/widgets/w2/status', { ...current, status: { phase: 'Done' } });
    expect(replaced.body.status).toEqual({ phase: 'Done' });
    const row = await call('GET', '/apis/example.com/v1/namespaces/shop/widgets/w2', undefined, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(row.body.rows[0].cells).toEqual(['w2', 4, 'Done']);
    expect((await call('PATCH', '/apis/example.com/v1/namespaces/shop/widgets/w2', 'x', { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('serves kinds a test applied, and with serveUnknownResources any resource', async () => {
    expect((await call('GET', '/apis/meshbus.io/v1alpha1/namespaces/shop/servers')).status).toBe(404);
    kube.apply({ apiVersion: 'meshbus.io/v1alpha1', kind: 'Server', metadata: { namespace: 'shop', name: 'web' }, spec: { port: 80 } });
    expect((await call('GET', '/apis/meshbus.io/v1alpha1/namespaces/shop/servers')).body).toMatchObject({ kind: 'ServerList', items: [{ metadata: { name: 'web' } }] });
    expect((await call('GET', '/apis/meshbus.io/v1alpha1')).body.resources).toEqual([expect.objectContaining({ name: 'servers', kind: 'Server', namespaced: true })]);

    const open = await startFakeKubeApi({ serveUnknownResources: true });
    try {
      const res = await fetch(`${open.url}/apis/anything.example/v9/namespaces/x/things`, {
        method: 'POST',
        headers: { authorization: `Bearer ${open.bearerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'anything.example/v9', kind: 'Thing', metadata: { name: 't' } }),
      });
      expect(res.status).toBe(201);
      expect(open.get({ apiVersion: 'anything.example/v9', kind: 'Thing', namespace: 'x', name: 't' })).toMatchObject({ metadata: { namespace: 'x' } });
    } finally {
      await open.stop();
    }
  });

  it('answers 410 Gone to watches older than a compaction point, and resumes later ones', async () => {
    kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'gone', name: 'one' } });
    const rv = kube.resourceVersion();
    kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'gone', name: 'two' } });
    kube.compactHistory(rv);
    const older = await call('GET', `/api/v1/namespaces/gone/configmaps?watch=true&resourceVersion=${Number(rv) - 1}`);
    expect(older.body).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    const res = await fetch(`${kube.url}/api/v1/namespaces/gone/configmaps?watch=true&resourceVersion=${rv}&timeoutSeconds=1`, { headers: { authorization: `Bearer ${kube.bearerToken}` } });
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
    expect(lines.map((l) => [l.type, l.object.metadata.name])).toEqual([['ADDED', 'two']]);
  });

  it('serves HTTPS that client-node accepts with tls', async () => {
    const secure = await startFakeKubeApi({ tls: true });
    try {
      expect(secure.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(secure.caPem).toContain('BEGIN CERTIFICATE');
      expect(JSON.parse(secure.kubeconfig()).clusters[0].cluster['certificate-authority-data']).toBe(Buffer.from(secure.caPem!).toString('base64'));
      secure.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'tls', name: 's' } });
      const kc = new KubeConfig();
      kc.loadFromString(secure.kubeconfig());
      const list = await kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'tls' });
      expect(list.items.map((s) => s.metadata?.name)).toEqual(['s']);
    } finally {
      await secure.stop();
    }
  });

  it('deletes the objects of a deleted namespace', async () => {
    kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'doomed', name: 'c' } });
    kube.apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { namespace: 'doomed', name: 'd' } });
    kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kept', name: 'c' } });
    expect((await call('DELETE', '/api/v1/namespaces/doomed')).status).toBe(200);
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'doomed', name: 'c' })).toBeUndefined();
    expect(kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'doomed', name: 'd' })).toBeUndefined();
    expect(kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'kept', name: 'c' })).toBeDefined();
  });

  it('pages lists and leaves objects alone on dryRun', async () => {
    for (const name of ['p1', 'p2', 'p3']) kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'pages', name } });
    const first = await call('GET', '/api/v1/namespaces/pages/configmaps?limit=2');
    expect((first.body.items as FakeKubeObject[]).map((i) => i.metadata.name)).toEqual(['p1', 'p2']);
    expect(first.body.metadata.remainingItemCount).toBe(1);
    const second = await call('GET', `/api/v1/namespaces/pages/configmaps?limit=2&continue=${first.body.metadata.continue}`);
    expect((second.body.items as FakeKubeObject[]).map((i) => i.metadata.name)).toEqual(['p3']);
    expect(second.body.metadata.continue).toBeUndefined();
    expect((await call('GET', '/api/v1/namespaces/pages/configmaps?continue=nonsense')).status).toBe(400);

    const rv = kube.resourceVersion();
    const created = await call('POST', '/api/v1/namespaces/pages/configmaps?dryRun=All', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p4' } });
    expect(created.status).toBe(201);
    expect(created.body.metadata.name).toBe('p4');
    expect((await call('DELETE', '/api/v1/namespaces/pages/configmaps/p1?dryRun=All')).status).toBe(200);
    expect((await call('PATCH', '/api/v1/namespaces/pages/configmaps/p2?dryRun=All', { data: { a: 'b' } }, { 'content-type': 'application/merge-patch+json' })).body.data).toEqual({ a: 'b' });
    expect(kube.resourceVersion()).toBe(rv);
    expect(((await call('GET', '/api/v1/namespaces/pages/configmaps')).body.items as FakeKubeObject[]).map((i) => [i.metadata.name, i.data])).toEqual([['p1', undefined], ['p2', undefined], ['p3', undefined]]);
  });

  it('selects by set-based label selectors', async () => {
    for (const [name, tier] of [['a', 'web'], ['b', 'db'], ['c', undefined]] as const) {
      kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'labels', name, ...(tier ? { labels: { tier } } : {}) } });
    }
    const names = async (selector: string) =>
      ((await call('GET', `/api/v1/namespaces/labels/configmaps?labelSelector=${encodeURIComponent(selector)}`)).body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name).sort();
    expect(await names('tier in (web,db)')).toEqual(['a', 'b']);
    expect(await names('tier notin (web)')).toEqual(['b', 'c']);
    expect(await names('!tier')).toEqual(['c']);
    expect(await names('tier,tier!=db')).toEqual(['a']);
    expect((await call('GET', '/api/v1/namespaces/labels/configmaps?labelSelector=tier%20in%20web')).status).toBe(400);
  });

  it('answers SelfSubjectAccessReviews, allowing unless told otherwise', async () => {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', resource: 'tokenreviews', group: 'authentication.k8s.io' } } };
    expect((await call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', review)).body.status).toEqual({ allowed: true });
    kube.setAccessReviewHandler((spec) => (spec.resourceAttributes?.resource === 'tokenreviews' ? { allowed: false, reason: 'no RBAC' } : { allowed: true }));
    const denied = await call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', review);
    expect(denied.status).toBe(201);
    expect(denied.body.status).toEqual({ allowed: false, reason: 'no RBAC' });
    kube.setAccessReviewHandler(undefined);
  });

  describe('service proxy', () => {
    const servers: Server[] = [];
    const listen = async (server: Server) => {
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as AddressInfo).port;
    };
    const echo = (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-target': 'yes' });
        res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString(), auth: req.headers.authorization ?? null }));
      });
    };
    afterEach(async () => {
      for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    });

    it('forwards to a registered http target and answers 503 for others', async () => {
      const port = await listen(createHttpServer(echo));
      kube.setServiceProxy({ namespace: 'meshbus', name: 'nats', port: 8222 }, `http://127.0.0.1:${port}`);
      const answer = await call('GET', '/api/v1/namespaces/meshbus/services/nats:8222/proxy/healthz?js-enabled-only=true');
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ method: 'GET', url: '/healthz?js-enabled-only=true', body: '', auth: null });
      const other = await call('GET', '/api/v1/namespaces/meshbus/services/nats:4222/proxy/healthz');
      expect(other.status).toBe(503);
      expect(other.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable' });
      kube.setServiceProxy({ namespace: 'meshbus', name: 'nats', port: 8222 }, undefined);
      expect((await call('GET', '/api/v1/namespaces/meshbus/services/nats:8222/proxy/healthz')).status).toBe(503);
    });

    it('forwards a POST to an https target with a self-signed certificate', async () => {
      const { certificatePem, keyPem } = await selfSignedServingCertificate();
      const port = await listen(createHttpsServer({ cert: certificatePem, key: keyPem }, echo));
      kube.setServiceProxy({ namespace: 'meshbus', name: 'injector' }, `https://127.0.0.1:${port}`);
      const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '1' } };
      const answer = await call('POST', '/api/v1/namespaces/meshbus/services/https:injector:443/proxy/mutate', review);
      expect(answer.body).toEqual({ method: 'POST', url: '/mutate', body: JSON.stringify(review), auth: null });
      kube.setServiceProxy({ namespace: 'meshbus', name: 'injector' }, `https://127.0.0.1:${port}`, { ca: certificatePem });
      expect((await call('POST', '/api/v1/namespaces/meshbus/services/injector/proxy/mutate', review)).status).toBe(200);
      kube.setServiceProxy({ namespace: 'meshbus', name: 'injector' }, undefined);
    });
  });

  describe('watch bookmarks', () => {
    /** Reads watch events of `path` until `until` holds for the events so far. */
    const watchUntil = async (path: string, until: (events: { type: string; object: any }[]) => boolean) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const controller = new AbortController();
      const res = await fetch(`${kube.url}${path}`, { headers: { authorization: `Bearer ${kube.bearerToken}` }, signal: controller.signal });
      const events: { type: string; object: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
      let buffered = '';
      const decoder = new TextDecoder();
      const timer = setTimeout(() => controller.abort(), 5000);
      try {
        for await (const chunk of res.body!) {
          buffered += decoder.decode(chunk as Uint8Array, { stream: true });
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buffered.slice(0, nl)) as { type: string; object: unknown });
            buffered = buffered.slice(nl + 1);
          }
          if (until(events)) break;
        }
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
      return events;
    };

    it('sends BOOKMARK events only to watches that ask, periodically and on demand', async () => {
      kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'bm', name: 'one' } });
      const events = await watchUntil('/api/v1/namespaces/bm/configmaps?watch=true&allowWatchBookmarks=true', (e) => e.filter((x) => x.type === 'BOOKMARK').length >= 2);
      expect(events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'one' } } });
      expect(events[1]).toEqual({ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: kube.resourceVersion() } } });

      const plain = watchUntil('/api/v1/namespaces/bm/configmaps?watch=true', (e) => e.some((x) => x.object.metadata.name === 'two'));
      await new Promise((r) => setTimeout(r, 500));
      kube.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'bm', name: 'two' } });
      expect((await plain).map((e) => e.type)).toEqual(['ADDED', 'ADDED']);

      const rv = kube.resourceVersion();
      const initial = await watchUntil(`/api/v1/namespaces/bm/configmaps?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=${rv}`, (e) => e.some((x) => x.type === 'BOOKMARK'));
      expect(initial.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'BOOKMARK']);
      expect(initial[2]!.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
    });

    it('lets an informer resume after compaction from a bookmark, and relist without one', async () => {
      const slow = await startFakeKubeApi({ bookmarkIntervalMs: 0 });
      try {
        const kc = new KubeConfig();
        kc.loadFromOptions(slow.kubeConfigOptions());
        const core = kc.makeApiClient(CoreV1Api);
        slow.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'a', name: 'first' } });
        slow.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'b', name: 'first' } });

        // client-node's informers do not ask for bookmarks; this Watch does, and handles them as informers do.
        const bookmarkingWatch = new (class extends Watch {
          override watch(path: string, query: Record<string, unknown>, callback: (phase: string, apiObj: any, watchObj?: any) => void, done: (err: unknown) => void) { // eslint-disable-line @typescript-eslint/no-explicit-any
            return super.watch(path, { ...query, allowWatchBookmarks: true }, callback, done);
          }
        })(kc);
        const withBookmarks = new ListWatch<V1ConfigMap>('/api/v1/namespaces/a/configmaps', bookmarkingWatch, () => core.listNamespacedConfigMap({ namespace: 'a' }), false);
        // makeInformer builds a ListWatch, which tells the resourceVersion it would resume from.
        const withoutBookmarks = makeInformer<V1ConfigMap>(kc, '/api/v1/namespaces/b/configmaps', () => core.listNamespacedConfigMap({ namespace: 'b' })) as ListWatch<V1ConfigMap>;
        const errors: unknown[] = [];
        for (const informer of [withBookmarks, withoutBookmarks]) {
          informer.on('error', (e) => errors.push(e));
          await informer.start();
        }
        const lists = (ns: string) => slow.requests.filter((r) => r.path === `/api/v1/namespaces/${ns}/configmaps` && r.query.watch === undefined).length;
        const watching = (ns: string) => slow.requests.filter((r) => r.path === `/api/v1/namespaces/${ns}/configmaps` && r.query.watch === 'true').length;
        await waitFor(() => watching('a') === 1 && watching('b') === 1, { what: 'both informers watching' });
        const lastSeen = withBookmarks.latestResourceVersion();
        const lastSeenB = withoutBookmarks.latestResourceVersion();

        // Changes elsewhere move the resourceVersion on; only a bookmark tells a watcher of `a` about it.
        for (let i = 0; i < 5; i++) slow.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'c', name: `s${i}` } });
        slow.sendBookmarks();
        const bookmarkRv = slow.resourceVersion();
        await waitFor(() => withBookmarks.latestResourceVersion() === bookmarkRv, { what: 'bookmark seen' });
        expect(Number(bookmarkRv)).toBeGreaterThan(Number(lastSeen));
        expect(withoutBookmarks.latestResourceVersion()).toBe(lastSeenB);

        slow.compactHistory();
        slow.closeWatches();
        await waitFor(() => watching('a') === 2 && watching('b') >= 2, { what: 're-watches' });
        slow.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'a', name: 'second' } });
        slow.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'b', name: 'second' } });
        const names = (informer: { list(): readonly KubernetesObject[] }) => informer.list().map((o) => o.metadata!.name).sort().join(',');
        await waitFor(() => names(withBookmarks) === 'first,second' && names(withoutBookmarks) === 'first,second', { what: 'both informers converged' });

        expect(lists('a')).toBe(1);
        const rewatchA = slow.requests.filter((r) => r.path === '/api/v1/namespaces/a/configmaps' && r.query.watch === 'true')[1]!;
        expect(rewatchA.query.resourceVersion).toBe(bookmarkRv);
        expect(lists('b')).toBe(2);
        expect(errors).toEqual([]);
        await withBookmarks.stop();
        await withoutBookmarks.stop();
      } finally {
        await slow.stop();
      }
    });
  });
});
