import type { WorkloadRegistration } from '@meshbus/bus-schemas';
import { defaultWorkloadWeight } from './kind-workload.js';
import type { Workload } from './resources.js';

/** A workload registered over the bus, with the defaults a manifest Workload gets. */
export function workloadFromRegistration(registration: WorkloadRegistration): Workload {
  return {
    kind: 'Workload',
    namespace: registration.namespace,
    name: registration.name,
    labels: registration.labels ?? {},
    annotations: {},
    address: registration.address,
    ports: registration.ports.map((p) => (p.name !== undefined ? { name: p.name, port: p.port } : { port: p.port })),
    serviceAccount: registration.serviceAccount ?? 'default',
    ready: registration.ready ?? true,
    meshed: registration.meshed ?? true,
    ...(registration.zone !== undefined ? { zone: registration.zone } : {}),
    weight: registration.weight ?? defaultWorkloadWeight,
    opaquePorts: (registration.opaquePorts ?? []).map((port) => ({ min: port, max: port })),
    probes: [],
  };
}
