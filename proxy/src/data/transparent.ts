/*
 * Transparent and ingress modes: the listeners take connections that the
 * pod's iptables rules (proxy-init) redirected to them, ask the kernel where
 * each was going, and carry it there. Outbound: the OutboundPolicy of the
 * original address decides; HTTP/1 goes to the outbound proxy's request
 * handling (routes, balancing, retries), everything else is opaque TCP.
 * Inbound: the original port is the workload port. See docs/proxy-transparent.md.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, isIP, type Server as NetServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '@meshbus/core';
import type { outbound } from '@meshbus/proxy-api';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { detectTimeoutMs } from '../outbound/index.js';
import { originalDestination as kernelOriginalDestination, OriginalDestinationError, type OriginalDestination } from '../transparent/original-destination.js';
import { UnknownServiceError, type Discovery } from './discovery.js';
import { canonicalAuthority, type OutboundProxy, type RedirectedTarget } from './outbound-proxy.js';
import { sniff, sniffProtocol, type SniffedProtocol } from './sniff.js';

/** The header an ingress controller names the service of a request with, `<svc>.<ns>.svc.<cluster-domain>:<port>`. */
export const dstOverrideHeader = 'l5d-dst-override';

/** How long protocol detection waits when the policy names no timeout. */
const defaultDetectMs = 10_000;

/** Where an accepted connection was going. */
export type Arrival =
  /** Not redirected: made to the listener itself (explicit use of the outbound port, mesh TLS to the inbound port). */
  | { readonly kind: 'direct' }
  /** Redirected from `address` (`ip:port`, `[v6]:port`). */
  | { readonly kind: 'redirected'; readonly ip: string; readonly port: number; readonly address: string }
  /** Carrying it would loop back into the proxy. */
  | { readonly kind: 'refused'; readonly reason: string };

/** What {@link classifyArrival} needs besides the socket. */
export interface ArrivalContext {
  /** The kernel's answer for the socket. @default SO_ORIGINAL_DST */
  readonly originalDestination?: (socket: Socket) => OriginalDestination;
  /** The proxy's other listeners: a connection meant for one of them on a local address is refused. */
  readonly ownPorts: Iterable<number>;
  /** Whether an address is one of this host's (network namespace's). @default from os.networkInterfaces() */
  readonly isLocalAddress?: (ip: string) => boolean;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; other addresses in canonical form. */
export function plainIp(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  return isIP(lower) === 0 ? lower : canonicalIp(lower);
}

/** `127.0.0.0/8`, `::1`. */
export function isLoopback(ip: string): boolean {
  const plain = plainIp(ip);
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) out.add(plainIp(info.address.replace(/%.*$/, '')));
  return out;
}

