import { describe, expect, it } from 'vitest';
import type { BusEvent } from '@meshbus/bus';
import type { EventDataMap, EventKind } from '@meshbus/bus-schemas';
import { catalog } from '@meshbus/bus-schemas';
import { eventJson, eventTableHeader, formatEventLine, summarizeEvent } from './event-format.js';

function event<K extends EventKind>(kind: K, subject: string, data: EventDataMap[K]): BusEvent {
  return {
    kind,
    id: '7f1c2a9e-0000-4000-8000-000000000001',
    source: '/meshbus/destination/destination-1',
    type: catalog[kind].type,
    time: '2025-03-01T12:00:00.000Z',
    subject,
    data,
    natsSubject: 'meshbus.v1.state.endpoints.shop.web.80',
    seq: 42,
  } as BusEvent;
}

const endpoints = (n: number) =>
  event('endpointSet', 'shop/web/80', {
    namespace: 'shop',
    service: 'web',
    port: 80,
    endpoints: Array.from({ length: n }, (_, i) => ({ address: `127.0.0.${11 + i}`, port: 8080, weight: 10000 })),
  });

describe('formatEventLine', () => {
  it('prints a table row of time, stream and sequence, short type, subject and the endpoint addresses', () => {
    expect(eventTableHeader()).toBe('TIME                      SEQ         TYPE                    SUBJECT                       SUMMARY\n');
    expect(formatEventLine(endpoints(2), 'MESHBUS_STATE')).toBe(
      '2025-03-01T12:00:00.000Z  state:42    endpoints.snapshot      shop/web/80                   2 endpoints: 127.0.0.11:8080 127.0.0.12:8080\n',
    );
    const long = { ...endpoints(0), subject: 'a-namespace-name/a-rather-long-service/8080', seq: undefined };
    expect(formatEventLine(long, 'MESHBUS_STATE')).toBe('2025-03-01T12:00:00.000Z  state       endpoints.snapshot      a-namespace-name/a-rather-long-service/8080  no endpoints\n');
  });

  it('shortens long endpoint lists and says when a set is empty', () => {
    expect(summarizeEvent(endpoints(7))).toBe('7 endpoints: 127.0.0.11:8080 127.0.0.12:8080 127.0.0.13:8080 127.0.0.14:8080 127.0.0.15:8080 +2 more');
    expect(summarizeEvent(endpoints(0))).toBe('no endpoints');
    const v6 = event('endpointSet', 'shop/web/80', { namespace: 'shop', service: 'web', port: 80, opaque: true, endpoints: [{ address: '::1', port: 5432, weight: 1 }] });
    expect(summarizeEvent(v6)).toBe('1 endpoint: [::1]:5432 (opaque)');
  });

  it('summarizes every kind in the streams', () => {
    expect(
      summarizeEvent(
        event('workloadRegistered', 'shop/web-9', {
          namespace: 'shop',
          name: 'web-9',
          address: '127.0.0.19',
          ports: [{ name: 'http', port: 8080 }, { port: 9090 }],
          labels: { app: 'web', tier: 'front' },
          serviceAccount: 'web',
          zone: 'zone-a',
          meshed: false,
          heartbeatIntervalMs: 5000,
        }),
      ),
    ).toBe('127.0.0.19 ports http=8080,9090 sa=web zone=zone-a labels app=web,tier=front not meshed heartbeat 5s');
    expect(summarizeEvent(event('workloadDeregistered', 'shop/web-9', { reason: 'workload deregistered' }))).toBe('deleted: workload deregistered');
    expect(summarizeEvent(event('endpointSetDeleted', 'shop/web/80', { reason: 'service removed' }))).toBe('deleted: service removed');
    expect(
      summarizeEvent(event('serviceProfile', 'shop/web', { namespace: 'shop', service: 'web', routes: [], dstOverrides: [{ authority: 'web-v2.shop.svc.cluster.local:80', weight: 10 }], opaquePorts: [] })),
    ).toBe('0 routes, split web-v2.shop.svc.cluster.local:80=10');
    expect(summarizeEvent(event('manifestRejected', '', { file: 'web.yaml', kind: 'Service', namespace: 'shop', name: 'web', reason: 'bad port' }))).toBe(
      'web.yaml Service shop/web: bad port',
    );
    expect(summarizeEvent(event('leaderChanged', 'destination', { role: 'destination', holder: 'destination-2', term: 3 }))).toBe(
      'destination leader is now destination-2 (term 3)',
    );
    expect(summarizeEvent(event('workloadExpired', 'shop/web-9', { namespace: 'shop', name: 'web-9', lastHeartbeat: '2025-03-01T11:59:00Z' }))).toBe(
      'shop/web-9 missed its heartbeats (last 2025-03-01T11:59:00Z)',
    );
  });

  it('summarizes identity events without printing certificates', () => {
    expect(summarizeEvent(event('trustBundle', 'cluster.local', { trustDomain: 'cluster.local', anchors: ['-----BEGIN CERTIFICATE-----'] }))).toBe(
      'trust domain cluster.local, 1 anchor',
    );
    expect(
      summarizeEvent(event('certificateIssued', 'web.shop', { identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local', serial: '0a', notAfter: '2025-03-02T12:00:00Z', replica: 'identity-1' })),
    ).toBe('web.shop.serviceaccount.identity.meshbus.cluster.local serial 0a until 2025-03-02T12:00:00Z by identity-1');
    expect(
      summarizeEvent(event('issuerUpdated', '0b', { subject: 'CN=identity.meshbus.cluster.local', serial: '0b', notAfter: '2026-03-01T12:00:00Z', replica: 'identity-2', source: 'dir:/x' })),
    ).toBe('identity-2 signs with CN=identity.meshbus.cluster.local serial 0b until 2026-03-01T12:00:00Z');
    expect(summarizeEvent(event('issuerRefused', '', { reason: 'does not chain to the anchors', source: 'dir:/x', replica: 'identity-1' }))).toBe(
      'identity-1 refused dir:/x: does not chain to the anchors',
    );
  });

  it('summarizes pod injections with the pod, owner, result and reason', () => {
    const base = { namespace: 'shop', proxyVersion: '0.1.0', dryRun: false, uid: 'u-1', replica: 'injector-1' };
    const injected = event('podInjection', 'shop/web-5d8c-*', {
      ...base,
      generateName: 'web-5d8c-',
      owner: { kind: 'ReplicaSet', name: 'web-5d8c' },
      result: 'injected',
      reason: { code: 'NamespaceEnabled', message: 'namespace shop is annotated meshbus.io/inject: enabled' },
    });
    expect(formatEventLine(injected, 'MESHBUS_EVENTS')).toBe(
      '2025-03-01T12:00:00.000Z  events:42   injector.pod-injection  shop/web-5d8c-*               injected shop/web-5d8c-* of ReplicaSet web-5d8c proxy 0.1.0: NamespaceEnabled: namespace shop is annotated meshbus.io/inject: enabled\n',
    );
    const refused = event('podInjection', 'shop/db', { ...base, name: 'db', dryRun: true, result: 'refused', reason: { code: 'InvalidAnnotation', message: 'annotation config.meshbus.io/access-log: "loud" is not allowed', annotation: 'config.meshbus.io/access-log' } });
    expect(summarizeEvent(refused)).toBe('refused shop/db (dry run): InvalidAnnotation: annotation config.meshbus.io/access-log: "loud" is not allowed');
  });

  it('summarizes traffic summaries with their workload, instance, requests and open connections', () => {
    const row = { direction: 'inbound' as const, authority: '', route: '', statusClass: 2, tls: true, success: 9, failure: 0, latency: [9] };
    const summary = event('metricsSummary', 'web.shop.serviceaccount.identity.meshbus.cluster.local', {
      namespace: 'shop',
      workload: 'web',
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      instance: 'web-1',
      intervalStart: '2025-03-01T12:00:00.000Z',
      intervalMs: 10_000,
      latencyBoundsMs: [1],
      requests: [row, { ...row, statusClass: 5, success: 0, failure: 3 }],
      tcp: [{ direction: 'inbound', authority: '', opened: 1, closed: 0, open: 1, readBytes: 10, writeBytes: 10 }],
    });
    expect(summarizeEvent(summary)).toBe('shop/web web-1 10s: 12 requests, 3 failed, 1 open connection');
  });

  it('prints the data of other kinds as compact JSON', () => {
    const other = { ...event('leaderChanged', 'x', { role: 'r', holder: 'h', term: 1 }), kind: 'certifyResponse' } as BusEvent;
    expect(summarizeEvent(other)).toBe('{"role":"r","holder":"h","term":1}');
  });
});

describe('eventJson', () => {
  it('carries the CloudEvents attributes, where it was read, and the data', () => {
    expect(eventJson(endpoints(1), 'MESHBUS_STATE')).toEqual({
      specversion: '1.0',
      id: '7f1c2a9e-0000-4000-8000-000000000001',
      source: '/meshbus/destination/destination-1',
      type: 'io.meshbus.v1.endpoints.snapshot',
      time: '2025-03-01T12:00:00.000Z',
      subject: 'shop/web/80',
      datacontenttype: 'application/json',
      dataschema: 'https://meshbus.io/schemas/v1/endpoint-set.schema.json',
      natssubject: 'meshbus.v1.state.endpoints.shop.web.80',
      stream: 'MESHBUS_STATE',
      sequence: 42,
      data: { namespace: 'shop', service: 'web', port: 80, endpoints: [{ address: '127.0.0.11', port: 8080, weight: 10000 }] },
    });
  });
});
