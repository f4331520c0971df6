/*
 * Which of this cluster's services are offered to linked clusters, and what
 * of them crosses the link. Pure: the cluster's services (from its manifests
 * or the Kubernetes API) and its published endpoint sets in, the exports out.
 * Only a service labelled `mirror.meshbus.io/exported: "true"` is exported,
 * and only its ports, their ready counts and the identities of its ready
 * endpoints leave the cluster: never an address, a label or a workload name.
 */
import { exportedServiceLabel } from '@meshbus/core';
import type { ExportedPort, ServiceExport } from './mirror.js';

/** The label that exports a service. */
export const exportLabel = exportedServiceLabel;

export interface LocalServicePort {
  readonly port: number;
  readonly name?: string;
  readonly opaque?: boolean;
}

export interface LocalService {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly LocalServicePort[];
}

/** The endpoints of one service port as destination published them. */
export interface PublishedEndpoints {
  readonly endpoints: readonly { readonly identity?: string }[];
}

/** `<namespace>/<service>/<port>` of an endpoint set. */
export function endpointSetKey(namespace: string, service: string, port: number): string {
  return `${namespace}/${service}/${port}`;
}

const maxIdentities = 64;

export function isExported(service: LocalService): boolean {
  return service.labels[exportLabel] === 'true';
}

/**
 * The exports of `cluster`, sorted by namespace and name. An export lists
 * every port of its service, with 0 ready where no endpoint set exists yet.
 */
export function computeExports(cluster: string, services: readonly LocalService[], endpointSets: ReadonlyMap<string, PublishedEndpoints>): ServiceExport[] {
  const exports: ServiceExport[] = [];
  for (const service of services) {
    if (!isExported(service) || service.ports.length === 0) continue;
    const identities = new Set<string>();
    const ports: ExportedPort[] = service.ports.map((p) => {
      const set = endpointSets.get(endpointSetKey(service.namespace, service.name, p.port));
      for (const e of set?.endpoints ?? []) if (e.identity !== undefined && identities.size < maxIdentities) identities.add(e.identity);
      return { port: p.port, ...(p.name === undefined ? {} : { name: p.name }), ...(p.opaque ? { opaque: true } : {}), ready: set?.endpoints.length ?? 0 };
    });
    exports.push({ cluster, namespace: service.namespace, service: service.name, ports: ports.sort((a, b) => a.port - b.port), identities: [...identities].sort() });
  }
  return exports.sort((a, b) => (`${a.namespace}/${a.service}` < `${b.namespace}/${b.service}` ? -1 : 1));
}
