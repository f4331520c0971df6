import type { Authentication, Authorization, InboundPolicy, InboundServer, PolicyDefaults, PolicyNetwork, PolicyRef } from '@meshbus/bus-schemas';
import { formatTable } from './table.js';

/** `server/web-http`, `authorizationpolicy/web-from-front`, `default:all-unauthenticated`; the namespace is the workload's. */
export function policyRefText(ref: PolicyRef): string {
  if (ref.default !== undefined) return `default:${ref.default}`;
  const name = ref.namespace ? `${ref.namespace}/${ref.name ?? '?'}` : (ref.name ?? '?');
  const section = ref.section ? `#${ref.section}` : '';
  return `${(ref.kind ?? 'resource').toLowerCase()}/${name}${section}`;
}

/** `0.0.0.0/0,::/0`; a network with exceptions as `10.0.0.0/8 except 10.1.0.0/16`. */
export function policyNetworksText(networks: readonly PolicyNetwork[]): string {
  if (networks.length === 0) return 'none';
  return networks.map((n) => (n.except?.length ? `${n.net} except ${n.except.join(' ')}` : n.net)).join(',');
}

/** Who the client must be, in a few words. */
export function clientsText(authn: Authentication): string {
  switch (authn.kind) {
    case 'unauthenticated':
      return 'anyone (unauthenticated)';
    case 'tlsUnauthenticated':
      return 'any TLS client';
    case 'meshTls': {
      const parts = [...(authn.identities ?? []), ...(authn.suffixes ?? []).map((s) => (s === '' ? 'any mesh identity' : `*.${s}`))];
      return parts.length ? parts.join(',') : 'no one (mesh TLS with no identity listed)';
    }
  }
}

function sameNamespace(ref: PolicyRef, namespace: string): PolicyRef {
  return ref.namespace === namespace ? { ...ref, namespace: undefined } : ref;
}

/** One line of who may reach a workload: on which port, server and route, by which authorization, from where and as whom. */
export interface AuthzEntry {
  /** The port, or `*` for every port without a server of its own. */
  readonly port: string;
  readonly server: string;
  /** A route, or `*` for every request on the port. */
  readonly route: string;
  /** The authorization that lets the clients in, or undefined when nothing does (every request refused). */
  readonly authorization: string | undefined;
  readonly networks: string | undefined;
  readonly clients: string | undefined;
}

function authzEntry(port: string, server: string, route: string, a: Authorization | undefined, namespace: string): AuthzEntry {
  if (!a) return { port, server, route, authorization: undefined, networks: undefined, clients: undefined };
  return { port, server, route, authorization: policyRefText(sameNamespace(a.metadata, namespace)), networks: policyNetworksText(a.networks), clients: clientsText(a.authentication) };
}

function serverEntries(port: string, s: InboundServer, namespace: string): AuthzEntry[] {
  const server = policyRefText(sameNamespace(s.metadata, namespace));
  const entries = s.authorizations.length ? s.authorizations.map((a) => authzEntry(port, server, '*', a, namespace)) : [authzEntry(port, server, '*', undefined, namespace)];
  for (const r of [...(s.httpRoutes ?? []), ...(s.grpcRoutes ?? [])]) {
    const route = policyRefText(sameNamespace(r.metadata, namespace));
    for (const a of r.authorizations) entries.push(authzEntry(port, server, route, a, namespace));
  }
  return entries;
}

/**
 * Who may reach a workload under its inbound policy: per port (the default
 * server last, as port `*`), the server's authorizations (route `*`), then
 * each route's own. `meshbus authz` and the dashboard show these.
 */
export function authzEntries(policy: InboundPolicy): AuthzEntry[] {
  const ports = [...policy.ports].sort((a, b) => a.port - b.port);
  return [...ports.flatMap((p) => serverEntries(String(p.port), p.server, policy.namespace)), ...serverEntries('*', policy.defaultServer, policy.namespace)];
}

/** The rows of `meshbus authz`: {@link authzEntries} as table cells. */
export function authzRows(policy: InboundPolicy): string[][] {
  return authzEntries(policy).map((e) => [e.port, e.server, e.route, e.authorization ?? 'none: refused', e.networks ?? '-', e.clients ?? '-']);
}

/** `meshbus authz` for a workload with a published policy. */
export function formatAuthz(policy: InboundPolicy): string {
  const head = `${policy.namespace}/${policy.workload}: default policy ${policy.defaultPolicy}; ${policy.ports.length === 1 ? '1 port with a server of its own' : `${policy.ports.length} ports with servers of their own`}\n`;
  const note =
    "ROUTE * is every request on the port; a request on a route is allowed only by that route's authorizations (the policy service puts the server's in each route). PORT * is every other port.\n";
  return head + formatTable(['PORT', 'SERVER', 'ROUTE', 'AUTHORIZATION', 'NETWORKS', 'CLIENTS'], authzRows(policy)) + note;
}

/** What a default inbound policy lets in. */
export function defaultPolicyMeaning(policy: PolicyDefaults['defaultPolicy'], clusterNetworks: readonly string[]): string {
  const cluster = clusterNetworks.length ? clusterNetworks.join(',') : 'none';
  switch (policy) {
    case 'all-unauthenticated':
      return 'anyone, from any network';
    case 'all-authenticated':
      return 'any meshed client (mesh TLS), from any network';
    case 'cluster-unauthenticated':
      return `anyone from the cluster networks (${cluster})`;
    case 'cluster-authenticated':
      return `any meshed client (mesh TLS) from the cluster networks (${cluster})`;
    case 'deny':
      return 'no one';
    case 'audit':
      return 'anyone, from any network; refusals are only logged';
  }
}

/** The default in force in a namespace, and where it comes from. */
export function namespaceDefault(defaults: PolicyDefaults, namespace: string): { policy: PolicyDefaults['defaultPolicy']; from: 'namespace' | 'cluster' } {
  const own = defaults.namespaces.find((n) => n.namespace === namespace);
  return own ? { policy: own.defaultPolicy, from: 'namespace' } : { policy: defaults.defaultPolicy, from: 'cluster' };
}

/** `meshbus authz` for a workload the policy service has published nothing about. */
export function formatUnknownWorkload(namespace: string, workload: string, defaults: PolicyDefaults | undefined): string {
  const lines = [`no inbound policy is published for ${namespace}/${workload}: the policy service does not know this workload`];
  if (!defaults) {
    lines.push('no policy defaults are published either: is the policy service running (npm run dev)?');
    return lines.join('\n') + '\n';
  }
  const { policy, from } = namespaceDefault(defaults, namespace);
  const setting = from === 'namespace' ? `the setting of namespace ${namespace}` : `the cluster default; namespace ${namespace} sets none`;
  lines.push(
    `a proxy of it would get the default policy ${policy} on every port (${setting}):`,
    `  who:             ${defaultPolicyMeaning(policy, defaults.clusterNetworks)}`,
    `  cluster default: ${defaults.defaultPolicy}`,
    `  probe networks:  ${defaults.probeNetworks.join(',') || 'none'}`,
  );
  return lines.join('\n') + '\n';
}
