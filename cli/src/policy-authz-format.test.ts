import { describe, expect, it } from 'vitest';
import type { InboundPolicy, PolicyDefaults } from '@meshbus/bus-schemas';
import { authzRows, clientsText, formatAuthz, formatUnknownWorkload, policyNetworksText } from './policy-authz-format.js';

const domain = 'identity.meshbus.cluster.local';

const policy: InboundPolicy = {
  namespace: 'shop',
  workload: 'web-1',
  defaultPolicy: 'deny',
  ports: [
    {
      port: 9090,
      server: {
        metadata: { kind: 'Server', namespace: 'shop', name: 'web-admin' },
        protocol: 'http1',
        labels: {},
        authorizations: [],
      },
    },
    {
      port: 8080,
      server: {
        metadata: { kind: 'Server', namespace: 'shop', name: 'web-http' },
        protocol: 'http1',
        labels: {},
        authorizations: [
          {
            metadata: { kind: 'AuthorizationPolicy', namespace: 'shop', name: 'web-from-front' },
            networks: [{ net: '0.0.0.0/0', except: ['10.9.0.0/16'] }, { net: '::/0' }],
            authentication: { kind: 'meshTls', identities: [`front.shop.serviceaccount.${domain}`], suffixes: [`ops.serviceaccount.${domain}`] },
          },
        ],
        httpRoutes: [
          {
            metadata: { kind: 'HTTPRoute', namespace: 'shop', name: 'web-api' },
            rules: [{ matches: [{ path: { prefix: '/api' } }] }],
            authorizations: [
              { metadata: { kind: 'AuthorizationPolicy', namespace: 'other', name: 'api-from-tls' }, networks: [{ net: '0.0.0.0/0' }], authentication: { kind: 'tlsUnauthenticated' } },
            ],
          },
          { metadata: { kind: 'HTTPRoute', namespace: 'shop', name: 'web-static' }, rules: [{ matches: [] }], authorizations: [] },
        ],
      },
    },
  ],
  defaultServer: {
    metadata: { default: 'deny' },
    protocol: 'detect',
    labels: {},
    authorizations: [{ metadata: { default: 'probe' }, networks: [{ net: '10.0.0.0/8' }], authentication: { kind: 'unauthenticated' } }],
  },
};

const defaults: PolicyDefaults = {
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['10.0.0.0/8', 'fd00::/8'],
  probeNetworks: ['0.0.0.0/0'],
  detectTimeoutMs: 10_000,
  identityDomain: domain,
  namespaces: [{ namespace: 'bank', defaultPolicy: 'cluster-authenticated' }],
};

describe('meshbus authz table', () => {
  it('lists per port the server authorizations (route *), then each route of its own, the default server last', () => {
    expect(formatAuthz(policy)).toBe(
      [
        'shop/web-1: default policy deny; 2 ports with servers of their own',
        'PORT  SERVER            ROUTE              AUTHORIZATION                           NETWORKS                           CLIENTS',
        `8080  server/web-http   *                  authorizationpolicy/web-from-front      0.0.0.0/0 except 10.9.0.0/16,::/0  front.shop.serviceaccount.${domain},*.ops.serviceaccount.${domain}`,
        '8080  server/web-http   httproute/web-api  authorizationpolicy/other/api-from-tls  0.0.0.0/0                          any TLS client',
        '9090  server/web-admin  *                  none: refused                           -                                  -',
        '*     default:deny      *                  default:probe                           10.0.0.0/8                         anyone (unauthenticated)',
        "ROUTE * is every request on the port; a request on a route is allowed only by that route's authorizations (the policy service puts the server's in each route). PORT * is every other port.",
        '',
      ].join('\n'),
    );
  });

  it('orders ports by number and says refused when a server has no authorization', () => {
    expect(authzRows(policy).map((r) => `${r[0]} ${r[2]} ${r[3]}`)).toEqual([
      '8080 * authorizationpolicy/web-from-front',
      '8080 httproute/web-api authorizationpolicy/other/api-from-tls',
      '9090 * none: refused',
      '* * default:probe',
    ]);
  });

  it('describes clients and networks', () => {
    expect(clientsText({ kind: 'unauthenticated' })).toBe('anyone (unauthenticated)');
    expect(clientsText({ kind: 'meshTls', suffixes: [''] })).toBe('any mesh identity');
    expect(clientsText({ kind: 'meshTls' })).toBe('no one (mesh TLS with no identity listed)');
    expect(policyNetworksText([])).toBe('none');
  });
});

describe('an unknown workload', () => {
  it('shows the namespace default when the namespace sets one', () => {
    expect(formatUnknownWorkload('bank', 'teller-1', defaults)).toBe(
      [
        'no inbound policy is published for bank/teller-1: the policy service does not know this workload',
        'a proxy of it would get the default policy cluster-authenticated on every port (the setting of namespace bank):',
        '  who:             any meshed client (mesh TLS) from the cluster networks (10.0.0.0/8,fd00::/8)',
        '  cluster default: all-unauthenticated',
        '  probe networks:  0.0.0.0/0',
        '',
      ].join('\n'),
    );
  });

  it('falls back to the cluster default', () => {
    expect(formatUnknownWorkload('shop', 'ghost', defaults)).toContain('default policy all-unauthenticated on every port (the cluster default; namespace shop sets none):\n  who:             anyone, from any network\n');
  });
});
