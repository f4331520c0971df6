import { describe, expect, it } from 'vitest';
import { decodeDocument } from './decode.js';

const base = (apiVersion: string, annotations: Record<string, string> = {}) => ({ namespace: 'shop', name: 'api', labels: {}, annotations, apiVersion, file: '' });

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

const serviceParent = { group: 'core', kind: 'Service', name: 'api', port: 8080 };

const httpRoute = (spec: Record<string, unknown>, annotations: Record<string, string> = {}, apiVersion = 'gateway.networking.k8s.io/v1') => ({
  apiVersion,
  kind: 'HTTPRoute',
  metadata: { name: 'api', namespace: 'shop', annotations },
  spec: { parentRefs: [serviceParent], ...spec },
});

const rule = (extra: Record<string, unknown>) => httpRoute({ rules: [{ backendRefs: [{ name: 'api', port: 8080 }], ...extra }] });

describe('HTTPRoute', () => {
  it('reads a route with every kind of match, filter and backend', () => {
    const doc = httpRoute({
      hostnames: ['api.shop', '*.example.com'],
      rules: [
        {
          matches: [
            { path: { type: 'Exact', value: '/books' }, method: 'GET', headers: [{ name: 'x-canary', value: 'yes' }], queryParams: [{ type: 'RegularExpression', name: 'page', value: '\\d+' }] },
            { path: { value: '/authors' } },
            { headers: [{ name: 'x-debug', value: '1' }] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'books' }], remove: ['x-secret'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'api' }] } },
            { type: 'URLRewrite', urlRewrite: { hostname: 'books.shop', path: { type: 'ReplaceFullPath', replaceFullPath: '/v2/books' } } },
            { type: 'ExtensionRef', extensionRef: { group: 'policy.meshbus.io', kind: 'HTTPFaultInjection', name: 'flaky' } },
          ],
          backendRefs: [
            { name: 'api', port: 8080, weight: 90 },
            { group: '', kind: 'Service', name: 'api-v2', namespace: 'shop', port: 8080, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-v', value: '2' }] } }] },
          ],
          timeouts: { request: '10s', backendRequest: '2.5s' },
          retry: { attempts: 3, codes: [503, 500, 503], backoff: '100ms' },
        },
        { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 443 } }] },
      ],
    });
    expect(decoded(doc)).toEqual({
      kind: 'HTTPRoute',
      ...base('gateway.networking.k8s.io/v1'),
      parentRefs: [{ group: '', kind: 'Service', name: 'api', port: 8080 }],
      hostnames: ['api.shop', '*.example.com'],
      rules: [
        {
          matches: [
            { path: { type: 'Exact', value: '/books' }, method: 'GET', headers: [{ type: 'Exact', name: 'x-canary', value: 'yes' }], queryParams: [{ type: 'RegularExpression', name: 'page', value: '\\d+' }] },
            { path: { type: 'PathPrefix', value: '/authors' }, headers: [], queryParams: [] },
            { path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'x-debug', value: '1' }], queryParams: [] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'books' }], add: [], remove: ['x-secret'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [], add: [{ name: 'x-served-by', value: 'api' }], remove: [] } },
            { type: 'URLRewrite', urlRewrite: { hostname: 'books.shop', path: { type: 'ReplaceFullPath', value: '/v2/books' } } },
            { type: 'ExtensionRef', extensionRef: { group: 'policy.meshbus.io', kind: 'HTTPFaultInjection', name: 'flaky' } },
          ],
          backendRefs: [
            { group: '', kind: 'Service', name: 'api', port: 8080, weight: 90, filters: [] },
            {
              group: '',
              kind: 'Service',
              name: 'api-v2',
              namespace: 'shop',
              port: 8080,
              weight: 1,
              filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [], add: [{ name: 'x-v', value: '2' }], remove: [] } }],
            },
          ],
          timeouts: { requestMs: 10_000, backendRequestMs: 2_500 },
          retry: { attempts: 3, codes: [{ start: 500, end: 500 }, { start: 503, end: 503 }], grpcCodes: [], backoffMs: 100 },
        },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
          filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 443, statusCode: 302 } }],
          backendRefs: [],
        },
      ],
    });
  });

  it('reads a Linkerd HTTPRoute on a Server, with the retry and timeout annotations', () => {
    const doc = httpRoute(
      { parentRefs: [{ group: 'policy.linkerd.io', kind: 'Server', name: 'api-grpc' }], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/books/[0-9]+' } }] }] },
      {
        'retry.linkerd.io/http': '500,502-504, 5xx',
        'retry.linkerd.io/limit': '2',
        'retry.linkerd.io/timeout': '300ms',
        'timeout.linkerd.io/request': '10s',
        'timeout.linkerd.io/response': '1s',
        'timeout.linkerd.io/idle': '1m',
      },
      'policy.linkerd.io/v1beta3',
    );
    expect(decoded(doc)).toMatchObject({
      apiVersion: 'policy.linkerd.io/v1beta3',
      parentRefs: [{ group: 'policy.linkerd.io', kind: 'Server', name: 'api-grpc' }],
      rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/books/[0-9]+' }, headers: [], queryParams: [] }], filters: [], backendRefs: [] }],
      annotationRetry: {
        attempts: 2,
        codes: [
          { start: 500, end: 500 },
          { start: 502, end: 504 },
          { start: 500, end: 599 },
        ],
        grpcCodes: [],
        perTryTimeoutMs: 300,
      },
      annotationTimeouts: { requestMs: 10_000, backendRequestMs: 1_000, idleMs: 60_000 },
    });
  });

  it('reads gateway-error and defaults the retry limit to 1', () => {
    expect(decoded(httpRoute({}, { 'retry.linkerd.io/http': 'gateway-error' }))).toMatchObject({
      annotationRetry: { attempts: 1, codes: [{ start: 502, end: 504 }], grpcCodes: [] },
    });
  });

  it.each(['gateway.networking.k8s.io/v1beta1', 'policy.linkerd.io/v1beta1', 'policy.linkerd.io/v1beta2'])('accepts %s', (apiVersion) => {
    expect(decoded(httpRoute({}, {}, apiVersion))).toMatchObject({ apiVersion, rules: [] });
  });

  it.each<[string, unknown, string]>([
    ['no parentRefs', httpRoute({ parentRefs: [] }), 'spec.parentRefs: must NOT have fewer than 1 items'],
    [
      'a parentRef without kind (a Gateway)',
      httpRoute({ parentRefs: [{ name: 'gw' }] }),
      'spec.parentRefs[0]: Gateway (group gateway.networking.k8s.io) cannot be referred to here; allowed: Server (group policy.linkerd.io), Service (core group)',
    ],
    ['a port on a Server parent', httpRoute({ parentRefs: [{ group: 'policy.linkerd.io', kind: 'Server', name: 's', port: 80 }] }), 'spec.parentRefs[0].port: a Server has one port'],
    ['the same parent twice', httpRoute({ parentRefs: [serviceParent, { ...serviceParent, group: '' }] }), 'spec.parentRefs[1]: is the same parent as spec.parentRefs[0]'],
    ['a bad hostname', httpRoute({ hostnames: ['10.0.0.1'] }), 'spec.hostnames[0]: "10.0.0.1" is not a hostname'],
    ['a path not starting with /', rule({ matches: [{ path: { type: 'PathPrefix', value: 'books' } }] }), `spec.rules[0].matches[0].path.value: "books" must start with '/'`],
    ['a path with //', rule({ matches: [{ path: { value: '/a//b' } }] }), 'spec.rules[0].matches[0].path.value: "/a//b" must not contain "//"'],
    ['a bad path regex', rule({ matches: [{ path: { type: 'RegularExpression', value: '(' } }] }), 'spec.rules[0].matches[0].path.value: "(" is not a valid regular expression'],
    ['an unknown path type', rule({ matches: [{ path: { type: 'Prefix', value: '/' } }] }), 'spec.rules[0].matches[0].path.type: must be one of "Exact", "PathPrefix", "RegularExpression"'],
    ['a lowercase method', rule({ matches: [{ method: 'get' }] }), 'spec.rules[0].matches[0].method: must be one of "GET"'],
    ['a header matched twice', rule({ matches: [{ headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }] }), 'spec.rules[0].matches[0].headers[1].name: header "x-a" is already matched by spec.rules[0].matches[0].headers[0]'],
    ['a bad header name', rule({ matches: [{ headers: [{ name: 'x a', value: '1' }] }] }), 'spec.rules[0].matches[0].headers[0].name: "x a" is not an HTTP header name'],
    ['an unsupported filter', rule({ filters: [{ type: 'RequestMirror' }] }), 'spec.rules[0].filters[0].type: must be one of "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "ExtensionRef"'],
    ['a filter without its settings', rule({ filters: [{ type: 'URLRewrite' }] }), 'spec.rules[0].filters[0].urlRewrite: is required in a filter of type URLRewrite'],
    ['a filter with the settings of another', rule({ filters: [{ type: 'RequestHeaderModifier', urlRewrite: {} }] }), 'spec.rules[0].filters[0].urlRewrite: must not be set in a filter of type RequestHeaderModifier'],
    ['two header modifiers', rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: {} }, { type: 'RequestHeaderModifier', requestHeaderModifier: {} }] }), 'spec.rules[0].filters[1]: a RequestHeaderModifier filter is already given by spec.rules[0].filters[0]'],
    ['a header set and removed', rule({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }], remove: ['X-A'] } }] }), 'spec.rules[0].filters[0].requestHeaderModifier.remove[0]: header "x-a" is already changed by spec.rules[0].filters[0].requestHeaderModifier.set[0]'],
    ['a redirect with backends', rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }), 'spec.rules[0].backendRefs: a rule that redirects sends no request to a backend'],
    ['a redirect and a rewrite', httpRoute({ rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: {} }, { type: 'URLRewrite', urlRewrite: {} }] }] }), 'spec.rules[0].filters: RequestRedirect and URLRewrite cannot be used together'],
    ['a redirect status that is not a redirect', httpRoute({ rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 404 } }] }] }), 'spec.rules[0].filters[0].requestRedirect.statusCode: must be one of 301, 302, 303, 307, 308'],
    [
      'a prefix rewrite without a prefix match',
      rule({ matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] }),
      'spec.rules[0].filters[0].urlRewrite.path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match',
    ],
    ['a rewrite without its path', rule({ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath' } } }] }), 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath: is required with type ReplaceFullPath'],
    [
      'an extension of another kind',
      rule({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Thing', name: 'x' } }] }),
      'spec.rules[0].filters[0].extensionRef: Thing (group example.com) cannot be referred to here; allowed: HTTPFaultInjection (group policy.meshbus.io)',
    ],
    ['a backend that is not a Service', httpRoute({ rules: [{ backendRefs: [{ kind: 'Pod', name: 'api', port: 80 }] }] }), 'spec.rules[0].backendRefs[0]: Pod (core group) cannot be referred to here; allowed: Service (core group)'],
    ['a backend without port', httpRoute({ rules: [{ backendRefs: [{ name: 'api' }] }] }), 'spec.rules[0].backendRefs[0].port: is required for a Service backend'],
    ['a negative weight', httpRoute({ rules: [{ backendRefs: [{ name: 'api', port: 80, weight: -1 }] }] }), 'spec.rules[0].backendRefs[0].weight: must be >= 0'],
    ['a redirect on a backend', httpRoute({ rules: [{ backendRefs: [{ name: 'api', port: 80, filters: [{ type: 'RequestRedirect' }] }] }] }), 'spec.rules[0].backendRefs[0].filters[0].type: must be one of "RequestHeaderModifier", "ResponseHeaderModifier", "ExtensionRef"'],
    ['a bad duration', rule({ timeouts: { request: '10' } }), 'spec.rules[0].timeouts.request: "10" is not a duration (e.g. 300ms, 1s, 1m30s)'],
    ['a backend timeout above the request timeout', rule({ timeouts: { request: '1s', backendRequest: '2s' } }), 'spec.rules[0].timeouts.backendRequest: "2s" is longer than spec.rules[0].timeouts.request "1s"'],
    ['a retry code that is not an error', rule({ retry: { codes: [200] } }), 'spec.rules[0].retry.codes[0]: must be >= 400'],
    ['an unknown rule field', rule({ sessionPersistence: {} }), 'spec.rules[0].sessionPersistence: is not a known field'],
    [
      'a malformed retry annotation',
      httpRoute({}, { 'retry.linkerd.io/http': '5xy' }),
      'metadata.annotations["retry.linkerd.io/http"]: "5xy" is not a comma-separated list of status codes (500), ranges (500-504), 4xx, 5xx or gateway-error',
    ],
    ['a range backwards', httpRoute({}, { 'retry.linkerd.io/http': '504-500' }), 'metadata.annotations["retry.linkerd.io/http"]: "504-500" is not'],
    ['a gRPC annotation on an HTTPRoute', httpRoute({}, { 'retry.linkerd.io/grpc': 'unavailable' }), 'metadata.annotations["retry.linkerd.io/grpc"]: does not apply to an HTTPRoute; use retry.linkerd.io/http'],
    ['a bad retry limit', httpRoute({}, { 'retry.linkerd.io/limit': 'many' }), 'metadata.annotations["retry.linkerd.io/limit"]: "many" is not a whole number of retries (0 to 9999)'],
    ['a bad timeout annotation', httpRoute({}, { 'timeout.linkerd.io/request': '-1s' }), 'metadata.annotations["timeout.linkerd.io/request"]: "-1s" is negative'],
  ])('refuses %s', (_title, doc, expected) => {
    expect(reason(doc)).toContain(expected);
  });
});

