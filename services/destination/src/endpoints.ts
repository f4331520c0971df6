import type { Endpoint, EndpointSet } from '@meshbus/bus-schemas';
import { defaultWorkloadWeight, portInRanges, type EndpointSlice, type Service, type ServicePort, type SliceEndpoint, type StringMap, type Workload } from '@meshbus/manifests';
import { compareIp, exportedServiceLabel } from '@meshbus/core';
import { workloadIdentity, type ResolvedDestinationOptions } from './options.js';

/** What the endpoints of a service port are computed from. */
export interface EndpointInputs {
  /** Workloads of every origin: manifests, registrations and Pods. */
  readonly workloads: readonly Workload[];
  /** Workloads that come from Pods, by `<namespace>/<name>`, for EndpointSlice targets. */
  readonly pods: { get(key: string): Workload | undefined };
  /** The EndpointSlices of this service (label `kubernetes.io/service-name`); empty when it has none. */
  readonly slices: readonly EndpointSlice[];
}

/**
 * The endpoint set of one service port.
 *
 * A service with EndpointSlices is served from them: an endpoint counts when
 * it is ready (serving but terminating endpoints are left out), on the slice
 * port whose name is the service port's name; the Pod it targets gives its
 * identity, meshed state, opaque ports and labels, and the endpoint its zone
 * and zone hints. Workloads that are not Pods (manifests, registrations) and
 * that the selector matches are added, since no EndpointSlice controller
 * writes them. A service without slices is served from its selector: the ready
 * workloads of its namespace that it matches, on the resolved target port.
 */
export function endpointSet(service: Service, port: ServicePort, inputs: EndpointInputs, opaque: boolean, options: ResolvedDestinationOptions): EndpointSet {
  const endpoints: Endpoint[] = [];
  const fromSlices = inputs.slices.length > 0;
  if (fromSlices) endpoints.push(...sliceEndpoints(port, inputs, opaque, options));
  const selector = service.selector;
  if (selector) {
    const taken = new Set(endpoints.map((e) => `${e.address}|${e.port}`));
    for (const workload of inputs.workloads) {
      if (fromSlices && workload.source === 'Pod') continue;
      if (workload.namespace !== service.namespace || !workload.ready || !selects(selector, workload.labels)) continue;
      const targetPort = resolveTargetPort(port, workload);
      if (targetPort === undefined || taken.has(`${workload.address}|${targetPort}`)) continue;
      endpoints.push(endpoint(workload, workload.address, targetPort, opaque, options));
    }
  }
  endpoints.sort(compareEndpoints);
  return {
    namespace: service.namespace,
    service: service.name,
    port: port.port,
    ...(port.name !== undefined ? { portName: port.name } : {}),
    opaque,
    // The gateway of this cluster relays tunnels from linked clusters only to exported services.
    labels: { namespace: service.namespace, service: service.name, ...(service.labels[exportedServiceLabel] === 'true' ? { [exportedServiceLabel]: 'true' } : {}) },
    endpoints,
  };
}

/** The ready endpoints of a service's slices on the slice port named like `port`, without duplicates. */
function sliceEndpoints(port: ServicePort, inputs: EndpointInputs, opaque: boolean, options: ResolvedDestinationOptions): Endpoint[] {
  const out = new Map<string, Endpoint>();
  for (const slice of inputs.slices) {
    if (slice.addressType === 'FQDN') continue;
    const slicePort = slice.ports.find((p) => (p.name ?? '') === (port.name ?? '') && p.protocol === 'TCP');
    if (slicePort?.port === undefined) continue;
    for (const e of slice.endpoints) {
      if (!e.ready) continue;
      const pod = e.targetRef?.kind === 'Pod' ? inputs.pods.get(`${e.targetRef.namespace}/${e.targetRef.name}`) : undefined;
      for (const address of e.addresses) {
        const key = `${address}|${slicePort.port}`;
        if (out.has(key)) continue;
        out.set(key, pod ? withTopology(endpoint(pod, address, slicePort.port, opaque, options), e) : unmeshedEndpoint(address, slicePort.port, e));
      }
    }
  }
  return [...out.values()];
}

/** The slice's zone (the node's, as the controller writes it) and zone hints replace the Pod's. */
function withTopology(base: Endpoint, e: SliceEndpoint): Endpoint {
  const { zone: _zone, ...rest } = base;
  const { zone: _labelZone, ...labels } = base.labels ?? {};
  return {
    ...rest,
    labels: { ...labels, ...(e.zone !== undefined ? { zone: e.zone } : {}) },
    ...(e.zone !== undefined ? { zone: e.zone } : {}),
    ...(e.forZones.length > 0 ? { forZones: [...e.forZones] } : {}),
    ...(base.workload ? { workload: base.workload } : {}),
  };
}

/** An endpoint that is not a known Pod: outside the mesh. */
function unmeshedEndpoint(address: string, port: number, e: SliceEndpoint): Endpoint {
  return {
    address,
    port,
    weight: defaultWorkloadWeight,
    labels: e.zone !== undefined ? { zone: e.zone } : {},
    protocolHint: 'unknown',
    ...(e.zone !== undefined ? { zone: e.zone } : {}),
    ...(e.forZones.length > 0 ? { forZones: [...e.forZones] } : {}),
  };
}

function selects(selector: StringMap, labels: StringMap): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** A numeric target port as is; a named one is looked up among the workload's ports. */
function resolveTargetPort(port: ServicePort, workload: Workload): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  return workload.ports.find((p) => p.name === port.targetPort)?.port;
}

function endpoint(workload: Workload, address: string, port: number, servicePortOpaque: boolean, options: ResolvedDestinationOptions): Endpoint {
  const opaque = workload.meshed && (servicePortOpaque || portInRanges(workload.opaquePorts, port));
  return {
    address,
    port,
    weight: workload.weight,
    labels: {
      serviceaccount: workload.serviceAccount,
      workload: workload.name,
      ...(workload.zone !== undefined ? { zone: workload.zone } : {}),
    },
    ...(workload.meshed ? { identity: workloadIdentity(workload.serviceAccount, workload.namespace, options) } : {}),
    protocolHint: !workload.meshed ? 'unknown' : opaque ? 'opaque' : 'h2',
    ...(opaque ? { opaqueTransportPort: options.inboundProxyPort } : {}),
    ...(workload.zone !== undefined ? { zone: workload.zone } : {}),
    workload: { kind: workload.source ?? 'Workload', namespace: workload.namespace, name: workload.name },
  };
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return (
    compareIp(a.address, b.address) ||
    a.port - b.port ||
    compareText(a.workload?.namespace ?? '', b.workload?.namespace ?? '') ||
    compareText(a.workload?.name ?? '', b.workload?.name ?? '')
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
