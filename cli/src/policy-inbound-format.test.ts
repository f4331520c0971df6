import { describe, expect, it } from 'vitest';
import { inbound, type meta, type net } from '@meshbus/proxy-api';
import { authenticationText, formatInboundServer, inboundProtocolText, networksText } from './policy-inbound-format.js';

const ipv4 = (text: string): net.IPAddress => ({ ip: { $case: 'ipv4', ipv4: text.split('.').reduce((a, o) => a * 256 + Number(o), 0) } });
const cidr = (text: string): net.IPNetwork => {
  const [ip, len] = text.split('/');
  return { ip: ipv4(ip!), prefixLen: Number(len) };
};
const allV6: net.IPNetwork = { ip: { ip: { $case: 'ipv6', ipv6: { first: 0n, last: 0n } } }, prefixLen: 0 };
const resource = (kind: string, name: string, extra: Partial<meta.Resource> = {}): meta.Metadata => ({
  kind: { $case: 'resource', resource: { group: 'policy.meshbus.io', kind, name, namespace: 'shop', section: '', port: 0, ...extra } },
});
const identityDomain = 'identity.meshbus.cluster.local';

const fromFront: inbound.Authz = {
  metadata: resource('AuthorizationPolicy', 'web-from-front'),
  networks: [{ net: cidr('0.0.0.0/0'), except: [cidr('10.9.0.0/16')] }, { net: allV6, except: [] }],
  authentication: {
    permit: {
      $case: 'meshTLS',
      meshTLS: {
        clients: {
          $case: 'identities',
          identities: { identities: [{ name: `front.shop.serviceaccount.${identityDomain}` }], suffixes: [{ parts: ['ops', 'serviceaccount', ...identityDomain.split('.')] }] },
        },
      },
    },
  },
  labels: {},
};

const probes: inbound.Authz = {
  metadata: { kind: { $case: 'default', default: 'probe' } },
  networks: [{ net: cidr('10.0.0.0/8'), except: [] }],
  authentication: { permit: { $case: 'unauthenticated', unauthenticated: {} } },
  labels: {},
};

const apiRoute: inbound.HttpRoute = {
  metadata: resource('HTTPRoute', 'web-api'),
  hosts: [{ match: { $case: 'exact', exact: 'web.shop.svc.cluster.local' } }, { match: { $case: 'suffix', suffix: { reverseLabels: ['com', 'example'] } } }],
  rules: [
    {
      matches: [
        {
          path: { kind: { $case: 'prefix', prefix: '/api' } },
          headers: [{ name: 'x-env', value: { $case: 'exact', exact: Buffer.from('prod') } }],
          queryParams: [{ name: 'debug', value: { $case: 'regex', regex: '^(1|true)$' } }],
          method: { type: { $case: 'registered', registered: 0 } },
        },
        { path: { kind: { $case: 'exact', exact: '/healthz' } }, headers: [], queryParams: [] },
      ],
      filters: [
        { kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { set: { headers: [{ name: 'x-route', value: Buffer.from('api') }] }, remove: ['x-debug'] } } },
        { kind: { $case: 'failureInjector', failureInjector: { status: 503, message: 'chaos', ratio: { numerator: 1, denominator: 10 } } } },
      ],
    },
  ],
  authorizations: [
    {
      metadata: resource('AuthorizationPolicy', 'api-from-any-tls'),
      networks: [{ net: cidr('0.0.0.0/0'), except: [] }],
      authentication: { permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'unauthenticated', unauthenticated: {} } } } },
      labels: {},
    },
  ],
};

// The rate limit field comes with the newer proxy API messages; the text reads it wherever it is present.
const http1 = { routes: [apiRoute], localRateLimit: { metadata: resource('HTTPLocalRateLimitPolicy', 'web-limit'), total: { requestsPerSecond: 100 }, identity: { requestsPerSecond: 10 }, overrides: [{ limit: { requestsPerSecond: 50 }, clients: { identities: [{ name: `front.shop.serviceaccount.${identityDomain}` }] } }] } } as inbound.ProxyProtocol_Http1;

const server: inbound.Server = {
  protocol: { kind: { $case: 'http1', http1 } },
  serverIps: [],
  authorizations: [fromFront, probes],
  labels: { group: 'policy.meshbus.io', kind: 'server', name: 'web-http' },
};