/** `10.0.0.1:80`, `[fd00::1]:80`. */
export function addressText(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * Where a connection accepted on a transparent listener was going. A
 * connection the rules did not redirect (the kernel has no translation, or
 * its original destination is the listener's own port on a local address)
 * is `direct`. One redirected from a loopback address, or from another
 * listener of this proxy on a local address, is `refused`: carrying it
 * would come back to the proxy.
 */
export function classifyArrival(socket: Socket, context: ArrivalContext): Arrival {
  let dst: OriginalDestination;
  try {
    dst = (context.originalDestination ?? kernelOriginalDestination)(socket);
  } catch (error) {
    if (error instanceof OriginalDestinationError && error.code === 'NotRedirected') return { kind: 'direct' };
    return { kind: 'refused', reason: `no original destination: ${errorMessage(error)}` };
  }
  const ip = plainIp(dst.address);
  const listenerIp = plainIp(socket.localAddress ?? '');
  const isLocal = (address: string): boolean => address === listenerIp || (context.isLocalAddress ?? ((a) => hostAddresses().has(a)))(address);
  if (dst.port === socket.localPort && (isLoopback(ip) || isLocal(ip))) return { kind: 'direct' };
  if (isLoopback(ip)) return { kind: 'refused', reason: `the original destination ${addressText(ip, dst.port)} is a loopback address` };
  if ([...context.ownPorts].includes(dst.port) && isLocal(ip)) return { kind: 'refused', reason: `the original destination ${addressText(ip, dst.port)} is a listener of this proxy` };
  return { kind: 'redirected', ip, port: dst.port, address: addressText(ip, dst.port) };
}

/** The authority a policy is accounted under: its service's name for a service's policy, else the address. */
export function policyAuthority(policy: outbound.OutboundPolicy, address: string, clusterDomain: string): string {
  const m = policy.metadata?.kind;
  if (m?.$case === 'resource' && m.resource.kind === 'Service' && (m.resource.group === 'core' || m.resource.group === '') && m.resource.name !== '' && m.resource.namespace !== '') {
    const port = m.resource.port > 0 ? m.resource.port : Number(/:(\d+)$/.exec(address)?.[1] ?? 0);
    return `${m.resource.name}.${m.resource.namespace}.svc.${clusterDomain}:${port}`;
  }
  return address;
}

type Backend = outbound.Backend;

function opaqueBackends(policy: outbound.OutboundPolicy): Backend[] {
  const p = policy.protocol?.kind;
  const routes = p?.$case === 'detect' ? (p.detect.opaque?.routes ?? []) : p?.$case === 'opaque' ? p.opaque.routes : [];
  const out: Backend[] = [];
  for (const route of routes) {
    for (const rule of route.rules) {
      const d = rule.backends?.kind;
      if (d?.$case === 'firstAvailable') for (const b of d.firstAvailable.backends) if (b.backend) out.push(b.backend);
      if (d?.$case === 'randomAvailable') for (const b of d.randomAvailable.backends) if (b.backend?.backend) out.push(b.backend.backend);
    }
  }
  return out;
}

/**
 * How a connection under `policy` starts: opaque at once (the policy's
 * protocol is opaque or TLS, or it forwards to an address whose protocol
 * hint is opaque), or after detection within the policy's timeout.
 */
export function connectionProtocol(policy: outbound.OutboundPolicy): { kind: 'opaque' } | { kind: 'detect'; timeoutMs: number } {
  const p = policy.protocol?.kind;
  if (p === undefined || p.$case === 'opaque' || p.$case === 'tls') return { kind: 'opaque' };
  if (p.$case === 'detect') {
    const backends = opaqueBackends(policy);
    const hintedOpaque = backends.length > 0 && backends.every((b) => b.kind?.$case === 'forward' && b.kind.forward.protocolHint?.protocol?.$case === 'opaque');
    if (hintedOpaque) return { kind: 'opaque' };
  }
  return { kind: 'detect', timeoutMs: detectTimeoutMs(policy) ?? defaultDetectMs };
}

/** The host of `host[:port]` (brackets removed). */
function hostOf(authority: string): string {
  const a = authority.trim();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') === -1 ? undefined : a.indexOf(']'));
  const colon = a.lastIndexOf(':');
  return colon === -1 || a.indexOf(':') !== colon ? a : a.slice(0, colon);
}

/** Options of {@link TransparentOutbound}. */
export interface TransparentOutboundOptions extends Omit<ArrivalContext, 'ownPorts'> {
  readonly outbound: OutboundProxy;
  readonly discovery: Discovery;
  /** `ingress` routes HTTP by `l5d-dst-override` or the Host. */
  readonly mode: 'transparent' | 'ingress';
  /** @default cluster.local */
  readonly clusterDomain?: string;
  /** The proxy's other listeners (inbound, admin, port mappings), read per connection. */
  readonly ownPorts: () => Iterable<number>;
  readonly logger: Logger;
  /** How long a connection waits for the first OutboundPolicy of a new address. @default 5s */
  readonly policyTimeoutMs?: number;
}

/** The outbound listener of transparent and ingress modes. */
export class TransparentOutbound {
  private readonly server: NetServer;
  private readonly clusterDomain: string;
  private readonly policyTimeoutMs: number;

  constructor(private readonly options: TransparentOutboundOptions) {
    this.clusterDomain = options.clusterDomain ?? 'cluster.local';
    this.policyTimeoutMs = options.policyTimeoutMs ?? 5_000;
    // Half-open, so that a half-close of opaque TCP travels on (HTTP is served as on the outbound listener, which is half-open too).
    this.server = createNetServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => void this.accept(socket));
  }

  async listen(host: string, port: number): Promise<void> {
    await listenDualStack(
      (h) =>
        new Promise((resolve, reject) => {
          this.server.once('error', reject);
          this.server.listen(port, h, () => {
            this.server.off('error', reject);
            resolve();
          });
        }),
      host,
    );
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the outbound listener is not listening');
    return address.port;
  }

  /** Stops accepting; the connections handed over drain with the outbound proxy. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async accept(socket: Socket): Promise<void> {
    const { logger } = this.options;
    socket.on('error', (error) => logger.debug({ err: errorMessage(error) }, 'redirected connection failed'));
    const arrival = classifyArrival(socket, { ...this.options, ownPorts: this.options.ownPorts() });
    if (arrival.kind === 'direct') {
      this.options.outbound.acceptDirect(socket);
      return;
    }
    if (arrival.kind === 'refused') {
      logger.warn({ client: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, reason: arrival.reason }, 'outbound connection refused');
      socket.destroy();
      return;
    }
    const { address } = arrival;
    let policy: outbound.OutboundPolicy;
    try {
      policy = await this.options.discovery.outboundPolicyByAddr(address, this.policyTimeoutMs);
    } catch (error) {
      logger.warn({ address, err: errorMessage(error) }, 'outbound connection closed: no policy for its original destination');
      socket.destroy();
      return;
    }
    // The client gave up while the policy was on its way.
    if (socket.destroyed) return;
    const authority = policyAuthority(policy, address, this.clusterDomain);
    const protocol = connectionProtocol(policy);
    if (protocol.kind === 'opaque') {
      this.options.outbound.acceptOpaque(socket, authority, policy);
      return;
    }
    const detected = await sniff<SniffedProtocol>(socket, sniffProtocol, protocol.timeoutMs, 'opaque');
    if (detected === undefined) return;
    if (detected === 'http1' || detected === 'http2') this.options.outbound.acceptHttp(socket, this.target(address), detected);
    else this.options.outbound.acceptOpaque(socket, authority, policy);
  }

  /** How the requests of a connection to `address` find their policy. */
  private target(address: string): RedirectedTarget {
    const byAddress = async (): Promise<{ authority: string; policy: outbound.OutboundPolicy }> => {
      const policy = await this.options.discovery.outboundPolicyByAddr(address, this.policyTimeoutMs);
      return { authority: policyAuthority(policy, address, this.clusterDomain), policy };
    };
    if (this.options.mode === 'transparent') return { address, resolve: byAddress };
    return {
      address,
      resolve: async (headers: IncomingHttpHeaders, requested: string | undefined) => {
        const raw = headers[dstOverrideHeader];
        const override = Array.isArray(raw) ? raw[0] : raw;
        delete headers[dstOverrideHeader];
        const name = override?.trim() || requested;
        if (name === undefined || name === '' || isIP(hostOf(name)) !== 0) return byAddress();
        const named = canonicalAuthority(name, this.clusterDomain);
        try {
          return { authority: named, policy: await this.options.discovery.outboundPolicy(named, this.policyTimeoutMs) };
        } catch (error) {
          // A Host that is no service of the mesh (an external name) goes where the connection was going.
          if (override === undefined && error instanceof UnknownServiceError) return byAddress();
          throw error;
        }
      },
    };
  }
}

