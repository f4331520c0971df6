import { describe, expect, it } from 'vitest';
import { decodeDocument } from './decode.js';

function decoded(document: unknown) {
  const result = decodeDocument(document);
  if (!result.ok) expect.fail(result.reason);
  return result.resource;
}

function reason(document: unknown): string {
  const result = decodeDocument(document);
  if (result.ok) expect.fail('the document was accepted');
  return result.reason;
}

const service = (spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'api', namespace: 'shop', annotations },
  spec: { ports: [{ port: 8080 }], ...spec },
});

describe('Service cluster IPs', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['none given', {}, []],
    ['clusterIP', { clusterIP: '10.96.0.10' }, ['10.96.0.10']],
    ['dual stack, canonical, without duplicates', { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'FD00:0::A'] }, ['10.96.0.10', 'fd00::a']],
    ['headless', { clusterIP: 'None', clusterIPs: ['None'] }, []],
    ['an empty clusterIP (not yet allocated)', { clusterIP: '' }, []],
  ])('reads %s', (_title, spec, clusterIPs) => {
    expect(decoded(service(spec))).toMatchObject({ clusterIPs });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an address that is no IP', { clusterIP: '10.96.0.300' }, 'spec.clusterIP: "10.96.0.300" is not an IPv4 or IPv6 address (or None, for a headless Service)'],
    ['clusterIPs that disagree with clusterIP', { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.11'] }, 'spec.clusterIPs[0]: "10.96.0.11" must be the same as spec.clusterIP "10.96.0.10"'],
    ['two IPv4 addresses', { clusterIPs: ['10.96.0.10', '10.96.0.11'] }, 'spec.clusterIPs[1]: a Service has at most one IPv4 cluster IP'],
    ['None beside an address', { clusterIPs: ['None', '10.96.0.1'] }, 'spec.clusterIPs[1]: a headless Service (clusterIP None) has no other cluster IP, yet "10.96.0.1" is given'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(service(spec))).toContain(expected);
  });
});

describe('Service traffic annotations', () => {
  it('has no settings without annotations', () => {
    expect(decoded(service({}))).toMatchObject({ traffic: {} });
  });

  it('reads consecutive failure accrual with its defaults', () => {
    expect(decoded(service({}, { 'balancer.linkerd.io/failure-accrual': 'consecutive' }))).toMatchObject({
      traffic: { failureAccrual: { kind: 'consecutive', maxFailures: 7, minPenaltyMs: 1000, maxPenaltyMs: 60_000, jitterRatio: 0.5 } },
    });
  });

  it('reads every failure accrual parameter, retries and timeouts', () => {
    const annotations = {
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '3',
      'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': '500ms',
      'balancer.linkerd.io/failure-accrual-consecutive-max-penalty': '30s',
      'balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio': '0.25',
      'retry.linkerd.io/http': '5xx',
      'retry.linkerd.io/grpc': 'unavailable',
      'retry.linkerd.io/limit': '3',
      'retry.linkerd.io/timeout': '1s',
      'timeout.linkerd.io/request': '5s',
    };
    expect(decoded(service({}, annotations))).toMatchObject({
      traffic: {
        failureAccrual: { kind: 'consecutive', maxFailures: 3, minPenaltyMs: 500, maxPenaltyMs: 30_000, jitterRatio: 0.25 },
        retry: { attempts: 3, codes: [{ start: 500, end: 599 }], grpcCodes: ['unavailable'], perTryTimeoutMs: 1000 },
        timeouts: { requestMs: 5000 },
      },
    });
  });

  const accrual = (extra: Record<string, string>) => service({}, { 'balancer.linkerd.io/failure-accrual': 'consecutive', ...extra });
  it.each<[string, unknown, string]>([
    ['another accrual kind', service({}, { 'balancer.linkerd.io/failure-accrual': 'ewma' }), 'metadata.annotations["balancer.linkerd.io/failure-accrual"]: "ewma" is not a failure accrual kind; the only one is consecutive'],
    [
      'zero failures',
      accrual({ 'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '0' }),
      'metadata.annotations["balancer.linkerd.io/failure-accrual-consecutive-max-failures"]: "0" is not a whole number of failures, at least 1',
    ],
    ['a bad penalty', accrual({ 'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': 'soon' }), 'metadata.annotations["balancer.linkerd.io/failure-accrual-consecutive-min-penalty"]: "soon" is not a duration'],
    [
      'a min penalty above the max',
      accrual({ 'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': '2m' }),
      'metadata.annotations["balancer.linkerd.io/failure-accrual-consecutive-min-penalty"]: 120000ms is longer than the max-penalty 60000ms',
    ],
    ['a jitter above 1', accrual({ 'balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio': '2' }), 'metadata.annotations["balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio"]: "2" is not a number from 0 to 1'],
    ['a bad retry annotation', service({}, { 'retry.linkerd.io/http': 'errors' }), 'metadata.annotations["retry.linkerd.io/http"]: "errors" is not a comma-separated list'],
  ])('refuses %s', (_title, doc, expected) => {
    expect(reason(doc)).toContain(expected);
  });
});

const workload = (spec: Record<string, unknown>) => ({
  apiVersion: 'meshbus.io/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'web-1', namespace: 'shop' },
  spec: { address: '10.0.0.1', ports: [{ name: 'http', port: 8080 }, { name: 'admin', port: 9990 }], ...spec },
});

describe('Workload probes', () => {
  it('reads spec.probes and the httpGet of container-shaped probes, without duplicates', () => {
    const spec = {
      probes: [{ port: 9990, path: '/ready' }, { port: 'admin' }],
      livenessProbe: { httpGet: { port: 'admin', path: '/live' }, periodSeconds: 10 },
      readinessProbe: { httpGet: { port: 9990, path: '/ready', scheme: 'HTTP' }, failureThreshold: 3 },
      startupProbe: { tcpSocket: { port: 8080 } },
    };
    expect(decoded(workload(spec))).toMatchObject({
      probes: [
        { port: 9990, path: '/ready' },
        { port: 'admin', path: '/' },
        { port: 'admin', path: '/live' },
      ],
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a probe port name the workload lacks', { probes: [{ port: 'metrics' }] }, 'spec.probes[0].port: "metrics" is not the name of a port in spec.ports'],
    ['a path without /', { readinessProbe: { httpGet: { port: 8080, path: 'ready' } } }, `spec.readinessProbe.httpGet.path: "ready" must start with '/'`],
    ['a probe port out of range', { probes: [{ port: 0 }] }, 'spec.probes[0].port: 0 is not a port number (1-65535)'],
    ['an unknown probe field', { livenessProbe: { httpGet: { port: 8080 }, periodSecond: 1 } }, 'spec.livenessProbe.periodSecond: is not a known field'],
    ['a probe without port', { probes: [{ path: '/' }] }, 'spec.probes[0].port: is required'],
  ])('refuses %s', (_title, spec, expected) => {
    expect(reason(workload(spec))).toContain(expected);
  });
});
