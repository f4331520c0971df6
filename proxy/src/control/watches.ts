import { status } from '@grpc/grpc-js';
import { formatIp } from '@meshbus/core';
import type { destination, inbound, net, outbound } from '@meshbus/proxy-api';
import { WatchStream, type WatchContext, type WatchSpec } from './watch-stream.js';

/** `ip:port` (IPv6 in brackets) of a proxy API address; `?` for a missing IP. */
export function addressText(addr: net.TcpAddress | undefined): string {
  const ip = addr?.ip?.ip;
  if (ip?.$case === 'ipv4') return `${formatIp({ family: 4, value: ip.ipv4 })}:${addr!.port}`;
  if (ip?.$case === 'ipv6') return `[${formatIp({ family: 6, high: ip.ipv6.first, low: ip.ipv6.last })}]:${addr!.port}`;
  return `?:${addr?.port ?? 0}`;
}

/** One endpoint of a destination, as Destination.Get described it. */
export interface Endpoint {
  /** `ip:port`, the key of the endpoint in its set. */
  readonly address: string;
  readonly weight: number;
  /** The identity its proxy's certificate must name; undefined for an unmeshed endpoint. */
  readonly tlsIdentity: string | undefined;
  /** The SNI to send, when the destination names one. */
  readonly serverName: string | undefined;
  /** `h2`: the endpoint's proxy takes HTTP/2 (HTTP/1 is upgraded); `opaque`: TCP only. */
  readonly protocolHint: 'h2' | 'opaque' | undefined;
  /** The inbound port taking opaque traffic with the mesh transport header, if any. */
  readonly opaqueTransportPort: number | undefined;
  readonly authorityOverride: string | undefined;
  readonly metricLabels: Readonly<Record<string, string>>;
  /** Set for an endpoint behind a linked cluster's multicluster gateway: that cluster and the gateway's identity. */
  readonly meshbusGateway?: destination.MulticlusterGateway | undefined;
}

/** The endpoint set of one destination. */
export interface DestinationState {
  /** false: the control plane does not know the name (fall back to DNS); true: it does. */
  readonly exists: boolean;
  /** By `ip:port`. */
  readonly endpoints: ReadonlyMap<string, Endpoint>;
}

function toEndpoint(a: destination.WeightedAddr, setLabels: Record<string, string>): Endpoint {
  const strategy = a.tlsIdentity?.strategy;
  const tlsIdentity = strategy?.$case === 'dnsLikeIdentity' ? strategy.dnsLikeIdentity.name : strategy?.$case === 'uriLikeIdentity' ? strategy.uriLikeIdentity.uri : undefined;
  const hint = a.protocolHint?.protocol?.$case;
  return {
    address: addressText(a.addr),
    weight: a.weight,
    tlsIdentity,
    serverName: a.tlsIdentity?.serverName?.name || undefined,
    protocolHint: hint,
    opaqueTransportPort: a.protocolHint?.opaqueTransport?.inboundPort,
    authorityOverride: a.authorityOverride?.authorityOverride || undefined,
    metricLabels: { ...setLabels, ...a.metricLabels },
    ...(a.meshbusGateway !== undefined ? { meshbusGateway: a.meshbusGateway } : {}),
  };
}

/** Applies one Destination update to a set (pure). */
export function applyDestinationUpdate(state: DestinationState, update: destination.Update): DestinationState {
  const u = update.update;
  if (u === undefined) return state;
  if (u.$case === 'noEndpoints') return { exists: u.noEndpoints.exists, endpoints: new Map() };
  const endpoints = new Map(state.endpoints);
  if (u.$case === 'add') {
    for (const a of u.add.addrs) {
      const e = toEndpoint(a, u.add.metricLabels);
      endpoints.set(e.address, e);
    }
    return { exists: true, endpoints };
  }
  for (const a of u.remove.addrs) endpoints.delete(addressText(a));
  return { exists: state.exists, endpoints };
}

/** The empty set a Destination stream starts from. */
export const emptyDestination: DestinationState = { exists: false, endpoints: new Map() };

