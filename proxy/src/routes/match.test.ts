import { describe, expect, it } from 'vitest';
import { httpTypes, type httpRoute, type grpcRoute } from '@meshbus/proxy-api';
import { grpcMatchRank, grpcMatches, hostMatches, hostOf, httpMatchRank, httpMatches, pathPrefixMatches, requestFacts, selectRoute } from './match.js';

const req = (method: string, target: string, headers: Record<string, string> = {}, authority = 'web.shop:80') => requestFacts(method, target, headers, authority);
const m = (x: Partial<httpRoute.HttpRouteMatch>): httpRoute.HttpRouteMatch => ({ headers: [], queryParams: [], ...x });
const GET: httpTypes.HttpMethod = { type: { $case: 'registered', registered: httpTypes.HttpMethod_Registered.GET } };

describe('request matching', () => {
  it('reads host, path and query', () => {
    expect(req('get', '/a/b?x=1&x=2&y=%20z')).toMatchObject({ method: 'GET', path: '/a/b', query: [['x', '1'], ['x', '2'], ['y', ' z']], host: 'web.shop' });
    expect(hostOf('[::1]:8080')).toBe('::1');
    expect(hostOf('Web.Shop.')).toBe('web.shop');
    expect(hostOf('fd00::1')).toBe('fd00::1');
  });

  it('matches path prefixes on whole segments', () => {
    expect(pathPrefixMatches('/api', '/api')).toBe(true);
    expect(pathPrefixMatches('/api', '/api/v1')).toBe(true);
    expect(pathPrefixMatches('/api/', '/api/v1')).toBe(true);
    expect(pathPrefixMatches('/api', '/apis')).toBe(false);
    expect(pathPrefixMatches('/', '/anything')).toBe(true);
  });

  it('needs every part of a match: method, path, headers, query', () => {
    const match = m({
      method: GET,
      path: { kind: { $case: 'regex', regex: '/books/[0-9]+' } },
      headers: [{ name: 'X-Canary', value: { $case: 'exact', exact: Buffer.from('yes') } }],
      queryParams: [{ name: 'page', value: { $case: 'regex', regex: '\\d+' } }],
    });
    expect(httpMatches(match, req('GET', '/books/12?page=3', { 'x-canary': 'yes' }))).toBe(true);
    expect(httpMatches(match, req('POST', '/books/12?page=3', { 'x-canary': 'yes' }))).toBe(false);
    expect(httpMatches(match, req('GET', '/books/12x?page=3', { 'x-canary': 'yes' }))).toBe(false);
    expect(httpMatches(match, req('GET', '/books/12?page=3'))).toBe(false);
    expect(httpMatches(match, req('GET', '/books/12?page=three', { 'x-canary': 'yes' }))).toBe(false);
    // A pattern that does not compile matches nothing rather than throwing.
    expect(httpMatches(m({ path: { kind: { $case: 'regex', regex: '(' } } }), req('GET', '/('))).toBe(false);
  });

  it('matches hosts exactly or by suffix', () => {
    expect(hostMatches([], 'x')).toBe(true);
    expect(hostMatches([{ match: { $case: 'exact', exact: 'web.shop' } }], 'web.shop')).toBe(true);
    expect(hostMatches([{ match: { $case: 'suffix', suffix: { reverseLabels: ['example', 'shop'] } } }], 'a.shop.example')).toBe(true);
    expect(hostMatches([{ match: { $case: 'suffix', suffix: { reverseLabels: ['example', 'shop'] } } }], 'shop.example')).toBe(false);
  });

  it('matches gRPC calls by service and method', () => {
    const g = (service: string, method: string): grpcRoute.GrpcRouteMatch => ({ rpc: { service, method }, headers: [] });
    expect(grpcMatches(g('shop.v1.Catalog', ''), req('POST', '/shop.v1.Catalog/List'))).toBe(true);
    expect(grpcMatches(g('shop.v1.Catalog', 'Get'), req('POST', '/shop.v1.Catalog/List'))).toBe(false);
    expect(grpcMatches(g('', ''), req('POST', '/not-grpc'))).toBe(true);
    expect(grpcMatches(g('a.B', ''), req('POST', '/not-grpc'))).toBe(false);
  });

  it('ranks gRPC matches by service, then method, then header matches (the Gateway API order)', () => {
    type R = { name: string; hosts: httpRoute.HostMatch[]; rules: { matches: grpcRoute.GrpcRouteMatch[] }[] };
    const header: httpRoute.HeaderMatch = { name: 'x-tier', value: { $case: 'exact', exact: Buffer.from('gold') } };
    const route = (name: string, service: string, method: string, headers: httpRoute.HeaderMatch[] = []): R => ({ name, hosts: [], rules: [{ matches: [{ rpc: { service, method }, headers }] }] });
    const routes = [route('any', '', ''), route('method-only', '', 'Get'), route('service', 'shop.v1.Catalog', ''), route('method', 'shop.v1.Catalog', 'Get'), route('method-header', 'shop.v1.Catalog', 'Get', [header])];
    const pick = (target: string, headers: Record<string, string> = {}) => selectRoute(routes, requestFacts('POST', target, headers, 'catalog.shop'), grpcMatches, grpcMatchRank)?.route.name;
    expect(pick('/shop.v1.Catalog/Get', { 'x-tier': 'gold' })).toBe('method-header');
    expect(pick('/shop.v1.Catalog/Get')).toBe('method');
    expect(pick('/shop.v1.Catalog/List')).toBe('service');
    expect(pick('/shop.v1.Cart/Get')).toBe('method-only');
    expect(pick('/shop.v1.Cart/Add')).toBe('any');
    expect(grpcMatchRank({ rpc: { service: 'a.B', method: '' }, headers: [] })).toEqual([3, 0, 0]);
    expect(grpcMatchRank({ headers: [] })).toEqual([0, 0, 0]);
  });

  it('picks the most specific matching rule across routes, then the first', () => {
    type R = { name: string; hosts: httpRoute.HostMatch[]; rules: { matches: httpRoute.HttpRouteMatch[] }[] };
    const routes: R[] = [
      { name: 'all', hosts: [], rules: [{ matches: [m({ path: { kind: { $case: 'prefix', prefix: '/' } } })] }] },
      { name: 'api', hosts: [], rules: [{ matches: [m({ path: { kind: { $case: 'prefix', prefix: '/api' } } })] }] },
      { name: 'exact', hosts: [], rules: [{ matches: [m({ path: { kind: { $case: 'exact', exact: '/api/health' } } })] }] },
      { name: 'other-host', hosts: [{ match: { $case: 'exact', exact: 'other' } }], rules: [{ matches: [] }] },
    ];
    const pick = (target: string) => selectRoute(routes, req('GET', target), httpMatches, httpMatchRank)?.route.name;
    expect(pick('/')).toBe('all');
    expect(pick('/api/books')).toBe('api');
    expect(pick('/api/health')).toBe('exact');
    expect(selectRoute([routes[3]!], req('GET', '/'), httpMatches, httpMatchRank)).toBeUndefined();
  });
});
