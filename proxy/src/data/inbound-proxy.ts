/*
 * The inbound listener: in front of the workload, it accepts mesh TLS from
 * other proxies and plain connections, authorizes each request (or opaque
 * connection) by the port's inbound policy, and forwards to the workload.
 */
import { Agent, createServer as createHttpServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as http2Connect, performServerHandshake, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { connect as netConnect, createServer as createNetServer, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import { TLSSocket, type Server as TlsServer } from 'node:tls';
import type { inbound } from '@meshbus/proxy-api';
import { errorMessage, type Logger } from '@meshbus/runtime';
import {
  applyHttpFilters as applyRouteFilters,
  authorizeConnection,
  authorizeRequest,
  HttpLocalRateLimiter,
  isGrpcRequest,
  rateLimitedResponse,
  refusalResponse,
  serverRateLimit,
  withClientId,
  errorResponse,
  GrpcStatus,
  type ConnectionFacts,
  type ProxyResponse,
} from '../inbound/index.js';
import type { AccessLog, InboundLabels, ProxyMetrics, TlsStatus, TrafficLabels } from '../metrics/index.js';
import type { TapHeaderValues, TapRecorder } from '../tap/index.js';
import { peekClientHello, type MeshTls, type AcceptedConnection } from '../tls/index.js';
import { policyRouteName, type RequestTracer, type SpanEnd } from '../tracing/index.js';
import { grpcStatusOf, http1Downstream, http1Exchange, http2Downstream, http2Exchange, type Downstream, type UpstreamExchange, type UpstreamEvents } from './exchange.js';
import { authorityHost, forwardableHeaders, http2RequestHeaders, meshOnlyHeaders, origProtoHeader, policyMetadata, requestFacts, serverMetadata, targetPortHeader, upgradeRequestHeaders } from './http-headers.js';
import { Http2Sessions } from './http2-sessions.js';
import { sniff, sniffProtocol, type SniffedProtocol } from './sniff.js';
import { ConnectionTracker } from './connection-tracker.js';
import { answerOnSocket, relayUpgrade, upgradeProtocol } from './upgrade.js';

/** Options of {@link InboundProxy}. */
export interface InboundProxyOptions {
  readonly tls: MeshTls;
  /** The last inbound policy received for a workload port; undefined before the first. */
  readonly policy: (port: number) => inbound.Server | undefined;
  /** Where the workload listens. @default 127.0.0.1 */
  readonly workloadHost?: string;
  /** The workload's ports; the first takes connections that name no port (plain clients, opaque TCP). */
  readonly ports: readonly number[];
  readonly metrics: ProxyMetrics;
  readonly accessLog?: AccessLog | undefined;
  /** Live request records for `meshbus tap`, while a session runs. */
  readonly tap?: TapRecorder | undefined;
  /** Propagates trace context and records a SERVER span per request. */
  readonly tracer?: RequestTracer | undefined;
  readonly logger: Logger;
  /** How long protocol detection waits for the first bytes. @default 10s */
  readonly detectTimeoutMs?: number;
  /**
   * Transparent mode: the workload port an accepted connection was redirected here for (from its
   * original destination), decided before the connection is read. `undefined` means it was made
   * to the inbound port itself (mesh TLS from another proxy): then `l5d-dst-port`, or the first
   * port, applies as in explicit mode. `null` refuses it: the connection is closed.
   */
  readonly redirectedPort?: (socket: Socket) => Promise<number | null | undefined>;
  /** Whether a port may be forwarded to. @default it is one of `ports` */
  readonly acceptsPort?: (port: number) => boolean;
}

/** A connection's addresses, the same for a socket and the TLS socket over it. */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''} ${socket.remotePort ?? 0} ${socket.localAddress ?? ''} ${socket.localPort ?? 0}`;
}

const noTlsFromRemote: TlsStatus = { established: false, reason: 'no_tls_from_remote' };

/** The inbound side of one proxy. {@link listen} starts it; {@link close} drains it. */
export class InboundProxy {
  private readonly listener: NetServer;
  private readonly meshServer: TlsServer;
  private readonly http1;
  private readonly facts = new WeakMap<Socket, ConnectionFacts>();
  private readonly limiters = new Map<number, HttpLocalRateLimiter>();
  private readonly agent: Agent;
  /** h2c sessions to the workload, by port. */
  private readonly workloadSessions: Http2Sessions;
  private readonly tracker = new ConnectionTracker();
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly workloadHost: string;
  private readonly detectTimeoutMs: number;
  /** Transparent mode: the workload port of redirected connections, by {@link connectionKey} until their facts exist, then by facts. */
  private readonly redirectedPorts = new Map<string, number>();
  private readonly connectionPorts = new WeakMap<ConnectionFacts, number>();

  constructor(private readonly options: InboundProxyOptions) {
    if (options.ports.length === 0) throw new Error('InboundProxy: ports must list at least one workload port');
    this.workloadHost = options.workloadHost ?? '127.0.0.1';
    this.detectTimeoutMs = options.detectTimeoutMs ?? 10_000;
    // With a timeout, Node closes an idle connection 1 s before the workload's Keep-Alive: timeout=N, so no request goes out on one the workload is closing.
    this.agent = new Agent({ keepAlive: true, timeout: 60_000 });
    this.workloadSessions = new Http2Sessions(options.logger);
    // Half-open connections, so that a half-close of opaque TCP travels on (HTTP/1 handles its own; HTTP/2 sessions get the usual behaviour back).
    this.listener = createNetServer({ allowHalfOpen: true }, (socket) => (options.redirectedPort ? this.acceptRedirected(socket, options.redirectedPort) : this.accept(socket)));
    this.meshServer = options.tls.createServer((connection) => this.acceptMesh(connection), { allowHalfOpen: true });
    this.http1 = createHttpServer((req, res) => this.handle(req, res));
    this.http1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.tracker.watchHttp(this.http1);
  }

  /** Binds the listener. */
  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve();
      });
    });
  }

  /** The bound port. */
  get port(): number {
    const address = this.listener.address();
    if (address === null || typeof address === 'string') throw new Error('the inbound listener is not listening');
    return address.port;
  }

  /** Stops accepting, lets requests in flight finish within `graceMs`, then closes what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    // HTTP/2 sessions: GOAWAY, so that the other proxy sends new requests elsewhere; streams in flight finish.
    for (const session of this.sessions) session.close();
    await this.tracker.drain(graceMs, () => this.http1.closeIdleConnections());
    this.agent.destroy();
    this.workloadSessions.close();
    await closed;
  }

  /** Transparent mode: the workload port of the connection first, then the connection as {@link accept} takes it. */
  private acceptRedirected(socket: Socket, redirectedPort: (socket: Socket) => Promise<number | null | undefined>): void {
    this.tracker.add(socket);
    socket.pause();
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'inbound connection failed'));
    void redirectedPort(socket).then(
      (port) => {
        if (port === null || socket.destroyed) {
          socket.destroy();
          return;
        }
        if (port !== undefined) {
          const key = connectionKey(socket);
          this.redirectedPorts.set(key, port);
          socket.once('close', () => this.redirectedPorts.delete(key));
        }
        this.accept(socket);
      },
      (error: unknown) => {
        this.options.logger.warn({ err: errorMessage(error) }, 'inbound connection refused: its original destination is unknown');
        socket.destroy();
      },
    );
  }

  /** Remembers the workload port of a redirected connection with its facts. */
  private withPort(socket: Socket, conn: ConnectionFacts): ConnectionFacts {
    const port = this.redirectedPorts.get(connectionKey(socket));
    if (port !== undefined) this.connectionPorts.set(conn, port);
    return conn;
  }

  /** The workload port a connection is for: where it was redirected from, else the first port. */
  private portOf(conn: ConnectionFacts): number {
    return this.connectionPorts.get(conn) ?? this.defaultPort;
  }

  private accept(socket: Socket): void {
    this.tracker.add(socket);
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'inbound connection failed'));
    const identity = this.options.tls.identity;
    void sniff(
      socket,
      (bytes) => {
        const hello = peekClientHello(bytes);
        if (hello.status === 'incomplete') return undefined;
        if (hello.status === 'clientHello') return hello.serverName !== undefined && hello.serverName === identity ? 'mesh' : 'opaque-tls';
        return 'plain';
      },
      this.detectTimeoutMs,
      'plain' as const,
    ).then((kind) => {
      if (kind === undefined) return;
      if (kind === 'mesh') {
        this.meshServer.emit('connection', socket);
        return;
      }
      // The workload's own TLS, or plain traffic: no mesh identity.
      const conn: ConnectionFacts = this.withPort(socket, { tls: false, sourceIp: socket.remoteAddress ?? '' });
      if (kind === 'opaque-tls') this.opaque(socket, conn, this.portOf(conn));
      else this.detect(socket, conn);
    });
  }

  private acceptMesh({ socket, peer }: AcceptedConnection): void {
    this.tracker.add(socket);
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'inbound mesh connection failed'));
    const conn: ConnectionFacts = this.withPort(socket, { tls: true, clientIdentity: peer.kind === 'authenticated' ? peer.identity : undefined, sourceIp: socket.remoteAddress ?? '' });
    if (socket.alpnProtocol === 'h2') {
      this.toHttp2(socket, conn);
      return;
    }
    if (socket.alpnProtocol === 'http/1.1') {
      this.toHttp1(socket, conn);
      return;
    }
    this.detect(socket, conn);
  }

  private get defaultPort(): number {
    return this.options.ports[0]!;
  }

  /** Opaque ports skip detection; other traffic is HTTP/1 or HTTP/2 (prior knowledge) when it looks like it, else opaque. */
  private detect(socket: Socket | TLSSocket, conn: ConnectionFacts): void {
    const port = this.portOf(conn);
    const server = this.options.policy(port);
    if (server?.protocol?.kind?.$case === 'opaque') {
      this.opaque(socket, conn, port);
      return;
    }
    void sniff<SniffedProtocol>(socket, sniffProtocol, this.detectTimeoutMs, 'opaque').then((protocol) => {
      if (protocol === undefined) return;
      if (protocol === 'http1') this.toHttp1(socket, conn);
      else if (protocol === 'http2') this.toHttp2(socket, conn);
      else this.opaque(socket, conn, port);
    });
  }

  private toHttp1(socket: Socket, conn: ConnectionFacts): void {
    this.facts.set(socket, conn);
    this.http1.emit('connection', socket);
    socket.resume();
  }

  private tlsStatus(conn: ConnectionFacts): TlsStatus {
    if (!conn.tls) return noTlsFromRemote;
    return conn.clientIdentity === undefined ? { established: true } : { established: true, peerIdentity: conn.clientIdentity };
  }

  private limiter(port: number, server: inbound.Server): HttpLocalRateLimiter {
    const policy = serverRateLimit(server);
    let limiter = this.limiters.get(port);
    if (limiter === undefined || limiter.policy !== policy) {
      limiter = new HttpLocalRateLimiter(policy);
      this.limiters.set(port, limiter);
    }
    return limiter;
  }

  /** Authorization of one request, whatever carried it: the refusal to send, or where to forward it. */
  private admit(
    conn: ConnectionFacts,
    method: string,
    target: string,
    headers: IncomingHttpHeaders,
    authority: string,
  ): { kind: 'refuse'; response: ProxyResponse } | { kind: 'forward'; port: number; labels: InboundLabels; request: { path: string; authority: string; headers: IncomingHttpHeaders } } {
    const grpc = isGrpcRequest(headers);
    const portText = headers[targetPortHeader];
    // A redirected connection is for the port it was going to, whatever its requests say.
    const port = this.connectionPorts.get(conn) ?? (typeof portText === 'string' && /^\d{1,5}$/.test(portText) ? Number(portText) : this.defaultPort);
    if (!(this.options.acceptsPort ? this.options.acceptsPort(port) : this.options.ports.includes(port))) return { kind: 'refuse', response: errorResponse({ httpStatus: 404, grpcStatus: GrpcStatus.UNIMPLEMENTED, message: `port ${port} is not a port of this workload`, grpc }) };
    const server = this.options.policy(port);
    if (server === undefined) return { kind: 'refuse', response: errorResponse({ httpStatus: 503, grpcStatus: 14, message: `no inbound policy for port ${port} yet`, grpc }) };
    const decision = authorizeRequest(server, conn, requestFacts(method, target, headers, authority));
    const labels: InboundLabels = {
      direction: 'inbound',
      targetAddr: `${this.workloadHost}:${port}`,
      tls: this.tlsStatus(conn),
      server: serverMetadata(server, port),
      ...(decision.outcome !== 'no-route' ? { route: policyMetadata(decision.route.ref) } : {}),
      ...(decision.outcome === 'allowed' ? { authz: policyMetadata(decision.authorization.ref) } : {}),
    };
    if (decision.outcome !== 'allowed') {
      if (decision.outcome === 'denied') this.options.metrics.httpDenied(labels);
      else this.options.metrics.routeNotFound(labels);
      this.options.logger.info({ client: conn.clientIdentity, source: conn.sourceIp, port, reason: decision.reason }, 'inbound request refused');
      return { kind: 'refuse', response: refusalResponse(decision, grpc)! };
    }
    if (decision.audit) this.options.logger.warn({ client: conn.clientIdentity, source: conn.sourceIp, port, reason: decision.reason }, 'audit: request let in that a deny policy would refuse');
    const limit = this.limiter(port, server).check(conn.tls ? conn.clientIdentity : undefined);
    if (!limit.allowed) return { kind: 'refuse', response: rateLimitedResponse(limit, grpc) };
    this.options.metrics.httpAuthorized(labels);
    const request = { path: target, authority, headers };
    if (decision.rule.kind === 'http' && decision.rule.filters.length > 0) {
      const q = target.indexOf('?');
      const query = q < 0 ? '' : target.slice(q + 1);
      const host = authorityHost(authority);
      const out = applyRouteFilters(decision.rule.filters, { headers, target: { scheme: 'http', host, port, path: q < 0 ? target : target.slice(0, q), query } }, decision.rule.match);
      if (out.kind === 'respond') return { kind: 'refuse', response: out.response };
      return { kind: 'forward', port, labels, request: { path: query === '' ? out.path : `${out.path}?${query}`, authority: out.host === host ? authority : out.host, headers: out.headers } };
    }
    return { kind: 'forward', port, labels, request };
  }

  /** The request to the workload over HTTP/1.1: the client's identity set, proxy-only headers removed. */
  private toWorkload(port: number, method: string, target: string, headers: IncomingHttpHeaders, authority: string, conn: ConnectionFacts): ClientRequest {
    const out = forwardableHeaders(withClientId(headers, conn));
    for (const name of meshOnlyHeaders) delete out[name];
    out['host'] = authority;
    return httpRequest({ host: this.workloadHost, port, method, path: target, headers: out, agent: this.agent });
  }

  /** The request to the workload over HTTP/2 without TLS (h2c), on a session per port. */
  private toWorkloadHttp2(port: number, method: string, target: string, headers: IncomingHttpHeaders, authority: string, conn: ConnectionFacts, on: UpstreamEvents): UpstreamExchange {
    const out: OutgoingHttpHeaders = { ...http2RequestHeaders(withClientId(headers, conn)), ':method': method, ':path': target, ':authority': authority, ':scheme': 'http' };
    const host = isIPv6(this.workloadHost) ? `[${this.workloadHost}]` : this.workloadHost;
    const session = this.workloadSessions.get(String(port), () => http2Connect(`http://${host}:${port}`));
    return http2Exchange(session.request(out), on);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.facts.get(req.socket) ?? { tls: false, sourceIp: req.socket.remoteAddress ?? '' };
    this.serve(http1Downstream(req, res), conn);
  }

  /**
   * One request, whatever carried it: authorized, then forwarded to the
   * workload. HTTP/1.1 requests, and HTTP/2 streams that another proxy
   * marked with `l5d-orig-proto`, reach the workload as HTTP/1.1; other
   * HTTP/2 streams (gRPC and the like) as HTTP/2.
   */
  private serve(down: Downstream, conn: ConnectionFacts): void {
    const started = Date.now();
    const authority = down.authority ?? '';
    const { method, target } = down;
    const log = (status: number, bytes: number, responseHeaders?: TapHeaderValues, grpcStatus?: number): void =>
      this.log(conn, down.socket, method, authority, target, down.protocol, down.headers, status, bytes, started, responseHeaders, grpcStatus);
    const trace = this.options.tracer?.start('inbound', method, down.headers);
    const spanFacts: { authority: string; peerIdentity?: string; route?: string; targetAddr?: string } = { authority, ...(conn.tls && conn.clientIdentity !== undefined ? { peerIdentity: conn.clientIdentity } : {}) };
    const admitted = this.admit(conn, method, target, down.headers, authority);
    if (admitted.kind === 'refuse') {
      down.answer(admitted.response);
      log(admitted.response.status, 0, admitted.response.headers);
      trace?.end({ status: admitted.response.status, ...spanFacts });
      return;
    }
    const { port, labels } = admitted;
    const request = trace ? { ...admitted.request, headers: trace.forward(admitted.request.headers) } : admitted.request;
    const routeName = labels.route ? policyRouteName(labels.route) : undefined;
    spanFacts.targetAddr = labels.targetAddr;
    if (routeName !== undefined) spanFacts.route = routeName;
    const recorder = this.options.metrics.startRequest(labels);
    let answered = false;
    const on: UpstreamEvents = {
      response: (response) => {
        answered = true;
        recorder.respond(response.status, grpcStatusOf(response.headers));
        down.relay(response, response.headers, (end) => {
          if (end.grpcStatus !== undefined) recorder.trailers(end.grpcStatus);
          recorder.end(end.broken ? 'reset' : undefined);
          log(response.status, end.bytes, response.headers, end.grpcStatus);
          trace?.end({ status: response.status, grpcStatus: end.grpcStatus, ...spanFacts, ...(end.broken ? { error: 'the response broke off' } : {}) });
        });
      },
      error: (error) => {
        if (answered) return;
        answered = true;
        recorder.end('unavailable');
        trace?.end({ ...spanFacts, ...(down.closed ? {} : { status: 502 }), error: `the workload did not answer: ${errorMessage(error)}` });
        if (down.closed) return;
        this.options.logger.warn({ port, err: errorMessage(error) }, 'the workload did not answer');
        down.answer(errorResponse({ httpStatus: 502, grpcStatus: 14, message: `the workload on port ${port} did not answer: ${errorMessage(error)}`, grpc: isGrpcRequest(down.headers) }));
        log(502, 0);
      },
    };
    const http1 = down.version === 'http1' || down.headers[origProtoHeader] !== undefined;
    let upstream: UpstreamExchange;
    try {
      upstream = http1
        ? http1Exchange(this.toWorkload(port, method, request.path, request.headers, request.authority, conn), on)
        : this.toWorkloadHttp2(port, method, request.path, request.headers, request.authority, conn, on);
    } catch (error) {
      on.error(error as Error);
      return;
    }
    down.body.pipe(upstream.body);
    down.onAbort(() => upstream.abort());
  }

  /** HTTP/2 from another proxy, or from a client with prior knowledge: each stream is one request. */
  private toHttp2(socket: Socket, conn: ConnectionFacts): void {
    closeWhenEnded(socket);
    const session = performServerHandshake(socket);
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'inbound HTTP/2 session failed'));
    session.on('stream', (stream, headers) => this.handleStream(stream, headers, conn, socket));
  }

  private handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader, conn: ConnectionFacts, socket: Socket): void {
    this.serve(http2Downstream(stream, headers, socket), conn);
  }

  /**
   * An HTTP/1.1 upgrade (a WebSocket handshake), from another proxy on its
   * own mesh TLS connection or from a plain client: authorized like any
   * request, then sent to the workload on a connection of its own; after a
   * 101 the two connections are joined.
   */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const started = Date.now();
    socket.on('error', (error) => this.options.logger.debug({ err: errorMessage(error) }, 'inbound upgrade connection failed'));
    const conn = this.facts.get(socket) ?? { tls: false, sourceIp: socket.remoteAddress ?? '' };
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const authority = req.headers.host ?? '';
    const log = (status: number): void => this.log(conn, socket, method, authority, target, `HTTP/${req.httpVersion}`, req.headers, status, 0, started);
    // One span for the handshake and the upgraded connection after it.
    const trace = this.options.tracer?.startConnection('inbound', 'upgrade', method, req.headers);
    const spanFacts: { authority: string; protocol?: string; clientAddr: string; peerIdentity?: string; route?: string; targetAddr?: string } = { authority, ...upgradeProtocol(req.headers), ...connectionFacts(conn, socket) };
    const admitted = this.admit(conn, method, target, req.headers, authority);
    if (admitted.kind === 'refuse') {
      answerOnSocket(socket, admitted.response);
      log(admitted.response.status);
      trace?.end({ status: admitted.response.status, ...spanFacts });
      return;
    }
    const { port, labels, request } = admitted;
    spanFacts.targetAddr = labels.targetAddr;
    if (labels.route) spanFacts.route = policyRouteName(labels.route);
    const recorder = this.options.metrics.startRequest(labels);
    const out = forwardableHeaders(withClientId(request.headers, conn));
    for (const name of meshOnlyHeaders) delete out[name];
    const sent = { ...upgradeRequestHeaders(req.headers, out), host: request.authority };
    const upstream = httpRequest({ host: this.workloadHost, port, method, path: request.path, headers: trace ? trace.forward(sent) : sent, agent: false });
    relayUpgrade(upstream, socket, head, {
      upgraded: (status, workload, carried) => {
        recorder.respond(status);
        pipeConnection(socket, workload, this.options.metrics, labels, (c) =>
          trace?.end({ status, ...spanFacts, bytesRead: carried.read + c.bytesRead, bytesWritten: carried.written + c.bytesWritten, ...(c.error !== undefined ? { error: c.error } : {}) }),
        );
        workload.once('close', () => recorder.end());
        log(status);
      },
      answered: (status) => {
        recorder.respond(status);
        recorder.end();
        log(status);
        trace?.end({ status, ...spanFacts });
      },
      failed: (error) => {
        recorder.end('unavailable');
        trace?.end({ status: 502, ...spanFacts, error: `the workload did not answer: ${errorMessage(error)}` });
        this.options.logger.warn({ port, err: errorMessage(error) }, 'the workload did not answer');
        answerOnSocket(socket, errorResponse({ httpStatus: 502, grpcStatus: 14, message: `the workload on port ${port} did not answer: ${errorMessage(error)}`, grpc: false }));
        log(502);
      },
    });
  }

  /** The end of one request: its access log line and, while a session runs, its tap record. */
  private log(
    conn: ConnectionFacts,
    socket: Socket,
    method: string,
    authority: string,
    path: string,
    protocol: string,
    headers: IncomingHttpHeaders,
    status: number,
    bytes: number,
    started: number,
    responseHeaders?: TapHeaderValues,
    grpcStatus?: number,
  ): void {
    const tap = this.options.tap;
    if (tap !== undefined && tap.tapping) {
      tap.record({
        direction: 'inbound',
        method,
        authority,
        path,
        startedAtMs: started,
        status,
        grpcStatus,
        latencyMs: Date.now() - started,
        tls: conn.tls,
        peerIdentity: conn.tls ? conn.clientIdentity : undefined,
        requestHeaders: headers,
        responseHeaders,
      });
    }
    this.options.accessLog?.record({
      time: new Date(started),
      direction: 'inbound',
      clientAddr: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
      ...(conn.clientIdentity ? { clientId: conn.clientIdentity } : {}),
      method,
      authority,
      path,
      protocol,
      status,
      bytes,
      durationMs: Date.now() - started,
      headers,
    });
  }

  /** Opaque TCP: authorized once for the connection, then piped to the workload. */
  private opaque(socket: Socket, conn: ConnectionFacts, port: number): void {
    const server = this.options.policy(port);
    const base: InboundLabels = { direction: 'inbound', targetAddr: `${this.workloadHost}:${port}`, tls: this.tlsStatus(conn) };
    // Opaque TCP carries no trace context: its span, when sampled, is the root of a trace of its own.
    const trace = this.options.tracer?.startConnection('inbound', 'tcp', 'TCP');
    const spanFacts: SpanEnd = { targetAddr: base.targetAddr, ...connectionFacts(conn, socket) };
    const decision = server === undefined ? undefined : authorizeConnection(server, conn);
    if (server === undefined || !decision?.allowed) {
      if (server !== undefined) this.options.metrics.tcpDenied({ ...base, server: serverMetadata(server, port) });
      const reason = decision?.reason ?? 'no inbound policy yet';
      this.options.logger.info({ client: conn.clientIdentity, source: conn.sourceIp, port, reason }, 'inbound connection refused');
      trace?.end({ ...spanFacts, error: `refused: ${reason}` });
      socket.destroy();
      return;
    }
    const labels: InboundLabels = { ...base, server: serverMetadata(server, port), authz: policyMetadata(decision.authorization.ref) };
    this.options.metrics.tcpAuthorized(labels);
    pipeConnection(socket, netConnect({ port, host: this.workloadHost, allowHalfOpen: true }), this.options.metrics, labels, (c) =>
      trace?.end({ ...spanFacts, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten, ...(c.error !== undefined ? { error: c.error } : {}) }),
    );
  }
}

