import { describe, expect, it } from 'vitest';
import { outbound, type meta } from '@meshbus/proxy-api';
import { backendText, failureAccrualText, formatOutboundPolicy } from './policy-outbound-format.js';

const s = (seconds: number, ms = 0) => ({ seconds: BigInt(seconds), nanos: ms * 1_000_000 });
const resource = (kind: string, name: string, extra: Partial<meta.Resource> = {}): meta.Metadata => ({
  kind: { $case: 'resource', resource: { group: '', kind, name, namespace: 'shop', section: '', port: 0, ...extra } },
});

const backend = (service: string, weight: number): outbound.HttpRoute_WeightedRouteBackend => ({
  weight,
  backend: {
    filters: [],
    backend: {
      metadata: resource('Service', service, { port: 80 }),
      kind: {
        $case: 'balancer',
        balancer: {
          discovery: { kind: { $case: 'dst', dst: { path: `${service}.shop.svc.cluster.local:80` } } },
          load: { $case: 'peakEwma', peakEwma: { defaultRtt: s(0, 30), decay: s(10) } },
        },
      },
      queue: { capacity: 100, failfastTimeout: s(3) },
    },
  },
});

const accrual: outbound.FailureAccrual = {
  kind: { $case: 'consecutiveFailures', consecutiveFailures: { maxFailures: 7, backoff: outbound.ExponentialBackoff.fromPartial({ minBackoff: s(1), maxBackoff: s(60), jitterRatio: 0.5 }) } },
};

const canary: outbound.HttpRoute = {
  metadata: resource('HTTPRoute', 'web-canary'),
  hosts: [],
  rules: [
    {
      matches: [{ path: { kind: { $case: 'prefix', prefix: '/' } }, headers: [{ name: 'x-canary', value: { $case: 'exact', exact: Buffer.from('1') } }], queryParams: [] }],
      filters: [{ kind: { $case: 'responseHeaderModifier', responseHeaderModifier: { add: { headers: [{ name: 'x-served-by', value: Buffer.from('canary') }] }, remove: [] } } }],
      backends: { kind: { $case: 'randomAvailable', randomAvailable: { backends: [backend('web-v1', 90), backend('web-v2', 10)] } } },
      timeouts: { request: s(10), response: s(2, 500) },
      retry: {
        maxRetries: 3,
        maxRequestBytes: 65536,
        conditions: { statusRanges: [{ start: 500, end: 599 }, { start: 429, end: 429 }] },
        timeout: s(1),
        backoff: outbound.ExponentialBackoff.fromPartial({ minBackoff: s(0, 25), maxBackoff: s(0, 250), jitterRatio: 1 }),
      },
      allowL5dRequestHeaders: false,
    },
  ],
};

