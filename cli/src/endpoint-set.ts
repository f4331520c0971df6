import { formatIp as formatParsedIp } from '@meshbus/core';
import type { destination, net } from '@meshbus/proxy-api';

/** What a proxy knows about one endpoint, decoded from a `WeightedAddr`. */
export interface EndpointView {
  /** `ip:port`, IPv6 in brackets. */
  address: string;
  weight: number;
  /** TLS identity the endpoint's proxy presents; absent when it is not meshed. */
  identity?: string;
  /** `h2`, `opaque` or `unknown`. */
  protocolHint: 'h2' | 'opaque' | 'unknown';
  /** Inbound proxy port for opaque transport, when set. */
  opaqueTransportPort?: number;
  /** From the `zone` metric label. */
  zone?: string;
  /** Metric labels of the endpoint, without `zone`. */
  labels: Record<string, string>;
}

/** The endpoint set of one destination as seen through a Get stream. */
export interface EndpointSetView {
  /** False after `noEndpoints{exists: false}`; undefined before the first update. */
  exists: boolean | undefined;
  /** By address. */
  endpoints: ReadonlyMap<string, EndpointView>;
  /** Metric labels common to the set, from the latest `add`. */
  labels: Record<string, string>;
}

/** What one update changed. */
export type EndpointChange =
  | { kind: 'add'; endpoints: EndpointView[] }
  | { kind: 'remove'; addresses: string[] }
  | { kind: 'noEndpoints'; exists: boolean; removed: string[] };

/** The set before any update. */
export function emptyEndpointSet(): EndpointSetView {
  return { exists: undefined, endpoints: new Map(), labels: {} };
}

/** Renders an `IPAddress` (IPv4 as a big-endian uint32, IPv6 as two 64-bit halves) in canonical text. */
export function formatIp(ip: net.IPAddress | undefined): string {
  const v = ip?.ip;
  if (!v) return '?';
  if (v.$case === 'ipv4') return formatParsedIp({ family: 4, value: v.ipv4 >>> 0 });
  return formatParsedIp({ family: 6, high: BigInt.asUintN(64, v.ipv6.first), low: BigInt.asUintN(64, v.ipv6.last) });
}

/** Renders a `TcpAddress` as `ip:port`, IPv6 in brackets. */
export function formatTcpAddress(addr: net.TcpAddress | undefined): string {
  const ip = formatIp(addr?.ip);
  const port = addr?.port ?? 0;
  return addr?.ip?.ip?.$case === 'ipv6' ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Decodes one `WeightedAddr`. */
export function endpointView(addr: destination.WeightedAddr): EndpointView {
  const { zone, ...labels } = addr.metricLabels;
  const view: EndpointView = {
    address: formatTcpAddress(addr.addr),
    weight: addr.weight,
    protocolHint: addr.protocolHint?.protocol?.$case ?? 'unknown',
    labels,
  };
  const strategy = addr.tlsIdentity?.strategy;
  if (strategy?.$case === 'dnsLikeIdentity') view.identity = strategy.dnsLikeIdentity.name;
  else if (strategy?.$case === 'uriLikeIdentity') view.identity = strategy.uriLikeIdentity.uri;
  const transport = addr.protocolHint?.opaqueTransport?.inboundPort;
  if (transport) view.opaqueTransportPort = transport;
  if (zone !== undefined) view.zone = zone;
  return view;
}

/**
 * Applies one update of a Get stream to the set, as a proxy does: `add`
 * inserts or replaces endpoints, `remove` deletes them, `noEndpoints` empties
 * the set. Returns the new set and what changed; an update with no content
 * changes nothing and returns no change.
 */
export function applyUpdate(set: EndpointSetView, update: destination.Update): { set: EndpointSetView; change?: EndpointChange } {
  const u = update.update;
  if (!u) return { set };
  const endpoints = new Map(set.endpoints);
  switch (u.$case) {
    case 'add': {
      const added = u.add.addrs.map(endpointView);
      for (const e of added) endpoints.set(e.address, e);
      return { set: { exists: true, endpoints, labels: { ...u.add.metricLabels } }, change: { kind: 'add', endpoints: added } };
    }
    case 'remove': {
      const addresses = u.remove.addrs.map(formatTcpAddress);
      for (const a of addresses) endpoints.delete(a);
      return { set: { ...set, exists: set.exists ?? true, endpoints }, change: { kind: 'remove', addresses } };
    }
    case 'noEndpoints': {
      const removed = [...set.endpoints.keys()];
      return {
        set: { exists: u.noEndpoints.exists, endpoints: new Map(), labels: set.labels },
        change: { kind: 'noEndpoints', exists: u.noEndpoints.exists, removed },
      };
    }
  }
}

/** Applies a change (as reported by {@link applyUpdate} or {@link diffEndpointSets}) to a set. */
export function applyChange(set: EndpointSetView, change: EndpointChange): EndpointSetView {
  const endpoints = new Map(set.endpoints);
  switch (change.kind) {
    case 'add':
      for (const e of change.endpoints) endpoints.set(e.address, e);
      return { ...set, exists: true, endpoints };
    case 'remove':
      for (const a of change.addresses) endpoints.delete(a);
      return { ...set, endpoints };
    case 'noEndpoints':
      return { ...set, exists: change.exists, endpoints: new Map() };
  }
}

/**
 * The changes that turn `before` into `after`, for when a new stream's first
 * update replaces what an interrupted stream had built.
 */
export function diffEndpointSets(before: EndpointSetView, after: EndpointSetView): EndpointChange[] {
  const changes: EndpointChange[] = [];
  const removed = [...before.endpoints.keys()].filter((a) => !after.endpoints.has(a));
  const added = [...after.endpoints.values()].filter((e) => JSON.stringify(before.endpoints.get(e.address)) !== JSON.stringify(e));
  if (after.endpoints.size === 0 && after.exists !== undefined && (before.endpoints.size > 0 || before.exists !== after.exists)) {
    return [{ kind: 'noEndpoints', exists: after.exists, removed }];
  }
  if (removed.length > 0) changes.push({ kind: 'remove', addresses: removed });
  if (added.length > 0) changes.push({ kind: 'add', endpoints: added });
  return changes;
}