/** The client of an inbound connection as span facts: its address, and its identity on mesh TLS. */
function connectionFacts(conn: ConnectionFacts, socket: Socket): { clientAddr: string; peerIdentity?: string } {
  return { clientAddr: `${socket.remoteAddress ?? conn.sourceIp}:${socket.remotePort ?? 0}`, ...(conn.tls && conn.clientIdentity !== undefined ? { peerIdentity: conn.clientIdentity } : {}) };
}

/**
 * Closes a socket after an error on the other side of its connection: plain TCP with a reset, so
 * that its peer does not take the end for a complete answer; mesh TLS by closing it (Node cannot
 * reset a TLS socket).
 */
function abort(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket instanceof TLSSocket) socket.destroy();
  else socket.resetAndDestroy();
}

/** A half-open socket handed to an HTTP/2 session: it ends its side when the other does, as Node's HTTP/2 servers expect. */
export function closeWhenEnded(socket: Socket): void {
  socket.allowHalfOpen = false;
}

/** What became of a piped connection, once its client side closed. */
export interface PipedConnection {
  /** Bytes read from the client, and written to it. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** The error that ended it, if one did: its code (`ECONNRESET` …), else its message. */
  readonly error?: string | undefined;
}

/**
 * Pipes two sockets both ways, counting the bytes on the client side. A
 * half-close travels on: when one side ends its writing, the other's
 * writing side is ended once what came before is written, and the other
 * direction keeps flowing; the connection closes when both directions are
 * done. An error, or a side closed before its peer ended (a reset, a
 * destroy), destroys both. Both sockets should be half-open (`allowHalfOpen`).
 */
