import type { KindDefinition } from './kind.js';
import { genericSchema } from './schemas.js';

const versionPattern = /^v\d+((alpha|beta)\d+)?$/;

function passthrough(group: string, kind: string): KindDefinition {
  return {
    kind,
    accepts: (apiVersion) => apiVersion.startsWith(`${group}/`) && versionPattern.test(apiVersion.slice(group.length + 1)),
    apiVersionHint: `${group}/<version>`,
    identity: `${group}/${kind}`,
    namespaced: true,
    collection: 'others',
    schema: genericSchema,
    decode: (document, meta) => ({
      apiVersion: meta.apiVersion,
      kind: meta.kind,
      namespace: meta.namespace,
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      manifest: document,
    }),
  };
}

/**
 * Kinds that later meshbus services consume (policy, routes). They are kept
 * as generic resources: checked for name and namespace only.
 */
export const passthroughKinds: readonly KindDefinition[] = [
  passthrough('policy.linkerd.io', 'Server'),
  passthrough('policy.linkerd.io', 'AuthorizationPolicy'),
  passthrough('policy.linkerd.io', 'MeshTLSAuthentication'),
  passthrough('policy.linkerd.io', 'NetworkAuthentication'),
  passthrough('policy.linkerd.io', 'HTTPRoute'),
  passthrough('gateway.networking.k8s.io', 'HTTPRoute'),
];
