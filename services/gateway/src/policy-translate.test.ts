import { describe, expect, it } from 'vitest';
import type { InboundServer, OutboundBackend, OutboundPolicy } from '@meshbus/bus-schemas';
import { httpTypes } from '@meshbus/proxy-api';
import { duration, forwardPolicy, toAuthn, toHostMatch, toHttpFilterKind, toHttpRouteMatch, toInboundServer, toIpNetwork, toMetadata, toOutboundPolicy } from './policy-translate.js';

const ms = (n: number) => duration(n);
const v4 = (a: number, b: number, c: number, d: number) => ({ ip: { $case: 'ipv4' as const, ipv4: ((a << 24) >>> 0) + (b << 16) + (c << 8) + d } });
const svc = (name: string) => ({ group: 'core', kind: 'Service', namespace: 'shop', name, port: 80 });
const route = (name: string) => ({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'shop', name });
const resource = (r: { group: string; kind: string; namespace: string; name: string; port?: number }) => ({
  kind: { $case: 'resource', resource: { group: r.group, kind: r.kind, namespace: r.namespace, name: r.name, section: '', port: r.port ?? 0 } },
});

describe('shared parts', () => {
  it('writes durations as seconds and nanoseconds', () => {
    expect(duration(30)).toEqual({ seconds: 0n, nanos: 30_000_000 });
    expect(duration(10_500)).toEqual({ seconds: 10n, nanos: 500_000_000 });
  });

  it('carries a default by name and a resource by its coordinates', () => {
    expect(toMetadata({ default: 'all-unauthenticated' })).toEqual({ kind: { $case: 'default', default: 'all-unauthenticated' } });
    expect(toMetadata({ group: 'policy.meshbus.io', kind: 'Server', namespace: 'shop', name: 'web', section: 'http' })).toEqual({
      kind: { $case: 'resource', resource: { group: 'policy.meshbus.io', kind: 'Server', namespace: 'shop', name: 'web', section: 'http', port: 0 } },
    });
  });

  it('writes networks as address and prefix length', () => {
    expect(toIpNetwork('10.0.0.0/8')).toEqual({ ip: v4(10, 0, 0, 0), prefixLen: 8 });
    expect(toIpNetwork('::/0')).toEqual({ ip: { ip: { $case: 'ipv6', ipv6: { first: 0n, last: 0n } } }, prefixLen: 0 });
    expect(toIpNetwork('192.0.2.1')).toEqual({ ip: v4(192, 0, 2, 1), prefixLen: 32 });
    expect(() => toIpNetwork('10.0.0.0/33')).toThrow('the prefix length must be a number from 0 to 32');
  });

  it('reverses the labels of a host suffix', () => {
    expect(toHostMatch({ exact: 'web.example.com' })).toEqual({ match: { $case: 'exact', exact: 'web.example.com' } });
    expect(toHostMatch({ suffix: 'example.com' })).toEqual({ match: { $case: 'suffix', suffix: { reverseLabels: ['com', 'example'] } } });
  });

  it('matches paths, headers, query parameters and methods, registered or not', () => {
    expect(
      toHttpRouteMatch({ path: { prefix: '/api' }, headers: [{ name: 'x-canary', exact: 'yes' }, { name: 'x-user', regex: 'a.*' }], queryParams: [{ name: 'debug', exact: '1' }], method: 'GET' }),
    ).toEqual({
      path: { kind: { $case: 'prefix', prefix: '/api' } },
      headers: [
        { name: 'x-canary', value: { $case: 'exact', exact: Buffer.from('yes') } },
        { name: 'x-user', value: { $case: 'regex', regex: 'a.*' } },
      ],
      queryParams: [{ name: 'debug', value: { $case: 'exact', exact: '1' } }],
      method: { type: { $case: 'registered', registered: httpTypes.HttpMethod_Registered.GET } },
    });
    expect(toHttpRouteMatch({ method: 'PURGE' }).method).toEqual({ type: { $case: 'unregistered', unregistered: 'PURGE' } });
    expect(toHttpRouteMatch({})).toEqual({ headers: [], queryParams: [] });
  });

  it('translates filters, URL rewrites into the extension field', () => {
    expect(toHttpFilterKind({ requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }], remove: ['x-b'] } })).toEqual({
      $case: 'requestHeaderModifier',
      requestHeaderModifier: { set: { headers: [{ name: 'x-a', value: Buffer.from('1') }] }, remove: ['x-b'] },
    });
    expect(toHttpFilterKind({ redirect: { scheme: 'https', host: 'example.com', path: { prefix: '/v2' }, status: 301 } })).toEqual({
      $case: 'redirect',
      redirect: { scheme: { type: { $case: 'registered', registered: httpTypes.Scheme_Registered.HTTPS } }, host: 'example.com', path: { replace: { $case: 'prefix', prefix: '/v2' } }, port: 0, status: 301 },
    });
    expect(toHttpFilterKind({ failureInjector: { status: 503, ratio: { numerator: 1, denominator: 10 } } })).toEqual({
      $case: 'failureInjector',
      failureInjector: { status: 503, message: '', ratio: { numerator: 1, denominator: 10 } },
    });
    expect(toHttpFilterKind({ urlRewrite: { path: { prefix: '/' } } })).toEqual({ $case: 'urlRewrite', urlRewrite: { host: '', path: { replace: { $case: 'prefix', prefix: '/' } } } });
    expect(toHttpFilterKind({ urlRewrite: { host: 'api.internal', path: { full: '/v2/items' } } })).toEqual({
      $case: 'urlRewrite',
      urlRewrite: { host: 'api.internal', path: { replace: { $case: 'full', full: '/v2/items' } } },
    });
  });
});

