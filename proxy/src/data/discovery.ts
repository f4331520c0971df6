/*
 * What the data path needs of the control plane, on the control library's
 * shared watches (ControlClient: reconnect, failover, last state kept): the
 * OutboundPolicy of an authority, the Destination updates of a backend path
 * (fed to the balancer) and the inbound policy of a workload port.
 */
import { MeshbusError, parseIp } from '@meshbus/core';
import type { destination, inbound, net, outbound } from '@meshbus/proxy-api';
import type { ControlClient, DestinationState, Endpoint as ControlEndpoint, OutboundPolicyState, WatchHandle } from '../control/index.js';

/** The control-plane view the listeners read. */
export interface Discovery {
  /**
   * The OutboundPolicy of an authority: the last one received, waiting for the first up to
   * `timeoutMs`. Rejects with {@link UnknownServiceError} when the control plane knows no such service.
   */
  outboundPolicy(authority: string, timeoutMs: number): Promise<outbound.OutboundPolicy>;
  /**
   * Transparent mode: the OutboundPolicy of an address (`ip:port`, `[v6]:port`) a connection was
   * going to: a service's policy for its cluster IP, a policy that forwards to the address otherwise.
   */
  outboundPolicyByAddr(addr: string, timeoutMs: number): Promise<outbound.OutboundPolicy>;
  /** Destination updates of `path`, as a balancer takes them. Returns the unsubscribe. */
  endpoints(path: string, onUpdate: (update: destination.Update) => void): () => void;
  /** The last inbound policy of a workload port; undefined before the first. */
  inboundPolicy(port: number): inbound.Server | undefined;
  /** The profile (Destination.GetProfile) of a service authority: the last one received, waiting for the first up to `timeoutMs`; undefined when none came. */
  profile?(authority: string, timeoutMs: number): Promise<destination.DestinationProfile | undefined>;
}

/** The control plane knows no service by the authority asked for. */
export class UnknownServiceError extends MeshbusError {
  override readonly name = 'UnknownServiceError';
  constructor(readonly authority: string) {
    super('UnknownService', `the control plane knows no service ${authority}`);
  }
}

