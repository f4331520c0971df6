import { parseIp } from '@meshbus/core';
import { httpTypes } from '@meshbus/proxy-api';
import type { destination, meta, net } from '@meshbus/proxy-api';
import type { Endpoint, EndpointSet, RequestMatch, ResponseMatch, ServiceProfileState } from '@meshbus/bus-schemas';
import { DestinationPathError, parseDestinationPath } from './destination-path.js';

/** Converts an IPv4 or IPv6 address to the proxy API's IPAddress. */
export function toIpAddress(address: string): net.IPAddress {
  const ip = parseIp(address);
  if (ip.family === 4) return { ip: { $case: 'ipv4', ipv4: ip.value } };
  return { ip: { $case: 'ipv6', ipv6: { first: ip.high, last: ip.low } } };
}

/** API group of each workload kind an endpoint may name; a kind not listed gets no resource reference. */
const workloadGroups: Readonly<Record<string, string>> = { Workload: 'meshbus.io' };

function resource(group: string, kind: string, namespace: string, name: string, port = 0): meta.Metadata {
  return { kind: { $case: 'resource', resource: { group, kind, name, namespace, section: '', port } } };
}

/**
 * The proxy API form of one endpoint of a set. An endpoint reached through a linked cluster's
 * gateway gets `authority_override` (the authority to ask the gateway for) and the meshbus
 * extension `meshbus_gateway` (the gateway's cluster and identity). HTTP/2 client settings
 * (`http2`) stay unset: endpoint sets carry none, so proxies keep their defaults.
 */
export function toWeightedAddr(e: Endpoint): destination.WeightedAddr {
  const addr: destination.WeightedAddr = {
    addr: { ip: toIpAddress(e.address), port: e.port },
    weight: e.weight,
    metricLabels: { ...(e.labels ?? {}) },
  };
  if (e.zone && !addr.metricLabels.zone) addr.metricLabels.zone = e.zone;
  if (e.identity) {
    addr.tlsIdentity = {
      strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: e.identity } },
      serverName: { name: e.serverName ?? e.identity },
    };
  }
  if (e.protocolHint === 'h2') addr.protocolHint = { protocol: { $case: 'h2', h2: {} } };
  else if (e.protocolHint === 'opaque') {
    addr.protocolHint = { protocol: { $case: 'opaque', opaque: {} } };
    if (e.opaqueTransportPort) addr.protocolHint.opaqueTransport = { inboundPort: e.opaqueTransportPort };
  }
  if (e.gateway) {
    // Mirrored from a linked cluster: the address is that cluster's gateway, the identity one of the
    // remote workloads'. The proxy asks the gateway for the service's authority in the remote cluster.
    addr.authorityOverride = { authorityOverride: e.gateway.authority };
    addr.meshbusGateway = {
      cluster: e.gateway.cluster,
      identity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: e.gateway.identity } }, serverName: { name: e.gateway.identity } },
      identities: [...(e.gateway.identities ?? [])],
    };
  }
  const group = e.workload ? workloadGroups[e.workload.kind] : undefined;
  if (e.workload && group !== undefined) addr.resourceRef = resource(group, e.workload.kind, e.workload.namespace, e.workload.name);
  return addr;
}