export function pipeConnection(client: Socket, upstream: Socket, metrics: ProxyMetrics, labels: TrafficLabels, onClosed?: (connection: PipedConnection) => void): void {
  const recorder = metrics.tcpOpen({ ...labels, peer: 'src' });
  let bytesRead = 0;
  let bytesWritten = 0;
  client.on('data', (chunk: Buffer) => {
    bytesRead += chunk.length;
    recorder.read(chunk.length);
  });
  upstream.on('data', (chunk: Buffer) => {
    bytesWritten += chunk.length;
    recorder.write(chunk.length);
  });
  let errno: string | undefined;
  let failure: string | undefined;
  const fail = (error: NodeJS.ErrnoException): void => {
    errno ??= error.code;
    failure ??= error.code ?? error.message;
    abort(client);
    abort(upstream);
  };
  client.on('error', fail);
  upstream.on('error', fail);
  // A side closed after both its directions were done leaves the other to finish writing what it has;
  // one that cannot stay half-open ends the connection once that is written.
  const closed = (side: Socket, other: Socket): void => {
    if (!(side.readableEnded && side.writableFinished)) other.destroy();
    else if (!side.allowHalfOpen && !other.destroyed) {
      if (other.writableFinished) other.destroy();
      else other.once('finish', () => other.destroy());
    }
  };
  client.on('close', () => {
    closed(client, upstream);
    recorder.close(errno);
    onClosed?.({ bytesRead, bytesWritten, ...(failure !== undefined ? { error: failure } : {}) });
  });
  upstream.on('close', () => closed(upstream, client));
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
