import type { WorkloadRegistration } from '@meshbus/bus-schemas';
import { workloadFromRegistration, type Workload } from '@meshbus/manifests';

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
