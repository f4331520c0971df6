/*
 * The inbound listener: in front of the workload, it accepts mesh TLS from
 * other proxies and plain connections, authorizes each request (or opaque
 * connection) by the port's inbound policy, and forwards to the workload.
 */
import { Agent, createServer as createHttpServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { inbound } from '@meshbus/proxy-api';
import { errorMessage, type Logger } from '@meshbus/runtime';
import {
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
import { peekClientHello, type MeshTls, type AcceptedConnection } from '../tls/index.js';
import { forwardableHeaders, policyMetadata, requestFacts, serverMetadata, targetPortHeader } from './http-headers.js';
import { sniff, sniffProtocol, type SniffedProtocol } from './sniff.js';
import { ConnectionTracker } from './connection-tracker.js';

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
  readonly logger: Logger;
  /** How long protocol detection waits for the first bytes. @default 10s */
  readonly detectTimeoutMs?: number;
}

const noTlsFromRemote: TlsStatus = { established: false, reason: 'no_tls_from_remote' };

function send(res: ServerResponse, response: ProxyResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(response.body) });
  res.end(response.body);
}

/** The inbound side of one proxy. {@link listen} starts it; {@link close} drains it. */
export class InboundProxy {
  private readonly listener: NetServer;
  private readonly meshServer: TlsServer;
  private readonly http1;
  private readonly facts = new WeakMap<Socket, ConnectionFacts>();
  private readonly limiters = new Map<number, HttpLocalRateLimiter>();
  private readonly agent: Agent;
  private readonly tracker = new ConnectionTracker();
  private readonly workloadHost: string;
  private readonly detectTimeoutMs: number;

