/*
 * The traffic of one interval as a compact summary: a second sink beside the
 * Prometheus metrics (see ProxyMetrics' `sink` option). Counts are per
 * interval, latencies go into the fixed buckets of `response_latency_ms`, so
 * summaries of many proxies and intervals add up. Pure: no timers, no I/O.
 */
import { latencyBucketsMs } from '../metrics/proxy-metrics.js';
import type { TrafficSink } from '../metrics/proxy-metrics.js';

/** What one request row of a summary is keyed by. */
export interface RequestKey {
  readonly direction: 'inbound' | 'outbound';
  readonly authority: string;
  readonly route: string;
  /** Hundreds of the HTTP status; 0 when no response arrived. */
  readonly statusClass: number;
  readonly tls: boolean;
}

export interface RequestRow extends RequestKey {
  success: number;
  failure: number;
  /** One count per bound of {@link latencyBucketsMs}, then one for larger latencies. */
  readonly latency: number[];
}

export interface TcpRow {
  readonly direction: 'inbound' | 'outbound';
  readonly authority: string;
  opened: number;
  closed: number;
  /** Open at the end of the interval. */
  open: number;
  readBytes: number;
  writeBytes: number;
}

/** One interval's traffic. */
export interface TrafficSummary {
  readonly intervalStartMs: number;
  readonly intervalMs: number;
  readonly requests: RequestRow[];
  readonly tcp: TcpRow[];
}

export interface SummarizerOptions {
  /** Most request rows per interval; past it, new keys are counted in a row without authority and route. @default 1000 */
  readonly maxRequestRows?: number;
  /** Most TCP rows; past it, new keys are counted in a row without authority. @default 500 */
  readonly maxTcpRows?: number;
}

/** The latency bucket of `ms`: the first bound it does not exceed, else the overflow bucket. */
export function latencyBucket(ms: number, bounds: readonly number[] = latencyBucketsMs): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= bounds[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

type Labels = Readonly<Record<string, string>>;

function direction(values: Labels): 'inbound' | 'outbound' {
  return values.direction === 'inbound' ? 'inbound' : 'outbound';
}

/** The route a label set names: the policy route, else the profile route. */
function routeOf(values: Labels): string {
  const route = values.route_name ?? '';
  return route !== '' ? route : (values.rt_route ?? '');
}

/** Collects the traffic of the current interval; {@link drain} hands it over and starts the next. */
export class TrafficSummarizer implements TrafficSink {
  private readonly maxRequestRows: number;
  private readonly maxTcpRows: number;
  private requests = new Map<string, RequestRow>();
  private tcp = new Map<string, TcpRow>();
  /** Connections open now, by TCP key; carried across intervals. */
  private readonly openByKey = new Map<string, number>();
  private readonly keys = new WeakMap<Labels, string>();

  constructor(options: SummarizerOptions = {}) {
    this.maxRequestRows = options.maxRequestRows ?? 1000;
    this.maxTcpRows = options.maxTcpRows ?? 500;
  }

  response(values: Labels, elapsedMs: number | undefined, status: number | undefined, classification: 'success' | 'failure'): void {
    const key: RequestKey = {
      direction: direction(values),
      authority: values.authority ?? '',
      route: routeOf(values),
      statusClass: status === undefined ? 0 : Math.min(9, Math.max(0, Math.floor(status / 100))),
      tls: values.tls === 'true',
    };
    let id = `${key.direction}\t${key.authority}\t${key.route}\t${key.statusClass}\t${key.tls ? 1 : 0}`;
    let row = this.requests.get(id);
    if (row === undefined) {
      if (this.requests.size >= this.maxRequestRows - 1) {
        id = `${key.direction}\t\t\t${key.statusClass}\t${key.tls ? 1 : 0}`;
        row = this.requests.get(id);
        if (row === undefined && this.requests.size >= this.maxRequestRows) return;
        if (row === undefined) row = this.addRequestRow(id, { ...key, authority: '', route: '' });
      } else {
        row = this.addRequestRow(id, key);
      }
    }
    if (classification === 'success') row.success++;
    else row.failure++;
    // Requests that ended without response headers have no latency.
    if (elapsedMs !== undefined) row.latency[latencyBucket(elapsedMs)]!++;
  }

  tcpOpen(values: Labels): void {
    const row = this.tcpRow(values);
    if (row === undefined) return;
    row.opened++;
    const key = this.tcpKey(values);
    this.openByKey.set(key, (this.openByKey.get(key) ?? 0) + 1);
  }

  tcpBytes(values: Labels, read: number, written: number): void {
    const row = this.tcpRow(values);
    if (row === undefined) return;
    row.readBytes += read;
    row.writeBytes += written;
  }

  tcpClose(values: Labels): void {
    const row = this.tcpRow(values);
    if (row === undefined) return;
    row.closed++;
    const key = this.tcpKey(values);
    const open = (this.openByKey.get(key) ?? 1) - 1;
    if (open > 0) this.openByKey.set(key, open);
    else this.openByKey.delete(key);
  }

  /** The interval that began at `intervalStartMs` and ends at `nowMs`; counting starts again from zero. */
  drain(intervalStartMs: number, nowMs: number): TrafficSummary {
    const requests = [...this.requests.values()];
    const tcp = [...this.tcp.values()];
    this.requests = new Map();
    this.tcp = new Map();
    for (const row of tcp) row.open = this.openByKey.get(`${row.direction}\t${row.authority}`) ?? 0;
    // Long-lived connections show in every interval they are open in.
    for (const [key, open] of this.openByKey) {
      if (tcp.some((r) => `${r.direction}\t${r.authority}` === key)) continue;
      const [dir = 'outbound', authority = ''] = key.split('\t');
      tcp.push({ direction: dir === 'inbound' ? 'inbound' : 'outbound', authority, opened: 0, closed: 0, open, readBytes: 0, writeBytes: 0 });
    }
    return { intervalStartMs, intervalMs: Math.max(0, Math.round(nowMs - intervalStartMs)), requests, tcp };
  }

  private addRequestRow(id: string, key: RequestKey): RequestRow {
    const row: RequestRow = { ...key, success: 0, failure: 0, latency: new Array<number>(latencyBucketsMs.length + 1).fill(0) };
    this.requests.set(id, row);
    return row;
  }

  private tcpKey(values: Labels): string {
    let key = this.keys.get(values);
    if (key === undefined) {
      key = `${direction(values)}\t${values.authority ?? ''}`;
      this.keys.set(values, key);
    }
    return key;
  }

  private tcpRow(values: Labels): TcpRow | undefined {
    let key = this.tcpKey(values);
    let row = this.tcp.get(key);
    if (row === undefined && this.tcp.size >= this.maxTcpRows - 1) {
      key = `${direction(values)}\t`;
      row = this.tcp.get(key);
      if (row === undefined && this.tcp.size >= this.maxTcpRows) return undefined;
    }
    if (row === undefined) {
      const [dir, authority = ''] = key.split('\t');
      row = { direction: dir === 'inbound' ? 'inbound' : 'outbound', authority, opened: 0, closed: 0, open: 0, readBytes: 0, writeBytes: 0 };
      this.tcp.set(key, row);
    }
    return row;
  }
}
