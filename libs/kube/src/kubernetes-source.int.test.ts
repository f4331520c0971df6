import { KubeConfig } from '@kubernetes/client-node';
import type { ManifestProblem, MeshResources } from '@meshbus/manifests';
import { silentLogger } from '@meshbus/runtime';
import { startFakeKubeApi, waitFor, type FakeKubeApi } from '@meshbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResourceInformer, type InformerEvent } from './informer.js';
import { kubeResources, linkerdPolicyResources } from './kube-resources.js';
import { kubernetesResourceSource, type KubernetesResourceSource } from './kubernetes-source.js';

const service = (name: string, port = 80) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'shop' },
  spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 8080 }], clusterIP: '10.96.0.10', sessionAffinity: 'None' },
  status: { loadBalancer: {} },
});

describe('Kubernetes informers and source against the fake API server', () => {
  let kube: FakeKubeApi;
  let kubeConfig: KubeConfig;
  const disposables: AsyncDisposable[] = [];

  beforeEach(async () => {
    kube = await startFakeKubeApi();
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(kube.kubeConfigOptions());
  });
  afterEach(async () => {
    for (const d of disposables.splice(0).reverse()) await d[Symbol.asyncDispose]();
    await kube.stop();
  });

  function informer(resource = kubeResources.services, options: { resyncIntervalMs?: number; missingRetryMs?: number } = {}) {
    const events: InformerEvent[] = [];
    const i = new ResourceInformer({ kubeConfig, resource, logger: silentLogger(), onEvent: (e) => events.push(e), initialBackoffMs: 50, maxBackoffMs: 200, ...options });
    disposables.push(i);
    return { informer: i, events };
  }

  function source(resources = [kubeResources.namespaces, kubeResources.services, kubeResources.pods, kubeResources.nodes, ...linkerdPolicyResources]) {
    const updates: { resources: MeshResources; problems: readonly ManifestProblem[] }[] = [];
    const s: KubernetesResourceSource = kubernetesResourceSource({ kubeConfig, resources, logger: silentLogger(), debounceMs: 20, initialBackoffMs: 50, missingRetryMs: 100 });
    disposables.push(s);
    return { source: s, updates, start: () => s.start((r, p) => updates.push({ resources: r, problems: p })) };
  }

  it('reports the initial list before start() resolves, then changes', async () => {
    kube.apply(service('web'));
    const { informer: i, events } = informer();
    await i.start();
    expect(i.synced).toBe(true);
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['upsert', 'web']]);
    kube.apply(service('api'));
    kube.remove({ apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'web' });
    await waitFor(() => events.length === 3);
    expect(events.slice(1).map((e) => [e.type, e.object.metadata.name])).toEqual([['upsert', 'api'], ['delete', 'web']]);
    expect(kube.requests.some((r) => r.query.watch === 'true' && r.query.allowWatchBookmarks === 'true')).toBe(true);
  });

  it('resumes a closed watch, and relists after 410 Gone, reporting only what differs', async () => {
    kube.apply(service('web'));
    kube.apply(service('api'));
    const { informer: i, events } = informer();
    await i.start();
    kube.closeWatches();
    kube.apply(service('web', 81));
    await waitFor(() => events.length === 3);
    expect(events[2]).toMatchObject({ type: 'upsert', object: { metadata: { name: 'web' } } });

    const lists = () => kube.requests.filter((r) => r.path === '/api/v1/services' && r.query.watch === undefined).length;
    const listsBefore = lists();
    kube.compactHistory();
    kube.closeWatches();
    kube.remove({ apiVersion: 'v1', kind: 'Service', namespace: 'shop', name: 'api' });
    kube.compactHistory();
    await waitFor(() => events.length === 4);
    expect(events[3]).toMatchObject({ type: 'delete', object: { metadata: { name: 'api' } } });
    expect(lists()).toBeGreaterThan(listsBefore);
    expect([...i.objects.keys()]).toEqual(['shop/web']);
  });

  it('lists again after an error with backoff, keeping what it had meanwhile', async () => {
    kube.apply(service('web'));
    const { informer: i, events } = informer();
    await i.start();
    kube.failRequests(500, /services/);
    kube.closeWatches();
    await waitFor(() => kube.requests.filter((r) => r.path === '/api/v1/services').length >= 4);
    expect([...i.objects.keys()]).toEqual(['shop/web']);
    kube.apply(service('api'));
    kube.failRequests(undefined);
    await waitFor(() => events.length === 2);
    expect(events[1]).toMatchObject({ type: 'upsert', object: { metadata: { name: 'api' } } });
  });

  it('reads a resource the server does not serve as empty, and picks it up once it appears', async () => {
    kube.failRequests(404, /gateway\.networking\.k8s\.io/);
    const { informer: i, events } = informer(kubeResources.httpRoutes, { missingRetryMs: 100 });
    await i.start();
    expect(i.synced).toBe(true);
    expect(i.missing).toBe(true);
    kube.apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop' }, spec: {} });
    kube.failRequests(undefined);
    await waitFor(() => events.length === 1);
    expect(i.missing).toBe(false);
  });

  it('resyncs at an interval, reporting only differences', async () => {
    kube.apply(service('web'));
    const { informer: i, events } = informer(kubeResources.services, { resyncIntervalMs: 100 });
    await i.start();
    const lists = () => kube.requests.filter((r) => r.path === '/api/v1/services' && r.query.watch === undefined).length;
    await waitFor(() => lists() >= 3);
    expect(events).toHaveLength(1);
  });

  it('gives MeshResources: pods as workloads with their node zone, objects refused by the decoder as problems', async () => {
    kube.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } });
    kube.apply(service('web'));
    kube.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } },
      spec: { nodeName: 'node-a', containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
      status: { phase: 'Running', podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    kube.apply({ apiVersion: 'policy.linkerd.io/v1beta3', kind: 'Server', metadata: { name: 'bad', namespace: 'shop' }, spec: { port: 'not a port' } });
    const { source: s, updates, start } = source();
    await start();
    expect(updates).toHaveLength(1);
    expect(s.informers().every((x) => x.synced)).toBe(true);
    const first = updates[0]!;
    expect(first.resources.services.map((x) => x.name)).toEqual(['web']);
    expect(first.resources.workloads).toMatchObject([{ name: 'web-1', address: '10.0.0.5', zone: 'zone-a', source: 'Pod', ready: true }]);
    expect(first.problems).toMatchObject([{ file: 'kubernetes:policy.linkerd.io/v1beta3/Server/shop/bad', kind: 'Server', name: 'bad' }]);

    // Changes are coalesced into one snapshot; a node's zone change reaches its pods.
    kube.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-b' } } });
    kube.apply(service('api'));
    await waitFor(() => updates.length >= 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(updates).toHaveLength(2);
    expect(updates[1]!.resources.workloads[0]).toMatchObject({ zone: 'zone-b' });
    expect(updates[1]!.resources.services.map((x) => x.name)).toEqual(['api', 'web']);
  });
});
