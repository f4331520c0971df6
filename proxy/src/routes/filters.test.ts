import { describe, expect, it } from 'vitest';
import { httpTypes, type httpRoute } from '@meshbus/proxy-api';
import { applyGrpcFilters, applyHttpFilters, FilterError, injectGrpcFailure, injectHttpFailure, matchedPathPrefix, modifyHeaders, redirect, replacePathPrefix, rewriteUrl, toHeaderMap, toNodeHeaders, type RequestUrl } from './filters.js';

const hs = (...pairs: [string, string][]): httpTypes.Headers => ({ headers: pairs.map(([name, value]) => ({ name, value: Buffer.from(value) })) });
const url: RequestUrl = { scheme: 'http', host: 'web.shop', port: 8080, path: '/api/books', query: 'page=2' };
const https: httpTypes.Scheme = { type: { $case: 'registered', registered: httpTypes.Scheme_Registered.HTTPS } };
const redirectFilter = (x: Partial<httpRoute.RequestRedirect>): httpRoute.RequestRedirect => ({ host: '', port: 0, status: 0, ...x });

describe('header modifiers', () => {
  it('adds after existing values, sets by replacing, removes last', () => {
    const out = modifyHeaders(
      { 'x-a': ['1'], 'x-b': ['old', 'older'], 'x-gone': ['v'] },
      { add: hs(['X-A', '2'], ['x-new', 'n']), set: hs(['x-b', 'new'], ['x-c', 'c1'], ['x-c', 'c2']), remove: ['X-Gone'] },
    );
    expect(out).toEqual({ 'x-a': ['1', '2'], 'x-new': ['n'], 'x-b': ['new'], 'x-c': ['c1', 'c2'] });
  });

  it('leaves the input untouched', () => {
    const input = { 'x-a': ['1'] };
    modifyHeaders(input, { add: hs(['x-a', '2']), remove: ['x-a'] });
    expect(input).toEqual({ 'x-a': ['1'] });
  });
});

describe('Node.js headers', () => {
  it('become a HeaderMap with lower-case names and every value, in order, and back', () => {
    const map = toHeaderMap({ Accept: 'a', 'x-b': ['1', '2'], 'X-B': '3', gone: undefined });
    expect(map).toEqual({ accept: ['a'], 'x-b': ['1', '2', '3'] });
    expect(toNodeHeaders({ ...map, empty: [] })).toEqual({ accept: 'a', 'x-b': ['1', '2', '3'] });
  });

  it('the prefix a match gives, only for a prefix match', () => {
    expect(matchedPathPrefix({ path: { kind: { $case: 'prefix', prefix: '/api' } }, headers: [], queryParams: [] })).toBe('/api');
    expect(matchedPathPrefix({ path: { kind: { $case: 'exact', exact: '/api' } }, headers: [], queryParams: [] })).toBeUndefined();
    expect(matchedPathPrefix(undefined)).toBeUndefined();
  });
});

describe('path prefixes', () => {
  it('replaces the matched prefix on whole segments', () => {
    expect(replacePathPrefix('/api/books', '/api', '/v2')).toBe('/v2/books');
    expect(replacePathPrefix('/api/books', '/api/', '/v2/')).toBe('/v2/books');
    expect(replacePathPrefix('/api/books', '/api', '/')).toBe('/books');
    expect(replacePathPrefix('/api', '/api', '/')).toBe('/');
    expect(replacePathPrefix('/api', '/api', '/v2')).toBe('/v2');
    expect(replacePathPrefix('/x', '/', '/root')).toBe('/root/x');
  });

  it('refuses a path outside the matched prefix', () => {
    expect(() => replacePathPrefix('/apis', '/api', '/v2')).toThrow(FilterError);
  });
});

describe('redirects', () => {
  it('defaults to 302, as the Gateway API says, and keeps unset parts of the URL', () => {
    expect(redirect(url, redirectFilter({ host: 'books.shop' }))).toEqual({ status: 302, location: 'http://books.shop:8080/api/books?page=2' });
  });

  it('drops the old port when the scheme changes, and a default port', () => {
    expect(redirect(url, redirectFilter({ scheme: https, status: 302 }))).toEqual({ status: 302, location: 'https://web.shop/api/books?page=2' });
    expect(redirect(url, redirectFilter({ scheme: https, port: 8443 })).location).toBe('https://web.shop:8443/api/books?page=2');
    expect(redirect({ ...url, port: 80 }, redirectFilter({})).location).toBe('http://web.shop/api/books?page=2');
  });

  it('replaces the full path or the matched prefix', () => {
    expect(redirect(url, redirectFilter({ path: { replace: { $case: 'full', full: '/moved' } } })).location).toBe('http://web.shop:8080/moved?page=2');
    expect(redirect(url, redirectFilter({ path: { replace: { $case: 'prefix', prefix: '/v2' } } }), '/api').location).toBe('http://web.shop:8080/v2/books?page=2');
  });

  it('refuses a prefix replacement without a prefix match, and a non-3xx status', () => {
    expect(() => redirect(url, redirectFilter({ path: { replace: { $case: 'prefix', prefix: '/v2' } } }))).toThrow(/prefix/);
    expect(() => redirect(url, redirectFilter({ status: 200 }))).toThrow(/3xx/);
  });

  it('brackets an IPv6 host', () => {
    expect(redirect({ ...url, port: undefined }, redirectFilter({ host: 'fd00::1' })).location).toBe('http://[fd00::1]/api/books?page=2');
  });
});

