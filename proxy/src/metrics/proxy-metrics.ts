/*
 * The proxy's traffic metrics with the Linkerd proxy's names and labels, and
 * a small recorder API for the data path: one recorder per request or
 * connection, so the hot path does no label work beyond a cached lookup.
 *
 * The request, response and inbound authorization counters are counted in
 * the series' own fields and added to prom-client's counters when they are
 * read (a scrape): prom-client hashes every label set it is given, which
 * for these label sets cost more than the rest of the metrics together.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  authzCounterLabelNames,
  classify,
  errnoLabel,
  latencyLabelNames,
  requestLabelNames,
  responseLabelNames,
  tcpCloseLabelNames,
  tcpLabelNames,
  trafficLabelValues,
  type InboundLabels,
  dstLabelKeys,
  type LabelValues,
  type PolicyRef,
  type TcpLabels,
  type TrafficLabels,
} from './labels.js';

/** The bucket bounds of Linkerd's `response_latency_ms`, in milliseconds. */
export const latencyBucketsMs: readonly number[] = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
];

/** Why a request ended without a complete response; the `error` label of `response_total`. */
export const requestErrorKinds = ['timeout', 'failfast', 'unavailable', 'reset', 'unexpected'] as const;
export type RequestErrorKind = (typeof requestErrorKinds)[number];

/**
 * A second consumer of what the metrics record (the bus summaries): told of
 * every ended request and every connection with the series' label values,
 * which are the same object for the same series.
 */
export interface TrafficSink {
  response(values: Readonly<LabelValues>, elapsedMs: number | undefined, status: number | undefined, classification: 'success' | 'failure'): void;
  tcpOpen(values: Readonly<LabelValues>): void;
  tcpBytes(values: Readonly<LabelValues>, read: number, written: number): void;
  tcpClose(values: Readonly<LabelValues>): void;
}

export interface ProxyMetricsOptions {
  /** Also told of every request and connection. */
  readonly sink?: TrafficSink;
  /** Monotonic clock in milliseconds. @default performance.now */
  readonly now?: () => number;
  /**
   * How many distinct `authority` values the proxy labels; past it, new
   * authorities are recorded without the label. A backstop: callers pass only
   * authorities from policy or discovery.
   * @default 500
   */
  readonly maxAuthorities?: number;
}

/** Records one request: `respond` at the response headers, `end` when the response stream ends. */
export interface RequestRecorder {
  /** The response headers arrived; the latency is measured to here. The first call wins. */
  respond(status: number, grpcStatus?: number): void;
  /** The `grpc-status` of the trailers, when it was not in the headers. */
  trailers(grpcStatus: number): void;
  /**
   * The stream ended; with an error kind when it failed. Only the first call counts.
   * `failure` overrides the default classification (a route's response classes).
   */
  end(error?: RequestErrorKind, failure?: boolean): void;
}

/** Records one TCP connection; byte counts show at scrape and when it closes. */
export interface ConnectionRecorder {
  read(bytes: number): void;
  write(bytes: number): void;
  /** The connection closed; with the system error code (`ECONNRESET`) when an error closed it. Only the first call counts. */
  close(errno?: string): void;
}

const authorityPattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$/;

/** Label sets remembered by content; past this many the memory is emptied (after a flush) and refilled. */
const maxRememberedSeries = 4096;

/** The outcome of requests of one series: its label sets, and the responses not yet added to `response_total`. */
interface Outcome {
  readonly latency: LabelValues;
  readonly response: LabelValues;
  pending: number;
}

/** One label set of traffic, with the counts not yet added to prom-client's counters. */
class Series {
  requests = 0;
  authzAllow = 0;
  authzDeny = 0;
  routeNotFound = 0;
  readonly outcomes = new Map<string, Outcome>();
  private authz: LabelValues | undefined;

  constructor(readonly values: LabelValues) {}

  /** The labels of the inbound authorization counters: the series' without direction and authority. */
  authzValues(): LabelValues {
    if (this.authz === undefined) {
      const { direction: _direction, authority: _authority, ...rest } = this.values;
      this.authz = rest;
    }
    return this.authz;
  }
}

/** The proxy's request, response, TCP and inbound authorization metrics on one registry. */
export class ProxyMetrics {
  private readonly now: () => number;
  private readonly maxAuthorities: number;
  private readonly sink: TrafficSink | undefined;
  private readonly authorities = new Set<string>();
  /** The series of a label description, by its content: the data path makes a labels object per request. */
  private readonly byContent = new Map<string, Series>();
  /** The destination labels of an endpoint's labels object, as part of a {@link contentKey}. */
  private readonly dstKeys = new WeakMap<object, string>();
  /** Series with counts not yet added to prom-client's counters. */
  private readonly dirty = new Set<Series>();
  private readonly openConnections = new Set<Connection>();