describe('formatInboundServer', () => {
  it('prints protocol, server, labels, authorizations, routes with their authorizations, and the rate limit', () => {
    expect(formatInboundServer(server)).toBe(
      [
        'protocol:   HTTP/1',
        'server:     server web-http (policy.meshbus.io)',
        'labels:     group=policy.meshbus.io,kind=server,name=web-http',
        'authorizations (2):',
        '  authorizationpolicy shop/web-from-front',
        '    networks:       0.0.0.0/0 except 10.9.0.0/16, ::/0',
        `    authentication: mesh TLS, identities front.shop.serviceaccount.${identityDomain}; suffix *.ops.serviceaccount.${identityDomain}`,
        '  default probe',
        '    networks:       10.0.0.0/8',
        '    authentication: unauthenticated: any client, TLS or not',
        'routes (1):',
        '  httproute shop/web-api',
        '    hosts: web.shop.svc.cluster.local, *.example.com',
        '    rule 1:',
        '      match:  method GET, path prefix /api, header x-env=prod, query debug~^(1|true)$',
        '      match:  path exact /healthz',
        '      filter: request headers: set x-route=api; remove x-debug',
        '      filter: fail 1/10 of requests with status 503 "chaos"',
        '    authorizations (1):',
        '      authorizationpolicy shop/api-from-any-tls',
        '        networks:       0.0.0.0/0',
        '        authentication: any TLS client',
        'rate limit: httplocalratelimitpolicy shop/web-limit',
        '  total:        100/s',
        '  per identity: 10/s',
        `  override:     50/s for front.shop.serviceaccount.${identityDomain}`,
        '',
      ].join('\n'),
    );
  });

  it('says what an empty server means: no authorization refuses everything, no route answers 404', () => {
    const denied: inbound.Server = {
      protocol: { kind: { $case: 'detect', detect: { timeout: { seconds: 10n, nanos: 0 }, httpRoutes: [] } } },
      serverIps: [ipv4('10.0.0.7')],
      authorizations: [],
      labels: { kind: 'default', name: 'deny' },
    };
    expect(formatInboundServer(denied)).toBe(
      [
        'protocol:   detect (HTTP or opaque; timeout 10s)',
        'server:     default deny',
        'labels:     kind=default,name=deny',
        'server IPs: 10.0.0.7',
        'authorizations: none: every connection is refused',
        'routes: none: every request is refused (404)',
        'rate limit: none',
        '',
      ].join('\n'),
    );
  });

  it('prints gRPC routes with rpc matches and no rate limit line', () => {
    const grpc: inbound.Server = {
      protocol: {
        kind: {
          $case: 'grpc',
          grpc: {
            routes: [
              {
                metadata: resource('GRPCRoute', 'cart'),
                hosts: [],
                authorizations: [],
                rules: [{ matches: [{ rpc: { service: 'shop.Cart', method: '' }, headers: [] }], filters: [{ kind: { $case: 'failureInjector', failureInjector: { code: 14, message: '' } } }] }],
              },
            ],
          },
        },
      },
      serverIps: [],
      authorizations: [probes],
      labels: { kind: 'server', name: 'cart-grpc' },
    };
    const text = formatInboundServer(grpc);
    expect(text).toContain('protocol:   gRPC\n');
    expect(text).toContain(
      ['  grpcroute shop/cart', '    hosts: any', '    rule 1:', '      match:  rpc shop.Cart/*', '      filter: fail all requests with grpc-status 14', '    authorizations: none: every request on this route is refused'].join('\n'),
    );
    expect(text).not.toContain('rate limit');
  });

  it('reads the same after the JSON round trip of the proxy API (what --json prints)', () => {
    const plain: inbound.Server = { ...server, protocol: { kind: { $case: 'http1', http1: { routes: [apiRoute] } } } };
    const back = inbound.Server.fromJSON(JSON.parse(JSON.stringify(inbound.Server.toJSON(plain))));
    expect(formatInboundServer(back)).toBe(formatInboundServer(plain));
    expect(formatInboundServer(back)).toContain('header x-env=prod');
  });
});

describe('pieces', () => {
  it('names each protocol', () => {
    expect(inboundProtocolText(undefined)).toBe('unset (the proxy refuses connections)');
    expect(inboundProtocolText({ kind: { $case: 'opaque', opaque: {} } })).toBe('opaque (TCP)');
    expect(inboundProtocolText({ kind: { $case: 'http2', http2: { routes: [] } } })).toBe('HTTP/2');
  });

  it('describes every kind of authentication', () => {
    expect(authenticationText(undefined)).toBe('none (the proxy ignores this authorization)');
    expect(authenticationText({ permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'identities', identities: { identities: [], suffixes: [{ parts: [] }] } } } } })).toBe('mesh TLS, any mesh identity');
    expect(authenticationText({ permit: { $case: 'meshTLS', meshTLS: { clients: { $case: 'identities', identities: { identities: [], suffixes: [] } } } } })).toBe('mesh TLS, no identity allowed');
  });

  it('says when an authorization has no network', () => {
    expect(networksText([])).toBe('none (the proxy ignores this authorization)');
  });
});