describe('formatOutboundPolicy', () => {
  it('prints protocol, routes with matches, filters, weighted backends, timeouts, retries and failure accrual', () => {
    const policy: outbound.OutboundPolicy = {
      metadata: resource('Service', 'web', { port: 80 }),
      protocol: { kind: { $case: 'http1', http1: { routes: [canary], failureAccrual: accrual } } },
    };
    expect(formatOutboundPolicy(policy)).toBe(
      [
        'protocol: HTTP/1',
        'policy:   service shop/web port 80',
        'HTTP/1 routes (1):',
        '  httproute shop/web-canary',
        '    hosts: any',
        '    rule 1:',
        '      match:  path prefix /, header x-canary=1',
        '      filter: response headers: add x-served-by=canary',
        '      backends (random, by weight, total 100):',
        '        weight 90  service shop/web-v1 port 80 -> dst web-v1.shop.svc.cluster.local:80 (p2c, peak EWMA rtt 30ms decay 10s) queue 100, fail fast after 3s',
        '        weight 10  service shop/web-v2 port 80 -> dst web-v2.shop.svc.cluster.local:80 (p2c, peak EWMA rtt 30ms decay 10s) queue 100, fail fast after 3s',
        '      timeouts: request 10s, response 2500ms',
        '      retry: up to 3 retries, bodies up to 65536 bytes, each try 1s, backoff 25ms to 250ms, jitter 1; on status 500-599, 429',
        'HTTP/1 failure accrual: after 7 consecutive failures, backoff 1s to 1m, jitter 0.5',
        '',
      ].join('\n'),
    );
  });

  it('prints each protocol a detecting proxy may find, and an opaque forward', () => {
    const forward: outbound.OpaqueRoute = {
      metadata: { kind: { $case: 'default', default: 'opaq' } },
      rules: [
        {
          filters: [],
          backends: {
            kind: {
              $case: 'firstAvailable',
              firstAvailable: { backends: [{ filters: [], backend: { metadata: { kind: { $case: 'default', default: 'forward' } }, kind: { $case: 'forward', forward: { addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a000007 } }, port: 8080 }, weight: 1, metricLabels: {} } } } }] },
            },
          },
        },
      ],
    };
    const policy: outbound.OutboundPolicy = {
      metadata: { kind: { $case: 'default', default: 'ip' } },
      protocol: { kind: { $case: 'detect', detect: { timeout: s(10), opaque: { routes: [forward] }, http1: { routes: [] }, http2: { routes: [] } } } },
    };
    expect(formatOutboundPolicy(policy)).toBe(
      [
        'protocol: detect (HTTP/1, HTTP/2 or opaque; timeout 10s)',
        'policy:   default ip',
        'HTTP/1 routes: none',
        'HTTP/1 failure accrual: none',
        'HTTP/2 routes: none',
        'HTTP/2 failure accrual: none',
        'opaque routes (1):',
        '  default opaq',
        '    rule 1:',
        '      backends (first available):',
        '        default forward -> forward 10.0.0.7:8080',
        '',
      ].join('\n'),
    );
  });

  it('prints gRPC retry conditions by name and an empty distribution as failing', () => {
    const policy: outbound.OutboundPolicy = {
      metadata: resource('Service', 'cart', { port: 9090 }),
      protocol: {
        kind: {
          $case: 'grpc',
          grpc: {
            routes: [
              {
                metadata: resource('GRPCRoute', 'cart'),
                hosts: [{ match: { $case: 'exact', exact: 'cart.shop.svc.cluster.local' } }],
                rules: [
                  {
                    matches: [{ rpc: { service: 'shop.Cart', method: 'Add' }, headers: [] }],
                    filters: [],
                    backends: { kind: { $case: 'empty', empty: {} } },
                    retry: { maxRetries: 1, maxRequestBytes: 0, conditions: { cancelled: false, deadineExceeded: true, resourceExhausted: false, internal: false, unavailable: true } },
                    allowL5dRequestHeaders: false,
                  },
                ],
              },
            ],
          },
        },
      },
    };
    const text = formatOutboundPolicy(policy);
    expect(text).toContain(
      [
        '      match:  rpc shop.Cart/Add',
        '      backends: none (requests fail)',
        '      retry: up to 1 retry, no backoff; on deadline-exceeded, unavailable',
        'gRPC failure accrual: none',
      ].join('\n'),
    );
  });

  it('reads the same after the JSON round trip of the proxy API (what --json prints)', () => {
    const policy: outbound.OutboundPolicy = { metadata: resource('Service', 'web', { port: 80 }), protocol: { kind: { $case: 'http2', http2: { routes: [canary], failureAccrual: accrual } } } };
    const back = outbound.OutboundPolicy.fromJSON(JSON.parse(JSON.stringify(outbound.OutboundPolicy.toJSON(policy))));
    expect(formatOutboundPolicy(back)).toBe(formatOutboundPolicy(policy));
  });
});

describe('pieces', () => {
  it('renders a missing backend and missing failure accrual', () => {
    expect(backendText(undefined)).toBe('(no backend)');
    expect(backendText({ metadata: { kind: { $case: 'default', default: 'x' } } })).toBe('default x -> nowhere');
    expect(failureAccrualText(undefined)).toBe('none');
  });

  it('reads the unified failure accrual, the ejection floor and the Retry-After hint of the newer messages', () => {
    // Built loosely: the fields come with the newer proxy API messages.
    const unified = {
      kind: { $case: 'unified', unified: { successRateThreshold: 0.8, decay: s(30), minRequests: 20, maxConsecutiveFailures: 5, backoff: { minBackoff: s(1), maxBackoff: s(10), jitterRatio: 0, respectRetryAfterHint: true } } },
      ejection: { minReadyEndpoints: 2 },
    } as unknown as outbound.FailureAccrual;
    expect(failureAccrualText(unified)).toBe(
      'after success rate below 0.8 over 30s (from 20 requests) or 5 consecutive failures, backoff 1s to 10s, jitter 0, honouring Retry-After; keeps at least 2 endpoints in the pool',
    );
  });
});