  private readonly requests: Counter;
  private readonly responses: Counter;
  private readonly latency: Histogram;
  private readonly tcpOpens: Counter;
  private readonly tcpCloses: Counter;
  private readonly tcpReadBytes: Counter;
  private readonly tcpWriteBytes: Counter;
  private readonly tcpOpenConnections: Gauge;
  private readonly tcpDuration: Histogram;
  private readonly httpAuthzAllow: Counter;
  private readonly httpAuthzDeny: Counter;
  private readonly tcpAuthzAllow: Counter;
  private readonly tcpAuthzDeny: Counter;
  private readonly httpRouteNotFound: Counter;
  private readonly tunnelConnects: Counter;

  constructor(registry: Registry, options: ProxyMetricsOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.maxAuthorities = options.maxAuthorities ?? 500;
    this.sink = options.sink;
    const registers = [registry];
    const flush = (): void => {
      for (const c of this.openConnections) c.flush();
    };
    const flushCounts = (): void => this.flushCounts();
    this.requests = new Counter({
      name: 'request_total',
      help: 'Requests the proxy has received, counted when the request stream begins.',
      labelNames: requestLabelNames,
      registers,
      collect: flushCounts,
    });
    this.responses = new Counter({ name: 'response_total', help: 'Responses, counted when the response stream ends.', labelNames: responseLabelNames, registers, collect: flushCounts });
    this.latency = new Histogram({
      name: 'response_latency_ms',
      help: 'Time from the request headers to the response headers, in milliseconds.',
      labelNames: latencyLabelNames,
      buckets: [...latencyBucketsMs],
      registers,
    });
    this.tcpOpens = new Counter({ name: 'tcp_open_total', help: 'Transport connections opened.', labelNames: tcpLabelNames, registers });
    this.tcpCloses = new Counter({ name: 'tcp_close_total', help: 'Transport connections closed; errno is set when an error closed one.', labelNames: tcpCloseLabelNames, registers });
    this.tcpReadBytes = new Counter({
      name: 'tcp_read_bytes_total',
      help: 'Bytes received on transport connections.',
      labelNames: tcpLabelNames,
      registers,
      collect: flush,
    });
    this.tcpWriteBytes = new Counter({
      name: 'tcp_write_bytes_total',
      help: 'Bytes sent on transport connections.',
      labelNames: tcpLabelNames,
      registers,
      collect: flush,
    });
    this.tcpOpenConnections = new Gauge({ name: 'tcp_open_connections', help: 'Transport connections currently open.', labelNames: tcpLabelNames, registers });
    this.tcpDuration = new Histogram({
      name: 'tcp_connection_duration_ms',
      help: 'Lifetime of closed transport connections, in milliseconds.',
      labelNames: tcpCloseLabelNames,
      buckets: [...latencyBucketsMs],
      registers,
    });
    this.httpAuthzAllow = new Counter({ name: 'inbound_http_authz_allow_total', help: 'Inbound HTTP requests authorized.', labelNames: authzCounterLabelNames, registers, collect: flushCounts });
    this.httpAuthzDeny = new Counter({
      name: 'inbound_http_authz_deny_total',
      help: 'Inbound HTTP requests denied by authorization policy.',
      labelNames: authzCounterLabelNames,
      registers,
      collect: flushCounts,
    });
    this.tcpAuthzAllow = new Counter({ name: 'inbound_tcp_authz_allow_total', help: 'Inbound TCP connections authorized.', labelNames: authzCounterLabelNames, registers });
    this.tcpAuthzDeny = new Counter({ name: 'inbound_tcp_authz_deny_total', help: 'Inbound TCP connections denied by authorization policy.', labelNames: authzCounterLabelNames, registers });
    this.httpRouteNotFound = new Counter({
      name: 'inbound_http_route_not_found_total',
      help: 'Inbound HTTP requests that matched no route.',
      labelNames: authzCounterLabelNames,
      registers,
      collect: flushCounts,
    });
    this.tunnelConnects = new Counter({
      name: 'outbound_tunnel_connect_total',
      help: 'Tunnels opened (or not) through the multicluster gateways of linked clusters, by cluster and result.',
      labelNames: ['gateway_cluster', 'result'],
      registers,
    });
  }

