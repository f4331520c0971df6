/*
 * Adding up the proxies' traffic summaries (metrics-summary events) for
 * `meshbus stat` and `meshbus top`: histograms merged bucket by bucket,
 * percentiles read from the merged buckets, a sliding window of intervals.
 * Pure.
 */
import type { MetricsSummary } from '@meshbus/bus-schemas';

/** Latency counts over fixed bucket bounds: one count per bound, then one for larger latencies. */
export interface LatencyHistogram {
  readonly boundsMs: readonly number[];
  readonly counts: number[];
}

/** A summary the tools know the end of. */
export interface WindowedSummary {
  readonly summary: MetricsSummary;
  readonly startMs: number;
  readonly endMs: number;
}

export function emptyHistogram(boundsMs: readonly number[]): LatencyHistogram {
  return { boundsMs, counts: new Array<number>(boundsMs.length + 1).fill(0) };
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Adds `counts` (over `boundsMs`) into `into`. Summaries with other bounds
 * cannot be merged exactly: their counts are moved to the first bucket of
 * `into` whose bound is at least theirs, which can only overstate latency.
 */
export function mergeInto(into: LatencyHistogram, boundsMs: readonly number[], counts: readonly number[]): void {
  if (sameBounds(into.boundsMs, boundsMs)) {
    for (let i = 0; i < into.counts.length; i++) into.counts[i]! += counts[i] ?? 0;
    return;
  }
  counts.forEach((n, i) => {
    if (n === 0) return;
    const bound = boundsMs[i];
    let j = bound === undefined ? into.boundsMs.length : into.boundsMs.findIndex((b) => b >= bound);
    if (j < 0) j = into.boundsMs.length;
    into.counts[j]! += n;
  });
}

/**
 * The latency under which a fraction `q` (0..1) of the requests fell,
 * interpolated linearly within its bucket; `Infinity` when it falls in the
 * overflow bucket, undefined when there are no requests.
 */
export function percentile(h: LatencyHistogram, q: number): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`a percentile is between 0 and 1, got ${q}`);
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const n = h.counts[i]!;
    if (n === 0) continue;
    if (seen + n >= rank) {
      if (i >= h.boundsMs.length) return Infinity;
      const lower = i === 0 ? 0 : h.boundsMs[i - 1]!;
      const upper = h.boundsMs[i]!;
      return lower + (upper - lower) * Math.max(0, Math.min(1, (rank - seen) / n));
    }
    seen += n;
  }
  return Infinity;
}

/** The summaries whose interval ended in the last `windowMs`, kept in arrival order. */
export class SummaryWindow {
  private items: WindowedSummary[] = [];

  constructor(readonly windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`the window must be a positive number of milliseconds, got ${windowMs}`);
  }

  add(summary: MetricsSummary): void {
    const startMs = Date.parse(summary.intervalStart);
    if (Number.isNaN(startMs)) return;
    this.items.push({ summary, startMs, endMs: startMs + summary.intervalMs });
  }

  /** The summaries in the window ending at `nowMs` (older ones are forgotten). */
  at(nowMs: number): readonly WindowedSummary[] {
    const from = nowMs - this.windowMs;
    this.items = this.items.filter((s) => s.endMs > from);
    return this.items.filter((s) => s.endMs <= nowMs + 60_000);
  }
}

export type StatGrouping = 'workload' | 'service' | 'route';
export const statGroupings: readonly StatGrouping[] = ['workload', 'service', 'route'];

/** One line of `meshbus stat`. */
export interface StatRow {
  readonly name: string;
  /** Proxies that reported (workload rows), or undefined. */
  readonly proxies: number | undefined;
  readonly requests: number;
  readonly success: number;
  readonly failure: number;
  /** Requests that travelled over mesh TLS. */
  readonly tls: number;
  /** Requests per second over the time the summaries cover. */
  readonly rps: number;
  readonly p50: number | undefined;
  readonly p95: number | undefined;
  readonly p99: number | undefined;
  /** Connections open at the end of each proxy's latest interval. */
  readonly tcpOpen: number;
}

interface Accumulator {
  readonly instances: Set<string>;
  success: number;
  failure: number;
  tls: number;
  histogram: LatencyHistogram | undefined;
  /** Open connections at each instance's latest interval, by instance. */
  readonly tcpOpen: Map<string, { endMs: number; open: number }>;
}

function accumulator(): Accumulator {
  return { instances: new Set(), success: 0, failure: 0, tls: 0, histogram: undefined, tcpOpen: new Map() };
}

/** The seconds the summaries cover: from the earliest start to the latest end, at most the window. */
export function coveredSeconds(items: readonly WindowedSummary[], windowMs: number): number {
  if (items.length === 0) return windowMs / 1000;
  const start = Math.min(...items.map((s) => s.startMs));
  const end = Math.max(...items.map((s) => s.endMs));
  return Math.max(1, Math.min(windowMs, end - start)) / 1000;
}