describe('toInboundServer', () => {
  it('turns each kind of authentication into Authn', () => {
    expect(toAuthn({ kind: 'unauthenticated' })).toEqual({ permit: { $case: 'unauthenticated', unauthenticated: {} } });
    expect(toAuthn({ kind: 'tlsUnauthenticated' })).toEqual({ permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'unauthenticated', unauthenticated: {} } } } });
    expect(toAuthn({ kind: 'meshTls', identities: ['a.shop.serviceaccount.identity.meshbus.cluster.local'], suffixes: ['shop.serviceaccount.identity.meshbus.cluster.local', ''] })).toEqual({
      permit: {
        $case: 'meshTLS',
        meshTLS: {
          clients: {
            $case: 'identities',
            identities: {
              identities: [{ name: 'a.shop.serviceaccount.identity.meshbus.cluster.local' }],
              suffixes: [{ parts: ['shop', 'serviceaccount', 'identity', 'meshbus', 'cluster', 'local'] }, { parts: [] }],
            },
          },
        },
      },
    });
  });

  it('carries the rate limit on HTTP servers', () => {
    const limited: InboundServer = {
      metadata: { group: 'policy.meshbus.io', kind: 'Server', namespace: 'shop', name: 'api' },
      protocol: 'http1',
      labels: {},
      authorizations: [],
      rateLimit: {
        metadata: { group: 'policy.linkerd.io', kind: 'HTTPLocalRateLimitPolicy', namespace: 'shop', name: 'api-limit' },
        total: 100,
        identity: 10,
        overrides: [{ limit: 50, identities: ['web.shop.serviceaccount.identity.meshbus.cluster.local'] }],
      },
    };
    const out = toInboundServer(limited);
    expect(out.protocol?.kind).toEqual({
      $case: 'http1',
      http1: {
        routes: [],
        localRateLimit: {
          metadata: resource({ group: 'policy.linkerd.io', kind: 'HTTPLocalRateLimitPolicy', namespace: 'shop', name: 'api-limit' }),
          total: { requestsPerSecond: 100 },
          identity: { requestsPerSecond: 10 },
          overrides: [{ limit: { requestsPerSecond: 50 }, clients: { identities: [{ name: 'web.shop.serviceaccount.identity.meshbus.cluster.local' }] } }],
        },
      },
    });
    const detect = toInboundServer({ ...limited, protocol: 'detect', detectTimeoutMs: 1000 });
    expect(detect.protocol?.kind?.$case === 'detect' && detect.protocol.kind.detect.httpLocalRateLimit?.total).toEqual({ requestsPerSecond: 100 });
  });

  it('carries protocol, routes with their authorizations, server IPs and labels', () => {
    const server: InboundServer = {
      metadata: { group: 'policy.meshbus.io', kind: 'Server', namespace: 'shop', name: 'web-http' },
      protocol: 'detect',
      detectTimeoutMs: 5_000,
      serverIps: ['10.1.0.5'],
      labels: { group: 'policy.meshbus.io', kind: 'server', name: 'web-http' },
      authorizations: [
        {
          metadata: { group: 'policy.meshbus.io', kind: 'AuthorizationPolicy', namespace: 'shop', name: 'cluster' },
          networks: [{ net: '10.0.0.0/8', except: ['10.9.0.0/16'] }],
          authentication: { kind: 'unauthenticated' },
          labels: { name: 'cluster' },
        },
      ],
      httpRoutes: [
        {
          metadata: route('api'),
          hosts: [{ suffix: 'shop.example' }],
          authorizations: [],
          rules: [{ matches: [{ path: { exact: '/healthz' } }], filters: [{ responseHeaderModifier: { add: [{ name: 'x', value: 'y' }] } }, { requestHeaderModifier: { remove: ['cookie'] } }] }],
        },
      ],
    };
    expect(toInboundServer(server)).toEqual({
      protocol: {
        kind: {
          $case: 'detect',
          detect: {
            timeout: ms(5_000),
            httpRoutes: [
              {
                metadata: resource(route('api')),
                hosts: [{ match: { $case: 'suffix', suffix: { reverseLabels: ['example', 'shop'] } } }],
                authorizations: [],
                // Inbound routes have no response header filter in the proxy API; it is left out.
                rules: [{ matches: [{ path: { kind: { $case: 'exact', exact: '/healthz' } }, headers: [], queryParams: [] }], filters: [{ kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { remove: ['cookie'] } } }] }],
              },
            ],
          },
        },
      },
      serverIps: [v4(10, 1, 0, 5)],
      authorizations: [
        {
          networks: [{ net: { ip: v4(10, 0, 0, 0), prefixLen: 8 }, except: [{ ip: v4(10, 9, 0, 0), prefixLen: 16 }] }],
          authentication: { permit: { $case: 'unauthenticated', unauthenticated: {} } },
          labels: { name: 'cluster' },
          metadata: resource({ group: 'policy.meshbus.io', kind: 'AuthorizationPolicy', namespace: 'shop', name: 'cluster' }),
        },
      ],
      labels: { group: 'policy.meshbus.io', kind: 'server', name: 'web-http' },
    });
  });

  it('gives gRPC servers their gRPC routes and opaque or TLS servers no routes', () => {
    const base = { metadata: { default: 'deny' }, labels: {}, authorizations: [] };
    const grpc = toInboundServer({
      ...base,
      protocol: 'grpc',
      grpcRoutes: [{ metadata: route('rpc'), authorizations: [], rules: [{ matches: [{ service: 'shop.Cart', method: 'Add' }], filters: [{ failureInjector: { code: 14, ratio: { numerator: 1, denominator: 2 } } }] }] }],
    });
    expect(grpc.protocol).toEqual({
      kind: {
        $case: 'grpc',
        grpc: {
          routes: [
            {
              metadata: resource(route('rpc')),
              hosts: [],
              authorizations: [],
              rules: [{ matches: [{ rpc: { service: 'shop.Cart', method: 'Add' }, headers: [] }], filters: [{ kind: { $case: 'failureInjector', failureInjector: { code: 14, message: '', ratio: { numerator: 1, denominator: 2 } } } }] }],
            },
          ],
        },
      },
    });
    expect(toInboundServer({ ...base, protocol: 'opaque' }).protocol).toEqual({ kind: { $case: 'opaque', opaque: {} } });
    expect(toInboundServer({ ...base, protocol: 'tls' }).protocol).toEqual({ kind: { $case: 'tls', tls: {} } });
    expect(toInboundServer({ ...base, protocol: 'http2' }).protocol).toEqual({ kind: { $case: 'http2', http2: { routes: [] } } });
  });
});

