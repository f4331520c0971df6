import type { KindDefinition } from './kind.js';
import { readDefaultInboundPolicy } from './policy-common.js';
import { namespaceSchema, serviceAccountSchema } from './schemas.js';

export const namespaceKind: KindDefinition = {
  kind: 'Namespace',
  accepts: (apiVersion) => apiVersion === 'v1',
  apiVersionHint: 'v1',
  identity: 'Namespace',
  namespaced: false,
  collection: 'namespaces',
  schema: namespaceSchema,
  decode(_document, meta, issues) {
    const defaultInboundPolicy = readDefaultInboundPolicy(meta.annotations, issues);
    return {
      kind: 'Namespace',
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      ...(defaultInboundPolicy !== undefined ? { defaultInboundPolicy } : {}),
    };
  },
};

export const serviceAccountKind: KindDefinition = {
  kind: 'ServiceAccount',
  accepts: (apiVersion) => apiVersion === 'v1',
  apiVersionHint: 'v1',
  identity: 'ServiceAccount',
  namespaced: true,
  collection: 'serviceAccounts',
  schema: serviceAccountSchema,
  decode: (_document, meta) => ({
    kind: 'ServiceAccount',
    namespace: meta.namespace,
    name: meta.name,
    labels: meta.labels,
    annotations: meta.annotations,
  }),
};
