import type { Authorization, InboundGrpcRoute, InboundHttpRoute, InboundServer, PolicyDefaults } from '@meshbus/bus-schemas';
import type { DefaultInboundPolicy } from '@meshbus/manifests';
import { allNetworks, type PolicySettings } from './settings.js';

/** The authorizations a default inbound policy grants (none for `deny`). */
export function defaultAuthorizations(policy: DefaultInboundPolicy, clusterNetworks: readonly string[]): Authorization[] {
  const metadata = { default: policy };
  const networks = (cidrs: readonly string[]) => cidrs.map((net) => ({ net }));
  switch (policy) {
    case 'all-unauthenticated':
    case 'audit':
      return [{ metadata, networks: networks(allNetworks), authentication: { kind: 'unauthenticated' } }];
    case 'cluster-unauthenticated':
      return [{ metadata, networks: networks(clusterNetworks), authentication: { kind: 'unauthenticated' } }];
    case 'all-authenticated':
      return [{ metadata, networks: networks(allNetworks), authentication: { kind: 'meshTls', suffixes: [''] } }];
    case 'cluster-authenticated':
      return [{ metadata, networks: networks(clusterNetworks), authentication: { kind: 'meshTls', suffixes: [''] } }];
    case 'deny':
      return [];
  }
}

/** The route of a server no HTTPRoute attaches to: every request, with the server's authorizations. */
export function defaultHttpRoute(authorizations: Authorization[]): InboundHttpRoute {
  return { metadata: { default: 'default' }, authorizations, rules: [{ matches: [{ path: { prefix: '/' } }] }] };
}

/** The route of a gRPC server no GRPCRoute attaches to: every call, with the server's authorizations. */
export function defaultGrpcRoute(authorizations: Authorization[]): InboundGrpcRoute {
  return { metadata: { default: 'default' }, authorizations, rules: [{ matches: [{}] }] };
}

/**
 * The server of a port nothing is said about: protocol detection, the
 * authorizations of the default policy, and the default route (a server's
 * requests no route matches are refused). Probe routes are added by the index
 * for ports with probes; an unknown workload has none.
 */
export function defaultInboundServer(policy: DefaultInboundPolicy, settings: Pick<PolicySettings, 'clusterNetworks' | 'detectTimeoutMs'>): InboundServer {
  return {
    metadata: { default: policy },
    protocol: 'detect',
    detectTimeoutMs: settings.detectTimeoutMs,
    labels: { group: '', kind: 'default', name: policy },
    authorizations: defaultAuthorizations(policy, settings.clusterNetworks),
    httpRoutes: [defaultHttpRoute(defaultAuthorizations(policy, settings.clusterNetworks))],
  };
}

/** The default policy in force in `namespace` according to the published defaults. */
export function namespaceDefaultPolicy(defaults: PolicyDefaults, namespace: string): DefaultInboundPolicy {
  return defaults.namespaces.find((n) => n.namespace === namespace)?.defaultPolicy ?? defaults.defaultPolicy;
}

/** The server a proxy of an unknown workload in `namespace` gets on any port. */
export function unknownWorkloadServer(defaults: PolicyDefaults, namespace: string): InboundServer {
  return defaultInboundServer(namespaceDefaultPolicy(defaults, namespace), { clusterNetworks: defaults.clusterNetworks, detectTimeoutMs: defaults.detectTimeoutMs });
}
