/* The tables of `meshbus stat` and `meshbus top`. Pure. */
import type { StatRow, TopRow } from './stat-aggregate.js';
import { formatTable } from './table.js';

/** `12ms`, `1.5s`, `>50s` past the last bucket, `-` without requests. */
export function formatLatency(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms === Infinity) return '>50s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1).replace(/\.?0+$/, '')}s`;
}

/** `97.50%`, `-` without requests. */
export function formatSuccess(row: Pick<StatRow, 'requests' | 'success'>): string {
  return row.requests === 0 ? '-' : `${((100 * row.success) / row.requests).toFixed(2)}%`;
}

export function formatRps(rps: number): string {
  return rps === 0 ? '0' : rps < 10 ? rps.toFixed(1).replace(/^0\.0$/, '<0.1') : String(Math.round(rps));
}

/** Workload rows: how many proxies reported; other rows: the share of requests over mesh TLS. */
function meshed(row: StatRow): string {
  if (row.proxies !== undefined) return String(row.proxies);
  return row.requests === 0 ? '-' : `${Math.round((100 * row.tls) / row.requests)}%`;
}

export const statHeaders = ['NAME', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'TCP_CONN'] as const;

export function formatStatTable(rows: readonly StatRow[]): string {
  return formatTable(
    statHeaders,
    rows.map((r) => [r.name, meshed(r), formatSuccess(r), formatRps(r.rps), formatLatency(r.p50), formatLatency(r.p95), formatLatency(r.p99), String(r.tcpOpen)]),
  );
}

export function formatTopTable(rows: readonly TopRow[]): string {
  return formatTable(
    ['WORKLOAD', 'DIRECTION', 'AUTHORITY', 'ROUTE', 'COUNT', 'RPS', 'SUCCESS', 'LATENCY_P50', 'LATENCY_P99'],
    rows.map((r) => [r.workload, r.direction, r.authority || '-', r.route || '[default]', String(r.requests), formatRps(r.rps), formatSuccess(r), formatLatency(r.p50), formatLatency(r.p99)]),
  );
}
