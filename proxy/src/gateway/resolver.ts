/*
 * Where a tunnel goes: the endpoints of a service authority, through the
 * proxy's Destination watches, picked by the P2C balancer, and the address
 * a client proxy would dial for mesh TLS to each.
 */
import { exportedServiceLabel, MeshbusError } from '@meshbus/core';
import type { destination } from '@meshbus/proxy-api';
import { UnknownServiceError, type Discovery } from '../data/discovery.js';
import { endpointIdentity } from '../data/outbound-proxy.js';
import { defaultLoad, P2cBalancer, ServiceUnavailableError, type Endpoint, type Timers } from '../outbound/index.js';

/** One endpoint a tunnel may be relayed to. */
export interface TunnelEndpoint {
  /** The endpoint as Destination names it (`ip:port`), for logs and metrics. */
  readonly key: string;
  /** Where the gateway connects: the endpoint's proxy (mesh TLS port) when meshed, else the endpoint itself. */
  readonly host: string;
  readonly port: number;
  /** The workload's own port, which requests inside the tunnel name as their destination port. */
  readonly targetPort: number;
  /** The identity the endpoint's proxy proves to the client (undefined when not meshed). */
  readonly identity: string | undefined;
  /** The service is exported to linked clusters (its endpoint set has `mirror.meshbus.io/exported: "true"`). */
  readonly exported: boolean;
  /** Tells the balancer how the connection went. */
  done(outcome: { readonly failure: boolean; readonly latencyMs: number }): void;
}

/** The authority resolves to no service (answered 404). */
export class TunnelNotFoundError extends MeshbusError {
  override readonly name = 'TunnelNotFoundError';
  constructor(message: string) {
    super('TunnelNotFound', message);
  }
}

/** The service exists but has no endpoint to connect to now (answered 502). */
export class NoTunnelEndpointError extends MeshbusError {
  override readonly name = 'NoTunnelEndpointError';
  constructor(message: string) {
    super('NoTunnelEndpoint', message);
  }
}

/** Resolves tunnel authorities. */
export interface TunnelResolver {
  /**
   * An endpoint of `authority` (`<svc>.<ns>.svc.<cluster-domain>:<port>`). Rejects with
   * {@link TunnelNotFoundError} or {@link NoTunnelEndpointError}.
   */
  endpoint(authority: string): Promise<TunnelEndpoint>;
  close(): void;
}

/** Options of {@link DiscoveryResolver}. */
export interface DiscoveryResolverOptions {
  readonly discovery: Discovery;
  /** The inbound port of the other proxies, when Destination gives none (as the outbound proxy dials them). */
  readonly peerInboundPort: number;
  /** How long a new authority waits for its policy, and for a ready endpoint. @default 5000 */
  readonly timeoutMs?: number;
  /** At most this many authorities are watched at once; the least recently used beyond are dropped. @default 1000 */
  readonly maxAuthorities?: number;
}

const timers: Timers = {
  now: () => performance.now(),
  random: Math.random,
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

function endpointHost(endpoint: Endpoint): string {
  const key = endpoint.key;
  return key.startsWith('[') ? key.slice(1, key.indexOf(']')) : key.slice(0, key.lastIndexOf(':'));
}

/**
 * A {@link TunnelResolver} on the proxy's control-plane view: the authority must be a service the
 * control plane knows (its OutboundPolicy), its Destination endpoints feed one balancer per
 * authority. A meshed endpoint is reached at its proxy's inbound port (Destination's opaque
 * transport port, else the peers' inbound port), as the outbound proxy dials it for mesh TLS.
 */
export class DiscoveryResolver implements TunnelResolver {
  private readonly services = new Map<string, { balancer: P2cBalancer; stop: () => void }>();
  private readonly timeoutMs: number;
  private readonly maxAuthorities: number;

  constructor(private readonly options: DiscoveryResolverOptions) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxAuthorities = options.maxAuthorities ?? 1_000;
  }

  async endpoint(authority: string): Promise<TunnelEndpoint> {
    try {
      await this.options.discovery.outboundPolicy(authority, this.timeoutMs);
    } catch (error) {
      if (error instanceof UnknownServiceError) throw new TunnelNotFoundError(`no service ${authority} in this cluster`);
      throw new TunnelNotFoundError(`${authority} could not be resolved: ${error instanceof Error ? error.message : String(error)}`);
    }
    const balancer = this.balancer(authority);
    let lease;
    try {
      lease = await balancer.acquire();
    } catch (error) {
      if (error instanceof ServiceUnavailableError) throw new NoTunnelEndpointError(`${authority} has no ready endpoint (${error.reason})`);
      throw error;
    }
    const endpoint = lease.endpoint;
    const identity = endpointIdentity(endpoint);
    const port = identity === undefined ? endpoint.addr.port : (endpoint.protocolHint?.opaqueTransport?.inboundPort ?? this.options.peerInboundPort);
    return {
      key: endpoint.key,
      host: endpointHost(endpoint),
      port,
      targetPort: endpoint.addr.port,
      identity,
      exported: endpoint.labels[exportedServiceLabel] === 'true',
      done: (outcome) => lease.release(outcome),
    };
  }

  private balancer(authority: string): P2cBalancer {
    const known = this.services.get(authority);
    if (known) {
      // Most recently used last, so that the first is the one to drop.
      this.services.delete(authority);
      this.services.set(authority, known);
      return known.balancer;
    }
    const balancer = new P2cBalancer({ load: defaultLoad, queue: { capacity: 100, failfastTimeoutMs: this.timeoutMs }, timers });
    const stop = this.options.discovery.endpoints(authority, (update: destination.Update) => balancer.apply(update));
    this.services.set(authority, { balancer, stop });
    while (this.services.size > this.maxAuthorities) {
      const [oldest, entry] = this.services.entries().next().value as [string, { balancer: P2cBalancer; stop: () => void }];
      if (entry.balancer.inFlight() > 0 || entry.balancer.queued() > 0) break;
      entry.stop();
      entry.balancer.close();
      this.services.delete(oldest);
    }
    return balancer;
  }

  close(): void {
    for (const { balancer, stop } of this.services.values()) {
      stop();
      balancer.close();
    }
    this.services.clear();
  }
}
