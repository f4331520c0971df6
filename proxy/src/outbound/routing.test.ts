import { describe, expect, it } from 'vitest';
import type { Duration, outbound } from '@meshbus/proxy-api';
import { requestFacts } from '../routes/match.js';
import { chooseBackend, toDistribution, weightedIndex, type NoBackend, type RouteBackend } from './backend-choice.js';
import { detectTimeoutMs, protocolConfig, routeGrpc, routeHttp, routeOpaque, routeRequest } from './routing.js';

const ms = (n: number): Duration => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1e6 });
const req = (target: string, authority = 'books.shop:80', method = 'GET') => requestFacts(method, target, {}, authority);
const balancer = (path: string): outbound.Backend => ({
  kind: { $case: 'balancer', balancer: { discovery: { kind: { $case: 'dst', dst: { path } } }, load: { $case: 'peakEwma', peakEwma: { defaultRtt: ms(30), decay: ms(10_000) } } } },
  queue: { capacity: 100, failfastTimeout: ms(3000) },
});
const rule = (x: Partial<outbound.HttpRoute_Rule>): outbound.HttpRoute_Rule => ({ matches: [], filters: [], allowL5dRequestHeaders: false, ...x });
const prefix = (p: string) => ({ path: { kind: { $case: 'prefix' as const, prefix: p } }, headers: [], queryParams: [] });

const routes: outbound.HttpRoute[] = [
  {
    metadata: { kind: { $case: 'resource', resource: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'books', namespace: 'shop', section: '', port: 0 } } },
    hosts: [],
    rules: [
      rule({
        matches: [prefix('/api')],
        backends: { kind: { $case: 'randomAvailable', randomAvailable: { backends: [{ weight: 90, backend: { backend: balancer('books-v1.shop:80'), filters: [] } }, { weight: 10, backend: { backend: balancer('books-v2.shop:80'), filters: [] } }] } } },
        timeouts: { request: ms(5000), response: ms(1000) },
        retry: { maxRetries: 2, maxRequestBytes: 0, conditions: { statusRanges: [{ start: 500, end: 504 }] }, timeout: ms(300) },
        allowL5dRequestHeaders: true,
      }),
      rule({ matches: [{ ...prefix('/'), headers: [] }], requestTimeout: ms(2000), backends: { kind: { $case: 'empty', empty: {} } } }),
    ],
  },
];

describe('protocol configuration', () => {
  const detect: outbound.OutboundPolicy = {
    protocol: { kind: { $case: 'detect', detect: { timeout: ms(5000), http1: { routes }, http2: { routes: [] }, opaque: { routes: [{ rules: [{ filters: [], backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: balancer('db.shop:5432'), filters: [] }] } } } }] }] } } } },
  };

  it('picks the configuration of the detected protocol', () => {
    expect(protocolConfig(detect, 'http1')).toMatchObject({ kind: 'http', version: 'http1', routes });
    expect(protocolConfig(detect, 'http2')).toMatchObject({ kind: 'http', version: 'http2', routes: [] });
    expect(protocolConfig(detect)).toMatchObject({ kind: 'opaque' });
    expect(detectTimeoutMs(detect)).toBe(5000);
  });

  it('uses a fixed protocol whatever was detected, and refuses a policy without one', () => {
    expect(protocolConfig({ protocol: { kind: { $case: 'grpc', grpc: { routes: [] } } } }, 'http1').kind).toBe('grpc');
    expect(() => protocolConfig({})).toThrow(/no protocol/);
  });

  it('gives the opaque route its backends', () => {
    const config = protocolConfig(detect, 'opaque');
    if (config.kind !== 'opaque') throw new Error('expected opaque');
    const route = routeOpaque(config.routes);
    expect(route?.distribution).toMatchObject({ kind: 'firstAvailable', backends: [{ target: { kind: 'balancer', path: 'db.shop:5432' } }] });
  });
});

describe('HTTP route selection', () => {
  it('selects the more specific rule and reads its timeouts, retry and backends', () => {
    const plan = routeHttp(routes, req('/api/books/1'));
    if (plan.kind === 'noRoute') throw new Error(plan.message);
    expect(plan.ruleIndex).toBe(0);
    expect(plan.matchedPrefix).toBe('/api');
    expect(plan.allowL5dRequestHeaders).toBe(true);
    expect(plan.timeouts).toEqual({ requestMs: 5000, attemptMs: 300, idleMs: undefined });
    expect(plan.retry).toMatchObject({ maxRetries: 2, maxRequestBytes: 65536, condition: { kind: 'http', statusRanges: [[500, 504]] }, attemptTimeoutMs: 300 });
    expect(plan.distribution.kind).toBe('randomAvailable');
  });

  it('falls back to the deprecated request timeout and fails an empty distribution', () => {
    const plan = routeHttp(routes, req('/other'));
    if (plan.kind === 'noRoute') throw new Error(plan.message);
    expect(plan.ruleIndex).toBe(1);
    expect(plan.timeouts.attemptMs).toBe(2000);
    expect(chooseBackend(plan.distribution, () => 0)).toEqual({ kind: 'noBackend', reason: 'route rule has no backends' });
  });

  it('answers 404 / UNIMPLEMENTED when no rule matches', () => {
    const onlyApi = [{ hosts: [{ match: { $case: 'exact' as const, exact: 'books.shop' } }], rules: [rule({ matches: [prefix('/api')] })] }];
    expect(routeHttp(onlyApi, req('/api', 'other.shop'))).toMatchObject({ kind: 'noRoute', status: 404, grpcStatus: 12 });
    expect(routeHttp(onlyApi, req('/web'))).toMatchObject({ kind: 'noRoute', status: 404 });
    expect(routeRequest({ kind: 'opaque', routes: [] }, req('/'))).toMatchObject({ kind: 'noRoute' });
  });
});

