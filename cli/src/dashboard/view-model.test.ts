import { describe, expect, it } from 'vitest';
import type { BusEvent } from '@meshbus/bus';
import type { EndpointSet, MetricsSummary } from '@meshbus/bus-schemas';
import { DashboardState, defaultDashboardLimits, servicesView } from './view-model.js';

const endpointSet = (service: string, port: number, addresses: string[]): BusEvent<'endpointSet'> => {
  const data: EndpointSet = {
    namespace: 'shop',
    service,
    port,
    endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10_000, zone: 'zone-a', identity: `${service}.shop.serviceaccount.identity.meshbus.cluster.local` })),
  };
  return { kind: 'endpointSet', id: `${service}-${port}`, source: '/meshbus/destination/d-1', type: 'io.meshbus.v1.endpoints.updated', time: '2026-12-02T10:00:00Z', subject: `shop/${service}:${port}`, data, natsSubject: `meshbus.v1.state.endpoints.shop.${service}.${port}` };
};

const summary = (startMs: number, success: number, failure: number): MetricsSummary =>
  ({
    namespace: 'shop',
    workload: 'web',
    instance: 'web-1',
    intervalStart: new Date(startMs).toISOString(),
    intervalMs: 10_000,
    latencyBoundsMs: [10, 100],
    requests: [{ direction: 'inbound', authority: 'web.shop:80', route: '', tls: true, success, failure, latency: [success + failure, 0, 0] }],
    tcp: [],
  }) as unknown as MetricsSummary;

describe('the dashboard view model', () => {
  it('groups endpoint sets by service, sorted, with their identities, and caps the endpoints shown per port', () => {
    const services = servicesView([endpointSet('web', 80, ['127.0.0.12', '127.0.0.11', '127.0.0.13']), endpointSet('api', 8080, ['127.0.0.21'])], { maxEndpointsPerPort: 2 });
    expect(services.map((s) => s.name)).toEqual(['api', 'web']);
    const web = services[1]!;
    expect(web.identities).toEqual(['web.shop.serviceaccount.identity.meshbus.cluster.local']);
    expect(web.ports[0]!.total).toBe(3);
    expect(web.ports[0]!.endpoints.map((e) => e.address)).toEqual(['127.0.0.11', '127.0.0.12']);
  });

  it('follows deletions, keeps a bounded list of events and computes golden metrics with a history', () => {
    const state = new DashboardState({ ...defaultDashboardLimits, maxEvents: 3 });
    const web = endpointSet('web', 80, ['127.0.0.11']);
    state.applyState(web.natsSubject, web);
    const now = Date.parse('2026-12-02T10:01:00Z');
    expect(state.view(now, { tapAvailable: false }).services).toHaveLength(1);
    state.applyState(web.natsSubject, undefined);
    for (let i = 0; i < 10; i++) state.addEvent({ ...web, id: `e${i}`, seq: i });
    state.addEvent({ ...web, kind: 'metricsSummary', data: summary(now - 20_000, 9, 1) } as unknown as BusEvent);
    const view = state.view(now, { tapAvailable: false });
    expect(view.services).toEqual([]);
    expect(view.events.map((e) => e.seq)).toEqual([9, 8, 7]);
    expect(view.tap.available).toBe(false);
    const row = view.metrics.byWorkload[0]!;
    expect(row.name).toBe('shop/web');
    expect(row.requests).toBe(10);
    expect(row.successRate).toBeCloseTo(0.9);
    expect(row.history).toHaveLength(defaultDashboardLimits.historyMs / defaultDashboardLimits.bucketMs);
    expect(row.history.reduce((n, p) => n + p.rps, 0) * (defaultDashboardLimits.bucketMs / 1000)).toBe(10);
  });
});