  constructor(private readonly options: InboundProxyOptions) {
    if (options.ports.length === 0) throw new Error('InboundProxy: ports must list at least one workload port');
    this.workloadHost = options.workloadHost ?? '127.0.0.1';
    this.detectTimeoutMs = options.detectTimeoutMs ?? 10_000;
    this.agent = new Agent({ keepAlive: true });
    this.listener = createNetServer((socket) => this.accept(socket));
    this.meshServer = options.tls.createServer((connection) => this.acceptMesh(connection));
    this.http1 = createHttpServer((req, res) => this.handle(req, res));
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
    await this.tracker.drain(graceMs, () => this.http1.closeIdleConnections());
    this.agent.destroy();
    await closed;
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
      const conn: ConnectionFacts = { tls: false, sourceIp: socket.remoteAddress ?? '' };
      if (kind === 'opaque-tls') this.opaque(socket, conn, this.defaultPort);
      else this.detect(socket, conn);
    });
  }

  private acceptMesh({ socket, peer }: AcceptedConnection): void {
    this.tracker.add(socket);
    const conn: ConnectionFacts = { tls: true, clientIdentity: peer.kind === 'authenticated' ? peer.identity : undefined, sourceIp: socket.remoteAddress ?? '' };
    if (socket.alpnProtocol === 'http/1.1') {
      this.toHttp1(socket, conn);
      return;
    }
    this.detect(socket, conn);
  }

  private get defaultPort(): number {
    return this.options.ports[0]!;
  }

  /** Opaque ports skip detection; other traffic is HTTP/1 when it looks like it, else opaque. */
  private detect(socket: Socket | TLSSocket, conn: ConnectionFacts): void {
    const server = this.options.policy(this.defaultPort);
    if (server?.protocol?.kind?.$case === 'opaque') {
      this.opaque(socket, conn, this.defaultPort);
      return;
    }
    void sniff<SniffedProtocol>(socket, sniffProtocol, this.detectTimeoutMs, 'opaque').then((protocol) => {
      if (protocol === undefined) return;
      if (protocol === 'http1') this.toHttp1(socket, conn);
      else this.opaque(socket, conn, this.defaultPort);
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const started = Date.now();
    const conn = this.facts.get(req.socket) ?? { tls: false, sourceIp: req.socket.remoteAddress ?? '' };
    const grpc = isGrpcRequest(req.headers);
    const portText = req.headers[targetPortHeader];
    const port = typeof portText === 'string' && /^\d{1,5}$/.test(portText) ? Number(portText) : this.defaultPort;
    if (!this.options.ports.includes(port)) {
      send(res, errorResponse({ httpStatus: 404, grpcStatus: GrpcStatus.UNIMPLEMENTED, message: `port ${port} is not a port of this workload`, grpc }));
      return;
    }
    const server = this.options.policy(port);
    const base: InboundLabels = { direction: 'inbound', targetAddr: `${this.workloadHost}:${port}`, tls: this.tlsStatus(conn) };
    if (server === undefined) {
      send(res, errorResponse({ httpStatus: 503, grpcStatus: 14, message: `no inbound policy for port ${port} yet`, grpc }));
      return;
    }
    const facts = requestFacts(req.method ?? 'GET', req.url ?? '/', req.headers, req.headers.host ?? '');
    const decision = authorizeRequest(server, conn, facts);
    const labels: InboundLabels = { ...base, server: serverMetadata(server, port), ...(decision.outcome !== 'no-route' ? { route: policyMetadata(decision.route.ref) } : {}), ...(decision.outcome === 'allowed' ? { authz: policyMetadata(decision.authorization.ref) } : {}) };
    if (decision.outcome !== 'allowed') {
      if (decision.outcome === 'denied') this.options.metrics.httpDenied(labels);
      else this.options.metrics.routeNotFound(labels);
      this.options.logger.info({ client: conn.clientIdentity, source: conn.sourceIp, port, reason: decision.reason }, 'inbound request refused');
      send(res, refusalResponse(decision, grpc)!);
      return;
    }
    if (decision.audit) this.options.logger.warn({ client: conn.clientIdentity, source: conn.sourceIp, port, reason: decision.reason }, 'audit: request let in that a deny policy would refuse');
    const limit = this.limiter(port, server).check(conn.tls ? conn.clientIdentity : undefined);
    if (!limit.allowed) {
      send(res, rateLimitedResponse(limit, grpc));
      return;
    }
    this.options.metrics.httpAuthorized(labels);
    this.forward(req, res, port, conn, labels, started);
  }

  private forward(req: IncomingMessage, res: ServerResponse, port: number, conn: ConnectionFacts, labels: InboundLabels, started: number): void {
    const recorder = this.options.metrics.startRequest(labels);
    const headers = forwardableHeaders(withClientId(req.headers, conn));
    delete headers[targetPortHeader];
    const upstream = httpRequest({ host: this.workloadHost, port, method: req.method, path: req.url, headers, agent: this.agent });
    let bytes = 0;
    upstream.on('response', (response) => {
      recorder.respond(response.statusCode ?? 0);
      res.writeHead(response.statusCode ?? 502, forwardableHeaders(response.headers));
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.pipe(res);
      response.on('end', () => {
        recorder.end();
        this.log(req, conn, res.statusCode, bytes, started);
      });
      response.on('error', () => recorder.end('reset'));
    });
    upstream.on('error', (error) => {
      recorder.end('unavailable');
      this.options.logger.warn({ port, err: errorMessage(error) }, 'the workload did not answer');
      send(res, errorResponse({ httpStatus: 502, grpcStatus: 14, message: `the workload on port ${port} did not answer: ${errorMessage(error)}`, grpc: isGrpcRequest(req.headers) }));
      this.log(req, conn, 502, 0, started);
    });
    req.pipe(upstream);
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  }

  private log(req: IncomingMessage, conn: ConnectionFacts, status: number, bytes: number, started: number): void {
    this.options.accessLog?.record({
      time: new Date(started),
      direction: 'inbound',
      clientAddr: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`,
      ...(conn.clientIdentity ? { clientId: conn.clientIdentity } : {}),
      method: req.method ?? '',
      authority: req.headers.host ?? '',
      path: req.url ?? '',
      protocol: `HTTP/${req.httpVersion}`,
      status,
      bytes,
      durationMs: Date.now() - started,
      headers: req.headers,
    });
  }

  /** Opaque TCP: authorized once for the connection, then piped to the workload. */
  private opaque(socket: Socket, conn: ConnectionFacts, port: number): void {
    const server = this.options.policy(port);
    const base: InboundLabels = { direction: 'inbound', targetAddr: `${this.workloadHost}:${port}`, tls: this.tlsStatus(conn) };
    const decision = server === undefined ? undefined : authorizeConnection(server, conn);
    if (server === undefined || !decision?.allowed) {
      if (server !== undefined) this.options.metrics.tcpDenied({ ...base, server: serverMetadata(server, port) });
      this.options.logger.info({ client: conn.clientIdentity, source: conn.sourceIp, port, reason: decision?.reason ?? 'no inbound policy yet' }, 'inbound connection refused');
      socket.destroy();
      return;
    }
    const labels: InboundLabels = { ...base, server: serverMetadata(server, port), authz: policyMetadata(decision.authorization.ref) };
    this.options.metrics.tcpAuthorized(labels);
    pipeConnection(socket, netConnect(port, this.workloadHost), this.options.metrics, labels);
  }
}

/** Pipes two sockets both ways, counting the bytes on the client side. */
export function pipeConnection(client: Socket, upstream: Socket, metrics: ProxyMetrics, labels: TrafficLabels): void {
  const recorder = metrics.tcpOpen({ ...labels, peer: 'src' });
  client.on('data', (chunk: Buffer) => recorder.read(chunk.length));
  upstream.on('data', (chunk: Buffer) => recorder.write(chunk.length));
  let errno: string | undefined;
  const fail = (error: NodeJS.ErrnoException): void => {
    errno ??= error.code;
    client.destroy();
    upstream.destroy();
  };
  client.on('error', fail);
  upstream.on('error', fail);
  client.on('close', () => {
    upstream.destroy();
    recorder.close(errno);
  });
  upstream.on('close', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