describe('toOutboundPolicy', () => {
  const backend = (name: string, weight = 1): OutboundBackend => ({ metadata: svc(name), weight, service: { namespace: 'shop', name, port: 80, authority: `${name}.shop.svc.cluster.local:80` } });
  /** What every service backend looks like: P2C over peak EWMA (30 ms, 10 s), a queue of 100 failing fast after 3 s. */
  const balancer = (name: string) => ({
    metadata: resource(svc(name)),
    kind: {
      $case: 'balancer',
      balancer: {
        discovery: { kind: { $case: 'dst', dst: { path: `${name}.shop.svc.cluster.local:80` } } },
        load: { $case: 'peakEwma', peakEwma: { defaultRtt: ms(30), decay: ms(10_000) } },
      },
    },
    queue: { capacity: 100, failfastTimeout: ms(3_000) },
  });
  const policy = (over: Partial<OutboundPolicy> = {}): OutboundPolicy => ({
    namespace: 'shop',
    service: 'web',
    port: 80,
    metadata: svc('web'),
    authority: 'web.shop.svc.cluster.local:80',
    addresses: ['10.96.0.10'],
    protocol: 'http1',
    routes: { httpRoutes: [{ metadata: route('web'), rules: [{ matches: [{ path: { prefix: '/' } }], backends: [backend('web')] }] }], grpcRoutes: [] },
    consumerRoutes: [],
    ...over,
  });

  it('sends one backend as firstAvailable, with its balancer, queue and filters', () => {
    const p = policy({ failureAccrual: { kind: 'consecutive', maxFailures: 7, backoff: { minMs: 1_000, maxMs: 60_000, jitterRatio: 0.5 } } });
    p.routes.httpRoutes[0]!.rules[0]!.backends[0]!.filters = [{ requestHeaderModifier: { add: [{ name: 'x-backend', value: 'web' }] } }];
    expect(toOutboundPolicy(p, undefined)).toEqual({
      metadata: resource(svc('web')),
      protocol: {
        kind: {
          $case: 'http1',
          http1: {
            routes: [
              {
                metadata: resource(route('web')),
                hosts: [],
                rules: [
                  {
                    matches: [{ path: { kind: { $case: 'prefix', prefix: '/' } }, headers: [], queryParams: [] }],
                    filters: [],
                    backends: {
                      kind: {
                        $case: 'firstAvailable',
                        firstAvailable: { backends: [{ backend: balancer('web'), filters: [{ kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { add: { headers: [{ name: 'x-backend', value: Buffer.from('web') }] }, remove: [] } } }] }] },
                      },
                    },
                    allowL5dRequestHeaders: false,
                  },
                ],
              },
            ],
            failureAccrual: { kind: { $case: 'consecutiveFailures', consecutiveFailures: { maxFailures: 7, backoff: { minBackoff: ms(1_000), maxBackoff: ms(60_000), jitterRatio: 0.5, respectRetryAfterHint: false } } } },
          },
        },
      },
    });
  });

  it('splits by weight, with timeouts and retries, and fails requests sent to an invalid backend with 500', () => {
    const p = policy();
    p.routes.httpRoutes[0]!.rules[0] = {
      matches: [],
      backends: [backend('web', 90), { metadata: svc('gone'), weight: 10, invalid: 'Service shop/gone does not exist' }],
      timeouts: { requestMs: 10_000, responseMs: 2_000 },
      retry: { maxRetries: 3, statusRanges: [{ start: 500, end: 599 }], timeoutMs: 1_000, backoff: { minMs: 25, maxMs: 250 } },
    };
    const rule = (toOutboundPolicy(p, undefined).protocol!.kind as { http1: { routes: { rules: unknown[] }[] } }).http1.routes[0]!.rules[0];
    expect(rule).toEqual({
      matches: [],
      filters: [],
      backends: {
        kind: {
          $case: 'randomAvailable',
          randomAvailable: {
            backends: [
              { backend: { backend: balancer('web'), filters: [] }, weight: 90 },
              {
                backend: {
                  backend: { metadata: resource(svc('gone')), queue: { capacity: 100, failfastTimeout: ms(3_000) } },
                  filters: [{ kind: { $case: 'failureInjector', failureInjector: { status: 500, message: 'backend is invalid: Service shop/gone does not exist', ratio: { numerator: 1, denominator: 1 } } } }],
                },
                weight: 10,
              },
            ],
          },
        },
      },
      timeouts: { request: ms(10_000), response: ms(2_000) },
      requestTimeout: ms(2_000),
      retry: { maxRetries: 3, maxRequestBytes: 65_536, conditions: { statusRanges: [{ start: 500, end: 599 }] }, timeout: ms(1_000), backoff: { minBackoff: ms(25), maxBackoff: ms(250), jitterRatio: 0, respectRetryAfterHint: false } },
      allowL5dRequestHeaders: false,
    });
  });

  it('uses the consumer routes of the caller namespace, and the producer routes for every other caller', () => {
    const p = policy({ consumerRoutes: [{ namespace: 'canary', routes: { httpRoutes: [{ metadata: route('canary'), rules: [{ matches: [], backends: [] }] }], grpcRoutes: [] } }] });
    const routeName = (ns: string | undefined) => {
      const http1 = (toOutboundPolicy(p, ns).protocol!.kind as { http1: { routes: { metadata: ReturnType<typeof resource>; rules: { backends: unknown }[] }[] } }).http1;
      return [http1.routes[0]!.metadata.kind.resource.name, http1.routes[0]!.rules[0]!.backends];
    };
    expect(routeName('canary')).toEqual(['canary', { kind: { $case: 'empty', empty: {} } }]);
    expect(routeName('shop')[0]).toBe('web');
    expect(routeName(undefined)[0]).toBe('web');
  });

  it('detects the protocol with HTTP/1, HTTP/2 and opaque routes, opaque traffic going to the service itself', () => {
    const detect = toOutboundPolicy(policy({ protocol: 'detect', detectTimeoutMs: 3_000 }), undefined).protocol!.kind as { $case: string; detect: Record<string, unknown> };
    expect(detect.$case).toBe('detect');
    expect(detect.detect.timeout).toEqual(ms(3_000));
    expect(detect.detect.http1).toEqual(detect.detect.http2);
    expect(detect.detect.opaque).toEqual({
      routes: [{ metadata: resource(svc('web')), rules: [{ backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: balancer('web'), filters: [] }] } } }, filters: [] }] }],
    });
  });

  it('gives opaque and TLS services a route to their opaque backends; gRPC services their gRPC routes and retries', () => {
    const opaque = toOutboundPolicy(policy({ protocol: 'opaque', opaqueBackends: [{ metadata: svc('db'), weight: 1, invalid: 'no such port' }] }), undefined);
    expect(opaque.protocol).toEqual({
      kind: {
        $case: 'opaque',
        opaque: {
          routes: [
            {
              metadata: resource(svc('web')),
              rules: [{ backends: { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: { metadata: resource(svc('db')), queue: { capacity: 100, failfastTimeout: ms(3_000) } }, filters: [{ kind: { $case: 'invalid', invalid: { message: 'backend is invalid: no such port' } } }] }] } } }, filters: [] }],
            },
          ],
        },
      },
    });
    expect((toOutboundPolicy(policy({ protocol: 'tls' }), undefined).protocol!.kind as { tls: { routes: { snis: unknown[] }[] } }).tls.routes[0]!.snis).toEqual([]);

    const grpc = toOutboundPolicy(
      policy({
        protocol: 'grpc',
        routes: {
          httpRoutes: [],
          grpcRoutes: [{ metadata: route('rpc'), rules: [{ matches: [{ service: 'shop.Cart' }], backends: [backend('web')], retry: { maxRetries: 2, codes: ['unavailable', 'deadline-exceeded'] } }] }],
        },
      }),
      undefined,
    );
    const kind = grpc.protocol!.kind;
    if (kind?.$case !== 'grpc') throw new Error(`protocol ${kind?.$case}`);
    const rule = kind.grpc.routes[0]!.rules[0]!;
    expect(rule.matches).toEqual([{ rpc: { service: 'shop.Cart', method: '' }, headers: [] }]);
    expect(rule.retry).toEqual({ maxRetries: 2, maxRequestBytes: 65_536, conditions: { cancelled: false, deadineExceeded: true, resourceExhausted: false, internal: false, unavailable: true } });
  });

  it('sends a forward backend to its address, with its identity for mesh TLS', () => {
    const p = policy();
    p.routes.httpRoutes[0]!.rules[0]!.backends = [{ metadata: { default: 'forward' }, weight: 1, forward: { address: '192.0.2.7', port: 8080, identity: 'ext.shop.serviceaccount.identity.meshbus.cluster.local' } }];
    const http1 = (toOutboundPolicy(p, undefined).protocol!.kind as { http1: { routes: { rules: { backends: { kind: { firstAvailable: { backends: { backend: unknown }[] } } } }[] }[] } }).http1;
    expect(http1.routes[0]!.rules[0]!.backends.kind.firstAvailable.backends[0]!.backend).toEqual({
      metadata: { kind: { $case: 'default', default: 'forward' } },
      kind: {
        $case: 'forward',
        forward: {
          addr: { ip: v4(192, 0, 2, 7), port: 8080 },
          weight: 1,
          metricLabels: {},
          tlsIdentity: { strategy: { $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: 'ext.shop.serviceaccount.identity.meshbus.cluster.local' } }, serverName: { name: 'ext.shop.serviceaccount.identity.meshbus.cluster.local' } },
        },
      },
      queue: { capacity: 100, failfastTimeout: ms(3_000) },
    });
  });
});

