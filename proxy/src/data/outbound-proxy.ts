/*
 * The outbound listener of explicit mode: an HTTP proxy by authority
 * (absolute-form requests and CONNECT, so HTTP_PROXY works) and local TCP
 * ports mapped to service ports. Each request goes authority →
 * OutboundPolicy → route rule → backend → Destination endpoints → P2C pick
 * → the endpoint: mesh TLS to its proxy when it has an identity, plain
 * otherwise.
 */
import { Agent, createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { destination, httpRoute, outbound } from '@meshbus/proxy-api';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { errorResponse, isGrpcRequest, type ProxyResponse } from '../inbound/index.js';
import type { AccessLog, OutboundLabels, ProxyMetrics, TlsStatus } from '../metrics/index.js';
import {
  chooseBackend,
  decideRetry,
  defaultLoad,
  defaultRetryBudget,
  endpointKey,
  RetryBudget,
  P2cBalancer,
  protocolConfig,
  routeOpaque,
  routeRequest,
  ServiceUnavailableError,
  toFailureAccrual,
  type BackendTarget,
  type Distribution,
  type Endpoint,
  type Lease,
} from '../outbound/index.js';
import { applyHttpFilters, modifyHeaders, toHeaderMap, toNodeHeaders, type HttpFilter } from '../routes/filters.js';
import type { PortMapping as ControlPortMapping } from '../control/index.js';
import type { MeshTls } from '../tls/index.js';
import { ConnectionTracker } from './connection-tracker.js';
import type { Discovery } from './discovery.js';
import { authorityPort, forwardableHeaders, requestFacts, targetPortHeader } from './http-headers.js';
import { pipeConnection } from './inbound-proxy.js';

/** A local port of explicit mode forwarding TCP to a service port (`<svc>.<ns>.svc.<cluster-domain>:<port>`). */
export type PortMapping = Pick<ControlPortMapping, 'localPort' | 'authority'>;

/** Options of {@link OutboundProxy}. */
export interface OutboundProxyOptions {
  readonly tls: MeshTls;
  readonly discovery: Discovery;
  readonly metrics: ProxyMetrics;
  readonly accessLog?: AccessLog | undefined;
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
   * `l5d-dst-override`); transparent mode answers the same for every request.
   */
  resolve(req: IncomingMessage): Promise<{ authority: string; policy: outbound.OutboundPolicy }>;
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

function send(res: ServerResponse, response: ProxyResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(response.body);
}

/** The peer identity Destination gave an endpoint, when it is meshed. */
export function endpointIdentity(endpoint: Endpoint): string | undefined {
  const s = endpoint.tlsIdentity?.strategy;
  return s?.$case === 'dnsLikeIdentity' ? s.dnsLikeIdentity.name : undefined;
}

function endpointHost(endpoint: Endpoint): string {
  const key = endpoint.key;
  return key.startsWith('[') ? key.slice(1, key.indexOf(']')) : key.slice(0, key.lastIndexOf(':'));
}

/** The outbound side of one proxy. */
export class OutboundProxy {
  private readonly http;
  private readonly mappings: NetServer[] = [];
  private readonly balancers = new Map<string, { balancer: P2cBalancer; stop: () => void }>();
  private readonly agents = new Map<string, Agent>();
  private readonly sessions = new Map<string, ClientHttp2Session>();
  private readonly budgets = new Map<string, RetryBudget>();
  private readonly tracker = new ConnectionTracker();
  /** Connections handed over in transparent and ingress modes, with where they were going. */
  private readonly redirected = new WeakMap<Socket, RedirectedTarget>();
  private readonly clusterDomain: string;
  private readonly peerInboundPort: number;
  private readonly policyTimeoutMs: number;

  constructor(private readonly options: OutboundProxyOptions) {
    this.clusterDomain = options.clusterDomain ?? 'cluster.local';
    this.peerInboundPort = options.peerInboundPort ?? 4143;
    this.policyTimeoutMs = options.policyTimeoutMs ?? 5_000;
    this.http = createHttpServer((req, res) => void this.handle(req, res));
    this.http.on('connection', (socket: Socket) => this.tracker.add(socket));
    this.http.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.tunnel(req, socket, head));
    this.tracker.watchHttp(this.http);
  }

  /** Binds the HTTP proxy listener. */
  async listen(host: string, port: number): Promise<void> {
    await listenOn(this.http, host, port);
  }

  /** Binds one local port per mapping, on `host`. */
  async listenMappings(host: string, mappings: readonly PortMapping[]): Promise<void> {
    for (const m of mappings) {
      const server = createNetServer((socket) => {
        this.tracker.add(socket);
        void this.forwardTcp(socket, m.authority);
      });
      await listenOn(server, host, m.localPort);
      this.mappings.push(server);
    }
  }

  /**
   * Transparent and ingress modes: an accepted connection whose first bytes are HTTP/1, going to
   * `target`. Its requests are routed by `target`'s policy, as requests of the HTTP proxy are by
   * their authority's.
   */
  acceptHttp(socket: Socket, target: RedirectedTarget): void {
    this.redirected.set(socket, target);
    this.http.emit('connection', socket);
    socket.resume();
  }

  /** Transparent and ingress modes: a connection that was not redirected, made to the outbound port itself, is served as by the HTTP proxy of explicit mode. */
  acceptDirect(socket: Socket): void {
    this.http.emit('connection', socket);
    socket.resume();
  }

  /** Transparent and ingress modes: an accepted connection carried as opaque TCP by `policy` (the policy of `authority`, its original destination). */
  acceptOpaque(socket: Socket, authority: string, policy: outbound.OutboundPolicy): void {
    this.tracker.add(socket);
    socket.pause();
    socket.on('error', (error) => this.options.logger.debug({ authority, err: errorMessage(error) }, 'redirected client connection failed'));
    void this.openTcp(authority, policy).then(
      (upstream) => pipeConnection(socket, upstream.socket, this.options.metrics, upstream.labels),
      (error: unknown) => {
        this.options.logger.warn({ authority, err: errorMessage(error) }, 'outbound connection failed');
        socket.destroy();
      },
    );
  }

  get port(): number {
    const address = this.http.address();
    if (address === null || typeof address === 'string') throw new Error('the outbound listener is not listening');
    return address.port;
  }

  /** Stops accepting, lets requests in flight finish within `graceMs`, closes the rest. */
  async close(graceMs: number): Promise<void> {
    const closed = [this.http, ...this.mappings].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    await this.tracker.drain(graceMs, () => this.http.closeIdleConnections());
    for (const { balancer, stop } of this.balancers.values()) {
      stop();
      balancer.close();
    }
    for (const agent of this.agents.values()) agent.destroy();
    for (const session of this.sessions.values()) session.close();
    await Promise.all(closed);
  }

  private balancer(target: Extract<BackendTarget, { kind: 'balancer' }>, failureAccrual: outbound.FailureAccrual | undefined): P2cBalancer {
    let entry = this.balancers.get(target.path);
    if (!entry) {
      const balancer = new P2cBalancer({
        load: target.load,
        queue: target.queue,
        failureAccrual: toFailureAccrual(failureAccrual),
        timers: {
          now: () => performance.now(),
          random: Math.random,
          setTimeout: (fn, ms) => {
            const t = setTimeout(fn, ms);
            return () => clearTimeout(t);
          },
        },
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
    let entry = this.balancers.get(key);
    if (!entry) {
      const balancer = new P2cBalancer({
        load: defaultLoad,
        queue: target.queue,
        timers: {
          now: () => performance.now(),
          random: Math.random,
          setTimeout: (fn, ms) => {
            const t = setTimeout(fn, ms);
            return () => clearTimeout(t);
          },
        },
      });
      balancer.apply({ update: { $case: 'add', add: { addrs: [target.endpoint], metricLabels: {} } } });
      entry = { balancer, stop: () => undefined };
      this.balancers.set(key, entry);
    }
    return entry.balancer;
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

  private async route(
    authority: string,
    method: string,
    target: string,
    req: IncomingMessage,
    redirected?: RedirectedTarget,
  ): Promise<{ plan: Awaited<ReturnType<typeof routeRequest>>; policy: outbound.OutboundPolicy; authority: string }> {
    const resolved = redirected ? await redirected.resolve(req) : { authority, policy: await this.options.discovery.outboundPolicy(authority, this.policyTimeoutMs) };
    const config = protocolConfig(resolved.policy, 'http1');
    return { plan: routeRequest(config, requestFacts(method, target, req.headers, resolved.authority)), policy: resolved.policy, authority: resolved.authority };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const grpc = isGrpcRequest(req.headers);
    const redirected = this.redirected.get(req.socket);
    let url: URL;
    try {
      url = new URL(req.url ?? '', req.url?.startsWith('/') ? `http://${req.headers.host ?? redirected?.address ?? 'invalid'}` : undefined);
    } catch {
      send(res, errorResponse({ httpStatus: 400, grpcStatus: 3, message: `the request target ${JSON.stringify(req.url)} is neither absolute nor has a Host`, grpc }));
      return;
    }
    let authority = canonicalAuthority(url.host, this.clusterDomain);
    const path = `${url.pathname}${url.search}`;
    let routed;
    try {
      routed = await this.route(authority, req.method ?? 'GET', path, req, redirected);
      authority = routed.authority;
    } catch (error) {
      send(res, errorResponse({ httpStatus: 503, grpcStatus: 14, message: `no outbound policy for ${redirected?.address ?? authority}: ${errorMessage(error)}`, grpc }));
      return;
    }
    const { plan, policy } = routed;
    if (plan.kind === 'noRoute') {
      send(res, errorResponse({ httpStatus: plan.status, grpcStatus: plan.grpcStatus, message: plan.message, grpc }));
      return;
    }
    const backend = chooseBackend(plan.distribution as Distribution<unknown>, Math.random);
    if ('kind' in backend && backend.kind === 'noBackend') {
      send(res, errorResponse({ httpStatus: 500, grpcStatus: 13, message: backend.reason, grpc }));
      return;
    }
    const chosen = backend as Exclude<typeof backend, { kind: 'noBackend' }>;
    if (chosen.target.kind === 'invalid') {
      send(res, errorResponse({ httpStatus: 500, grpcStatus: 13, message: chosen.target.reason, grpc }));
      return;
    }
    const cfg = protocolConfig(policy, 'http1');
    const balancer = chosen.target.kind === 'forward' ? this.forwardBalancer(chosen.target) : this.balancer(chosen.target, 'failureAccrual' in cfg ? cfg.failureAccrual : undefined);
    let headers = forwardableHeaders(req.headers);
    delete headers[targetPortHeader];
    let target = { path, host: url.host };
    let responseModifiers: readonly httpRoute.ResponseHeaderModifier[] = [];
    if (plan.kind === 'http') {
      const filtered = this.filter([...(plan.filters as readonly HttpFilter[]), ...(chosen.filters as readonly HttpFilter[])], url, headers, plan.matchedPrefix);
      if (filtered.kind === 'answer') {
        send(res, filtered.response);
        this.log(req, authority, path, filtered.response.status, 0, started);
        return;
      }
      ({ headers, target, responseModifiers } = filtered);
    }
    // Only requests without a body are retried: nothing has to be kept to send them again.
    const bodyless = (req.headers['content-length'] === undefined || req.headers['content-length'] === '0') && req.headers['transfer-encoding'] === undefined;
    const retry = plan.retry;
    const budget = retry ? this.retryBudget(authority) : undefined;
    budget?.deposit();
    const attemptMs = plan.timeouts.attemptMs ?? plan.timeouts.requestMs;

    const attempt = async (retries: number): Promise<void> => {
      let lease: Lease;
      try {
        lease = await balancer.acquire();
      } catch (error) {
        const message = error instanceof ServiceUnavailableError ? error.message : errorMessage(error);
        send(res, errorResponse({ httpStatus: 503, grpcStatus: 14, message: `${authority}: ${message}`, grpc }));
        this.log(req, authority, path, 503, 0, started);
        return;
      }
      const attemptStarted = Date.now();
      const endpoint = lease.endpoint;
      const identity = endpointIdentity(endpoint);
      const tls: TlsStatus = identity !== undefined ? { established: true, peerIdentity: identity } : { established: false, reason: 'not_provided_by_service_discovery' };
      const labels: OutboundLabels = { direction: 'outbound', targetAddr: endpoint.key, tls, authority, dst: endpoint.labels, ...(plan.route ? { route: plan.route } : {}) };
      const recorder = this.options.metrics.startRequest(labels);
      let timedOut = false;
      let bytes = 0;
      let settled = false;
      /** Whether this attempt's result is retried; if so, the next attempt starts after the backoff. */
      const retried = (status: number | undefined): boolean => {
        if (!retry || res.destroyed) return false;
        const decision = decideRetry({ policy: retry, result: { status }, retriesSoFar: retries, requestBytes: bodyless ? 0 : undefined, budget, random: Math.random() });
        if (!decision.retry) return false;
        this.options.logger.debug({ authority, endpoint: endpoint.key, status, retry: retries + 1, delayMs: decision.delayMs }, 'retrying');
        setTimeout(() => void attempt(retries + 1), decision.delayMs);
        return true;
      };
      const exchange = this.exchange(endpoint, req.method ?? 'GET', target.path, target.host, { ...headers }, {
        response: (status, responseHeaders, body) => {
          settled = true;
          clearTimeout(timer);
          recorder.respond(status);
          lease.release({ latencyMs: Date.now() - attemptStarted, failure: status >= 500, overloaded: status === 429 || status === 503 });
          if (retried(status)) {
            body.resume();
            recorder.end();
            return;
          }
          res.writeHead(status, withResponseModifiers(forwardableHeaders(responseHeaders), responseModifiers));
          body.on('data', (chunk: Buffer) => (bytes += chunk.length));
          body.pipe(res);
          body.on('end', () => {
            recorder.end();
            this.log(req, authority, path, status, bytes, started);
          });
          body.on('error', () => recorder.end('reset'));
        },
        error: (error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          lease.release({ latencyMs: Date.now() - attemptStarted, failure: true });
          recorder.end(timedOut ? 'timeout' : 'unavailable');
          this.options.logger.warn({ authority, endpoint: endpoint.key, err: errorMessage(error) }, 'outbound request failed');
          if (retried(undefined)) return;
          send(res, errorResponse({ httpStatus: timedOut ? 504 : 502, grpcStatus: timedOut ? 4 : 14, message: `${authority} (${endpoint.key}): ${errorMessage(error)}`, grpc }));
          this.log(req, authority, path, timedOut ? 504 : 502, 0, started);
        },
      });
      const limit = retry?.attemptTimeoutMs ?? attemptMs;
      const timer =
        limit !== undefined && limit > 0
          ? setTimeout(() => {
              timedOut = true;
              exchange.abort(new Error(`no response within ${limit} ms`));
            }, limit)
          : undefined;
      if (retries === 0) req.pipe(exchange.body);
      else exchange.body.end();
      res.once('close', () => {
        if (!res.writableFinished) exchange.abort();
      });
    };
    await attempt(0);
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

  /** The retry budget of an authority (Linkerd's default budget). */
  private retryBudget(authority: string): RetryBudget {
    let budget = this.budgets.get(authority);
    if (!budget) {
      budget = new RetryBudget(defaultRetryBudget, () => performance.now());
      this.budgets.set(authority, budget);
    }
    return budget;
  }

  /**
   * Sends one request to an endpoint: over HTTP/2 on mesh TLS to its proxy
   * when it is meshed (the request's HTTP/1.1 is restored by that proxy),
   * plain HTTP/1.1 to the workload otherwise.
   */
  private exchange(
    endpoint: Endpoint,
    method: string,
    path: string,
    authority: string,
    headers: Record<string, string | string[]>,
    on: { response: (status: number, headers: Record<string, string | string[] | number | undefined>, body: Readable) => void; error: (error: Error) => void },
  ): { body: Writable; abort: (error?: Error) => void } {
    const identity = endpointIdentity(endpoint);
    if (identity === undefined) {
      const { agent, host, port } = this.agent(endpoint);
      const upstream = httpRequest({ host, port, method, path, headers: { ...headers, host: authority }, agent });
      upstream.on('response', (response) => on.response(response.statusCode ?? 502, response.headers, response));
      upstream.on('error', on.error);
      return { body: upstream, abort: (error) => upstream.destroy(error) };
    }
    delete headers['host'];
    let stream: ClientHttp2Stream;
    try {
      stream = this.session(endpoint, identity).request({ ...headers, ':method': method, ':path': path, ':authority': authority, ':scheme': 'http', [targetPortHeader]: String(endpoint.addr.port) });
    } catch (error) {
      const failed = new PassThrough();
      queueMicrotask(() => on.error(error as Error));
      return { body: failed, abort: () => failed.destroy() };
    }
    let answered = false;
    stream.on('response', (h) => {
      answered = true;
      on.response(Number(h[':status'] ?? 502), h, stream);
    });
    stream.on('error', on.error);
    stream.on('close', () => {
      if (!answered) on.error(new Error(`the stream closed before a response (code ${stream.rstCode ?? 0})`));
    });
    return { body: stream, abort: (error) => stream.destroy(error) };
  }

  /** The HTTP/2 session to a meshed endpoint's proxy, opened on first use and shared by its requests. */
  private session(endpoint: Endpoint, identity: string): ClientHttp2Session {
    const host = endpointHost(endpoint);
    const port = endpoint.protocolHint?.opaqueTransport?.inboundPort ?? this.peerInboundPort;
    const key = `${identity} ${host}:${port}`;
    const open = this.sessions.get(key);
    if (open && !open.closed && !open.destroyed) return open;
    const tls = this.options.tls;
    const session = http2Connect(`http://${host}:${port}`, { createConnection: () => tlsConnect({ ...tls.clientOptions({ serverIdentity: identity, alpn: ['h2'] }), host, port }) });
    session.on('error', (error) => this.options.logger.debug({ endpoint: endpoint.key, err: errorMessage(error) }, 'HTTP/2 session to a peer proxy failed'));
    const forget = (): void => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
    };
    session.on('close', forget);
    // The peer proxy is draining: no new requests on this session; it closes after the last one.
    session.on('goaway', () => {
      forget();
      session.close();
    });
    this.sessions.set(key, session);
    return session;
  }

  private log(req: IncomingMessage, authority: string, path: string, status: number, bytes: number, started: number): void {
    this.options.accessLog?.record({
      time: new Date(started),
      direction: 'outbound',
      clientAddr: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
      method: req.method ?? '',
      authority,
      path,
      protocol: `HTTP/${req.httpVersion}`,
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
    const upstream = await this.openTcp(authority).catch((error: unknown) => {
      socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\r\n${errorMessage(error)}\n`);
      return undefined;
    });
    if (!upstream) return;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.socket.write(head);
    pipeConnection(socket, upstream.socket, this.options.metrics, upstream.labels);
  }

  private async forwardTcp(socket: Socket, authority: string): Promise<void> {
    socket.pause();
    socket.on('error', (error) => this.options.logger.debug({ authority, err: errorMessage(error) }, 'port-mapping client connection failed'));
    const upstream = await this.openTcp(authority).catch((error: unknown) => {
      this.options.logger.warn({ authority, err: errorMessage(error) }, 'outbound connection failed');
      socket.destroy();
      return undefined;
    });
    if (upstream) pipeConnection(socket, upstream.socket, this.options.metrics, upstream.labels);
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
    const lease = await (chosen.target.kind === 'forward' ? this.forwardBalancer(chosen.target) : this.balancer(chosen.target, undefined)).acquire();
    const endpoint = lease.endpoint;
    const identity = endpointIdentity(endpoint);
    const host = endpointHost(endpoint);
    const started = Date.now();
    try {
      const socket =
        identity === undefined
          ? await new Promise<Socket>((resolve, reject) => {
              const s = netConnect(endpoint.addr.port, host, () => resolve(s));
              s.once('error', reject);
            })
          : await this.options.tls.connect({ host, port: this.opaqueMeshPort(endpoint), serverIdentity: identity, alpn: [] });
      socket.once('close', (hadError) => lease.release({ latencyMs: Date.now() - started, failure: hadError }));
      const tls: TlsStatus = identity !== undefined ? { established: true, peerIdentity: identity } : { established: false, reason: 'not_provided_by_service_discovery' };
      return { socket, labels: { direction: 'outbound', targetAddr: endpoint.key, tls, authority, dst: endpoint.labels } };
    } catch (error) {
      lease.release({ latencyMs: Date.now() - started, failure: true });
      throw error;
    }
  }
}

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