/** Key of an endpoint within a set: what `remove` names. */
export function endpointKey(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

/** Set-level metric labels sent with every `add`. */
export function setLabels(set: EndpointSet): Record<string, string> {
  return { namespace: set.namespace, service: set.service, ...(set.labels ?? {}) };
}

const methods: Record<string, httpTypes.HttpMethod_Registered> = {
  GET: httpTypes.HttpMethod_Registered.GET,
  POST: httpTypes.HttpMethod_Registered.POST,
  PUT: httpTypes.HttpMethod_Registered.PUT,
  DELETE: httpTypes.HttpMethod_Registered.DELETE,
  PATCH: httpTypes.HttpMethod_Registered.PATCH,
  OPTIONS: httpTypes.HttpMethod_Registered.OPTIONS,
  CONNECT: httpTypes.HttpMethod_Registered.CONNECT,
  HEAD: httpTypes.HttpMethod_Registered.HEAD,
  TRACE: httpTypes.HttpMethod_Registered.TRACE,
};

function requestMatch(m: RequestMatch): destination.RequestMatch {
  if (m.all) return { match: { $case: 'all', all: { matches: m.all.map(requestMatch) } } };
  if (m.any) return { match: { $case: 'any', any: { matches: m.any.map(requestMatch) } } };
  if (m.not) return { match: { $case: 'not', not: requestMatch(m.not) } };
  if (m.pathRegex !== undefined) return { match: { $case: 'path', path: { regex: m.pathRegex } } };
  const method = (m.method ?? '').toUpperCase();
  const registered = methods[method];
  return {
    match: {
      $case: 'method',
      method: { type: registered !== undefined ? { $case: 'registered', registered } : { $case: 'unregistered', unregistered: m.method ?? '' } },
    },
  };
}

function responseMatch(m: ResponseMatch): destination.ResponseMatch {
  if (m.all) return { match: { $case: 'all', all: { matches: m.all.map(responseMatch) } } };
  if (m.any) return { match: { $case: 'any', any: { matches: m.any.map(responseMatch) } } };
  if (m.not) return { match: { $case: 'not', not: responseMatch(m.not) } };
  return { match: { $case: 'status', status: { min: m.status?.min ?? 100, max: m.status?.max ?? 599 } } };
}

function duration(ms: number): { seconds: bigint; nanos: number } {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** Retry budget a proxy uses when the profile names none. */
export const defaultRetryBudget = { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 };

/**
 * True when the profile holds something only a ServiceProfile provides. The
 * profile state does not say whether one exists, so a ServiceProfile that sets
 * nothing but opaque ports is not recognised.
 */
function fromServiceProfile(profile: ServiceProfileState): boolean {
  return profile.routes.length > 0 || profile.retryBudget !== undefined || profile.dstOverrides.length > 0;
}

/** The cluster domain of `<svc>.<ns>.svc.<cluster-domain>`; undefined for any other name. */
function clusterDomainOf(fqdn: string): string | undefined {
  const labels = fqdn.split('.');
  return labels.length > 3 && labels[2] === 'svc' ? labels.slice(3).join('.') : undefined;
}

/** The Service a traffic-split authority names, when it is a service of the same cluster domain. */
function backendRef(authority: string, clusterDomain: string | undefined): meta.Metadata | undefined {
  if (clusterDomain === undefined) return undefined;
  try {
    const t = parseDestinationPath(authority, clusterDomain);
    return resource('core', 'Service', t.namespace, t.service, t.port);
  } catch (err) {
    if (err instanceof DestinationPathError) return undefined;
    throw err;
  }
}

/**
 * The proxy API profile of a service port; `profile` undefined means there is
 * no profile state (neither the Service nor a ServiceProfile exists).
 * `parent_ref` names the Service and port, `profile_ref` the ServiceProfile
 * (whose name is the service's FQDN), and each traffic-split entry that names
 * a service gets a `backend_ref`.
 */
export function toDestinationProfile(fqdn: string, port: number, profile: ServiceProfileState | undefined): destination.DestinationProfile {
  const budget = profile?.retryBudget ?? defaultRetryBudget;
  const clusterDomain = clusterDomainOf(fqdn);
  const result: destination.DestinationProfile = {
    fullyQualifiedName: fqdn,
    opaqueProtocol: profile?.opaquePorts.includes(port) ?? false,
    routes: (profile?.routes ?? []).map((r) => {
      const route: destination.Route = {
        condition: requestMatch(r.condition),
        responseClasses: (r.responseClasses ?? []).map((c) => ({ condition: responseMatch(c.condition), isFailure: c.isFailure })),
        metricsLabels: { route: r.name },
        isRetryable: r.isRetryable ?? false,
      };
      if (r.timeoutMs !== undefined) route.timeout = duration(r.timeoutMs);
      return route;
    }),
    retryBudget: { retryRatio: budget.retryRatio, minRetriesPerSecond: budget.minRetriesPerSecond, ttl: duration(budget.ttlMs) },
    dstOverrides: (profile?.dstOverrides ?? []).map((d) => {
      const dst: destination.WeightedDst = { authority: d.authority, weight: d.weight };
      const ref = backendRef(d.authority, clusterDomain);
      if (ref) dst.backendRef = ref;
      return dst;
    }),
  };
  if (profile) {
    result.parentRef = resource('core', 'Service', profile.namespace, profile.service, port);
    if (fromServiceProfile(profile)) result.profileRef = resource('linkerd.io', 'ServiceProfile', profile.namespace, fqdn);
  }
  return result;
}
