import { describe, expect, it } from 'vitest';
import { httpTypes, type destination, type Duration, type outbound } from '@meshbus/proxy-api';
import { decideRetry } from './retry.js';
import { compileProfile, failureStatusRanges, isFailure, profileInUse, profileRetryPolicy, profileRoute, requestMatches, responseMatches } from './profile-routes.js';
import { protocolConfig } from './routing.js';

const ms = (n: number): Duration => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1e6 });
const M = httpTypes.HttpMethod_Registered;

// Request conditions as the gateway sends them (the ServiceProfile manifest's condition, field by field).
const path = (regex: string): destination.RequestMatch => ({ match: { $case: 'path', path: { regex } } });
const method = (m: httpTypes.HttpMethod_Registered | string): destination.RequestMatch => ({
  match: { $case: 'method', method: { type: typeof m === 'string' ? { $case: 'unregistered', unregistered: m } : { $case: 'registered', registered: m } } },
});
const all = (...matches: destination.RequestMatch[]): destination.RequestMatch => ({ match: { $case: 'all', all: { matches } } });
const any = (...matches: destination.RequestMatch[]): destination.RequestMatch => ({ match: { $case: 'any', any: { matches } } });
const not = (m: destination.RequestMatch): destination.RequestMatch => ({ match: { $case: 'not', not: m } });
const status = (min: number, max: number): destination.ResponseMatch => ({ match: { $case: 'status', status: { min, max } } });

const route = (name: string, condition: destination.RequestMatch | undefined, extra: Partial<destination.Route> = {}): destination.Route => ({
  condition,
  responseClasses: [],
  metricsLabels: { route: name },
  isRetryable: false,
  ...extra,
});
const profile = (routes: destination.Route[], extra: Partial<destination.DestinationProfile> = {}): destination.DestinationProfile => ({
  fullyQualifiedName: 'books.shop.svc.cluster.local',
  opaqueProtocol: false,
  routes,
  dstOverrides: [],
  profileRef: { kind: { $case: 'resource', resource: { group: 'linkerd.io', kind: 'ServiceProfile', name: 'books.shop.svc.cluster.local', namespace: 'shop', section: '', port: 0 } } },
  ...extra,
});

// The profile of the docs' example, with the condition kinds a ServiceProfile can use.
const books = compileProfile(
  profile([
    route('GET /books/{id}', all(method(M.GET), path('/books/\\d+'))),
    route('POST /books', all(method(M.POST), path('/books')), { isRetryable: true, timeout: ms(300) }),
    route('orders', any(path('/shop\\.v1\\.Orders/PlaceOrder'), path('/shop\\.v1\\.Orders/Cancel')), {
      responseClasses: [
        { condition: status(500, 599), isFailure: true },
        { condition: status(404, 0), isFailure: true },
      ],
    }),
    route('not DELETE /admin', all(path('/admin/.*'), not(method(M.DELETE)))),
    route('PURGE', method('purge')),
  ]),
);

describe('profile routes', () => {
  it.each([
    ['GET', '/books/12', 'GET /books/{id}'],
    ['GET', '/books/12/reviews', undefined], // the regex matches the whole path
    ['GET', '/books/abc', undefined],
    ['HEAD', '/books/12', undefined],
    ['POST', '/books', 'POST /books'],
    ['POST', '/books/', undefined],
    ['POST', '/shop.v1.Orders/PlaceOrder', 'orders'],
    ['POST', '/shop.v1.Orders/Cancel', 'orders'],
    ['POST', '/shopxv1.Orders/Cancel', undefined], // \. is a dot
    ['GET', '/admin/users', 'not DELETE /admin'],
    ['DELETE', '/admin/users', undefined],
    ['PURGE', '/anything', 'PURGE'],
  ])('%s %s → %s', (m, p, expected) => {
    expect(profileRoute(books, { method: m, path: p })?.name).toBe(expected);
  });

  it('takes the first route that matches, in order', () => {
    const p = compileProfile(profile([route('first', path('/a/.*')), route('second', path('/a/b'))]));
    expect(profileRoute(p, { method: 'GET', path: '/a/b' })?.name).toBe('first');
  });

  it('treats an empty all as true and an empty any as false', () => {
    expect(requestMatches(all(), { method: 'GET', path: '/' })).toBe(true);
    expect(requestMatches(any(), { method: 'GET', path: '/' })).toBe(false);
    expect(requestMatches(not(any()), { method: 'GET', path: '/' })).toBe(true);
  });

  it('leaves out a route it cannot use, and says why', () => {
    const p = compileProfile(profile([route('broken', path('(')), route('empty', undefined), route('ok', path('/ok'))]));
    expect(p.routes.map((r) => r.name)).toEqual(['ok']);
    expect(p.problems).toEqual([expect.stringMatching(/^route broken is left out: path regex "\(" does not compile/), 'route empty is left out: a condition is empty']);
  });

  it('reads the timeout and the retry budget, and falls back to the default budget when it is unusable', () => {
    expect(profileRoute(books, { method: 'POST', path: '/books' })?.timeoutMs).toBe(300);
    expect(books.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });
    const custom = compileProfile(profile([], { retryBudget: { retryRatio: 0.5, minRetriesPerSecond: 2, ttl: ms(3000) } }));
    expect(custom.retryBudget).toEqual({ retryRatio: 0.5, minRetriesPerSecond: 2, ttlMs: 3000 });
    const bad = compileProfile(profile([], { retryBudget: { retryRatio: -1, minRetriesPerSecond: 2, ttl: ms(3000) } }));
    expect(bad.retryBudget).toEqual({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 });
    expect(bad.problems).toEqual([expect.stringContaining('retry_budget.retry_ratio')]);
  });
});