/** Options of {@link transparentInboundPort}. */
export interface TransparentInboundOptions extends Omit<ArrivalContext, 'ownPorts'> {
  /** The proxy's other listeners (outbound, admin, port mappings): connections redirected from them are closed. */
  readonly ownPorts: () => Iterable<number>;
  /** Opens the inbound policy watch of a port when needed and waits a while for its first policy. */
  readonly watchPort: (port: number) => Promise<unknown>;
  readonly logger: Logger;
}

/**
 * The `redirectedPort` of the inbound proxy in transparent mode: the workload
 * port is the original destination's port. The port's inbound policy is
 * awaited before the connection is read, so that a port not listed in
 * MESHBUS_PROXY_INBOUND_PORTS works from its first connection.
 */
export function transparentInboundPort(options: TransparentInboundOptions): (socket: Socket) => Promise<number | null | undefined> {
  return async (socket) => {
    const arrival = classifyArrival(socket, { ...options, ownPorts: options.ownPorts() });
    if (arrival.kind === 'direct') return undefined;
    if (arrival.kind === 'refused') {
      options.logger.warn({ client: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, reason: arrival.reason }, 'inbound connection refused');
      return null;
    }
    await options.watchPort(arrival.port);
    return arrival.port;
  };
}

/**
 * Binds a listener with `listen(host)`; for the wildcard `0.0.0.0` it binds
 * `::` instead (IPv4 and IPv6, since ip6tables redirects IPv6 connections to
 * `[::1]`), falling back to `0.0.0.0` on a host without IPv6.
 */
export async function listenDualStack(listen: (host: string) => Promise<void>, host: string): Promise<void> {
  if (host !== '0.0.0.0') return listen(host);
  try {
    await listen('::');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
    await listen('0.0.0.0');
  }
}