  /**
   * A tunnel through a linked cluster's multicluster gateway was opened (`ok`) or could not be
   * (`refused`: the gateway answered CONNECT with another status; `error`: TLS or the connection failed).
   */
  tunnelConnect(cluster: string, result: 'ok' | 'refused' | 'error'): void {
    this.tunnelConnects.inc({ gateway_cluster: cluster, result });
  }

  /** Counts a request in `request_total` and returns its recorder. */
  startRequest(labels: TrafficLabels): RequestRecorder {
    const series = this.series(labels);
    series.requests++;
    this.dirty.add(series);
    return new Request(this, series, this.now());
  }

  /** Counts a connection in `tcp_open_total` and `tcp_open_connections` and returns its recorder. */
  tcpOpen(labels: TcpLabels): ConnectionRecorder {
    const values = this.series(labels).values;
    this.tcpOpens.inc(values);
    this.tcpOpenConnections.inc(values);
    this.sink?.tcpOpen(values);
    const c = new Connection(this, values, this.now());
    this.openConnections.add(c);
    return c;
  }

  /** An inbound HTTP request the authorization policy allowed (`authz` names the authorization). */
  httpAuthorized(labels: InboundLabels): void {
    const series = this.series(labels);
    series.authzAllow++;
    this.dirty.add(series);
  }

  /** An inbound HTTP request the authorization policy denied. */
  httpDenied(labels: InboundLabels): void {
    const series = this.series(labels);
    series.authzDeny++;
    this.dirty.add(series);
  }

  /** An inbound TCP connection the authorization policy allowed. */
  tcpAuthorized(labels: InboundLabels): void {
    this.tcpAuthzAllow.inc(this.series(labels).authzValues());
  }

  /** An inbound TCP connection the authorization policy denied. */
  tcpDenied(labels: InboundLabels): void {
    this.tcpAuthzDeny.inc(this.series(labels).authzValues());
  }

  /** An inbound HTTP request that matched no route of its server. */
  routeNotFound(labels: InboundLabels): void {
    const series = this.series(labels);
    series.routeNotFound++;
    this.dirty.add(series);
  }

  /** @internal */
  recordResponse(series: Series, elapsedMs: number | undefined, status: number | undefined, grpcStatus: number | undefined, error: RequestErrorKind | undefined, failure?: boolean): void {
    const classification = error === undefined && failure !== undefined ? (failure ? 'failure' : 'success') : classify(status, grpcStatus, error !== undefined);
    const key = `${status ?? ''} ${grpcStatus ?? ''} ${error ?? ''} ${classification}`;
    let outcome = series.outcomes.get(key);
    if (outcome === undefined) {
      const latency: LabelValues = status === undefined ? series.values : { ...series.values, status_code: String(status) };
      const response: LabelValues = { ...latency, classification };
      if (grpcStatus !== undefined) response.grpc_status = String(grpcStatus);
      if (error !== undefined) response.error = error;
      outcome = { latency, response, pending: 0 };
      series.outcomes.set(key, outcome);
    }
    if (elapsedMs !== undefined) this.latency.observe(outcome.latency, elapsedMs);
    this.sink?.response(series.values, elapsedMs, status, classification);
    outcome.pending++;
    this.dirty.add(series);
  }

  /** @internal */
  recordBytes(values: LabelValues, read: number, written: number): void {
    if (read > 0) this.tcpReadBytes.inc(values, read);
    if (written > 0) this.tcpWriteBytes.inc(values, written);
    if (read > 0 || written > 0) this.sink?.tcpBytes(values, read, written);
  }

  /** @internal */
  recordClose(c: Connection, values: LabelValues, openedAt: number, errno: string | undefined): void {
    this.openConnections.delete(c);
    this.tcpOpenConnections.dec(values);
    this.sink?.tcpClose(values);
    const closed = { ...values, errno: errno === undefined ? '' : errnoLabel(errno) };
    this.tcpCloses.inc(closed);
    this.tcpDuration.observe(closed, Math.max(0, this.now() - openedAt));
  }

  /** Hands the bytes open connections moved so far to the counters (and the sink), as a scrape does. */
  flushConnectionBytes(): void {
    for (const c of this.openConnections) c.flush();
  }

  /** @internal */
  clock(): number {
    return this.now();
  }