describe('response classes', () => {
  const orders = profileRoute(books, { method: 'POST', path: '/shop.v1.Orders/Cancel' })!;
  const plain = profileRoute(books, { method: 'GET', path: '/books/1' })!;

  it('reads status ranges, a bound of 0 being the other bound alone', () => {
    expect(responseMatches(status(404, 0), 404)).toBe(true);
    expect(responseMatches(status(404, 0), 405)).toBe(false);
    expect(responseMatches(status(0, 429), 429)).toBe(true);
    expect(responseMatches({ match: { $case: 'not', not: status(200, 299) } }, 302)).toBe(true);
    expect(responseMatches(undefined, 200)).toBe(false);
  });

  it('classifies by the first class that matches, else by default (5xx, a gRPC status other than OK, no response)', () => {
    expect(isFailure(orders, { status: 404 })).toBe(true);
    expect(isFailure(plain, { status: 404 })).toBe(false);
    expect(isFailure(plain, { status: 503 })).toBe(true);
    expect(isFailure(plain, { status: 200, grpcStatus: 14 })).toBe(true);
    expect(isFailure(plain, { status: 200, grpcStatus: 0 })).toBe(false);
    expect(isFailure(plain, {})).toBe(true);
    const lenient = compileProfile(profile([route('lenient', path('/.*'), { responseClasses: [{ condition: status(503, 503), isFailure: false }] })])).routes[0]!;
    expect(isFailure(lenient, { status: 503 })).toBe(false);
    expect(failureStatusRanges(lenient)).toEqual([
      [500, 502],
      [504, 599],
    ]);
    expect(failureStatusRanges(orders)).toEqual([
      [404, 404],
      [500, 599],
    ]);
  });
});

describe('profile retries', () => {
  const retryable = compileProfile(profile([route('r', path('/r'), { isRetryable: true, responseClasses: [{ condition: status(404, 404), isFailure: true }] })])).routes[0]!;

  it('retries what the classes call failures, within the budget only', () => {
    const policy = profileRetryPolicy(retryable, false)!;
    const decide = (s: number | undefined, retriesSoFar = 0) => decideRetry({ policy, result: { status: s }, retriesSoFar, requestBytes: 0, random: 0 });
    expect(decide(404)).toMatchObject({ retry: true });
    expect(decide(503, 50)).toMatchObject({ retry: true });
    expect(decide(undefined)).toMatchObject({ retry: true });
    expect(decide(200)).toEqual({ retry: false, reason: 'success' });
    expect(decide(409)).toEqual({ retry: false, reason: 'notRetryable' });
    expect(decideRetry({ policy, result: { status: 503 }, retriesSoFar: 0, requestBytes: 70 * 1024, random: 0 })).toEqual({ retry: false, reason: 'bodyTooLarge' });
    expect(profileRetryPolicy(profileRoute(books, { method: 'GET', path: '/books/1' })!, false)).toBeUndefined();
  });

  it('judges gRPC calls by grpc-status', () => {
    const policy = profileRetryPolicy(retryable, true)!;
    expect(decideRetry({ policy, result: { status: 200, grpcStatus: 14 }, retriesSoFar: 0, requestBytes: 10, random: 0 })).toMatchObject({ retry: true });
    expect(decideRetry({ policy, result: { status: 200, grpcStatus: 0 }, retriesSoFar: 0, requestBytes: 10, random: 0 })).toMatchObject({ retry: false });
  });
});

describe('profile or policy', () => {
  const backend: outbound.HttpRoute_RouteBackend = { backend: { kind: { $case: 'forward', forward: { addr: undefined, weight: 1, metricLabels: {} } } } as unknown as outbound.Backend, filters: [] };
  const httpRoute = (metadata: outbound.HttpRoute['metadata']): outbound.HttpRoute => ({
    metadata,
    hosts: [],
    rules: [{ matches: [], filters: [], allowL5dRequestHeaders: false, backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [backend] } } } }],
  });
  const policy = (routes: outbound.HttpRoute[]): outbound.OutboundPolicy => ({ protocol: { kind: { $case: 'http1', http1: { routes } } } });
  const defaultRoute = httpRoute({ kind: { $case: 'default', default: 'default' } });
  const ownRoute = httpRoute({ kind: { $case: 'resource', resource: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'books', namespace: 'shop', section: '', port: 0 } } });

  it('uses the profile for a service whose policy has only its default route', () => {
    expect(profileInUse(books, protocolConfig(policy([defaultRoute]), 'http1'))).toBe(true);
  });

  it('lets the OutboundPolicy decide when the service has routes of its own', () => {
    expect(profileInUse(books, protocolConfig(policy([ownRoute]), 'http1'))).toBe(false);
    expect(profileInUse(books, protocolConfig(policy([defaultRoute, ownRoute]), 'http1'))).toBe(false);
  });

  it('ignores a profile without a ServiceProfile or without routes, and opaque targets', () => {
    expect(profileInUse(compileProfile(profile([], { profileRef: undefined })), protocolConfig(policy([defaultRoute]), 'http1'))).toBe(false);
    expect(profileInUse(compileProfile(profile([])), protocolConfig(policy([defaultRoute]), 'http1'))).toBe(false);
    expect(profileInUse(books, { kind: 'opaque', routes: [] })).toBe(false);
    expect(profileInUse(undefined, protocolConfig(policy([defaultRoute]), 'http1'))).toBe(false);
  });
});
