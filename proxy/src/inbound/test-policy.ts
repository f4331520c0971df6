/*
 * Builders of proxy API inbound messages for the tests of this folder:
 * networks from CIDR text, authorizations, routes and servers.
 */
import { parseCidr } from '@meshbus/core';
import type { httpRoute, inbound, meta, net } from '@meshbus/proxy-api';

export function ipNetwork(cidr: string): net.IPNetwork {
  const c = parseCidr(cidr);
  if ('error' in c) throw new Error(c.error);
  const ip: net.IPAddress = c.family === 4 ? { ip: { $case: 'ipv4', ipv4: Number(c.bits) } } : { ip: { $case: 'ipv6', ipv6: { first: c.bits >> 64n, last: c.bits & ((1n << 64n) - 1n) } } };
  return { ip, prefixLen: c.prefix };
}

export const network = (cidr: string, except: string[] = []): inbound.Network => ({ net: ipNetwork(cidr), except: except.map(ipNetwork) });
export const everywhere = [network('0.0.0.0/0'), network('::/0')];

export const resource = (kind: string, namespace: string, name: string, group = 'policy.linkerd.io'): meta.Metadata => ({ kind: { $case: 'resource', resource: { group, kind, namespace, name, section: '', port: 0 } } });
export const byDefault = (name: string): meta.Metadata => ({ kind: { $case: 'default', default: name } });

export const anyone: inbound.Authn = { permit: { $case: 'unauthenticated', unauthenticated: {} } };
export const anyTls: inbound.Authn = { permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'unauthenticated', unauthenticated: {} } } } };
export const meshed = (identities: string[], suffixes: string[][] = []): inbound.Authn => ({
  permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'identities', identities: { identities: identities.map((name) => ({ name })), suffixes: suffixes.map((parts) => ({ parts })) } } } },
});

export function authz(authentication: inbound.Authn, options: { networks?: inbound.Network[]; metadata?: meta.Metadata } = {}): inbound.Authz {
  return { networks: options.networks ?? everywhere, authentication, labels: {}, metadata: options.metadata ?? resource('AuthorizationPolicy', 'shop', 'allow') };
}

export const prefixMatch = (prefix: string): httpRoute.HttpRouteMatch => ({ path: { kind: { $case: 'prefix', prefix } }, headers: [], queryParams: [] });

export function inboundHttpRoute(metadata: meta.Metadata, authorizations: inbound.Authz[], matches: httpRoute.HttpRouteMatch[], filters: inbound.HttpRoute_Filter[] = []): inbound.HttpRoute {
  return { metadata, hosts: [], authorizations, rules: [{ matches, filters }] };
}

export function opaqueServer(authorizations: inbound.Authz[]): inbound.Server {
  return { protocol: { kind: { $case: 'opaque', opaque: {} } }, serverIps: [], authorizations, labels: { group: 'policy.linkerd.io', kind: 'Server', namespace: 'shop', name: 'db' } };
}

export function http1Server(authorizations: inbound.Authz[], routes: inbound.HttpRoute[], localRateLimit?: inbound.HttpLocalRateLimit): inbound.Server {
  return {
    protocol: { kind: { $case: 'http1', http1: { routes, ...(localRateLimit ? { localRateLimit } : {}) } } },
    serverIps: [],
    authorizations,
    labels: { group: 'policy.linkerd.io', kind: 'Server', namespace: 'shop', name: 'web-http' },
  };
}

export function grpcServer(authorizations: inbound.Authz[], routes: inbound.GrpcRoute[]): inbound.Server {
  return { protocol: { kind: { $case: 'grpc', grpc: { routes } } }, serverIps: [], authorizations, labels: { group: 'policy.linkerd.io', kind: 'Server', namespace: 'shop', name: 'cart-grpc' } };
}
