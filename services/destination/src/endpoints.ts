import type { Endpoint, EndpointSet } from '@meshbus/bus-schemas';
import { portInRanges, type Service, type ServicePort, type StringMap, type Workload } from '@meshbus/manifests';
import { compareIp } from '@meshbus/core';
import { workloadIdentity, type ResolvedDestinationOptions } from './options.js';

/**
 * The endpoint set of one service port: the ready workloads of the service's
 * namespace that its selector matches, on the resolved target port.
 */
export function endpointSet(
  service: Service,
  port: ServicePort,
  workloads: readonly Workload[],
  opaque: boolean,
  options: ResolvedDestinationOptions,
): EndpointSet {
  const endpoints: Endpoint[] = [];
  const selector = service.selector;
  if (selector) {
    for (const workload of workloads) {
      if (workload.namespace !== service.namespace || !workload.ready || !selects(selector, workload.labels)) continue;
      const targetPort = resolveTargetPort(port, workload);
      if (targetPort === undefined) continue;
      endpoints.push(endpoint(workload, targetPort, opaque, options));
    }
  }
  endpoints.sort(compareEndpoints);
  return {
    namespace: service.namespace,
    service: service.name,
    port: port.port,
    ...(port.name !== undefined ? { portName: port.name } : {}),
    opaque,
    labels: { namespace: service.namespace, service: service.name },
    endpoints,
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

function endpoint(workload: Workload, port: number, servicePortOpaque: boolean, options: ResolvedDestinationOptions): Endpoint {
  const opaque = workload.meshed && (servicePortOpaque || portInRanges(workload.opaquePorts, port));
  return {
    address: workload.address,
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
    workload: { kind: 'Workload', namespace: workload.namespace, name: workload.name },
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
