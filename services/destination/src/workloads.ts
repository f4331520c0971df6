import type { WorkloadRegistration } from '@meshbus/bus-schemas';
import { defaultWorkloadWeight, type Workload } from '@meshbus/manifests';

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

/**
 * Workloads from manifests and from bus registrations. A registration with
 * the namespace and name of a manifest Workload is ignored: what the
 * operator declared cannot be replaced by a workload announcing itself.
 */
export function mergeWorkloads(declared: readonly Workload[], registered: readonly WorkloadRegistration[]): Workload[] {
  const byKey = new Map<string, Workload>();
  for (const workload of declared) byKey.set(`${workload.namespace}/${workload.name}`, workload);
  for (const registration of registered) {
    const key = `${registration.namespace}/${registration.name}`;
    if (!byKey.has(key)) byKey.set(key, workloadFromRegistration(registration));
  }
  return [...byKey.values()];
}
