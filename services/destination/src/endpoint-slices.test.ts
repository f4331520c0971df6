import { busValidator, type BusValidator } from '@meshbus/bus-schemas';
import { decodeDocument, emptyMeshResources, type EndpointSlice, type MeshResources, type Service, type Workload } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { computeDestinationState } from './compute.js';
import { DesiredStateIndex } from './desired-state.js';
import type { DestinationOptions } from './options.js';

const options: DestinationOptions = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };
const validator: BusValidator = busValidator();

function decode<T>(document: unknown): T {
  const d = decodeDocument(document);
  if (!d.ok) throw new Error(d.reason);
  return d.resource as T;
}

const service = (fields: Record<string, unknown> = {}): Service =>
  decode({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...fields } });

const pod = (name: string, address: string, fields: Partial<Workload> = {}): Workload => ({
  ...decode<Workload>({ apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata: { name, namespace: 'shop', labels: { app: 'web' } }, spec: { address, ports: [{ name: 'http', port: 8080 }], serviceAccount: 'web', zone: 'pod-zone' } }),
  source: 'Pod',
  ...fields,
});

const slice = (endpoints: unknown[], ports: unknown[] = [{ name: 'http', port: 8080, protocol: 'TCP' }], name = 'web-abc'): EndpointSlice =>
  decode({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports, endpoints });

const target = (name: string) => ({ kind: 'Pod', namespace: 'shop', name });

function endpointsOf(resources: Partial<MeshResources>) {
  const all = { ...emptyMeshResources, ...resources };
  const state = computeDestinationState(all, [], options);
  const incremental = new DesiredStateIndex(options);
  incremental.update(all, []);
  expect(incremental.snapshot()).toEqual(state);
  const set = state.endpointSets.get('meshbus.v1.state.endpoints.shop.web.80');
  validator.check('endpointSet', set);
  return set!.endpoints;
}

describe('endpoints from EndpointSlices', () => {
  it('takes ready endpoints, leaving out serving-but-terminating and not-ready ones; missing ready is ready', () => {
    const endpoints = endpointsOf({
      services: [service()],
      workloads: [pod('a', '10.0.0.1'), pod('b', '10.0.0.2'), pod('c', '10.0.0.3'), pod('d', '10.0.0.4')],
      endpointSlices: [
        slice([
          { addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: target('a'), zone: 'zone-a', hints: { forZones: [{ name: 'zone-a' }] } },
          { addresses: ['10.0.0.2'], conditions: { ready: false, serving: true, terminating: true }, targetRef: target('b') },
          { addresses: ['10.0.0.3'], conditions: { ready: false }, targetRef: target('c') },
          { addresses: ['10.0.0.4'], targetRef: target('d') },
        ]),
      ],
    });
    expect(endpoints.map((e) => e.address)).toEqual(['10.0.0.1', '10.0.0.4']);
    expect(endpoints[0]).toEqual({
      address: '10.0.0.1',
      port: 8080,
      weight: 10000,
      labels: { serviceaccount: 'web', workload: 'a', zone: 'zone-a' },
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      protocolHint: 'h2',
      zone: 'zone-a',
      forZones: ['zone-a'],
      workload: { kind: 'Pod', namespace: 'shop', name: 'a' },
    });
  });

  it('uses the slice port named like the service port, and the targeted pod even when the selector would not pick it', () => {
    const endpoints = endpointsOf({
      services: [service()],
      workloads: [pod('a', '10.0.0.1', { ready: false, labels: {} })],
      endpointSlices: [slice([{ addresses: ['10.0.0.1'], targetRef: target('a') }], [{ name: 'metrics', port: 9000 }, { name: 'http', port: 8081 }])],
    });
    expect(endpoints).toMatchObject([{ address: '10.0.0.1', port: 8081, workload: { name: 'a' } }]);
  });

  it('serves a service without a selector from its slices alone; endpoints without a known pod are unmeshed', () => {
    const endpoints = endpointsOf({
      services: [service({ selector: undefined })],
      workloads: [pod('a', '10.0.0.1')],
      endpointSlices: [slice([{ addresses: ['192.168.1.9'], zone: 'zone-b' }, { addresses: ['10.0.0.1'], targetRef: target('a') }])],
    });
    expect(endpoints).toEqual([
      expect.objectContaining({ address: '10.0.0.1', identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local' }),
      { address: '192.168.1.9', port: 8080, weight: 10000, labels: { zone: 'zone-b' }, protocolHint: 'unknown', zone: 'zone-b' },
    ]);
  });

  it('gives a pod the opaque ports of its annotation and no identity when it is not meshed', () => {
    const endpoints = endpointsOf({
      services: [service()],
      workloads: [pod('a', '10.0.0.1', { opaquePorts: [{ min: 8080, max: 8080 }] }), pod('b', '10.0.0.2', { meshed: false })],
      endpointSlices: [slice([{ addresses: ['10.0.0.1'], targetRef: target('a') }, { addresses: ['10.0.0.2'], targetRef: target('b') }])],
    });
    expect(endpoints[0]).toMatchObject({ protocolHint: 'opaque', opaqueTransportPort: 4143 });
    expect(endpoints[1]).toMatchObject({ protocolHint: 'unknown' });
    expect(endpoints[1]).not.toHaveProperty('identity');
  });

  it('ignores the selector for pods once slices exist, but adds selected workloads that are not pods', () => {
    const host: Workload = { ...pod('host', '10.1.0.1'), source: undefined } as Workload;
    delete (host as { source?: string }).source;
    const endpoints = endpointsOf({
      services: [service()],
      workloads: [host, pod('a', '10.0.0.1'), pod('b', '10.0.0.2')],
      endpointSlices: [slice([{ addresses: ['10.0.0.1'], targetRef: target('a') }])],
    });
    expect(endpoints.map((e) => [e.address, e.workload?.kind])).toEqual([
      ['10.0.0.1', 'Pod'],
      ['10.1.0.1', 'Workload'],
    ]);
  });

  it('recomputes incrementally when a targeted pod or a slice changes', () => {
    const index = new DesiredStateIndex(options);
    const base = { ...emptyMeshResources, services: [service({ selector: undefined })], endpointSlices: [slice([{ addresses: ['10.0.0.1'], targetRef: target('a') }])] };
    index.update(base, []);
    expect(index.get('meshbus.v1.state.endpoints.shop.web.80')).toMatchObject({ endpoints: [{ protocolHint: 'unknown' }] });
    const withPod = { ...base, workloads: [pod('a', '10.0.0.1')] };
    index.update(withPod, []);
    expect(index.snapshot()).toEqual(computeDestinationState(withPod, [], options));
    const notReady = { ...withPod, endpointSlices: [slice([{ addresses: ['10.0.0.1'], conditions: { ready: false }, targetRef: target('a') }])] };
    index.update(notReady, []);
    expect(index.get('meshbus.v1.state.endpoints.shop.web.80')).toMatchObject({ endpoints: [] });
  });

  it('refuses an address that does not match the slice address type', () => {
    const d = decodeDocument({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's', namespace: 'shop' }, addressType: 'IPv6', endpoints: [{ addresses: ['10.0.0.1'] }] });
    expect(d).toMatchObject({ ok: false, reason: expect.stringMatching(/not an IPv6 address/) });
  });
});
