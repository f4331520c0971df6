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

function authzRow(port: string, server: string, route: string, a: Authorization | undefined, namespace: string): string[] {
  if (!a) return [port, server, route, 'none: refused', '-', '-'];
  return [port, server, route, policyRefText(sameNamespace(a.metadata, namespace)), policyNetworksText(a.networks), clientsText(a.authentication)];
}

function serverRows(port: string, s: InboundServer, namespace: string): string[][] {
  const server = policyRefText(sameNamespace(s.metadata, namespace));
  const rows = s.authorizations.length ? s.authorizations.map((a) => authzRow(port, server, '*', a, namespace)) : [authzRow(port, server, '*', undefined, namespace)];
  for (const r of [...(s.httpRoutes ?? []), ...(s.grpcRoutes ?? [])]) {
    const route = policyRefText(sameNamespace(r.metadata, namespace));
    for (const a of r.authorizations) rows.push(authzRow(port, server, route, a, namespace));
  }
  return rows;
}

/** The rows of `meshbus authz`: per port (the default server last, as `*`), the server's authorizations (route `*`), then each route's own. */
export function authzRows(policy: InboundPolicy): string[][] {
  const ports = [...policy.ports].sort((a, b) => a.port - b.port);
  return [...ports.flatMap((p) => serverRows(String(p.port), p.server, policy.namespace)), ...serverRows('*', policy.defaultServer, policy.namespace)];
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