/** The specs of the four watches; exported for the cache and the tests. */
export function destinationSpec(path: string, contextToken: string): WatchSpec<destination.Update, DestinationState> {
  return {
    api: 'destination',
    what: path,
    open: (c) => c.destination.get({ scheme: 'k8s', path, contextToken }),
    initial: () => emptyDestination,
    reduce: applyDestinationUpdate,
  };
}

export function profileSpec(path: string, contextToken: string): WatchSpec<destination.DestinationProfile, destination.DestinationProfile> {
  return {
    api: 'profile',
    what: path,
    open: (c) => c.destination.getProfile({ scheme: 'k8s', path, contextToken }),
    initial: () => ({ fullyQualifiedName: '', opaqueProtocol: false, routes: [], retryBudget: undefined, dstOverrides: [], endpoint: undefined, parentRef: undefined, profileRef: undefined }),
    reduce: (_, profile) => profile,
  };
}

export function inboundPolicySpec(workload: string, port: number): WatchSpec<inbound.Server, inbound.Server> {
  return {
    api: 'inbound',
    what: `port ${port}`,
    open: (c) => c.inbound.watchPort({ workload, port }),
    initial: () => ({ protocol: undefined, serverIps: [], authorizations: [], labels: {} }),
    reduce: (_, server) => server,
  };
}

/** The outbound policy of a target, or that the control plane does not know it (use the fallback). */
export type OutboundPolicyState = { readonly kind: 'policy'; readonly policy: outbound.OutboundPolicy } | { readonly kind: 'unknown' };

/** A target of OutboundPolicies.Watch: an authority (`web.shop.svc.cluster.local:80`) or an address. */
export type OutboundTarget = { readonly authority: string } | { readonly addr: net.TcpAddress };

export function outboundTargetText(target: OutboundTarget): string {
  return 'authority' in target ? target.authority : addressText(target.addr);
}

export function outboundPolicySpec(sourceWorkload: string, target: OutboundTarget): WatchSpec<outbound.OutboundPolicy, OutboundPolicyState> {
  const spec: outbound.TrafficSpec = {
    sourceWorkload,
    target: 'authority' in target ? { $case: 'authority', authority: target.authority } : { $case: 'addr', addr: target.addr },
  };
  return {
    api: 'outbound',
    what: outboundTargetText(target),
    open: (c) => c.outbound.watch(spec),
    initial: () => ({ kind: 'unknown' }),
    reduce: (_, policy) => ({ kind: 'policy', policy }),
    answer: (code) => (code === status.NOT_FOUND ? { kind: 'unknown' } : undefined),
  };
}

/** Destination.Get of one path: the endpoint set, with TLS identities and protocol hints. */
export type DestinationWatch = WatchStream<destination.Update, DestinationState>;
/** Destination.GetProfile of one path: routes, retry budget, traffic split. */
export type ProfileWatch = WatchStream<destination.DestinationProfile, destination.DestinationProfile>;
/** InboundServerPolicies.WatchPort of one port of the workload. */
export type InboundPolicyWatch = WatchStream<inbound.Server, inbound.Server>;
/** OutboundPolicies.Watch of one target. */
export type OutboundPolicyWatch = WatchStream<outbound.OutboundPolicy, OutboundPolicyState>;

export function watchDestination(context: WatchContext, path: string, contextToken = ''): DestinationWatch {
  return new WatchStream(destinationSpec(path, contextToken), context);
}
export function watchProfile(context: WatchContext, path: string, contextToken = ''): ProfileWatch {
  return new WatchStream(profileSpec(path, contextToken), context);
}
export function watchInboundPolicy(context: WatchContext, workload: string, port: number): InboundPolicyWatch {
  return new WatchStream(inboundPolicySpec(workload, port), context);
}
export function watchOutboundPolicy(context: WatchContext, workload: string, target: OutboundTarget): OutboundPolicyWatch {
  return new WatchStream(outboundPolicySpec(workload, target), context);
}
