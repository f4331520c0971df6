import { decodeDocument } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from './kube-object.js';
import { workloadDocumentFromPod } from './pod-workload.js';

function pod(overrides: { spec?: Record<string, unknown>; status?: Record<string, unknown>; annotations?: Record<string, string> } = {}): KubeObject {
  return {
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' }, ...(overrides.annotations ? { annotations: overrides.annotations } : {}) },
    spec: {
      serviceAccountName: 'web',
      nodeName: 'node-a',
      containers: [
        {
          name: 'app',
          ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9090, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }],
          readinessProbe: { httpGet: { port: 'http', path: '/ready' } },
          livenessProbe: { httpGet: { port: 9090 } },
        },
      ],
      ...overrides.spec,
    },
    status: { phase: 'Running', podIP: '10.0.0.5', conditions: [{ type: 'Ready', status: 'True' }], ...overrides.status },
  };
}

function workload(object: KubeObject, zone?: string) {
  const document = workloadDocumentFromPod(object, zone);
  if (!document) return undefined;
  const decoded = decodeDocument(document);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.resource;
}

describe('workloadDocumentFromPod', () => {
  it('reads address, TCP ports, service account, readiness, zone and probes', () => {
    expect(workload(pod(), 'zone-a')).toMatchObject({
      kind: 'Workload',
      namespace: 'shop',
      name: 'web-1',
      labels: { app: 'web' },
      address: '10.0.0.5',
      ports: [{ name: 'http', port: 8080 }, { port: 9090 }],
      serviceAccount: 'web',
      ready: true,
      meshed: false,
      zone: 'zone-a',
      probes: [
        { port: 9090, path: '/' },
        { port: 8080, path: '/ready' },
      ],
    });
  });

  it('skips pods without an IP and pods that finished', () => {
    expect(workloadDocumentFromPod(pod({ status: { podIP: undefined } }), undefined)).toBeUndefined();
    expect(workloadDocumentFromPod(pod({ status: { phase: 'Succeeded' } }), undefined)).toBeUndefined();
    expect(workloadDocumentFromPod(pod({ status: { phase: 'Failed' } }), undefined)).toBeUndefined();
  });

  it('is not ready without a true Ready condition, and defaults the service account', () => {
    const w = workload(pod({ spec: { serviceAccountName: undefined }, status: { conditions: [{ type: 'Ready', status: 'False' }] } }));
    expect(w).toMatchObject({ ready: false, serviceAccount: 'default' });
    expect(w).not.toHaveProperty('zone');
  });

  it('is meshed with the proxy container, the proxy as a native sidecar, or the proxy version annotation', () => {
    const proxy = { name: 'meshbus-proxy', ports: [{ name: 'meshbus-admin', containerPort: 4191 }], readinessProbe: { httpGet: { port: 4191, path: '/ready' } } };
    const app = { name: 'app', ports: [{ containerPort: 8080 }] };
    const withContainer = workload(pod({ spec: { containers: [app, proxy] } }));
    expect(withContainer).toMatchObject({ meshed: true, ports: [{ port: 8080 }], probes: [] });
    expect(workload(pod({ spec: { containers: [app], initContainers: [{ ...proxy, restartPolicy: 'Always' }] } }))).toMatchObject({ meshed: true, ports: [{ port: 8080 }] });
    expect(workload(pod({ spec: { containers: [app], initContainers: [proxy] } }))).toMatchObject({ meshed: false });
    expect(workload(pod({ annotations: { 'meshbus.io/proxy-version': '0.1.0' } }))).toMatchObject({ meshed: true });
  });

  it('keeps the opaque ports and default policy annotations for the decoder', () => {
    const w = workload(pod({ annotations: { 'config.meshbus.io/opaque-ports': '9090', 'config.meshbus.io/default-inbound-policy': 'deny' } }));
    expect(w).toMatchObject({ opaquePorts: [{ min: 9090, max: 9090 }], defaultInboundPolicy: 'deny' });
    const bad = decodeDocument(workloadDocumentFromPod(pod({ annotations: { 'config.meshbus.io/opaque-ports': 'lots' } }), undefined));
    expect(bad.ok).toBe(false);
  });

  it('leaves out a repeated port number and a repeated name', () => {
    const w = workload(pod({ spec: { containers: [{ name: 'a', ports: [{ name: 'http', containerPort: 80 }] }, { name: 'b', ports: [{ name: 'http', containerPort: 81 }, { containerPort: 80 }] }] } }));
    expect(w).toMatchObject({ ports: [{ name: 'http', port: 80 }, { port: 81 }] });
  });
});
