/*
 * The outbound listener of explicit mode: an HTTP proxy by authority
 * (absolute-form requests, Host, CONNECT, so HTTP_PROXY works; HTTP/2 with
 * prior knowledge on the same port) and local TCP ports mapped to service
 * ports. Each request goes authority → OutboundPolicy (and the service's
 * profile) → route rule → backend → Destination endpoints → P2C pick → the
 * endpoint: mesh TLS to its proxy when it has an identity, plain otherwise.
 */
import { Agent, createServer as createHttpServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import { connect as http2Connect, performServerHandshake, type ClientHttp2Session, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { destination, httpRoute, outbound } from '@meshbus/proxy-api';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { errorResponse, isGrpcRequest, type ProxyResponse } from '../inbound/index.js';
import type { AccessLog, OutboundLabels, ProxyMetrics, RequestRecorder, TlsStatus } from '../metrics/index.js';
import {
  chooseBackend,
  compileProfile,
  decideRetry,
  defaultLoad,
  defaultRetryBudget,
  endpointKey,
  isFailure,
  parseRetryAfter,
  profileInUse,
  profileRetryPolicy,
  profileRoute,
  RetryBudget,
  P2cBalancer,
  protocolConfig,
  routeOpaque,
  routeRequest,
  ServiceUnavailableError,
  toFailureAccrual,
  type BackendTarget,
  type CompiledProfile,
  type Distribution,
  type Endpoint,
  type Lease,
  type Timers,
  type ProfileRoute,
  type RetryBudgetConfig,
} from '../outbound/index.js';
import { applyGrpcFilters, applyHttpFilters, modifyHeaders, toHeaderMap, toNodeHeaders, type GrpcFilter, type HttpFilter } from '../routes/filters.js';
import type { PortMapping as ControlPortMapping } from '../control/index.js';
import type { TapHeaderValues, TapRecorder } from '../tap/index.js';
import { connectTunnel, TunnelError, type MeshTls, type TunnelTarget } from '../tls/index.js';
import { policyRouteName, type RequestTracer, type SpanEnd } from '../tracing/index.js';
import { ReplayableBody } from './body-buffer.js';
import { ConnectionTracker } from './connection-tracker.js';
import type { Discovery } from './discovery.js';
import { grpcStatusOf, http1Downstream, http1Exchange, http2Downstream, http2Exchange, type Downstream, type HeaderValues, type UpstreamEvents, type UpstreamExchange, type UpstreamResponse } from './exchange.js';
import { authorityPort, forwardableHeaders, http2RequestHeaders, meshOnlyHeaders, origProtoHeader, requestFacts, targetPortHeader, upgradeRequestHeaders } from './http-headers.js';
import { Http2Sessions } from './http2-sessions.js';
import { closeWhenEnded, pipeConnection, type PipedConnection } from './inbound-proxy.js';
import { sniff, sniffProtocol } from './sniff.js';
import { answerOnSocket, relayUpgrade, upgradeProtocol } from './upgrade.js';

/** A local port of explicit mode forwarding TCP to a service port (`<svc>.<ns>.svc.<cluster-domain>:<port>`). */
export type PortMapping = Pick<ControlPortMapping, 'localPort' | 'authority'>;

/** Options of {@link OutboundProxy}. */
export interface OutboundProxyOptions {
  readonly tls: MeshTls;
  readonly discovery: Discovery;
  readonly metrics: ProxyMetrics;
  readonly accessLog?: AccessLog | undefined;
  /** Live request records for `meshbus tap`, while a session runs. */
  readonly tap?: TapRecorder | undefined;
  /** Propagates trace context and records a CLIENT span per request. */
  readonly tracer?: RequestTracer | undefined;
  readonly logger: Logger;
  /** Completes `<svc>.<ns>` authorities. @default cluster.local */
  readonly clusterDomain?: string;
  /**
   * The inbound port of other proxies, used for a meshed endpoint when
   * Destination gives none (it gives one only for opaque endpoints).
   * @default 4143
   */
  readonly peerInboundPort?: number;
  /** How long a request waits for the first OutboundPolicy of a new authority. @default 5s */
  readonly policyTimeoutMs?: number;
  /**
   * Transparent mode: opaque TCP to a meshed endpoint goes over mesh TLS to the endpoint's own
   * address (`ip:port`), which the peer's iptables send to its inbound listener, so the peer reads
   * the workload port from the original destination. Otherwise it goes to the peer's inbound port,
   * where it reaches the peer's first workload port. @default false
   */
  readonly opaqueToEndpointAddress?: boolean;
  /**
   * The balancer of a forward backend (one per address in transparent mode) is closed once it has
   * had no request in flight for this long. @default 5 min
   */
  readonly forwardIdleMs?: number;
  /** At most this many forward balancers; beyond, the idle ones least recently used are closed. @default 10000 */
  readonly maxForwardBalancers?: number;
}

/**
 * Transparent and ingress modes: where the connection handed over by
 * {@link OutboundProxy.acceptHttp} was going, and how its requests find their policy.
 */
export interface RedirectedTarget {
  /** The original destination, `ip:port` (`[v6]:port`): the Host of requests that have none. */
  readonly address: string;
  /**
   * The authority one request is accounted under (metrics, retry budget, route hosts) and the
   * policy that routes it. Ingress mode reads the request's headers (and may remove
   * `l5d-dst-override` from them) and `named`, the authority the request gave (its Host or
   * `:authority`; undefined when it gave none); transparent mode answers the same for every request.
   */
  resolve(headers: IncomingHttpHeaders, named: string | undefined): Promise<{ authority: string; policy: outbound.OutboundPolicy }>;
}

/** `web.shop` → `web.shop.svc.cluster.local:80`; a full name or `ip:port` keeps its host. */
export function canonicalAuthority(authority: string, clusterDomain: string, defaultPort = 80): string {
  const a = authority.trim().toLowerCase();
  const port = authorityPort(a, defaultPort);
  const host = /:\d{1,5}$/.test(a) ? a.replace(/:\d{1,5}$/, '') : a;
  const labels = host.split('.');
  const full = labels.length === 2 ? `${host}.svc.${clusterDomain}` : labels.length === 3 && labels[2] === 'svc' ? `${host}.${clusterDomain}` : host;
  return `${full}:${port}`;
}

/** The peer identity Destination gave an endpoint, when it is meshed. */
export function endpointIdentity(endpoint: Endpoint): string | undefined {
  const s = endpoint.tlsIdentity?.strategy;
  return s?.$case === 'dnsLikeIdentity' ? s.dnsLikeIdentity.name : undefined;
}

/**
 * How a request reaches an endpoint: `mesh`, an HTTP/2 stream on mesh TLS to
 * its proxy, when it has an identity; else `h2c` when the workload spoke
 * HTTP/2 or Destination hints that the endpoint takes HTTP/2; else `http1`.
 */
export function endpointTransport(endpoint: Endpoint, version: 'http1' | 'http2'): 'mesh' | 'h2c' | 'http1' {
  if (endpointIdentity(endpoint) !== undefined) return 'mesh';
  return version === 'http2' || endpoint.protocolHint?.protocol?.$case === 'h2' ? 'h2c' : 'http1';
}

function endpointHost(endpoint: Endpoint): string {
  const key = endpoint.key;
  return key.startsWith('[') ? key.slice(1, key.indexOf(']')) : key.slice(0, key.lastIndexOf(':'));
}

/** `http://host:port`, with an IPv6 host in brackets. */
const origin = (host: string, port: number): string => `http://${isIPv6(host) ? `[${host}]` : host}:${port}`;

/** The request an attempt sends to an endpoint. */
interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  /** The authority to send (`:authority`, or `Host` over HTTP/1.1). */
  readonly authority: string;
  /** Forwardable headers (no hop-by-hop, no `host`, no mesh-only headers). */
  readonly headers: HeaderValues;
  /** How the workload sent the request. */
  readonly version: 'http1' | 'http2';
  /** The request asked for trailers (`te: trailers`, as gRPC does). */
  readonly teTrailers: boolean;
}

/** What one attempt came back with. */
type AttemptOutcome =
  | { readonly kind: 'response'; readonly response: UpstreamResponse; readonly grpcStatus: number | undefined; readonly retryAfterMs: number | undefined; readonly recorder: RequestRecorder }
  | { readonly kind: 'failed'; readonly status: 502 | 504; readonly message: string }
  | { readonly kind: 'unavailable'; readonly message: string }
  | { readonly kind: 'aborted' };

/** What the access log reads of a request. */
interface LoggedRequest {
  readonly socket: Socket;
  readonly method: string;
  readonly protocol: string;
  readonly headers: IncomingHttpHeaders;
}

/** Resolves after `ms`. */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The outbound side of one proxy. */
export class OutboundProxy {
  private readonly listener: NetServer;
  private readonly http;
  /** HTTP/2 sessions the workload opened with prior knowledge. */
  private readonly workloadSessions = new Set<ServerHttp2Session>();
  private readonly mappings: NetServer[] = [];
  private readonly balancers = new Map<string, { balancer: P2cBalancer; stop: () => void }>();
  private readonly agents = new Map<string, Agent>();
  private readonly sessions: Http2Sessions;
  /** Tunnels being opened to endpoints behind linked clusters' gateways, by session key. */
  private readonly pendingTunnels = new Map<string, Promise<{ session: ClientHttp2Session; targetPort: number | undefined }>>();
  /** The workload port each open tunnel's gateway announced. */
  private readonly tunnelTargetPorts = new WeakMap<ClientHttp2Session, number>();
  private readonly budgets = new Map<string, { config: RetryBudgetConfig; budget: RetryBudget }>();
  private readonly profiles = new WeakMap<destination.DestinationProfile, CompiledProfile>();
  /** Authorities whose first profile was waited for: later requests take what is there. */
  private readonly profileAsked = new Set<string>();
  private readonly tracker = new ConnectionTracker();
  /** Connections handed over in transparent and ingress modes, with where they were going. */
  private readonly redirected = new WeakMap<Socket, RedirectedTarget>();
  private readonly clusterDomain: string;
  private readonly peerInboundPort: number;
  private readonly policyTimeoutMs: number;
  /** Forward balancers by address, identity and port, with when they were last seen in use. */
  private readonly forwards = new Map<string, { balancer: P2cBalancer; used: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: OutboundProxyOptions) {
    this.clusterDomain = options.clusterDomain ?? 'cluster.local';
    this.peerInboundPort = options.peerInboundPort ?? 4143;
    this.policyTimeoutMs = options.policyTimeoutMs ?? 5_000;
    const idleMs = options.forwardIdleMs ?? 300_000;
    this.sweeper = setInterval(() => this.evictForwards(idleMs, Infinity), Math.max(10, Math.min(idleMs / 2, 60_000)));
    this.sweeper.unref();
    this.sessions = new Http2Sessions(options.logger);
    // Half-open connections as http.Server keeps them: a client that ends its side still gets its answer.
    this.listener = createNetServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.http = createHttpServer((req, res) => void this.handle(req, res));
    this.http.on('connection', (socket: Socket) => this.tracker.add(socket));
    this.http.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.tunnel(req, socket, head));
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.upgrade(req, socket, head));
    this.tracker.watchHttp(this.http);
  }

  /** Binds the HTTP proxy listener (HTTP/1.1, and HTTP/2 with prior knowledge). */
  async listen(host: string, port: number): Promise<void> {
    await listenOn(this.listener, host, port);
  }

  /** Binds one local port per mapping, on `host`. */
  async listenMappings(host: string, mappings: readonly PortMapping[]): Promise<void> {
    for (const m of mappings) {
      const server = createNetServer({ allowHalfOpen: true }, (socket) => {
        this.tracker.add(socket);
        void this.forwardTcp(socket, m.authority);
      });
      await listenOn(server, host, m.localPort);
      this.mappings.push(server);
    }
  }

  get port(): number {
    const address = this.listener.address();
    if (address === null || typeof address === 'string') throw new Error('the outbound listener is not listening');
    return address.port;
  }

  /** Stops accepting, lets requests in flight finish within `graceMs`, closes the rest. */
  async close(graceMs: number): Promise<void> {
    const closed = [this.listener, ...this.mappings].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    // HTTP/2 sessions of the workload: GOAWAY, so that it opens a new connection for its next requests.
    for (const session of this.workloadSessions) session.close();
    await this.tracker.drain(graceMs, () => this.http.closeIdleConnections());
    for (const { balancer, stop } of this.balancers.values()) {
      stop();
      balancer.close();
    }
    clearInterval(this.sweeper);
    for (const { balancer } of this.forwards.values()) balancer.close();
    this.forwards.clear();
    for (const agent of this.agents.values()) agent.destroy();
    this.sessions.close();
    await Promise.all(closed);
  }

  /** A connection of the workload: HTTP/2 when it starts with the HTTP/2 preface, else HTTP/1.1. */
  private accept(socket: Socket): void {
    this.tracker.add(socket);
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'outbound client connection failed'));
    void sniff(socket, sniffProtocol, 10_000, 'http1' as const).then((protocol) => {
      if (protocol === undefined) return;
      if (protocol === 'http2') {
        this.acceptHttp2(socket);
        return;
      }
      this.http.emit('connection', socket);
      socket.resume();
    });
  }

  private acceptHttp2(socket: Socket): void {
    closeWhenEnded(socket);
    const session = performServerHandshake(socket);
    this.workloadSessions.add(session);
    session.on('close', () => this.workloadSessions.delete(session));
    session.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'outbound HTTP/2 session failed'));
    session.on('stream', (stream, headers) => void this.handleStream(stream, headers, socket));
  }

  /**
   * Transparent and ingress modes: an accepted connection whose first bytes are HTTP (`protocol`),
   * going to `target`. Its requests are routed by `target`'s policy, as requests of the HTTP proxy
   * are by their authority's.
   */
  acceptHttp(socket: Socket, target: RedirectedTarget, protocol: 'http1' | 'http2' = 'http1'): void {
    this.redirected.set(socket, target);
    if (protocol === 'http2') {
      this.tracker.add(socket);
      this.acceptHttp2(socket);
      return;
    }
    this.http.emit('connection', socket);
    socket.resume();
  }

  /** Transparent and ingress modes: a connection that was not redirected, made to the outbound port itself, is served as by the HTTP proxy of explicit mode. */
  acceptDirect(socket: Socket): void {
    this.accept(socket);
  }

  /** Transparent and ingress modes: an accepted connection carried as opaque TCP by `policy` (the policy of `authority`, its original destination). */
  acceptOpaque(socket: Socket, authority: string, policy: outbound.OutboundPolicy): void {
    this.tracker.add(socket);
    socket.pause();
    socket.on('error', (error) => this.options.logger.debug({ authority, err: errorMessage(error) }, 'redirected client connection failed'));
    const trace = this.options.tracer?.startConnection('outbound', 'tcp', 'TCP');
    void this.openTcp(authority, policy).then(
      (upstream) => pipeConnection(socket, upstream.socket, this.options.metrics, upstream.labels, (c) => trace?.end(connectionEnd(authority, upstream.labels, c))),
      (error: unknown) => {
        this.options.logger.warn({ authority, err: errorMessage(error) }, 'outbound connection failed');
        trace?.end({ authority, error: errorMessage(error) });
        socket.destroy();
      },
    );
  }

  private balancer(target: Extract<BackendTarget, { kind: 'balancer' }>, failureAccrual: outbound.FailureAccrual | undefined): P2cBalancer {
    let entry = this.balancers.get(target.path);
    if (!entry) {
      const balancer = new P2cBalancer({
        load: target.load,
        queue: target.queue,
        failureAccrual: toFailureAccrual(failureAccrual),
        timers: balancerTimers,
      });
      const stop = this.options.discovery.endpoints(target.path, (update: destination.Update) => balancer.apply(update));
      entry = { balancer, stop };
      this.balancers.set(target.path, entry);
    }
    return entry.balancer;
  }

  /**
   * The balancer of a forward backend: its one address, as Destination would give it (with the
   * TLS identity and protocol hint the control plane put on it), so that requests to it take the
   * same way as to a discovered endpoint: mesh TLS to its proxy when it has an identity, plain
   * otherwise.
   */
  private forwardBalancer(target: Extract<BackendTarget, { kind: 'forward' }>): P2cBalancer {
    const identity = target.endpoint.tlsIdentity?.strategy?.$case === 'dnsLikeIdentity' ? target.endpoint.tlsIdentity.strategy.dnsLikeIdentity.name : '';
    const key = `forward ${endpointKey(target.endpoint.addr ?? { port: 0 })} ${identity} ${target.endpoint.protocolHint?.opaqueTransport?.inboundPort ?? ''}`;
    let entry = this.forwards.get(key);
    if (entry) {
      // Most recently used last, for the size cap.
      this.forwards.delete(key);
    } else {
      const balancer = new P2cBalancer({
        load: defaultLoad,
        queue: target.queue,
        timers: balancerTimers,
      });
      balancer.apply({ update: { $case: 'add', add: { addrs: [target.endpoint], metricLabels: {} } } });
      entry = { balancer, used: 0 };
    }
    entry.used = performance.now();
    this.forwards.set(key, entry);
    this.evictForwards(this.options.forwardIdleMs ?? 300_000, this.options.maxForwardBalancers ?? 10_000);
    return entry.balancer;
  }

  /** How many forward balancers are open (transparent mode keeps one per address in use). */
  get forwardBalancers(): number {
    return this.forwards.size;
  }

  /**
   * Closes the forward balancers idle for `idleMs`, and the least recently used idle ones beyond
   * `max`. One with a request in flight (or waiting) counts as used now and is never closed.
   */
  private evictForwards(idleMs: number, max: number): void {
    const now = performance.now();
    let over = this.forwards.size - max;
    for (const [key, entry] of this.forwards) {
      if (entry.balancer.inFlight() > 0 || entry.balancer.queued() > 0) {
        entry.used = now;
        continue;
      }
      if (over > 0 || now - entry.used >= idleMs) {
        entry.balancer.close();
        this.forwards.delete(key);
        over--;
      }
    }
  }

  /** The balancer of a backend target that is not invalid. */
  private backendBalancer(target: Exclude<BackendTarget, { kind: 'invalid' }>, failureAccrual: outbound.FailureAccrual | undefined): P2cBalancer {
    return target.kind === 'forward' ? this.forwardBalancer(target) : this.balancer(target, failureAccrual);
  }

  /** Where opaque mesh TLS to a meshed endpoint goes (see {@link OutboundProxyOptions.opaqueToEndpointAddress}). */
  private opaqueMeshPort(endpoint: Endpoint): number {
    if (this.options.opaqueToEndpointAddress) return endpoint.addr.port;
    return endpoint.protocolHint?.opaqueTransport?.inboundPort ?? this.peerInboundPort;
  }

  /** The keep-alive pool of an endpoint without identity: plain HTTP/1.1 to the workload. */
  private agent(endpoint: Endpoint): { agent: Agent; host: string; port: number } {
    const host = endpointHost(endpoint);
    const port = endpoint.addr.port;
    const key = `${host}:${port}`;
    let agent = this.agents.get(key);
    if (!agent) {
      // With a timeout, Node closes an idle connection 1 s before the server's Keep-Alive: timeout=N, so no request goes out on one the server is closing.
      agent = new Agent({ keepAlive: true, timeout: 60_000 });
      this.agents.set(key, agent);
    }
    return { agent, host, port };
  }

  /** The service's profile, when it is a service of the cluster; the first request of an authority waits for it. */
  private async profile(authority: string): Promise<CompiledProfile | undefined> {
    const discovery = this.options.discovery;
    if (discovery.profile === undefined || !authority.replace(/:\d+$/, '').endsWith(`.svc.${this.clusterDomain}`)) return undefined;
    const first = !this.profileAsked.has(authority);
    this.profileAsked.add(authority);
    const profile = await discovery.profile(authority, first ? this.policyTimeoutMs : 0).catch(() => undefined);
    if (profile === undefined) return undefined;
    let compiled = this.profiles.get(profile);
    if (!compiled) {
      compiled = compileProfile(profile);
      if (compiled.problems.length > 0) this.options.logger.warn({ authority, problems: compiled.problems }, 'parts of the service profile are not used');
      this.profiles.set(profile, compiled);
    }
    return compiled;
  }

  /** The plan of one request; a redirected connection's target decides its authority and policy. */
  private async route(authority: string, method: string, target: string, headers: IncomingHttpHeaders, version: 'http1' | 'http2', redirected?: RedirectedTarget, named?: string) {
    const [resolved, profile] = redirected
      ? await redirected.resolve(headers, named).then(async (r) => [r, await this.profile(r.authority)] as const)
      : await Promise.all([this.options.discovery.outboundPolicy(authority, this.policyTimeoutMs).then((policy) => ({ authority, policy })), this.profile(authority)]);
    const config = protocolConfig(resolved.policy, version);
    return { plan: routeRequest(config, requestFacts(method, target, headers, resolved.authority)), config, profile, authority: resolved.authority };
  }

  /** An HTTP/1.1 request: absolute form (`GET http://web.shop/`) or origin form with `Host`. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const down = http1Downstream(req, res);
    const redirected = this.redirected.get(req.socket);
    let url: URL;
    try {
      url = new URL(req.url ?? '', req.url?.startsWith('/') ? `http://${req.headers.host ?? redirected?.address ?? 'invalid'}` : undefined);
    } catch {
      down.answer(errorResponse({ httpStatus: 400, grpcStatus: 3, message: `the request target ${JSON.stringify(req.url)} is neither absolute nor has a Host`, grpc: isGrpcRequest(req.headers) }));
      return;
    }
    await this.forward(down, url, redirected);
  }

  /** An HTTP/2 stream of the workload: `:authority` names the service. */
  private async handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader, socket: Socket): Promise<void> {
    const down = http2Downstream(stream, headers, socket);
    const redirected = this.redirected.get(socket);
    let url: URL;
    try {
      const authority = down.authority === undefined || down.authority === '' ? redirected?.address : down.authority;
      if (authority === undefined) throw new Error('no authority');
      url = new URL(down.target, `http://${authority}`);
    } catch {
      down.answer(errorResponse({ httpStatus: 400, grpcStatus: 3, message: `the request names no service (:authority ${JSON.stringify(down.authority ?? '')})`, grpc: isGrpcRequest(down.headers) }));
      return;
    }
    await this.forward(down, url, redirected);
  }

  /** Routes one request and carries it out, with retries, whatever the protocol the workload spoke. */
  private async forward(down: Downstream, url: URL, redirected?: RedirectedTarget): Promise<void> {
    const started = Date.now();
    const grpc = isGrpcRequest(down.headers);
    let authority = canonicalAuthority(url.host, this.clusterDomain);
    const path = `${url.pathname}${url.search}`;
    const trace = this.options.tracer?.start('outbound', down.method, down.headers);
    const spanFacts: { route?: string; peerIdentity?: string; targetAddr?: string } = {};
    const answer = (response: ProxyResponse): void => {
      down.answer(response);
      this.log(down, authority, path, response.status, 0, started, spanFacts.peerIdentity, response.headers);
      trace?.end({ status: response.status, authority, ...spanFacts, ...(response.status >= 500 ? { error: response.headers['l5d-proxy-error'] ?? String(response.status) } : {}) });
    };
    const fail = (httpStatus: number, grpcStatus: number, message: string): void => answer(errorResponse({ httpStatus, grpcStatus, message, grpc }));
    let routed;
    try {
      routed = await this.route(authority, down.method, path, down.headers, down.version, redirected, down.authority);
      authority = routed.authority;
    } catch (error) {
      fail(503, 14, `no outbound policy for ${redirected?.address ?? authority}: ${errorMessage(error)}`);
      return;
    }
    const { plan, config, profile } = routed;
    if (plan.kind === 'noRoute') {
      fail(plan.status, plan.grpcStatus, plan.message);
      return;
    }
    if (plan.route) spanFacts.route = policyRouteName(plan.route);
    const backend = chooseBackend(plan.distribution as Distribution<unknown>, Math.random);
    if ('kind' in backend && backend.kind === 'noBackend') {
      fail(500, 13, backend.reason);
      return;
    }
    const chosen = backend as Exclude<typeof backend, { kind: 'noBackend' }>;
    if (chosen.target.kind === 'invalid') {
      fail(500, 13, chosen.target.reason);
      return;
    }
    const balancer = this.backendBalancer(chosen.target, 'failureAccrual' in config ? config.failureAccrual : undefined);
    let headers = forwardableHeaders(down.headers);
    for (const name of meshOnlyHeaders) delete headers[name];
    let target = { path, host: url.host };
    let responseModifiers: readonly httpRoute.ResponseHeaderModifier[] = [];
    if (plan.kind === 'http') {
      const filtered = this.filter([...(plan.filters as readonly HttpFilter[]), ...(chosen.filters as readonly HttpFilter[])], url, headers, plan.matchedPrefix);
      if (filtered.kind === 'answer') {
        answer(filtered.response);
        return;
      }
      ({ headers, target, responseModifiers } = filtered);
    } else {
      const filtered = applyGrpcFilters([...(plan.filters as readonly GrpcFilter[]), ...(chosen.filters as readonly GrpcFilter[])], toHeaderMap(headers), Math.random);
      if (filtered.kind === 'fail') {
        fail(500, filtered.failure.code, filtered.failure.message);
        return;
      }
      headers = toNodeHeaders(filtered.headers);
    }
    delete headers['host'];
    if (trace) headers = trace.forward(headers);

    // A service with a ServiceProfile and no routes of its own: the profile's route decides retries, timeout and classification.
    const usesProfile = profileInUse(profile, config);
    const profiled: ProfileRoute | undefined = usesProfile ? profileRoute(profile!, { method: down.method, path: url.pathname }) : undefined;
    const retry = usesProfile ? (profiled ? profileRetryPolicy(profiled, grpc) : undefined) : plan.retry;
    const requestMs = usesProfile ? profiled?.timeoutMs : plan.timeouts.requestMs;
    const attemptMs = usesProfile ? undefined : plan.timeouts.attemptMs;
    const failure = (status: number | undefined, grpcStatus: number | undefined): boolean => (usesProfile ? isFailure(profiled, { status, grpcStatus }) : status === undefined || status >= 500);
    const budget = retry ? this.retryBudget(authority, profile?.fromServiceProfile ? profile.retryBudget : defaultRetryBudget) : undefined;
    budget?.deposit();
    const lengthText = down.headers['content-length'];
    const body = retry ? new ReplayableBody(down.body, { limit: retry.maxRequestBytes, declaredLength: lengthText !== undefined && /^\d+$/.test(lengthText) ? Number(lengthText) : undefined }) : undefined;
    const request: UpstreamRequest = {
      method: down.method,
      path: target.path,
      authority: target.host,
      headers,
      version: down.version,
      teTrailers: String(down.headers['te'] ?? '')
        .split(',')
        .some((t) => t.trim().toLowerCase() === 'trailers'),
    };
    const deadline = requestMs !== undefined && requestMs > 0 ? Date.now() + requestMs : undefined;
    let current: UpstreamExchange | undefined;
    let aborted = false;
    down.onAbort(() => {
      aborted = true;
      current?.abort();
    });
    // The client may have gone while the policy was on its way.
    if (down.closed) aborted = true;

    const attempt = async (): Promise<AttemptOutcome> => {
      let lease: Lease;
      try {
        lease = await balancer.acquire();
      } catch (error) {
        return { kind: 'unavailable', message: `${authority}: ${error instanceof ServiceUnavailableError ? error.message : errorMessage(error)}` };
      }
      if (aborted) {
        lease.release({ latencyMs: 0, failure: false });
        return { kind: 'aborted' };
      }
      const attemptStarted = Date.now();
      const endpoint = lease.endpoint;
      const identity = endpointIdentity(endpoint);
      const tls: TlsStatus = identity !== undefined ? { established: true, peerIdentity: identity } : { established: false, reason: 'not_provided_by_service_discovery' };
      const labels: OutboundLabels = {
        direction: 'outbound',
        targetAddr: endpoint.key,
        tls,
        authority,
        dst: endpoint.labels,
        ...(plan.route ? { route: plan.route } : {}),
        ...(profiled ? { profileRoute: profiled.name } : {}),
      };
      const recorder = this.options.metrics.startRequest(labels);
      spanFacts.targetAddr = endpoint.key;
      if (identity !== undefined) spanFacts.peerIdentity = identity;
      return new Promise<AttemptOutcome>((resolve) => {
        let timedOut = false;
        let settled = false;
        let timer: NodeJS.Timeout | undefined;
        const limits = [attemptMs, deadline === undefined ? undefined : Math.max(0, deadline - Date.now())].filter((x): x is number => x !== undefined && x >= 0);
        const limit = limits.length > 0 ? Math.min(...limits) : undefined;
        const exchange = this.exchange(endpoint, request, {
          response: (response) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            const grpcStatus = grpc ? grpcStatusOf(response.headers) : undefined;
            const retryAfterText = response.headers['retry-after'];
            const retryAfterMs = parseRetryAfter(Array.isArray(retryAfterText) ? retryAfterText[0] : retryAfterText, Date.now());
            recorder.respond(response.status, grpcStatus);
            lease.release({ latencyMs: Date.now() - attemptStarted, failure: failure(response.status, grpcStatus), overloaded: response.status === 429 || response.status === 503, retryAfterMs });
            resolve({ kind: 'response', response, grpcStatus, retryAfterMs, recorder });
          },
          error: (error) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            lease.release({ latencyMs: Date.now() - attemptStarted, failure: true });
            recorder.end(timedOut ? 'timeout' : 'unavailable');
            if (!aborted) this.options.logger.warn({ authority, endpoint: endpoint.key, err: errorMessage(error) }, 'outbound request failed');
            resolve(aborted ? { kind: 'aborted' } : { kind: 'failed', status: timedOut ? 504 : 502, message: `${authority} (${endpoint.key}): ${errorMessage(error)}` });
          },
        });
        if (limit !== undefined)
          timer = setTimeout(() => {
            timedOut = true;
            exchange.abort(new Error(`no response within ${limit} ms`));
          }, limit);
        current = exchange;
        if (body) body.sendTo(exchange.body);
        else down.body.pipe(exchange.body);
      });
    };

    for (let retries = 0; ; retries++) {
      const outcome = await attempt();
      if (outcome.kind === 'aborted') {
        trace?.end({ authority, ...spanFacts, error: 'the client went away' });
        return;
      }
      if (outcome.kind === 'unavailable') {
        fail(503, 14, outcome.message);
        return;
      }
      const result = outcome.kind === 'response' ? { status: outcome.response.status, grpcStatus: outcome.grpcStatus, retryAfterMs: outcome.retryAfterMs } : { status: undefined };
      const decision = retry && !aborted ? decideRetry({ policy: retry, result, retriesSoFar: retries, requestBytes: body?.replayableLength, budget, random: Math.random() }) : undefined;
      if (decision?.retry && (deadline === undefined || Date.now() + decision.delayMs < deadline)) {
        if (outcome.kind === 'response') {
          outcome.response.body.resume();
          outcome.recorder.end(undefined, usesProfile ? failure(result.status, result.grpcStatus) : undefined);
        }
        this.options.logger.debug({ authority, status: result.status, grpcStatus: result.grpcStatus, retry: retries + 1, delayMs: decision.delayMs }, 'retrying');
        await sleep(decision.delayMs);
        if (aborted) {
          trace?.end({ authority, ...spanFacts, error: 'the client went away' });
          return;
        }
        continue;
      }
      if (decision && !decision.retry && decision.reason !== 'success' && decision.reason !== 'notRetryable') this.options.logger.debug({ authority, reason: decision.reason }, 'not retried');
      if (outcome.kind === 'failed') {
        const timedOut = outcome.status === 504 || (deadline !== undefined && Date.now() >= deadline);
        fail(timedOut ? 504 : 502, timedOut ? 4 : 14, outcome.message);
        return;
      }
      const { response, recorder } = outcome;
      down.relay(response, withResponseModifiers(response.headers, responseModifiers), (end) => {
        if (end.grpcStatus !== undefined) recorder.trailers(end.grpcStatus);
        recorder.end(end.broken ? 'reset' : undefined, usesProfile ? failure(response.status, end.grpcStatus) : undefined);
        this.log(down, authority, path, response.status, end.bytes, started, spanFacts.peerIdentity, response.headers, end.grpcStatus);
        trace?.end({ status: response.status, grpcStatus: end.grpcStatus, authority, ...spanFacts, ...(end.broken ? { error: 'the response broke off' } : {}) });
      });
      return;
    }
  }

  /** Runs a rule's and its backend's filters: the request to send, or the answer to give at once (redirect, injected failure). */
  private filter(
    filters: readonly HttpFilter[],
    url: URL,
    headers: Record<string, string | string[]>,
    matchedPrefix: string | undefined,
  ): { kind: 'answer'; response: ProxyResponse } | { kind: 'forward'; headers: Record<string, string | string[]>; target: { path: string; host: string }; responseModifiers: readonly httpRoute.ResponseHeaderModifier[] } {
    if (filters.length === 0) return { kind: 'forward', headers, target: { path: `${url.pathname}${url.search}`, host: url.host }, responseModifiers: [] };
    const requestUrl = { scheme: url.protocol.replace(/:$/, ''), host: url.hostname, port: url.port === '' ? undefined : Number(url.port), path: url.pathname, query: url.search.replace(/^\?/, '') };
    let outcome;
    try {
      outcome = applyHttpFilters(filters, { url: requestUrl, headers: toHeaderMap(headers) }, Math.random, matchedPrefix);
    } catch (error) {
      return { kind: 'answer', response: errorResponse({ httpStatus: 500, grpcStatus: 13, message: errorMessage(error), grpc: false }) };
    }
    if (outcome.kind === 'redirect') return { kind: 'answer', response: { status: outcome.redirect.status, headers: { location: outcome.redirect.location }, body: '' } };
    if (outcome.kind === 'fail') return { kind: 'answer', response: errorResponse({ httpStatus: outcome.failure.status, grpcStatus: 13, message: outcome.failure.message, grpc: false }) };
    const { url: next } = outcome.request;
    const host = next.port === undefined ? next.host : `${next.host}:${next.port}`;
    return { kind: 'forward', headers: toNodeHeaders(outcome.request.headers), target: { path: next.query === '' ? next.path : `${next.path}?${next.query}`, host }, responseModifiers: outcome.responseModifiers };
  }

  /** The retry budget of an authority: its ServiceProfile's, else Linkerd's default budget. */
  private retryBudget(authority: string, config: RetryBudgetConfig): RetryBudget {
    const entry = this.budgets.get(authority);
    if (entry && entry.config.retryRatio === config.retryRatio && entry.config.minRetriesPerSecond === config.minRetriesPerSecond && entry.config.ttlMs === config.ttlMs) return entry.budget;
    const budget = new RetryBudget(config, () => performance.now());
    this.budgets.set(authority, { config, budget });
    return budget;
  }

  /**
   * Sends one request to an endpoint. A meshed endpoint gets an HTTP/2
   * stream on the mesh TLS session to its proxy (an HTTP/1.1 request is
   * marked with `l5d-orig-proto`, so that the proxy restores it). An
   * endpoint outside the mesh gets HTTP/2 without TLS (h2c) when the
   * workload spoke HTTP/2 or Destination hints that it takes HTTP/2, else
   * plain HTTP/1.1.
   */
  private exchange(endpoint: Endpoint, request: UpstreamRequest, on: UpstreamEvents): UpstreamExchange {
    const identity = endpointIdentity(endpoint);
    const host = endpointHost(endpoint);
    const port = endpoint.addr.port;
    if (endpointTransport(endpoint, request.version) === 'http1') {
      const { agent } = this.agent(endpoint);
      const upstream = httpRequest({ host, port, method: request.method, path: request.path, headers: { ...request.headers, host: request.authority }, agent });
      return http1Exchange(upstream, on);
    }
    // Behind a linked cluster's gateway the service has its name in that cluster (authority_override).
    const authority = endpoint.gateway?.authority ?? request.authority;
    const headers: OutgoingHttpHeaders = { ...http2RequestHeaders(request.headers), ':method': request.method, ':path': request.path, ':authority': authority, ':scheme': 'http' };
    if (request.teTrailers) headers['te'] = 'trailers';
    if (identity !== undefined) {
      headers[targetPortHeader] = String(endpoint.gateway ? authorityPort(endpoint.gateway.authority, port) : port);
      if (request.version === 'http1') headers[origProtoHeader] = 'HTTP/1.1';
    }
    if (identity !== undefined && endpoint.gateway) return this.tunnelExchange(endpoint, identity, headers, on);
    try {
      const session = identity !== undefined ? this.session(endpoint, identity) : this.sessions.get(`h2c ${host}:${port}`, () => http2Connect(origin(host, port)));
      return http2Exchange(session.request(headers), on);
    } catch (error) {
      const failed = new PassThrough();
      queueMicrotask(() => on.error(error as Error));
      return { body: failed, abort: () => failed.destroy() };
    }
  }

  /**
   * A request to an endpoint behind a linked cluster's gateway: an HTTP/2 stream on the session
   * inside the tunnel, which is opened on first use (the request body waits meanwhile) and shared.
   */
  private tunnelExchange(endpoint: Endpoint, identity: string, headers: OutgoingHttpHeaders, on: UpstreamEvents): UpstreamExchange {
    const body = new PassThrough();
    let aborted: Error | undefined;
    let started: UpstreamExchange | undefined;
    this.tunnelSession(endpoint, identity).then(
      ({ session, targetPort }) => {
        if (aborted !== undefined) return;
        try {
          // The gateway chose the workload: its port, not the service's, is the destination port.
          if (targetPort !== undefined) headers[targetPortHeader] = String(targetPort);
          started = http2Exchange(session.request(headers), on);
          body.pipe(started.body);
        } catch (error) {
          on.error(error as Error);
        }
      },
      (error: unknown) => {
        if (aborted === undefined) on.error(error as Error);
      },
    );
    return {
      body,
      abort: (error?: Error) => {
        aborted = error ?? new Error('aborted');
        if (started) started.abort(error);
        else body.destroy();
      },
    };
  }

  /** The HTTP/2 session inside the tunnel to an endpoint behind a gateway; one tunnel is opened at a time per endpoint. */
  private tunnelSession(endpoint: Endpoint, identity: string): Promise<{ session: ClientHttp2Session; targetPort: number | undefined }> {
    const gateway = endpoint.gateway!;
    const key = `tunnel ${gateway.identity} ${endpoint.key} ${gateway.authority} ${identity}`;
    const open = this.sessions.current(key);
    if (open) return Promise.resolve({ session: open, targetPort: this.tunnelTargetPorts.get(open) });
    let pending = this.pendingTunnels.get(key);
    if (!pending) {
      let targetPort: number | undefined;
      pending = this.meshConnect(endpoint, identity, endpoint.addr.port, ['h2'], false, (opened) => (targetPort = opened.targetPort)).then((socket) => {
        const session = this.sessions.get(key, () => http2Connect(origin(endpointHost(endpoint), endpoint.addr.port), { createConnection: () => socket }));
        if (targetPort !== undefined) this.tunnelTargetPorts.set(session, targetPort);
        return { session, targetPort: this.tunnelTargetPorts.get(session) };
      });
      const forget = (): void => {
        this.pendingTunnels.delete(key);
      };
      pending.then(forget, forget);
      this.pendingTunnels.set(key, pending);
    }
    return pending;
  }

  /**
   * Mesh TLS to a meshed endpoint's proxy at `port`, or, for an endpoint behind a linked cluster's
   * gateway, the inner mesh TLS through a tunnel to the gateway at the endpoint's address.
   */
  private async meshConnect(endpoint: Endpoint, identity: string, port: number, alpn: readonly string[], allowHalfOpen: boolean, onTunnelOpen?: TunnelTarget['onOpen']): Promise<TLSSocket> {
    const host = endpointHost(endpoint);
    const gateway = endpoint.gateway;
    if (!gateway) return this.options.tls.connect({ host, port, serverIdentity: identity, alpn, allowHalfOpen });
    try {
      const socket = await connectTunnel(this.options.tls, {
        host,
        port: endpoint.addr.port,
        gatewayIdentity: gateway.identity,
        authority: gateway.authority,
        serverIdentity: identity,
        acceptedIdentities: gateway.identities,
        alpn,
        allowHalfOpen,
        ...(onTunnelOpen ? { onOpen: onTunnelOpen } : {}),
      });
      this.options.metrics.tunnelConnect(gateway.cluster, 'ok');
      return socket;
    } catch (error) {
      this.options.metrics.tunnelConnect(gateway.cluster, error instanceof TunnelError && error.code === 'Refused' ? 'refused' : 'error');
      this.options.logger.debug({ gateway: `${host}:${endpoint.addr.port}`, cluster: gateway.cluster, authority: gateway.authority, err: errorMessage(error) }, 'multicluster tunnel failed');
      throw error;
    }
  }

  /** The HTTP/2 session to a meshed endpoint's proxy, opened on first use and shared by its requests. */
  private session(endpoint: Endpoint, identity: string) {
    const host = endpointHost(endpoint);
    const port = endpoint.protocolHint?.opaqueTransport?.inboundPort ?? this.peerInboundPort;
    const tls = this.options.tls;
    return this.sessions.get(`${identity} ${host}:${port}`, () =>
      http2Connect(origin(host, port), { createConnection: () => tlsConnect({ ...tls.clientOptions({ serverIdentity: identity, alpn: ['h2'] }), host, port }) }),
    );
  }

  /**
   * An HTTP/1.1 upgrade (a WebSocket handshake): routed like a request, then
   * sent on a connection of its own, since HTTP/2 cannot carry it: mesh TLS
   * with ALPN `http/1.1` to a meshed endpoint's proxy, plain TCP to one
   * outside the mesh. After a 101 the connections are joined.
   */
  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = Date.now();
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'upgrade client connection failed'));
    const logged: LoggedRequest = { socket, method: req.method ?? 'GET', protocol: `HTTP/${req.httpVersion}`, headers: req.headers };
    const redirected = this.redirected.get(socket);
    let url: URL;
    try {
      url = new URL(req.url ?? '', req.url?.startsWith('/') ? `http://${req.headers.host ?? redirected?.address ?? 'invalid'}` : undefined);
    } catch {
      answerOnSocket(socket, errorResponse({ httpStatus: 400, grpcStatus: 3, message: `the request target ${JSON.stringify(req.url)} is neither absolute nor has a Host`, grpc: false }));
      return;
    }
    let authority = canonicalAuthority(url.host, this.clusterDomain);
    const path = `${url.pathname}${url.search}`;
    // One span for the handshake and the upgraded connection after it.
    const trace = this.options.tracer?.startConnection('outbound', 'upgrade', logged.method, req.headers);
    const spanFacts: { route?: string; peerIdentity?: string; targetAddr?: string; protocol?: string } = upgradeProtocol(req.headers);
    const answer = (response: ProxyResponse): void => {
      answerOnSocket(socket, response);
      this.log(logged, authority, path, response.status, 0, started, undefined, response.headers);
      trace?.end({ status: response.status, authority, ...spanFacts, ...(response.status >= 500 ? { error: response.headers['l5d-proxy-error'] ?? String(response.status) } : {}) });
    };
    const fail = (status: number, message: string): void => answer(errorResponse({ httpStatus: status, grpcStatus: 2, message, grpc: false }));
    let routed;
    try {
      routed = await this.route(authority, logged.method, path, req.headers, 'http1', redirected, req.headers.host);
      authority = routed.authority;
    } catch (error) {
      fail(503, `no outbound policy for ${redirected?.address ?? authority}: ${errorMessage(error)}`);
      return;
    }
    const { plan, config } = routed;
    if (plan.kind === 'noRoute') {
      fail(plan.status, plan.message);
      return;
    }
    if (plan.route) spanFacts.route = policyRouteName(plan.route);
    const backend = chooseBackend(plan.distribution as Distribution<unknown>, Math.random);
    if ('kind' in backend && backend.kind === 'noBackend') {
      fail(500, backend.reason);
      return;
    }
    const chosen = backend as Exclude<typeof backend, { kind: 'noBackend' }>;
    if (chosen.target.kind === 'invalid') {
      fail(500, chosen.target.reason);
      return;
    }
    let headers = forwardableHeaders(req.headers);
    for (const name of meshOnlyHeaders) delete headers[name];
    let target = { path, host: url.host };
    if (plan.kind === 'http') {
      const filtered = this.filter([...(plan.filters as readonly HttpFilter[]), ...(chosen.filters as readonly HttpFilter[])], url, headers, plan.matchedPrefix);
      if (filtered.kind === 'answer') {
        answer(filtered.response);
        return;
      }
      ({ headers, target } = filtered);
    }
    let lease: Lease;
    try {
      lease = await this.backendBalancer(chosen.target, 'failureAccrual' in config ? config.failureAccrual : undefined).acquire();
    } catch (error) {
      fail(503, `${authority}: ${errorMessage(error)}`);
      return;
    }
    const endpoint = lease.endpoint;
    const identity = endpointIdentity(endpoint);
    const host = endpointHost(endpoint);
    const tls: TlsStatus = identity !== undefined ? { established: true, peerIdentity: identity } : { established: false, reason: 'not_provided_by_service_discovery' };
    const labels: OutboundLabels = { direction: 'outbound', targetAddr: endpoint.key, tls, authority, dst: endpoint.labels, ...(plan.route ? { route: plan.route } : {}) };
    spanFacts.targetAddr = endpoint.key;
    if (identity !== undefined) spanFacts.peerIdentity = identity;
    const recorder = this.options.metrics.startRequest(labels);
    const sent = { ...upgradeRequestHeaders(req.headers, headers), host: target.host };
    const upstreamHeaders = trace ? trace.forward(sent) : sent;
    let request: ClientRequest;
    try {
      if (identity !== undefined) {
        const meshSocket = await this.meshConnect(endpoint, identity, endpoint.protocolHint?.opaqueTransport?.inboundPort ?? this.peerInboundPort, ['http/1.1'], false);
        const targetPort = endpoint.gateway ? authorityPort(endpoint.gateway.authority, endpoint.addr.port) : endpoint.addr.port;
        request = httpRequest({ createConnection: () => meshSocket, method: logged.method, path: target.path, headers: { ...upstreamHeaders, [targetPortHeader]: String(targetPort) } });
      } else request = httpRequest({ host, port: endpoint.addr.port, method: logged.method, path: target.path, headers: upstreamHeaders, agent: false });
    } catch (error) {
      lease.release({ latencyMs: Date.now() - started, failure: true });
      recorder.end('unavailable');
      fail(502, `${authority} (${endpoint.key}): ${errorMessage(error)}`);
      return;
    }
    relayUpgrade(request, socket, head, {
      upgraded: (status, upstream, carried) => {
        recorder.respond(status);
        pipeConnection(socket, upstream, this.options.metrics, labels, (c) =>
          trace?.end({ status, authority, ...spanFacts, bytesRead: carried.read + c.bytesRead, bytesWritten: carried.written + c.bytesWritten, ...(c.error !== undefined ? { error: c.error } : {}) }),
        );
        upstream.once('close', () => {
          recorder.end();
          lease.release({ latencyMs: Date.now() - started, failure: false });
        });
        this.log(logged, authority, path, status, 0, started, identity);
      },
      answered: (status) => {
        recorder.respond(status);
        recorder.end();
        lease.release({ latencyMs: Date.now() - started, failure: status >= 500 });
        this.log(logged, authority, path, status, 0, started, identity);
        trace?.end({ status, authority, ...spanFacts });
      },
      failed: (error) => {
        recorder.end('unavailable');
        lease.release({ latencyMs: Date.now() - started, failure: true });
        fail(502, `${authority} (${endpoint.key}): ${errorMessage(error)}`);
      },
    });
  }

  /**
   * The end of one request: its access log line and, while a session runs,
   * its tap record. `peerIdentity` is the endpoint's, when the request went to it over mesh TLS.
   */
  private log(
    req: LoggedRequest,
    authority: string,
    path: string,
    status: number,
    bytes: number,
    started: number,
    peerIdentity?: string,
    responseHeaders?: TapHeaderValues,
    grpcStatus?: number,
  ): void {
    const tap = this.options.tap;
    if (tap !== undefined && tap.tapping) {
      tap.record({
        direction: 'outbound',
        method: req.method,
        authority,
        path,
        startedAtMs: started,
        status,
        grpcStatus,
        latencyMs: Date.now() - started,
        tls: peerIdentity !== undefined,
        peerIdentity,
        requestHeaders: req.headers,
        responseHeaders,
      });
    }
    this.options.accessLog?.record({
      time: new Date(started),
      direction: 'outbound',
      clientAddr: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
      method: req.method,
      authority,
      path,
      protocol: req.protocol,
      status,
      bytes,
      durationMs: Date.now() - started,
      headers: req.headers,
    });
  }

  /** CONNECT host:port: an opaque tunnel to an endpoint of the authority. */
  private async tunnel(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    this.tracker.add(socket);
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'CONNECT client connection failed'));
    const authority = canonicalAuthority(req.url ?? '', this.clusterDomain, 443);
    // The CONNECT's own headers may carry a context: the tunnel's span is its child. Nothing is forwarded.
    const trace = this.options.tracer?.startConnection('outbound', 'connect', 'CONNECT', req.headers);
    const upstream = await this.openTcp(authority).catch((error: unknown) => {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\n${errorMessage(error)}\n`);
      trace?.end({ status: 503, authority, error: errorMessage(error) });
      return undefined;
    });
    if (!upstream) return;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.socket.write(head);
    pipeConnection(socket, upstream.socket, this.options.metrics, upstream.labels, (c) => trace?.end({ status: 200, ...connectionEnd(authority, upstream.labels, { ...c, bytesRead: head.length + c.bytesRead }) }));
  }

  private async forwardTcp(socket: Socket, authority: string): Promise<void> {
    socket.pause();
    socket.on('error', (error) => this.options.logger.debug({ authority, err: errorMessage(error) }, 'port-mapping client connection failed'));
    const trace = this.options.tracer?.startConnection('outbound', 'tcp', 'TCP');
    const upstream = await this.openTcp(authority).catch((error: unknown) => {
      this.options.logger.warn({ authority, err: errorMessage(error) }, 'outbound connection failed');
      trace?.end({ authority, error: errorMessage(error) });
      socket.destroy();
      return undefined;
    });
    if (upstream) pipeConnection(socket, upstream.socket, this.options.metrics, upstream.labels, (c) => trace?.end(connectionEnd(authority, upstream.labels, c)));
  }

  /** An opaque connection to an endpoint of `authority` (by its policy, or the one given): mesh TLS to its proxy when meshed. */
  private async openTcp(authority: string, given?: outbound.OutboundPolicy): Promise<{ socket: Socket; labels: OutboundLabels }> {
    const policy = given ?? (await this.options.discovery.outboundPolicy(authority, this.policyTimeoutMs));
    const config = protocolConfig(policy, 'opaque');
    const opaque = config.kind === 'opaque' ? routeOpaque(config.routes) : undefined;
    const http = config.kind === 'http' || config.kind === 'grpc' ? routeRequest(config, { method: 'CONNECT', path: '/', query: [], headers: {}, host: authority.replace(/:\d+$/, '') }) : undefined;
    const distribution = opaque?.distribution ?? (http && http.kind !== 'noRoute' ? http.distribution : undefined);
    if (!distribution) throw new Error(`${authority} has no route for TCP`);
    const backend = chooseBackend(distribution as Distribution<unknown>, Math.random);
    if ('kind' in backend && backend.kind === 'noBackend') throw new Error(backend.reason);
    const chosen = backend as Exclude<typeof backend, { kind: 'noBackend' }>;
    if (chosen.target.kind === 'invalid') throw new Error(chosen.target.reason);
    const lease = await this.backendBalancer(chosen.target, undefined).acquire();
    const endpoint = lease.endpoint;
    const identity = endpointIdentity(endpoint);
    const host = endpointHost(endpoint);
    const started = Date.now();
    // Behind a gateway, the identity of the workload it chose.
    let peerIdentity: string | undefined;
    try {
      const socket =
        identity === undefined
          ? await new Promise<Socket>((resolve, reject) => {
              const s = netConnect({ port: endpoint.addr.port, host, allowHalfOpen: true }, () => resolve(s));
              s.once('error', reject);
            })
          : await this.meshConnect(endpoint, identity, this.opaqueMeshPort(endpoint), [], true, (opened) => (peerIdentity = opened.serverIdentity));
      socket.once('close', (hadError) => lease.release({ latencyMs: Date.now() - started, failure: hadError }));
      const tls: TlsStatus = identity !== undefined ? { established: true, peerIdentity: peerIdentity ?? identity } : { established: false, reason: 'not_provided_by_service_discovery' };
      return { socket, labels: { direction: 'outbound', targetAddr: endpoint.key, tls, authority, dst: endpoint.labels } };
    } catch (error) {
      lease.release({ latencyMs: Date.now() - started, failure: true });
      throw error;
    }
  }
}

/** The span facts of a relayed outbound connection that closed. */
function connectionEnd(authority: string, labels: OutboundLabels, c: PipedConnection): SpanEnd {
  return {
    authority,
    targetAddr: labels.targetAddr,
    ...(labels.tls.established ? { peerIdentity: labels.tls.peerIdentity } : {}),
    bytesRead: c.bytesRead,
    bytesWritten: c.bytesWritten,
    ...(c.error !== undefined ? { error: c.error } : {}),
  };
}

/** The balancers' clock, randomness and timers: the real ones. */
const balancerTimers: Timers = {
  now: () => performance.now(),
  random: Math.random,
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** Response headers with the route's response header modifiers applied, in order. */
function withResponseModifiers(headers: Record<string, string | string[]>, modifiers: readonly httpRoute.ResponseHeaderModifier[]): Record<string, string | string[]> {
  if (modifiers.length === 0) return headers;
  let map = toHeaderMap(headers);
  for (const m of modifiers) map = modifyHeaders(map, m);
  return toNodeHeaders(map);
}

function listenOn(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