  /** Adds the counts kept in the series to prom-client's counters; runs before any of them is read. */
  private flushCounts(): void {
    for (const series of this.dirty) {
      if (series.requests > 0) this.requests.inc(series.values, series.requests);
      for (const outcome of series.outcomes.values()) {
        if (outcome.pending > 0) this.responses.inc(outcome.response, outcome.pending);
        outcome.pending = 0;
      }
      if (series.authzAllow > 0) this.httpAuthzAllow.inc(series.authzValues(), series.authzAllow);
      if (series.authzDeny > 0) this.httpAuthzDeny.inc(series.authzValues(), series.authzDeny);
      if (series.routeNotFound > 0) this.httpRouteNotFound.inc(series.authzValues(), series.routeNotFound);
      series.requests = series.authzAllow = series.authzDeny = series.routeNotFound = 0;
    }
    this.dirty.clear();
  }

  /** The series of a label description: found by its content, else made (with its authority bounded). */
  private series(labels: TrafficLabels | TcpLabels): Series {
    const key = this.contentKey(labels);
    let series = this.byContent.get(key);
    if (series === undefined) {
      const values = trafficLabelValues(labels);
      if (values.authority !== undefined && !this.admitAuthority(values.authority)) delete values.authority;
      series = new Series(values);
      if (this.byContent.size >= maxRememberedSeries) {
        // `dirty` would hold the forgotten series until the next scrape: hand their counts over now, so it stays bounded too.
        this.flushCounts();
        this.byContent.clear();
      }
      this.byContent.set(key, series);
    }
    return series;
  }

  /**
   * What tells two label descriptions apart: everything trafficLabelValues
   * reads, as one string. The destination labels are read once per object
   * (the data path passes an endpoint's own labels object, which is not
   * changed once received).
   */
  private contentKey(labels: TrafficLabels | TcpLabels): string {
    const tls = labels.tls.established ? `t${labels.tls.peerIdentity ?? ''}` : `n${labels.tls.reason}`;
    const peer = 'peer' in labels ? labels.peer : '';
    const refs =
      labels.direction === 'inbound'
        ? `${refKey(labels.server)}\t${refKey(labels.authz)}\t${refKey(labels.route)}`
        : `${refKey(labels.route)}\t${'profileRoute' in labels ? (labels.profileRoute ?? '') : ''}\t${labels.dst === undefined ? '' : this.dstKey(labels.dst)}`;
    return `${labels.direction}\t${peer}\t${labels.targetAddr}\t${labels.authority ?? ''}\t${tls}\t${refs}`;
  }

  private dstKey(dst: Readonly<Record<string, string>>): string {
    let key = this.dstKeys.get(dst);
    if (key === undefined) {
      key = dstLabelKeys.map((k) => dst[k] ?? '').join('\t');
      this.dstKeys.set(dst, key);
    }
    return key;
  }

  private admitAuthority(authority: string): boolean {
    if (authority.length > 260 || !authorityPattern.test(authority)) return false;
    if (this.authorities.has(authority)) return true;
    if (this.authorities.size >= this.maxAuthorities) return false;
    this.authorities.add(authority);
    return true;
  }
}

/** The parts of a policy reference its labels come from. */
function refKey(ref: PolicyRef | undefined): string {
  const kind = ref?.kind;
  if (kind === undefined) return '';
  if (kind.$case === 'default') return `d${kind.default}`;
  const r = kind.resource;
  return `r${r.group}/${r.kind}/${r.namespace}/${r.name}/${r.port}`;
}

class Request implements RequestRecorder {
  private status: number | undefined;
  private grpcStatus: number | undefined;
  private elapsedMs: number | undefined;
  private ended = false;

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly series: Series,
    private readonly startedAt: number,
  ) {}

  respond(status: number, grpcStatus?: number): void {
    if (this.ended || this.status !== undefined) return;
    this.status = status;
    this.elapsedMs = Math.max(0, this.metrics.clock() - this.startedAt);
    if (grpcStatus !== undefined) this.grpcStatus = grpcStatus;
  }

  trailers(grpcStatus: number): void {
    if (!this.ended) this.grpcStatus = grpcStatus;
  }

  end(error?: RequestErrorKind, failure?: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.metrics.recordResponse(this.series, this.elapsedMs, this.status, this.grpcStatus, error, failure);
  }
}

class Connection implements ConnectionRecorder {
  private read_ = 0;
  private written = 0;
  private closed = false;

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly values: LabelValues,
    private readonly openedAt: number,
  ) {}

  read(bytes: number): void {
    if (!this.closed) this.read_ += bytes;
  }

  write(bytes: number): void {
    if (!this.closed) this.written += bytes;
  }

  flush(): void {
    this.metrics.recordBytes(this.values, this.read_, this.written);
    this.read_ = 0;
    this.written = 0;
  }

  close(errno?: string): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.metrics.recordClose(this, this.values, this.openedAt, errno);
  }
}