describe('URL rewrites', () => {
  it('rewrites the host and the path, relative to the matched prefix', () => {
    expect(rewriteUrl(url, { host: 'books.internal', path: { replace: { $case: 'prefix', prefix: '/' } } }, '/api')).toEqual({ host: 'books.internal', path: '/books' });
    expect(rewriteUrl(url, { host: '' })).toEqual({ host: 'web.shop', path: '/api/books' });
    expect(rewriteUrl(url, { host: '', path: { replace: { $case: 'full', full: '/all' } } })).toEqual({ host: 'web.shop', path: '/all' });
  });
});

describe('failure injection', () => {
  const injector: httpRoute.HttpFailureInjector = { status: 503, message: 'chaos', ratio: { numerator: 1, denominator: 4 } };

  it('fires for draws below the ratio only', () => {
    expect(injectHttpFailure(injector, 0.2)).toEqual({ status: 503, message: 'chaos' });
    expect(injectHttpFailure(injector, 0.25)).toBeUndefined();
    expect(injectHttpFailure({ status: 500, message: 'always' }, 0.99)).toEqual({ status: 500, message: 'always' });
    expect(injectGrpcFailure({ code: 14, message: 'down', ratio: { numerator: 0, denominator: 1 } }, 0)).toBeUndefined();
  });

  it('refuses a zero denominator and a status that is not an HTTP status', () => {
    expect(() => injectHttpFailure({ status: 500, message: '', ratio: { numerator: 1, denominator: 0 } }, 0)).toThrow(/denominator/);
    expect(() => injectHttpFailure({ status: 42, message: '' }, 0)).toThrow(/status/);
    expect(() => injectHttpFailure({ status: 600, message: '' }, 0)).toThrow(FilterError);
    expect(injectHttpFailure({ status: 0, message: '' }, 0)).toEqual({ status: 500, message: '' });
  });

  it('injects about the share the ratio says over many draws', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    let failed = 0;
    for (let i = 0; i < 20_000; i++) if (injectHttpFailure(injector, random())) failed++;
    expect(failed / 20_000).toBeGreaterThan(0.23);
    expect(failed / 20_000).toBeLessThan(0.27);
  });
});

describe('filter chains', () => {
  const request = { url, headers: { host: ['web.shop'] } };

  it('applies modifiers and rewrites in order and collects response modifiers', () => {
    const out = applyHttpFilters(
      [
        { kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { set: hs(['x-route', 'books']), remove: [] } } },
        { kind: { $case: 'responseHeaderModifier', responseHeaderModifier: { add: hs(['x-served-by', 'mesh']), remove: [] } } },
        { kind: { $case: 'urlRewrite', urlRewrite: { host: 'books', path: { replace: { $case: 'prefix', prefix: '/v1' } } } } },
      ],
      request,
      () => 0,
      '/api',
    );
    expect(out.kind).toBe('forward');
    if (out.kind !== 'forward') return;
    expect(out.request.headers).toEqual({ host: ['web.shop'], 'x-route': ['books'] });
    expect(out.request.url).toMatchObject({ host: 'books', path: '/v1/books' });
    expect(out.responseModifiers).toHaveLength(1);
  });

  it('stops at a redirect or an injected failure', () => {
    expect(applyHttpFilters([{ kind: { $case: 'redirect', redirect: redirectFilter({ host: 'elsewhere' }) } }, { kind: { $case: 'failureInjector', failureInjector: { status: 500, message: 'x' } } }], request, () => 0)).toMatchObject({ kind: 'redirect', redirect: { status: 302 } });
    expect(applyHttpFilters([{ kind: { $case: 'failureInjector', failureInjector: { status: 500, message: 'backend is invalid' } } }], request, () => 0.5)).toEqual({ kind: 'fail', failure: { status: 500, message: 'backend is invalid' } });
  });

  it('runs gRPC filters on metadata', () => {
    expect(applyGrpcFilters([{ kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { add: hs(['x-a', '1']), remove: [] } } }], {}, () => 0)).toEqual({ kind: 'forward', headers: { 'x-a': ['1'] } });
    expect(applyGrpcFilters([{ kind: { $case: 'failureInjector', failureInjector: { code: 14, message: 'down' } } }], {}, () => 0)).toEqual({ kind: 'fail', failure: { code: 14, message: 'down' } });
  });
});
