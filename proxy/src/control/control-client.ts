import { EventEmitter } from 'node:events';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { silentLogger, type Logger } from '@meshbus/runtime';
import type { ProxyConfig, StreamLimits } from './config.js';
import { GatewayPool, gatewayChannelOptions, gatewayCredentials } from './gateway-pool.js';
import type { BackoffOptions } from './schedule.js';
import type { WatchContext, WatchEvents, WatchObserver, WatchStream } from './watch-stream.js';
import {
  outboundTargetText,
  watchDestination,
  watchInboundPolicy,
  watchOutboundPolicy,
  watchProfile,
  type DestinationState,
  type OutboundPolicyState,
  type OutboundTarget,
} from './watches.js';
import type { destination, inbound } from '@meshbus/proxy-api';

/**
 * One user's view of a shared watch: the state, its events, and `close()`, which ends the stream
 * only when the last user of the same watch closes.
 */
export class WatchHandle<S> extends EventEmitter<WatchEvents<S>> {
  private released = false;
  private readonly forward: { [K in keyof WatchEvents<S>]: (...args: WatchEvents<S>[K]) => void };

  constructor(
    private readonly stream: WatchStream<unknown, S>,
    private readonly release: () => Promise<void>,
  ) {
    super();
    this.forward = {
      change: (state) => this.emit('change', state),
      connected: (gateway) => this.emit('connected', gateway),
      disconnected: (reason) => this.emit('disconnected', reason),
    };
    stream.on('change', this.forward.change);
    stream.on('connected', this.forward.connected);
    stream.on('disconnected', this.forward.disconnected);
  }

  /** The last state received (kept while the control plane is unreachable); undefined before the first. */
  get current(): S | undefined {
    return this.stream.current;
  }

  /** The gateway of the live stream; undefined while disconnected. */
  get gateway(): string | undefined {
    return this.stream.gateway;
  }

  /** Resolves with the first state (at once when there is one). */
  first(): Promise<S> {
    return this.stream.first();
  }

  /** Streams the shared watch has opened so far. */
  get streamsOpened(): number {
    return this.stream.streamsOpened;
  }

  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stream.off('change', this.forward.change);
    this.stream.off('connected', this.forward.connected);
    this.stream.off('disconnected', this.forward.disconnected);
    await this.release();
  }
}

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /** Gateway addresses, `host:port`; every watch may use any of them. */
  gateways: readonly string[];
  credentials: ChannelCredentials;
  /** From {@link gatewayChannelOptions}. */
  channelOptions?: ChannelOptions;
  /** The workload string of policy requests, such as `{"ns":"shop","name":"web-1"}`. */
  workload: string;
  /** Sent as Destination's context token. @default `{"ns":"<namespace>"}` from the workload when it is JSON, else empty */
  contextToken?: string;
  limits?: StreamLimits;
  backoff?: BackoffOptions;
  observer?: WatchObserver;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
}

function defaultContextToken(workload: string): string {
  try {
    const parsed = JSON.parse(workload) as { ns?: unknown };
    return typeof parsed.ns === 'string' ? JSON.stringify({ ns: parsed.ns }) : '';
  } catch {
    return '';
  }
}

/**
 * The proxy's client of the control plane: one connection per gateway replica, shared by every
 * watch, and one stream per distinct watch, shared by all its users (two users of the same path
 * get handles on the same stream).
 */
export class ControlClient {
  private readonly pool: GatewayPool;
  private readonly context: WatchContext;
  private readonly workload: string;
  private readonly contextToken: string;
  private readonly shared = new Map<string, { stream: WatchStream<unknown, unknown>; users: number }>();
  private closed = false;

  constructor(options: ControlClientOptions) {
    this.pool = new GatewayPool({ gateways: options.gateways, credentials: options.credentials, ...(options.channelOptions ? { channelOptions: options.channelOptions } : {}) });
    this.workload = options.workload;
    this.contextToken = options.contextToken ?? defaultContextToken(options.workload);
    this.context = {
      pool: this.pool,
      logger: options.logger ?? silentLogger(),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.observer ? { observer: options.observer } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.random ? { random: options.random } : {}),
    };
  }

  /** Destination.Get of `path` (`<svc>.<ns>.svc.<cluster-domain>:<port>` or `ip:port`). */
  destination(path: string): WatchHandle<DestinationState> {
    return this.handle(`destination ${path}`, () => watchDestination(this.context, path, this.contextToken));
  }

  /** Destination.GetProfile of `path`. */
  profile(path: string): WatchHandle<destination.DestinationProfile> {
    return this.handle(`profile ${path}`, () => watchProfile(this.context, path, this.contextToken));
  }

  /** InboundServerPolicies.WatchPort of one of the workload's ports. */
  inboundPolicy(port: number): WatchHandle<inbound.Server> {
    return this.handle(`inbound ${port}`, () => watchInboundPolicy(this.context, this.workload, port));
  }

  /** OutboundPolicies.Watch of a target, by authority or by address. */
  outboundPolicy(target: OutboundTarget): WatchHandle<OutboundPolicyState> {
    return this.handle(`outbound ${outboundTargetText(target)}`, () => watchOutboundPolicy(this.context, this.workload, target));
  }

  /** Distinct watches open now. */
  get openWatches(): number {
    return this.shared.size;
  }

  /** Closes every watch and connection. Handles keep their last state. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const streams = [...this.shared.values()].map((s) => s.stream);
    this.shared.clear();
    await Promise.all(streams.map((s) => s.close()));
    this.pool.close();
  }

  private handle<S>(key: string, create: () => WatchStream<unknown, S>): WatchHandle<S> {
    if (this.closed) throw new Error('the control client is closed');
    let entry = this.shared.get(key);
    if (entry === undefined) {
      entry = { stream: create() as WatchStream<unknown, unknown>, users: 0 };
      this.shared.set(key, entry);
    }
    entry.users++;
    const held = entry;
    return new WatchHandle(held.stream as WatchStream<unknown, S>, async () => {
      if (--held.users > 0) return;
      if (this.shared.get(key) === held) this.shared.delete(key);
      await held.stream.close();
    });
  }
}

/**
 * A {@link ControlClient} for a {@link ProxyConfig}: its gateways, the TLS of the gateway
 * connection (a CA file that cannot be read is a ConfigError), its workload and stream limits.
 */
export function controlClientFromConfig(
  config: Pick<ProxyConfig, 'gateways' | 'gatewayTransport' | 'workload' | 'streams'>,
  overrides: Partial<Pick<ControlClientOptions, 'backoff' | 'observer' | 'logger' | 'now' | 'random'>> = {},
): ControlClient {
  return new ControlClient({
    gateways: config.gateways,
    credentials: gatewayCredentials(config.gatewayTransport),
    channelOptions: gatewayChannelOptions(config.gatewayTransport),
    workload: config.workload.workloadRef,
    contextToken: JSON.stringify({ ns: config.workload.namespace }),
    limits: config.streams,
    ...overrides,
  });
}
