import { reportDuplicates, type KindDefinition } from './kind.js';
import { isPortName } from './names.js';
import { readOpaquePorts } from './opaque-ports.js';
import { readDefaultInboundPolicy } from './policy-common.js';
import type { ProbeSpec } from './policy-resources.js';
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
  probes?: { port: number | string; path?: string }[];
  livenessProbe?: ContainerProbeDocument;
  readinessProbe?: ContainerProbeDocument;
  startupProbe?: ContainerProbeDocument;
}

interface ContainerProbeDocument {
  httpGet?: { port: number | string; path?: string };
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
    const defaultInboundPolicy = readDefaultInboundPolicy(meta.annotations, issues);
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
      probes: readProbes(spec, portDocs, issues),
      ...(defaultInboundPolicy !== undefined ? { defaultInboundPolicy } : {}),
    };
  },
};

/**
 * The HTTP probes of a workload: `spec.probes`, then the `httpGet` of
 * `livenessProbe`, `readinessProbe` and `startupProbe`, without duplicates.
 * A probe port given by name must be one of the workload's ports.
 */
function readProbes(spec: WorkloadSpecDocument, ports: readonly WorkloadPort[], issues: string[]): ProbeSpec[] {
  const written: [string, { port: number | string; path?: string }][] = [];
  (spec.probes ?? []).forEach((p, i) => written.push([`spec.probes[${i}]`, p]));
  for (const field of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const httpGet = spec[field]?.httpGet;
    if (httpGet) written.push([`spec.${field}.httpGet`, httpGet]);
  }
  const probes: ProbeSpec[] = [];
  const seen = new Set<string>();
  for (const [path, probe] of written) {
    const probePath = probe.path === undefined || probe.path === '' ? '/' : probe.path;
    if (!probePath.startsWith('/')) issues.push(`${path}.path: ${JSON.stringify(probe.path)} must start with '/'`);
    if (typeof probe.port === 'number') {
      if (!Number.isInteger(probe.port) || probe.port < 1 || probe.port > 65535) issues.push(`${path}.port: ${probe.port} is not a port number (1-65535)`);
    } else if (!isPortName(probe.port)) {
      issues.push(`${path}.port: ${JSON.stringify(probe.port)} is neither a port number nor a port name`);
    } else if (!ports.some((p) => p.name === probe.port)) {
      issues.push(`${path}.port: ${JSON.stringify(probe.port)} is not the name of a port in spec.ports`);
    }
    const key = `${probe.port}\u0000${probePath}`;
    if (seen.has(key)) continue;
    seen.add(key);
    probes.push({ port: probe.port, path: probePath });
  }
  return probes;
}
