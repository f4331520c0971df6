/*
 * The golden cases: resources in (written to golden/<case>/input.json as the
 * typed resources), policy out (golden/<case>/expected.json).
 */
import type { PolicyInputs } from '../api.js';
import * as b from './builders.js';

const web = (ns = 'shop', more: Parameters<typeof b.workload>[2] = {}) => b.workload(ns, 'web', more);
const httpServer = (ns = 'shop') => b.server(ns, 'web-http', { port: 'http', proxyProtocol: 'HTTP/1' });

export const goldenCases: Record<string, PolicyInputs> = {
  'default-policies': {
    resources: b.resources({
      namespaces: [
        b.namespace('deny-ns', { 'config.meshbus.io/default-inbound-policy': 'deny' }),
        b.namespace('authn-ns', { 'config.linkerd.io/default-inbound-policy': 'all-authenticated' }),
        b.namespace('cluster-ns', { 'config.meshbus.io/default-inbound-policy': 'cluster-unauthenticated' }),
        b.namespace('bad-ns', { 'config.meshbus.io/default-inbound-policy': 'allow-everyone' }),
      ],
      workloads: [
        b.workload('deny-ns', 'a'),
        b.workload('authn-ns', 'b'),
        b.workload('cluster-ns', 'c', { annotations: { 'config.meshbus.io/default-inbound-policy': 'cluster-authenticated' } }),
        b.workload('plain', 'd', { annotations: { 'config.meshbus.io/default-inbound-policy': 'audit' }, opaquePorts: [{ min: 5432, max: 5432 }] }),
        b.workload('plain', 'e'),
      ],
    }),
    registered: [b.workload('deny-ns', 'registered-vm')],
  },
  probes: {
    resources: b.resources({
      workloads: [web('shop', { probes: [{ port: 'http', path: '/ready' }, { port: 8080, path: '/live' }, { port: 9000, path: '/metrics' }] })],
      servers: [httpServer()],
      httpRoutes: [b.httpRoute('shop', 'web-api', [b.parent('Server', 'web-http')], [b.rule({ matches: [b.pathPrefix('/api')] }), b.rule({ matches: [{ path: { type: 'Exact', value: '/live' }, headers: [], queryParams: [] }] })])],
    }),
    registered: [],
  },
  'identity-and-network-authentication': {
    resources: b.resources({
      workloads: [web()],
      servers: [httpServer()],
      meshTLSAuthentications: [
        b.meshTls('shop', 'callers', ['*.billing.serviceaccount.identity.meshbus.cluster.local', 'ops.tools.serviceaccount.identity.meshbus.cluster.local'], [b.ref('ServiceAccount', 'api', ''), b.ref('Namespace', 'frontend', '')]),
        b.meshTls('shop', 'anyone-meshed', ['*']),
      ],
      networkAuthentications: [b.networkAuthn('shop', 'office', [{ cidr: '192.168.0.0/16', except: ['192.168.7.0/24'] }, { cidr: '2001:db8::/32' }])],
      authorizationPolicies: [
        b.authorizationPolicy('shop', 'callers-only', b.ref('Server', 'web-http'), [b.ref('MeshTLSAuthentication', 'callers')]),
        b.authorizationPolicy('shop', 'office-network', b.ref('Server', 'web-http'), [b.ref('NetworkAuthentication', 'office')]),
        b.authorizationPolicy('shop', 'meshed-from-office', b.ref('Namespace', 'shop', ''), [b.ref('MeshTLSAuthentication', 'anyone-meshed'), b.ref('NetworkAuthentication', 'office')]),
        b.authorizationPolicy('shop', 'one-account', b.ref('Server', 'web-http'), [b.ref('ServiceAccount', 'checkout', '')]),
      ],
    }),
    registered: [],
  },
  'route-authorization': {
    resources: b.resources({
      namespaces: [b.namespace('shop', { 'config.meshbus.io/default-inbound-policy': 'deny' })],
      workloads: [web()],
      servers: [b.server('shop', 'web-http', { accessPolicy: 'deny' })],
      httpRoutes: [
        b.httpRoute('shop', 'admin', [b.parent('Server', 'web-http')], [b.rule({ matches: [b.pathPrefix('/admin', { method: 'POST' })] })]),
        b.httpRoute('shop', 'public', [b.parent('Server', 'web-http')], [b.rule({ matches: [b.pathPrefix('/')] })], { hostnames: ['web.shop', '*.example.com'] }),
      ],
      authorizationPolicies: [
        b.authorizationPolicy('shop', 'admin-only-ops', b.ref('HTTPRoute', 'admin', 'gateway.networking.k8s.io'), [b.ref('ServiceAccount', 'ops', '')]),
        b.authorizationPolicy('shop', 'public-anyone', b.ref('HTTPRoute', 'public', 'gateway.networking.k8s.io')),
      ],
    }),
    registered: [],
  },
  'producer-and-consumer-routes': {
    resources: b.resources({
      services: [b.service('shop', 'api'), b.service('shop', 'api-v2', { clusterIPs: ['10.96.0.11'] }), b.service('shop', 'plain', { clusterIPs: ['10.96.0.12', 'fd00::12'] })],
      httpRoutes: [
        b.httpRoute('shop', 'api-split', [b.parent('Service', 'api', { port: 80 })], [b.rule({ backendRefs: [b.backend('api', 90), b.backend('api-v2', 10)] })]),
        b.httpRoute('frontend', 'api-for-frontend', [b.parent('Service', 'api', { namespace: 'shop' })], [b.rule({ backendRefs: [b.backend('api-v2', 1, { namespace: 'shop' })] })]),
      ],
    }),
    registered: [],
  },
  'weights-and-header-routing': {
    resources: b.resources({
      services: [b.service('shop', 'web'), b.service('shop', 'web-canary')],
      httpRoutes: [
        b.httpRoute('shop', 'canary', [b.parent('Service', 'web')], [
          b.rule({ matches: [b.pathPrefix('/', { headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }] })], backendRefs: [b.backend('web-canary')] }),
          b.rule({
            matches: [b.pathPrefix('/')],
            backendRefs: [b.backend('web', 95), b.backend('web-canary', 5), b.backend('web-gone', 0)],
            filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'canary' }], add: [], remove: ['x-debug'] } }],
          }),
        ]),
        b.httpRoute('shop', 'exact-login', [b.parent('Service', 'web')], [b.rule({ matches: [{ path: { type: 'Exact', value: '/login' }, headers: [], queryParams: [] }], backendRefs: [b.backend('web')] })]),
      ],
    }),
    registered: [],
  },
  'timeouts-and-retries': {
    resources: b.resources({
      services: [
        b.service('shop', 'api', { traffic: { retry: { attempts: 2, codes: [], grpcCodes: [] }, timeouts: { requestMs: 5000 } } }),
        b.service('shop', 'annotated', { traffic: { retry: { attempts: 1, codes: [{ start: 500, end: 504 }], grpcCodes: [], backoffMs: 50, perTryTimeoutMs: 800 }, timeouts: { requestMs: 2000, idleMs: 60000 } } }),
      ],
      httpRoutes: [
        b.httpRoute(
          'shop',
          'api-retries',
          [b.parent('Service', 'api')],
          [
            b.rule({ matches: [b.pathPrefix('/slow')], timeouts: { requestMs: 10000, backendRequestMs: 3000 }, retry: { attempts: 4, codes: [{ start: 503, end: 503 }, { start: 502, end: 502 }], grpcCodes: [], backoffMs: 100 } }),
            b.rule({ matches: [b.pathPrefix('/')] }),
          ],
          { annotationRetry: { attempts: 1, codes: [{ start: 500, end: 599 }], grpcCodes: [] } },
        ),
      ],
    }),
    registered: [],
  },
  'rate-limits': {
    resources: b.resources({
      workloads: [web()],
      servers: [httpServer()],
      rateLimitPolicies: [
        b.rateLimit('shop', 'web-limit', 'web-http', { total: { requestsPerSecond: 1000 }, identity: { requestsPerSecond: 100 }, overrides: [{ requestsPerSecond: 500, clientRefs: [b.ref('ServiceAccount', 'batch', ''), b.ref('ServiceAccount', 'cron', '', 'ops')] }] }),
        b.rateLimit('shop', 'web-limit-2', 'web-http', { total: { requestsPerSecond: 5 } }),
      ],
    }),
    registered: [],
  },
  'failure-accrual-and-protocols': {
    resources: b.resources({
      services: [
        b.service('shop', 'api', {
          ports: [
            { name: 'http', port: 80, targetPort: 8080 },
            { name: 'grpc', port: 9090, targetPort: 9090, appProtocol: 'kubernetes.io/h2c' },
            { name: 'db', port: 5432, targetPort: 5432 },
          ],
          opaquePorts: [{ min: 5432, max: 5432 }],
          traffic: { failureAccrual: { kind: 'consecutive', maxFailures: 7, minPenaltyMs: 1000, maxPenaltyMs: 60000, jitterRatio: 0.5 } },
        }),
        b.service('shop', 'cart'),
      ],
      grpcRoutes: [
        b.grpcRoute('shop', 'cart-grpc', [b.parent('Service', 'cart')], [
          { matches: [{ method: { type: 'Exact', service: 'shop.Cart', method: 'Add' }, headers: [] }], filters: [], backendRefs: [b.backend('cart')], retry: { attempts: 2, codes: [], grpcCodes: ['UNAVAILABLE', 'cancelled'] } },
        ]),
      ],
    }),
    registered: [],
  },
  'fault-injection': {
    resources: b.resources({
      services: [b.service('shop', 'api')],
      faultInjections: [b.faultInjection('shop', 'ten-percent-503', { httpStatus: 503, message: 'injected', ratio: { numerator: 10, denominator: 100 } })],
      httpRoutes: [b.httpRoute('shop', 'chaos', [b.parent('Service', 'api')], [b.rule({ filters: [{ type: 'ExtensionRef', extensionRef: b.ref('HTTPFaultInjection', 'ten-percent-503', 'policy.meshbus.io') }] })])],
    }),
    registered: [],
  },
  conflicts: {
    resources: b.resources({
      workloads: [web()],
      servers: [b.server('shop', 'a-by-name', { port: 'http' }), b.server('shop', 'b-by-number', { port: 8080, proxyProtocol: 'HTTP/2' })],
      services: [b.service('shop', 'web')],
      httpRoutes: [
        b.httpRoute('shop', 'older', [b.parent('Service', 'web')], [b.rule({ matches: [b.pathPrefix('/api')], backendRefs: [b.backend('web')] })]),
        b.httpRoute('shop', 'younger', [b.parent('Service', 'web')], [b.rule({ matches: [b.pathPrefix('/api')], backendRefs: [b.backend('web')] })]),
      ],
    }),
    registered: [],
  },
  'unknown-references': {
    resources: b.resources({
      workloads: [web()],
      servers: [httpServer()],
      services: [b.service('shop', 'web')],
      authorizationPolicies: [
        b.authorizationPolicy('shop', 'missing-authn', b.ref('Server', 'web-http'), [b.ref('MeshTLSAuthentication', 'nobody')]),
        b.authorizationPolicy('shop', 'missing-server', b.ref('Server', 'nope')),
        b.authorizationPolicy('shop', 'two-networks', b.ref('Server', 'web-http'), [b.ref('NetworkAuthentication', 'n1'), b.ref('NetworkAuthentication', 'n2')]),
        b.authorizationPolicy('shop', 'works', b.ref('Server', 'web-http')),
      ],
      httpRoutes: [
        b.httpRoute('shop', 'no-parent', [b.parent('Service', 'ghost')]),
        b.httpRoute('shop', 'half-parent', [b.parent('Service', 'web'), b.parent('Server', 'ghost-server')]),
        b.httpRoute('shop', 'bad-filter', [b.parent('Service', 'web')], [b.rule({ filters: [{ type: 'ExtensionRef', extensionRef: b.ref('Throttle', 'x', 'example.com') }] })]),
      ],
      rateLimitPolicies: [b.rateLimit('shop', 'limit-ghost', 'ghost-server', { total: { requestsPerSecond: 1 } })],
    }),
    registered: [],
  },
};
