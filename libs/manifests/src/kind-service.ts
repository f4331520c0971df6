import { reportDuplicates, type KindDefinition } from './kind.js';
import { isPortName } from './names.js';
import { readOpaquePorts } from './opaque-ports.js';
import type { ServicePort, StringMap } from './resources.js';
import { serviceSchema } from './schemas.js';

interface ServicePortDocument {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
}

interface ServiceSpecDocument {
  selector?: StringMap | null;
  ports?: ServicePortDocument[];
}

export const serviceKind: KindDefinition = {
  kind: 'Service',
  accepts: (apiVersion) => apiVersion === 'v1',
  apiVersionHint: 'v1',
  identity: 'Service',
  namespaced: true,
  collection: 'services',
  schema: serviceSchema,
  decode(document, meta, issues) {
    const spec = document.spec as ServiceSpecDocument;
    const portDocs = spec.ports ?? [];
    if (portDocs.length > 1) {
      portDocs.forEach((p, i) => {
        if (p.name === undefined) issues.push(`spec.ports[${i}].name: is required when a Service has more than one port`);
      });
    }
    reportDuplicates(
      portDocs.map((p) => p.name),
      (name, first, again) => `spec.ports[${again}].name: ${JSON.stringify(name)} is already used by spec.ports[${first}]`,
      issues,
    );
    reportDuplicates(
      portDocs.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`),
      (key, first, again) => `spec.ports[${again}].port: ${key} is already used by spec.ports[${first}]`,
      issues,
    );
    portDocs.forEach((p, i) => {
      const target = p.targetPort;
      if (typeof target === 'number' && (target < 1 || target > 65535)) {
        issues.push(`spec.ports[${i}].targetPort: ${target} is not a port number (1-65535)`);
      } else if (typeof target === 'string' && !isPortName(target)) {
        issues.push(
          `spec.ports[${i}].targetPort: ${JSON.stringify(target)} is neither a port number nor a port name ` +
            "(at most 15 lowercase letters, digits and '-', with at least one letter)",
        );
      }
    });
    const ports: ServicePort[] = portDocs
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
      }));
    const selector = spec.selector && Object.keys(spec.selector).length > 0 ? spec.selector : undefined;
    return {
      kind: 'Service',
      namespace: meta.namespace,
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      ...(selector ? { selector } : {}),
      ports,
      opaquePorts: readOpaquePorts(meta.annotations, issues),
      clusterIPs: [],
      traffic: {},
    };
  },
};