/** `10.0.0.1:80` or `[::1]:80` → the proxy API's address. */
export function tcpAddress(text: string): net.TcpAddress {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not ip:port`);
  const ip = parseIp(m[1]!);
  const port = Number(m[2]);
  if (ip.family === 4) return { ip: { ip: { $case: 'ipv4', ipv4: ip.value } }, port };
  return { ip: { ip: { $case: 'ipv6', ipv6: { first: ip.high, last: ip.low } } }, port };
}

/** A Destination endpoint of the control library in the proxy API's form, for the balancer. */
export function weightedAddr(e: ControlEndpoint): destination.WeightedAddr {
  return {
    addr: tcpAddress(e.address),
    weight: e.weight,
    metricLabels: { ...e.metricLabels },
    ...(e.tlsIdentity !== undefined
      ? { tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: e.tlsIdentity } }, ...(e.serverName ? { serverName: { name: e.serverName } } : {}) } }
      : {}),
    ...(e.protocolHint !== undefined
      ? {
          protocolHint: {
            protocol: e.protocolHint === 'h2' ? { $case: 'h2', h2: {} } : { $case: 'opaque', opaque: {} },
            ...(e.opaqueTransportPort !== undefined ? { opaqueTransport: { inboundPort: e.opaqueTransportPort } } : {}),
          },
        }
      : {}),
    ...(e.authorityOverride !== undefined ? { authorityOverride: { authorityOverride: e.authorityOverride } } : {}),
    // Without it, an endpoint of a mirrored service would be dialled directly instead of through the gateway's tunnel.
    ...(e.meshbusGateway !== undefined ? { meshbusGateway: e.meshbusGateway } : {}),
  } as destination.WeightedAddr;
}

/** The updates that turn endpoint set `before` into `after` (removals first). */
export function destinationDiff(before: DestinationState | undefined, after: DestinationState): destination.Update[] {
  const updates: destination.Update[] = [];
  if (after.endpoints.size === 0) return before === undefined || before.endpoints.size > 0 ? [{ update: { $case: 'noEndpoints', noEndpoints: { exists: after.exists } } }] : [];
  const removed = [...(before?.endpoints.keys() ?? [])].filter((k) => !after.endpoints.has(k));
  if (removed.length > 0) updates.push({ update: { $case: 'remove', remove: { addrs: removed.map(tcpAddress) } } });
  const added = [...after.endpoints.values()].filter((e) => before?.endpoints.get(e.address) !== e);
  if (added.length > 0) updates.push({ update: { $case: 'add', add: { addrs: added.map(weightedAddr), metricLabels: {} } } });
  return updates;
}

/** {@link Discovery} on a {@link ControlClient}. */
export class ControlDiscovery implements Discovery {
  private readonly policies = new Map<string, WatchHandle<OutboundPolicyState>>();
  /** Inbound policies of ports watched on first use (transparent mode), beside those the proxy watches from the start. */
  private readonly laterPorts = new Map<number, WatchHandle<inbound.Server>>();
  private readonly profiles = new Map<string, WatchHandle<destination.DestinationProfile>>();

  constructor(
    private readonly control: ControlClient,
    private readonly inbound: ReadonlyMap<number, WatchHandle<inbound.Server>>,
  ) {}

  outboundPolicy(authority: string, timeoutMs: number): Promise<outbound.OutboundPolicy> {
    return this.policyOf(authority, { authority }, timeoutMs);
  }

  outboundPolicyByAddr(addr: string, timeoutMs: number): Promise<outbound.OutboundPolicy> {
    return this.policyOf(`addr ${addr}`, { addr: tcpAddress(addr) }, timeoutMs);
  }

  private async policyOf(key: string, target: Parameters<ControlClient['outboundPolicy']>[0], timeoutMs: number): Promise<outbound.OutboundPolicy> {
    let handle = this.policies.get(key);
    if (!handle) {
      handle = this.control.outboundPolicy(target);
      this.policies.set(key, handle);
    }
    const authority = 'authority' in target ? target.authority : key.slice('addr '.length);
    // Known already (every request after the first): no timer and no race on the hot path.
    const current = handle.current;
    if (current !== undefined) {
      if (current.kind !== 'policy') throw new UnknownServiceError(authority);
      return current.policy;
    }
    let timer: NodeJS.Timeout | undefined;
    const state = await Promise.race([
      handle.first(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no outbound policy within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (state.kind !== 'policy') throw new UnknownServiceError(authority);
    return state.policy;
  }

  endpoints(path: string, onUpdate: (update: destination.Update) => void): () => void {
    const handle = this.control.destination(path);
    let last: DestinationState | undefined;
    const change = (state: DestinationState): void => {
      for (const u of destinationDiff(last, state)) onUpdate(u);
      last = state;
    };
    handle.on('change', change);
    if (handle.current !== undefined) change(handle.current);
    return () => {
      handle.off('change', change);
      void handle.close();
    };
  }

  inboundPolicy(port: number): inbound.Server | undefined {
    return (this.inbound.get(port) ?? this.laterPorts.get(port))?.current;
  }

  /**
   * Transparent mode: the last inbound policy of `port`, like {@link inboundPolicy}, opening the
   * port's watch when it is not watched yet (a request for a new port named by `l5d-dst-port`
   * finds no policy yet; the next ones find it).
   */
  inboundPolicyWatched(port: number): inbound.Server | undefined {
    const current = this.inboundPolicy(port);
    if (current === undefined && !this.inbound.has(port) && !this.laterPorts.has(port)) this.laterPorts.set(port, this.control.inboundPolicy(port));
    return current;
  }

  /**
   * Transparent mode, where connections may come for any port: the inbound policy of `port`,
   * opening its watch when the port is not watched yet, and waiting up to `timeoutMs` for the
   * first policy (undefined when none came in time).
   */
  async watchInboundPort(port: number, timeoutMs: number): Promise<inbound.Server | undefined> {
    let handle = this.inbound.get(port) ?? this.laterPorts.get(port);
    if (!handle) {
      handle = this.control.inboundPolicy(port);
      this.laterPorts.set(port, handle);
    }
    if (handle.current !== undefined) return handle.current;
    let timer: NodeJS.Timeout | undefined;
    return await Promise.race([
      handle.first(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async profile(authority: string, timeoutMs: number): Promise<destination.DestinationProfile | undefined> {
    let handle = this.profiles.get(authority);
    if (!handle) {
      handle = this.control.profile(authority);
      this.profiles.set(authority, handle);
    }
    if (handle.current !== undefined || timeoutMs <= 0) return handle.current;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([handle.first(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)))]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    await Promise.all([...this.policies.values(), ...this.laterPorts.values(), ...this.profiles.values()].map((h) => h.close()));
    this.policies.clear();
    this.laterPorts.clear();
    this.profiles.clear();
  }
}
