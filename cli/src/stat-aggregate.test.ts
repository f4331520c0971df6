import { describe, expect, it } from 'vitest';
import type { MetricsSummary } from '@meshbus/bus-schemas';
import { coveredSeconds, emptyHistogram, mergeInto, percentile, statRows, SummaryWindow, topRows, type WindowedSummary } from './stat-aggregate.js';
import { formatLatency, formatStatTable, formatTopTable } from './stat-format.js';

const bounds = [10, 100, 1000];

function summary(patch: Partial<MetricsSummary> = {}): MetricsSummary {
  return {
    namespace: 'shop',
    workload: 'web',
    identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
    instance: 'web-1',
    intervalStart: '2026-01-01T00:00:00.000Z',
    intervalMs: 10_000,
    latencyBoundsMs: [10, 100, 1000],
    requests: [],
    tcp: [],
    ...patch,
  };
}

type Row = MetricsSummary['requests'][number];
const row = (patch: Partial<Row>): Row => ({ direction: 'inbound', authority: '', route: '', statusClass: 2, tls: true, success: 0, failure: 0, latency: [0, 0, 0, 0], ...patch });
const windowed = (s: MetricsSummary): WindowedSummary => {
  const startMs = Date.parse(s.intervalStart);
  return { summary: s, startMs, endMs: startMs + s.intervalMs };
};

describe('histograms', () => {
  it('merges counts bucket by bucket', () => {
    const h = emptyHistogram(bounds);
    mergeInto(h, bounds, [1, 2, 3, 4]);
    mergeInto(h, bounds, [1, 0, 0, 1]);
    expect(h.counts).toEqual([2, 2, 3, 5]);
  });

  it('moves counts of other bounds to the first bucket that holds them', () => {
    const h = emptyHistogram(bounds);
    mergeInto(h, [5, 50, 5000], [1, 1, 1, 1]);
    expect(h.counts).toEqual([1, 1, 0, 2]);
  });

  it('reads percentiles, interpolating within the bucket', () => {
    const h = emptyHistogram(bounds);
    mergeInto(h, bounds, [0, 100, 0, 0]);
    expect(percentile(h, 0.5)).toBeCloseTo(55);
    expect(percentile(h, 1)).toBe(100);
    mergeInto(h, bounds, [100, 0, 0, 0]);
    expect(percentile(h, 0.25)).toBeCloseTo(5);
    expect(percentile(h, 0.75)).toBeCloseTo(55);
  });

  it('says Infinity past the last bound and nothing without requests', () => {
    const h = emptyHistogram(bounds);
    expect(percentile(h, 0.5)).toBeUndefined();
    mergeInto(h, bounds, [1, 0, 0, 9]);
    expect(percentile(h, 0.99)).toBe(Infinity);
    expect(percentile(h, 0.05)).toBeCloseTo(5);
    expect(() => percentile(h, 1.5)).toThrow(/between 0 and 1/);
  });
});

describe('SummaryWindow', () => {
  it('keeps the summaries whose interval ended within the window', () => {
    const w = new SummaryWindow(60_000);
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    for (let i = 0; i < 10; i++) w.add(summary({ intervalStart: new Date(t0 + i * 10_000).toISOString() }));
    // Intervals end at t0+10s .. t0+100s; a window of 60 s ending at t0+100s holds those ending after t0+40s.
    expect(w.at(t0 + 100_000).map((s) => s.endMs - t0)).toEqual([50_000, 60_000, 70_000, 80_000, 90_000, 100_000]);
    expect(() => new SummaryWindow(0)).toThrow(RangeError);
  });

  it('measures rates over the time covered, at most the window', () => {
    const a = windowed(summary());
    const b = windowed(summary({ intervalStart: '2026-01-01T00:00:10.000Z' }));
    expect(coveredSeconds([a, b], 60_000)).toBe(20);
    expect(coveredSeconds([a, b], 15_000)).toBe(15);
  });
});

describe('statRows', () => {
  const items = [
    windowed(
      summary({
        requests: [
          row({ success: 90, latency: [80, 10, 0, 0] }),
          row({ statusClass: 5, failure: 10, latency: [0, 10, 0, 0], route: 'POST /orders' }),
          row({ direction: 'outbound', authority: 'api.shop.svc.cluster.local:80', success: 20, tls: false, latency: [20, 0, 0, 0] }),
        ],
        tcp: [
          { direction: 'inbound', authority: '', opened: 3, closed: 1, open: 2, readBytes: 1, writeBytes: 1 },
          { direction: 'outbound', authority: 'api.shop.svc.cluster.local:80', opened: 1, closed: 0, open: 1, readBytes: 1, writeBytes: 1 },
        ],
      }),
    ),
    windowed(summary({ instance: 'web-2', requests: [row({ success: 100, latency: [100, 0, 0, 0] })] })),
    windowed(summary({ workload: 'api', instance: 'api-1' })),
  ];

  it('adds up inbound traffic per workload, with the proxies that reported', () => {
    const rows = statRows(items, 'workload', 60_000);
    expect(rows.map((r) => [r.name, r.proxies, r.requests, r.success, r.failure, r.rps, r.tcpOpen])).toEqual([
      ['shop/api', 1, 0, 0, 0, 0, 0],
      ['shop/web', 2, 200, 190, 10, 20, 2],
    ]);
    expect(rows[1]!.p50).toBeCloseTo((10 * 100) / 180);
    expect(rows[1]!.p99).toBeGreaterThan(10);
  });

  it('adds up outbound traffic per service and inbound traffic per route', () => {
    expect(statRows(items, 'service', 60_000).map((r) => [r.name, r.requests, r.tls, r.tcpOpen])).toEqual([['api.shop.svc.cluster.local:80', 20, 0, 1]]);
    expect(statRows(items, 'route', 60_000, { oneWorkload: true }).map((r) => [r.name, r.requests, r.failure])).toEqual([
      ['[default]', 190, 0],
      ['POST /orders', 10, 10],
    ]);
    expect(statRows(items, 'route', 60_000).map((r) => r.name)).toEqual(['shop/web [default]', 'shop/web POST /orders']);
  });

  it('prints the stat table', () => {
    const text = formatStatTable(statRows(items, 'workload', 60_000));
    expect(text.split('\n')[0]).toBe('NAME      MESHED  SUCCESS  RPS  LATENCY_P50  LATENCY_P95  LATENCY_P99  TCP_CONN');
    expect(text).toMatch(/^shop\/web\s+2\s+95\.00%\s+20\s+6ms\s+\d+ms\s+\d+ms\s+2$/m);
    expect(text).toMatch(/^shop\/api\s+1\s+-\s+0\s+-\s+-\s+-\s+0$/m);
  });

  it('ranks the busiest routes for top', () => {
    const rows = topRows(items, 60_000, 2);
    expect(rows.map((r) => [r.workload, r.direction, r.route, r.requests])).toEqual([
      ['shop/web', 'inbound', '', 190],
      ['shop/web', 'outbound', '', 20],
    ]);
    expect(formatTopTable(rows)).toMatch(/^shop\/web\s+inbound\s+-\s+\[default\]\s+190\s+19\s+100\.00%/m);
  });
});

describe('formatLatency', () => {
  it('prints milliseconds, seconds, overflow and nothing', () => {
    expect([formatLatency(3.4), formatLatency(1500), formatLatency(20_000), formatLatency(Infinity), formatLatency(undefined)]).toEqual(['3ms', '1.5s', '20s', '>50s', '-']);
  });
});