function finish(name: string, acc: Accumulator, seconds: number, withProxies: boolean): StatRow {
  const h = acc.histogram;
  const requests = acc.success + acc.failure;
  let tcpOpen = 0;
  for (const { open } of acc.tcpOpen.values()) tcpOpen += open;
  return {
    name,
    proxies: withProxies ? acc.instances.size : undefined,
    requests,
    success: acc.success,
    failure: acc.failure,
    tls: acc.tls,
    rps: requests / seconds,
    p50: h && percentile(h, 0.5),
    p95: h && percentile(h, 0.95),
    p99: h && percentile(h, 0.99),
    tcpOpen,
  };
}

function addRequests(acc: Accumulator, s: MetricsSummary, row: MetricsSummary['requests'][number]): void {
  acc.success += row.success;
  acc.failure += row.failure;
  if (row.tls) acc.tls += row.success + row.failure;
  acc.histogram ??= emptyHistogram(s.latencyBoundsMs);
  mergeInto(acc.histogram, s.latencyBoundsMs, row.latency);
}

function addTcp(acc: Accumulator, item: WindowedSummary, open: number): void {
  const key = `${item.summary.namespace}/${item.summary.workload}/${item.summary.instance}`;
  const seen = acc.tcpOpen.get(key);
  if (seen === undefined || seen.endMs < item.endMs) acc.tcpOpen.set(key, { endMs: item.endMs, open });
  else if (seen.endMs === item.endMs) seen.open += open;
}

const routeName = (route: string) => (route === '' ? '[default]' : route);
const serviceName = (authority: string) => (authority === '' ? '[unknown]' : authority);

/**
 * The rows of `meshbus stat`, sorted by name:
 * - `workload`: each workload's inbound traffic (what its proxies served), with how many proxies reported;
 * - `service`: outbound traffic by service authority (what the selected workloads called);
 * - `route`: inbound traffic by route, named `<workload> <route>` unless one workload is selected.
 */
export function statRows(items: readonly WindowedSummary[], by: StatGrouping, windowMs: number, options: { oneWorkload?: boolean } = {}): StatRow[] {
  const groups = new Map<string, Accumulator>();
  const group = (name: string) => {
    let acc = groups.get(name);
    if (acc === undefined) groups.set(name, (acc = accumulator()));
    return acc;
  };
  for (const item of items) {
    const s = item.summary;
    const workload = `${s.namespace}/${s.workload}`;
    if (by === 'workload') group(workload).instances.add(s.instance);
    for (const row of s.requests) {
      if (by === 'workload' && row.direction === 'inbound') addRequests(group(workload), s, row);
      else if (by === 'service' && row.direction === 'outbound') addRequests(group(serviceName(row.authority)), s, row);
      else if (by === 'route' && row.direction === 'inbound') addRequests(group(options.oneWorkload ? routeName(row.route) : `${workload} ${routeName(row.route)}`), s, row);
    }
    for (const t of s.tcp) {
      if (by === 'workload' && t.direction === 'inbound') addTcp(group(workload), item, t.open);
      else if (by === 'service' && t.direction === 'outbound') addTcp(group(serviceName(t.authority)), item, t.open);
    }
  }
  const seconds = coveredSeconds(items, windowMs);
  return [...groups.entries()].map(([name, acc]) => finish(name, acc, seconds, by === 'workload')).sort((a, b) => a.name.localeCompare(b.name));
}

/** One line of `meshbus top`. */
export interface TopRow extends StatRow {
  readonly workload: string;
  readonly direction: 'inbound' | 'outbound';
  readonly authority: string;
  readonly route: string;
}

/** The busiest direction, authority and route combinations of the selected workloads, most requests first. */
export function topRows(items: readonly WindowedSummary[], windowMs: number, limit = 20): TopRow[] {
  const groups = new Map<string, { key: Omit<TopRow, keyof StatRow>; acc: Accumulator }>();
  for (const item of items) {
    const s = item.summary;
    for (const row of s.requests) {
      const key = { workload: `${s.namespace}/${s.workload}`, direction: row.direction, authority: row.authority, route: row.route };
      const id = `${key.workload}\t${key.direction}\t${key.authority}\t${key.route}`;
      let g = groups.get(id);
      if (g === undefined) groups.set(id, (g = { key, acc: accumulator() }));
      addRequests(g.acc, s, row);
    }
  }
  const seconds = coveredSeconds(items, windowMs);
  return [...groups.values()]
    .map(({ key, acc }) => ({ ...finish(`${key.workload} ${key.direction} ${key.authority} ${key.route}`, acc, seconds, false), ...key }))
    .sort((a, b) => b.requests - a.requests || a.name.localeCompare(b.name))
    .slice(0, limit);
}