describe('forwardPolicy', () => {
  it('detects the protocol and sends everything on to the original address', () => {
    const addr = { ip: v4(192, 0, 2, 7), port: 5432 };
    const forward = { metadata: { kind: { $case: 'default', default: 'forward' } }, kind: { $case: 'forward', forward: { addr, weight: 1, metricLabels: {} } }, queue: { capacity: 100, failfastTimeout: ms(3_000) } };
    const only = { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: forward, filters: [] }] } } };
    const http = { routes: [{ metadata: forward.metadata, hosts: [], rules: [{ matches: [{ path: { kind: { $case: 'prefix', prefix: '/' } }, headers: [], queryParams: [] }], filters: [], backends: only, allowL5dRequestHeaders: false }] }] };
    expect(forwardPolicy(addr)).toEqual({
      metadata: forward.metadata,
      protocol: { kind: { $case: 'detect', detect: { timeout: ms(10_000), opaque: { routes: [{ metadata: forward.metadata, rules: [{ backends: only, filters: [] }] }] }, http1: http, http2: http } } },
    });
  });

  it('forwards to a known endpoint as Destination gives it, opaque without detection when it is opaque', () => {
    const addr = { ip: v4(10, 1, 0, 5), port: 5432 };
    const endpoint = {
      addr,
      weight: 10000,
      metricLabels: { workload: 'db-1' },
      tlsIdentity: { strategy: { $case: 'dnsLikeIdentity' as const, dnsLikeIdentity: { name: 'db.shop.serviceaccount.identity.meshbus.cluster.local' } }, serverName: { name: 'db.shop.serviceaccount.identity.meshbus.cluster.local' } },
      protocolHint: { protocol: { $case: 'opaque' as const, opaque: {} }, opaqueTransport: { inboundPort: 4143 } },
    };
    const forward = { metadata: { kind: { $case: 'default', default: 'forward' } }, kind: { $case: 'forward', forward: endpoint }, queue: { capacity: 100, failfastTimeout: ms(3_000) } };
    const only = { kind: { $case: 'firstAvailable', firstAvailable: { backends: [{ backend: forward, filters: [] }] } } };
    expect(forwardPolicy(addr, { addr: endpoint, opaque: true })).toEqual({
      metadata: forward.metadata,
      protocol: { kind: { $case: 'opaque', opaque: { routes: [{ metadata: forward.metadata, rules: [{ backends: only, filters: [] }] }] } } },
    });
    const detected = forwardPolicy(addr, { addr: endpoint, opaque: false }).protocol?.kind;
    expect(detected?.$case).toBe('detect');
    if (detected?.$case === 'detect') {
      expect(detected.detect.opaque?.routes[0]?.rules[0]?.backends).toEqual(only);
      expect(detected.detect.http1?.routes[0]?.rules[0]?.backends).toEqual(only);
      expect(detected.detect.http2?.routes[0]?.rules[0]?.backends).toEqual(only);
    }
  });
});