const grpcRoute = (spec: Record<string, unknown>, annotations: Record<string, string> = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'GRPCRoute',
  metadata: { name: 'api', namespace: 'shop', annotations },
  spec: { parentRefs: [serviceParent], ...spec },
});

describe('GRPCRoute', () => {
  it('reads method and header matches, filters, backends, timeouts and retries', () => {
    const doc = grpcRoute(
      {
        rules: [
          {
            matches: [{ method: { service: 'shop.v1.Catalog', method: 'ListProducts' } }, { method: { type: 'RegularExpression', service: 'shop\\.v1\\..*' }, headers: [{ name: 'x-tenant', value: 'a' }] }],
            filters: [{ type: 'ExtensionRef', extensionRef: { group: 'policy.meshbus.io', kind: 'HTTPFaultInjection', name: 'unavailable' } }],
            backendRefs: [{ name: 'api', port: 8080 }],
            timeouts: { request: '1s' },
            retry: { attempts: 2, codes: ['unavailable', 'cancelled'] },
          },
          {},
        ],
      },
      { 'retry.linkerd.io/grpc': 'unavailable, resource-exhausted', 'timeout.linkerd.io/response': '500ms' },
    );
    expect(decoded(doc)).toEqual({
      kind: 'GRPCRoute',
      ...base('gateway.networking.k8s.io/v1', { 'retry.linkerd.io/grpc': 'unavailable, resource-exhausted', 'timeout.linkerd.io/response': '500ms' }),
      parentRefs: [{ group: '', kind: 'Service', name: 'api', port: 8080 }],
      hostnames: [],
      rules: [
        {
          matches: [
            { method: { type: 'Exact', service: 'shop.v1.Catalog', method: 'ListProducts' }, headers: [] },
            { method: { type: 'RegularExpression', service: 'shop\\.v1\\..*' }, headers: [{ type: 'Exact', name: 'x-tenant', value: 'a' }] },
          ],
          filters: [{ type: 'ExtensionRef', extensionRef: { group: 'policy.meshbus.io', kind: 'HTTPFaultInjection', name: 'unavailable' } }],
          backendRefs: [{ group: '', kind: 'Service', name: 'api', port: 8080, weight: 1, filters: [] }],
          timeouts: { requestMs: 1000 },
          retry: { attempts: 2, codes: [], grpcCodes: ['unavailable', 'cancelled'] },
        },
        { matches: [{ headers: [] }], filters: [], backendRefs: [] },
      ],
      annotationRetry: { attempts: 1, codes: [], grpcCodes: ['unavailable', 'resource-exhausted'] },
      annotationTimeouts: { backendRequestMs: 500 },
    });
  });

  it.each<[string, unknown, string]>([
    ['a method match without service or method', grpcRoute({ rules: [{ matches: [{ method: {} }] }] }), 'spec.rules[0].matches[0].method: set service, method or both'],
    ['a bad service name', grpcRoute({ rules: [{ matches: [{ method: { service: 'shop/v1' } }] }] }), 'spec.rules[0].matches[0].method.service: "shop/v1" is not a gRPC service name (e.g. shop.v1.Catalog)'],
    ['a bad method name', grpcRoute({ rules: [{ matches: [{ method: { method: 'a.b' } }] }] }), 'spec.rules[0].matches[0].method.method: "a.b" is not a gRPC method name (e.g. ListProducts)'],
    ['a bad regex', grpcRoute({ rules: [{ matches: [{ method: { type: 'RegularExpression', method: '(' } }] }] }), 'spec.rules[0].matches[0].method.method: "(" is not a valid regular expression'],
    ['a redirect filter', grpcRoute({ rules: [{ filters: [{ type: 'RequestRedirect' }] }] }), 'spec.rules[0].filters[0].type: must be one of "RequestHeaderModifier", "ResponseHeaderModifier", "ExtensionRef"'],
    ['an HTTP retry code', grpcRoute({ rules: [{ retry: { codes: [503] } }] }), 'spec.rules[0].retry.codes[0]: must be one of "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"'],
    [
      'an unknown gRPC status in the annotation',
      grpcRoute({}, { 'retry.linkerd.io/grpc': 'unavailable,not-found' }),
      'metadata.annotations["retry.linkerd.io/grpc"]: "unavailable,not-found" is not a comma-separated list of cancelled, deadline-exceeded, internal, resource-exhausted, unavailable',
    ],
    ['the HTTP annotation', grpcRoute({}, { 'retry.linkerd.io/http': '5xx' }), 'metadata.annotations["retry.linkerd.io/http"]: does not apply to a GRPCRoute; use retry.linkerd.io/grpc'],
  ])('refuses %s', (_title, doc, expected) => {
    expect(reason(doc)).toContain(expected);
  });
});
