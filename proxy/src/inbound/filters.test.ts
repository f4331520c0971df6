import { describe, expect, it } from 'vitest';
import { httpTypes, type inbound } from '@meshbus/proxy-api';
import { applyGrpcFilters, applyHeaderModifier, applyHttpFilters, injectsFailure, redirectResponse, replacePrefix } from './filters.js';
import { prefixMatch } from './test-policy.js';

const headers = (pairs: [string, string][]) => ({ headers: pairs.map(([name, value]) => ({ name, value: Buffer.from(value) })) });
const target = { scheme: 'http', host: 'web.shop', port: 8080, path: '/api/v1/books', query: 'page=2' };

describe('request header modifier', () => {
  it('sets, then adds, then removes', () => {
    const out = applyHeaderModifier({ 'x-a': 'old', 'x-b': ['1', '2'], 'x-gone': 'y' }, { set: headers([['X-A', 'new']]), add: headers([['x-b', '3'], ['x-c', 'c']]), remove: ['X-Gone', 'x-c'] });
    expect(out).toEqual({ 'x-a': 'new', 'x-b': ['1', '2', '3'] });
  });
});

describe('path prefix replacement', () => {
  it('follows the Gateway API examples', () => {
    expect(replacePrefix('/api/v1/books', '/api', '/v2')).toBe('/v2/v1/books');
    expect(replacePrefix('/api/v1', '/api', '/')).toBe('/v1');
    expect(replacePrefix('/api', '/api', '/')).toBe('/');
    expect(replacePrefix('/api', '/api/', '/new/')).toBe('/new');
    expect(replacePrefix('/x', undefined, '/all')).toBe('/all');
  });
});

describe('redirect', () => {
  it('keeps what the redirect does not change, 302 by default', () => {
    expect(redirectResponse({ host: '', port: 0, status: 0 }, target, undefined)).toEqual({ status: 302, headers: { location: 'http://web.shop:8080/api/v1/books?page=2' }, body: '' });
  });

  it('takes the well-known port of a new scheme, and replaces the matched prefix', () => {
    const https: httpTypes.Scheme = { type: { $case: 'registered', registered: httpTypes.Scheme_Registered.HTTPS } };
    const r = redirectResponse({ scheme: https, host: 'shop.example', port: 0, status: 301, path: { replace: { $case: 'prefix', prefix: '/v2' } } }, target, prefixMatch('/api'));
    expect(r).toEqual({ status: 301, headers: { location: 'https://shop.example/v2/v1/books?page=2' }, body: '' });
  });
});

describe('failure injection', () => {
  it('fires by ratio; no ratio fires always, a zero denominator never', () => {
    expect(injectsFailure(undefined, () => 0.99)).toBe(true);
    expect(injectsFailure({ numerator: 1, denominator: 4 }, () => 0.2)).toBe(true);
    expect(injectsFailure({ numerator: 1, denominator: 4 }, () => 0.3)).toBe(false);
    expect(injectsFailure({ numerator: 1, denominator: 0 }, () => 0)).toBe(false);
  });
});

describe('applying a rule’s filters', () => {
  it('edits headers and rewrites the URL, in order, then forwards', () => {
    const filters: inbound.HttpRoute_Filter[] = [
      { kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { set: headers([['x-route', 'books']]), remove: [] } } },
      { kind: { $case: 'urlRewrite', urlRewrite: { host: 'books.internal', path: { replace: { $case: 'prefix', prefix: '/' } } } } },
    ];
    expect(applyHttpFilters(filters, { headers: { accept: 'a' }, target }, prefixMatch('/api'))).toEqual({ kind: 'forward', headers: { accept: 'a', 'x-route': 'books' }, host: 'books.internal', path: '/v1/books' });
  });

  it('answers with an injected failure instead of forwarding', () => {
    const filters: inbound.HttpRoute_Filter[] = [{ kind: { $case: 'failureInjector', failureInjector: { status: 503, message: 'chaos' } } }];
    expect(applyHttpFilters(filters, { headers: {}, target }, undefined)).toMatchObject({ kind: 'respond', response: { status: 503, headers: { 'l5d-proxy-error': 'chaos' } } });
  });

  it('gRPC: injected failures carry the grpc-status', () => {
    const filters: inbound.GrpcRoute_Filter[] = [{ kind: { $case: 'failureInjector', failureInjector: { code: 14, message: 'try later' } } }];
    expect(applyGrpcFilters(filters, {})).toMatchObject({ kind: 'respond', response: { status: 200, headers: { 'grpc-status': '14', 'grpc-message': 'try later' } } });
  });
});
