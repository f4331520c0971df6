import { reportDuplicates, type KindDefinition } from './kind.js';
import { readOpaquePorts } from './opaque-ports.js';
import type { WorkloadPort } from './resources.js';
import { workloadSchema } from './schemas.js';

interface WorkloadSpecDocument {
  address: string;
  ports?: WorkloadPort[];
  serviceAccount?: string;
  ready?: boolean;
  meshed?: boolean;
  zone?: string;
  weight?: number;
}

/** Load-balancing weight of a workload that does not set one. */
export const defaultWorkloadWeight = 10_000;

export const workloadKind: KindDefinition = {
  kind: 'Workload',
  accepts: (apiVersion) => apiVersion === 'meshbus.io/v1alpha1',
  apiVersionHint: 'meshbus.io/v1alpha1',
  identity: 'Workload',
  namespaced: true,
  collection: 'workloads',
  schema: workloadSchema,
  decode(document, meta, issues) {
    const spec = document.spec as WorkloadSpecDocument;
    const portDocs = spec.ports ?? [];
    reportDuplicates(
      portDocs.map((p) => p.name),
      (name, first, again) => `spec.ports[${again}].name: ${JSON.stringify(name)} is already used by spec.ports[${first}]`,
      issues,
    );
    reportDuplicates(
      portDocs.map((p) => p.port),
      (port, first, again) => `spec.ports[${again}].port: ${port} is already used by spec.ports[${first}]`,
      issues,
    );
    return {
      kind: 'Workload',
      namespace: meta.namespace,
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      address: spec.address,
      ports: portDocs.map((p) => (p.name !== undefined ? { name: p.name, port: p.port } : { port: p.port })),
      serviceAccount: spec.serviceAccount ?? 'default',
      ready: spec.ready ?? true,
      meshed: spec.meshed ?? true,
      ...(spec.zone !== undefined ? { zone: spec.zone } : {}),
      weight: spec.weight ?? defaultWorkloadWeight,
      opaquePorts: readOpaquePorts(meta.annotations, issues),
      probes: [],
    };
  },
};
