/*
 * The multicluster gateway: accepts mesh TLS (ALPN meshbus.tunnel) from
 * proxies of linked clusters, reads one CONNECT naming a service port of
 * this cluster, and relays the raw bytes to an endpoint's proxy. The bytes
 * after the 200 are the client proxy's own mesh TLS to that endpoint: the
 * gateway never terminates it. See docs/proxy.md#gateway-mode.
 */
import { connect as netConnect, type Server as NetServer, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage, type Logger } from '@meshbus/runtime';
import { ConnectionTracker } from '../data/connection-tracker.js';
import { pipeConnection } from '../data/inbound-proxy.js';
import type { AccessLog, ProxyMetrics } from '../metrics/index.js';
import type { AcceptedConnection, MeshTls } from '../tls/index.js';
import { identityAllowed, type IdentityAllowList } from './allow-list.js';
import { MAX_CONNECT_HEAD_BYTES, parseConnectHead } from './connect-request.js';
import { NoTunnelEndpointError, TunnelNotFoundError, type TunnelEndpoint, type TunnelResolver } from './resolver.js';

/** The ALPN protocol of tunnels to the gateway. */
export const TUNNEL_ALPN = 'meshbus.tunnel';

/** How a tunnel ended, the `result` label of `meshbus_proxy_gateway_tunnels_total`. */
export type TunnelResult = 'established' | 'malformed' | 'forbidden' | 'not_exported' | 'not_found' | 'unreachable' | 'refused_tls';

const statusText: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 502: 'Bad Gateway' };

/** Options of {@link MulticlusterGateway}. */
export interface MulticlusterGatewayOptions {
  /** The proxy's mesh TLS, made with `serverAlpn: [TUNNEL_ALPN]`. */
  readonly tls: MeshTls;
  readonly resolver: TunnelResolver;
  readonly allowed: IdentityAllowList;
  /** Only authorities of this cluster domain are served; others are answered 404. */
  readonly clusterDomain: string;
  readonly registry: Registry;
  /** Byte counts of relayed connections (`tcp_*` series, direction outbound). */
  readonly metrics: ProxyMetrics;
  readonly accessLog?: AccessLog | undefined;
  readonly logger: Logger;
  /** A client must send its whole CONNECT within this. @default 10000 */
  readonly headTimeoutMs?: number;
  /** Gives up on connecting to one endpoint after this. @default 5000 */
  readonly connectTimeoutMs?: number;
  /** Endpoints tried before answering 502. @default 3 */
  readonly attempts?: number;
}

/** The gateway's listener and its metrics. */
export class MulticlusterGateway {
  private readonly server: TlsServer;
  private readonly tracker = new ConnectionTracker();
  private readonly tunnels: Counter<'result'>;
  private readonly open: Gauge;
  private readonly headTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly attempts: number;

  constructor(private readonly options: MulticlusterGatewayOptions) {
    this.headTimeoutMs = options.headTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.attempts = options.attempts ?? 3;
    this.tunnels = new Counter({ name: 'meshbus_proxy_gateway_tunnels_total', help: 'Tunnels the multicluster gateway answered, by result.', labelNames: ['result'], registers: [options.registry] });
    this.open = new Gauge({ name: 'meshbus_proxy_gateway_open_tunnels', help: 'Tunnels of the multicluster gateway relaying bytes now.', registers: [options.registry] });
    this.server = options.tls.createServer((connection) => this.accept(connection), { allowHalfOpen: true });
    (this.server as NetServer).on('connection', (socket: Socket) => this.tracker.add(socket));
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the gateway listener is not listening');
    return address.port;
  }