describe('gRPC route selection', () => {
  const grpcRoutes: outbound.GrpcRoute[] = [
    {
      hosts: [],
      rules: [
        { matches: [{ rpc: { service: 'shop.Books', method: '' }, headers: [] }], filters: [], allowL5dRequestHeaders: false, retry: { maxRetries: 3, maxRequestBytes: 1024, conditions: { cancelled: false, deadineExceeded: true, resourceExhausted: false, internal: false, unavailable: true } } },
        { matches: [{ rpc: { service: 'shop.Books', method: 'Get' }, headers: [] }], filters: [], allowL5dRequestHeaders: false },
      ],
    },
  ];

  it('prefers a method match over a service match', () => {
    expect(routeGrpc(grpcRoutes, req('/shop.Books/Get', 'books.shop:80', 'POST'))).toMatchObject({ kind: 'grpc', ruleIndex: 1 });
    const plan = routeGrpc(grpcRoutes, req('/shop.Books/List', 'books.shop:80', 'POST'));
    if (plan.kind === 'noRoute') throw new Error(plan.message);
    expect(plan.ruleIndex).toBe(0);
    expect(plan.retry?.condition).toEqual({ kind: 'grpc', codes: new Set([4, 14]) });
    expect(routeGrpc(grpcRoutes, req('/shop.Carts/Get'))).toMatchObject({ kind: 'noRoute', grpcStatus: 12 });
  });
});

describe('backend choice', () => {
  const dist = toDistribution<never>({
    kind: { $case: 'randomAvailable', randomAvailable: { backends: [{ weight: 0, backend: { backend: balancer('a:80'), filters: [] } }, { weight: 3, backend: { backend: balancer('b:80'), filters: [] } }, { weight: 1, backend: { backend: balancer('c:80'), filters: [] } }] } },
  });
  const path = (b: RouteBackend<never> | NoBackend) => ('kind' in b ? b.kind : b.target.kind === 'balancer' ? b.target.path : b.target.kind);

  it('never chooses a backend of weight 0 and splits the draw by weight', () => {
    expect(path(chooseBackend(dist, () => 0))).toBe('b:80');
    expect(path(chooseBackend(dist, () => 0.74))).toBe('b:80');
    expect(path(chooseBackend(dist, () => 0.76))).toBe('c:80');
    expect(weightedIndex([0, 0], 0.5)).toBeUndefined();
  });

  it('fails when every weight is 0', () => {
    const zero = toDistribution<never>({ kind: { $case: 'randomAvailable', randomAvailable: { backends: [{ weight: 0, backend: { backend: balancer('a:80'), filters: [] } }] } } });
    expect(chooseBackend(zero, () => 0)).toEqual({ kind: 'noBackend', reason: 'every backend has weight 0' });
  });

  it('prefers available backends, and waits on the first one when none is', () => {
    const first = toDistribution<never>({ kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: balancer('a:80'), filters: [] }, { backend: balancer('b:80'), filters: [] }] } } });
    const onlyB = (b: { target: { kind: string; path?: string } }) => b.target.path === 'b:80';
    expect(path(chooseBackend(first, () => 0, onlyB))).toBe('b:80');
    expect(path(chooseBackend(first, () => 0, () => false))).toBe('a:80');
    expect(path(chooseBackend(dist, () => 0.1, (b) => b.target.kind === 'balancer' && b.target.path === 'c:80'))).toBe('c:80');
  });

  it('reads forward and invalid backends', () => {
    const d = toDistribution<never>({
      kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: { kind: { $case: 'forward', forward: { addr: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a000001 } }, port: 80 }, weight: 1, metricLabels: {} } } }, filters: [] }, { backend: {}, filters: [] }] } },
    });
    expect(d).toMatchObject({ backends: [{ target: { kind: 'forward', queue: { capacity: 100, failfastTimeoutMs: 3000 } } }, { target: { kind: 'invalid', reason: 'backend has no kind' } }] });
  });
});
