import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { destinationResources, kubernetesResourceSource } from '@meshbus/kube';
import { loadManifestFolder, type MeshResources } from '@meshbus/manifests';
import { silentLogger } from '@meshbus/runtime';
import { startFakeKubeApi } from '@meshbus/testing';
import { describe, expect, it } from 'vitest';
import { computeDestinationState, type DestinationState } from './compute.js';

const options = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };

const manifests = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop, annotations: { config.meshbus.io/opaque-ports: "9000" } }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: http }, { name: db, port: 9000, targetPort: 9000 }]
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: web, namespace: shop }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: web-1, namespace: shop, labels: { app: web } }
spec: { address: 10.0.0.1, ports: [{ name: http, port: 8080 }, { port: 9000 }], serviceAccount: web, zone: zone-a }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: web-2, namespace: shop, labels: { app: web }, annotations: { config.meshbus.io/opaque-ports: "8080" } }
spec: { address: 10.0.0.2, ports: [{ name: http, port: 8080 }, { port: 9000 }], serviceAccount: web, zone: zone-b }
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: { name: web-3, namespace: shop, labels: { app: web } }
spec: { address: 10.0.0.3, ports: [{ name: http, port: 8080 }, { port: 9000 }], serviceAccount: web, ready: false, zone: zone-a }
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: web.shop.svc.cluster.local, namespace: shop }
spec:
  routes: [{ name: GET /, condition: { method: GET, pathRegex: / }, isRetryable: true, timeout: 2s }]
`;

interface PodSpec {
  name: string;
  ip: string;
  node: string;
  ready: boolean;
  annotations?: Record<string, string>;
}

const pods: PodSpec[] = [
  { name: 'web-1', ip: '10.0.0.1', node: 'node-a', ready: true },
  { name: 'web-2', ip: '10.0.0.2', node: 'node-b', ready: true, annotations: { 'config.meshbus.io/opaque-ports': '8080' } },
  { name: 'web-3', ip: '10.0.0.3', node: 'node-a', ready: false },
];
const zones: Record<string, string> = { 'node-a': 'zone-a', 'node-b': 'zone-b' };

/** The Kubernetes objects a cluster holds for the same mesh: the EndpointSlice as the EndpointSlice controller writes it. */
function clusterObjects() {
  return [
    ...Object.entries(zones).map(([name, zone]) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'topology.kubernetes.io/zone': zone } } })),
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop', annotations: { 'config.meshbus.io/opaque-ports': '9000' } },
      spec: { selector: { app: 'web' }, type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }, { name: 'db', port: 9000, targetPort: 9000, protocol: 'TCP' }] },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'shop' } },
    ...pods.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: 'shop', labels: { app: 'web' }, ...(p.annotations ? { annotations: p.annotations } : {}), managedFields: [{ manager: 'kubelet' }] },
      spec: {
        serviceAccountName: 'web',
        nodeName: p.node,
        containers: [
          { name: 'app', image: 'web:1', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { containerPort: 9000, protocol: 'TCP' }] },
          { name: 'meshbus-proxy', image: 'meshbus/proxy:0.1.0', ports: [{ name: 'meshbus-admin', containerPort: 4191 }] },
        ],
      },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }] },
    })),
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-x7k2p', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'db', port: 9000, protocol: 'TCP' }],
      endpoints: pods.map((p) => ({
        addresses: [p.ip],
        conditions: { ready: p.ready, serving: p.ready, terminating: false },
        nodeName: p.node,
        zone: zones[p.node],
        targetRef: { kind: 'Pod', namespace: 'shop', name: p.name, uid: 'x' },
      })),
    },
    {
      apiVersion: 'linkerd.io/v1alpha2',
      kind: 'ServiceProfile',
      metadata: { name: 'web.shop.svc.cluster.local', namespace: 'shop' },
      spec: { routes: [{ name: 'GET /', condition: { method: 'GET', pathRegex: '/' }, isRetryable: true, timeout: '2s' }] },
    },
  ];
}

/** The one thing that must differ: an endpoint read from a Pod names a Pod, one read from a Workload manifest a Workload. */
function normalised(state: DestinationState): unknown {
  const sets = [...state.endpointSets].map(([subject, set]) => [subject, { ...set, endpoints: set.endpoints.map((e) => (e.workload ? { ...e, workload: { ...e.workload, kind: 'Workload' } } : e)) }]);
  return { endpointSets: sets, profiles: [...state.profiles] };
}

describe('a manifests folder and the equivalent Kubernetes objects', () => {
  it('give the same destination state', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshbus-equivalence-'));
    await using kube = await startFakeKubeApi();
    try {
      await writeFile(join(dir, 'mesh.yaml'), manifests);
      const folder = await loadManifestFolder(dir);
      expect(folder.problems).toEqual([]);

      for (const object of clusterObjects()) kube.apply(object, object.kind === 'ServiceProfile' ? { plural: 'serviceprofiles' } : {});
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromOptions(kube.kubeConfigOptions());
      await using source = kubernetesResourceSource({ kubeConfig, resources: destinationResources, logger: silentLogger(), debounceMs: 10 });
      let fromKube: MeshResources | undefined;
      await source.start((resources, problems) => {
        expect(problems).toEqual([]);
        fromKube = resources;
      });

      const expected = computeDestinationState(folder.resources, [], options);
      const actual = computeDestinationState(fromKube!, [], options);
      expect(expected.endpointSets.size).toBe(2);
      expect([...expected.endpointSets.values()].map((s) => s.endpoints.length)).toEqual([2, 2]);
      expect(actual.endpointSets.get('meshbus.v1.state.endpoints.shop.web.80')!.endpoints[0]!.workload).toEqual({ kind: 'Pod', namespace: 'shop', name: 'web-1' });
      expect(normalised(actual)).toEqual(normalised(expected));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