  /** Stops accepting, lets open tunnels run for `graceMs`, then closes them. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.tracker.drain(graceMs, () => undefined);
    this.options.resolver.close();
    await closed;
  }

  private accept({ socket, peer }: AcceptedConnection): void {
    const started = Date.now();
    const client = `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`;
    socket.on('error', (error) => this.options.logger.debug({ client, err: errorMessage(error) }, 'gateway client connection failed'));
    if (socket.alpnProtocol !== TUNNEL_ALPN) {
      this.tunnels.inc({ result: 'refused_tls' });
      this.options.logger.info({ client, alpn: socket.alpnProtocol || null }, `tunnel refused: the client did not negotiate ALPN ${TUNNEL_ALPN}`);
      socket.destroy();
      return;
    }
    const clientId = peer.kind === 'authenticated' ? peer.identity : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => finish({ kind: 'malformed', reason: `no complete CONNECT within ${this.headTimeoutMs} ms` }), this.headTimeoutMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      const parsed = parseConnectHead(Buffer.concat(chunks, received), MAX_CONNECT_HEAD_BYTES);
      if (parsed.kind !== 'incomplete') finish(parsed);
    };
    const onEnd = (): void => finish({ kind: 'malformed', reason: 'the client closed before a complete CONNECT' });
    let done = false;
    const finish = (parsed: Exclude<ReturnType<typeof parseConnectHead>, { kind: 'incomplete' }>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      const log = { client, clientId: clientId ?? null, started };
      if (clientId === undefined || !identityAllowed(this.options.allowed, clientId)) {
        const why = clientId === undefined ? 'the client presented no certificate' : `the identity ${clientId} may not open tunnels`;
        this.refuse(socket, 403, 'forbidden', why, { ...log, authority: parsed.kind === 'connect' ? parsed.target.authority : '' });
        return;
      }
      if (parsed.kind === 'malformed') {
        this.refuse(socket, 400, 'malformed', parsed.reason, { ...log, authority: '' });
        return;
      }
      const { target, rest } = parsed;
      if (target.clusterDomain !== this.options.clusterDomain.toLowerCase()) {
        this.refuse(socket, 404, 'not_found', `${target.authority} is not in this cluster's domain ${this.options.clusterDomain}`, { ...log, authority: target.authority });
        return;
      }
      void this.relay(socket, target.authority, rest, log);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    // A client gone before its CONNECT was complete (a reset) leaves nothing to answer.
    socket.once('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.tunnels.inc({ result: 'malformed' });
      this.options.logger.debug({ client, clientId: clientId ?? null }, 'tunnel client closed before a complete CONNECT');
    });
  }

  private async relay(socket: TLSSocket, authority: string, rest: Buffer, log: { client: string; clientId: string | null; started: number }): Promise<void> {
    let failure = '';
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      let endpoint: TunnelEndpoint;
      try {
        endpoint = await this.options.resolver.endpoint(authority);
      } catch (error) {
        if (error instanceof TunnelNotFoundError) return this.refuse(socket, 404, 'not_found', error.message, { ...log, authority });
        if (error instanceof NoTunnelEndpointError) return this.refuse(socket, 502, 'unreachable', error.message, { ...log, authority });
        return this.refuse(socket, 502, 'unreachable', `${authority}: ${errorMessage(error)}`, { ...log, authority });
      }
      if (socket.destroyed) {
        endpoint.done({ failure: false, latencyMs: 0 });
        return;
      }
      if (!endpoint.exported) {
        endpoint.done({ failure: false, latencyMs: 0 });
        return this.refuse(socket, 403, 'not_exported', `${authority} is not exported to linked clusters`, { ...log, authority });
      }
      const dialed = Date.now();
      const upstream = await this.dial(endpoint).catch((error: unknown) => {
        endpoint.done({ failure: true, latencyMs: Date.now() - dialed });
        failure = `${endpoint.key} (${endpoint.host}:${endpoint.port}): ${errorMessage(error)}`;
        return undefined;
      });
      if (!upstream) continue;
      if (socket.destroyed) {
        upstream.destroy();
        endpoint.done({ failure: false, latencyMs: Date.now() - dialed });
        return;
      }
      upstream.once('close', (hadError) => endpoint.done({ failure: hadError, latencyMs: Date.now() - dialed }));
      this.tunnels.inc({ result: 'established' });
      this.open.inc();
      // The workload's own port, which requests inside the tunnel name as their destination port, and
      // the identity its proxy proves, which the client requires in its mesh TLS inside the tunnel.
      const identity = endpoint.identity === undefined ? '' : `Meshbus-Target-Identity: ${endpoint.identity}\r\n`;
      socket.write(`HTTP/1.1 200 Connection established\r\nMeshbus-Target-Port: ${endpoint.targetPort}\r\n${identity}\r\n`);
      if (rest.length > 0) upstream.write(rest);
      const labels = {
        direction: 'outbound' as const,
        targetAddr: endpoint.key,
        tls: { established: false as const, reason: 'disabled' as const },
        authority,
      };
      pipeConnection(socket, upstream, this.options.metrics, labels, (c) => {
        this.open.dec();
        this.logTunnel({ ...log, authority, status: 200, endpoint: endpoint.key, bytesIn: rest.length + c.bytesRead, bytesOut: c.bytesWritten, ...(c.error !== undefined ? { error: c.error } : {}) });
      });
      return;
    }
    this.refuse(socket, 502, 'unreachable', `no endpoint of ${authority} could be reached: ${failure}`, { ...log, authority });
  }

  private dial(endpoint: TunnelEndpoint): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const upstream = netConnect({ host: endpoint.host, port: endpoint.port, allowHalfOpen: true });
      const timer = setTimeout(() => upstream.destroy(new Error(`not connected within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      upstream.once('connect', () => {
        clearTimeout(timer);
        upstream.off('error', fail);
        upstream.on('error', () => undefined);
        resolve(upstream);
      });
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      upstream.once('error', fail);
    });
  }

  /** Answers an error status with a one-line body and closes the connection. */
  private refuse(socket: TLSSocket, status: 400 | 403 | 404 | 502, result: TunnelResult, reason: string, log: { client: string; clientId: string | null; started: number; authority: string }): void {
    this.tunnels.inc({ result });
    const body = `${reason.replace(/[\r\n]+/g, ' ')}\n`;
    const head = `HTTP/1.1 ${status} ${statusText[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
    // Whatever else the client sends is read and dropped, so that closing does not reset the answer away.
    socket.resume();
    if (!socket.destroyed) socket.end(head + body);
    const linger = setTimeout(() => socket.destroy(), 5_000);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    this.logTunnel({ ...log, status, reason });
  }

  /** One line per tunnel: the proxy's log, and the access log when it is on. */
  private logTunnel(entry: { client: string; clientId: string | null; started: number; authority: string; status: number; endpoint?: string; bytesIn?: number; bytesOut?: number; reason?: string; error?: string }): void {
    const durationMs = Date.now() - entry.started;
    const { started: _started, ...fields } = entry;
    this.options.logger.info({ ...fields, durationMs }, entry.status === 200 ? 'tunnel closed' : 'tunnel refused');
    this.options.accessLog?.record({
      time: new Date(entry.started),
      direction: 'inbound',
      clientAddr: entry.client,
      ...(entry.clientId !== null ? { clientId: entry.clientId } : {}),
      method: 'CONNECT',
      authority: entry.authority,
      path: entry.authority,
      protocol: 'HTTP/1.1',
      status: entry.status,
      bytes: entry.bytesOut ?? 0,
      durationMs,
    });
  }
}
