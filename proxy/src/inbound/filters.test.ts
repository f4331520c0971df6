import { describe, expect, it } from 'vitest';
import { httpTypes, type inbound } from '@meshbus/proxy-api';
import { applyGrpcFilters, applyHttpFilters } from './filters.js';
import { prefixMatch } from './test-policy.js';

const headers = (pairs: [string, string][]) => ({ headers: pairs.map(([name, value]) => ({ name, value: Buffer.from(value) })) });
const target = { scheme: 'http', host: 'web.shop', port: 8080, path: '/api/v1/books', query: 'page=2' };
const https: httpTypes.Scheme = { type: { $case: 'registered', registered: httpTypes.Scheme_Registered.HTTPS } };

describe('applying an inbound rule’s filters', () => {
  it('edits Node.js headers add, then set, then remove, and forwards them in Node.js shape', () => {
    const filters: inbound.HttpRoute_Filter[] = [
      { kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { add: headers([['x-b', '3'], ['X-C', 'c']]), set: headers([['X-A', 'new']]), remove: ['X-Gone', 'x-c'] } } },
    ];
    const out = applyHttpFilters(filters, { headers: { 'x-a': 'old', 'X-B': ['1', '2'], 'x-gone': 'y', 'x-none': undefined }, target }, undefined);
    expect(out).toEqual({ kind: 'forward', headers: { 'x-a': 'new', 'x-b': ['1', '2', '3'] }, host: 'web.shop', path: '/api/v1/books' });
  });

  it('rewrites the URL relative to the matched prefix', () => {
    const filters: inbound.HttpRoute_Filter[] = [
      { kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { set: headers([['x-route', 'books']]), remove: [] } } },
      { kind: { $case: 'urlRewrite', urlRewrite: { host: 'books.internal', path: { replace: { $case: 'prefix', prefix: '/' } } } } },
    ];
    expect(applyHttpFilters(filters, { headers: { accept: 'a' }, target }, prefixMatch('/api'))).toEqual({ kind: 'forward', headers: { accept: 'a', 'x-route': 'books' }, host: 'books.internal', path: '/v1/books' });
  });

  it('answers a redirect with 302 by default, keeping what it does not change', () => {
    const filters: inbound.HttpRoute_Filter[] = [{ kind: { $case: 'redirect', redirect: { host: '', port: 0, status: 0 } } }];
    expect(applyHttpFilters(filters, { headers: {}, target }, undefined)).toEqual({ kind: 'respond', response: { status: 302, headers: { location: 'http://web.shop:8080/api/v1/books?page=2' }, body: '' } });
  });

  it('answers a redirect to a new scheme without the old port, with the matched prefix replaced', () => {
    const filters: inbound.HttpRoute_Filter[] = [{ kind: { $case: 'redirect', redirect: { scheme: https, host: 'shop.example', port: 0, status: 301, path: { replace: { $case: 'prefix', prefix: '/v2' } } } } }];
    expect(applyHttpFilters(filters, { headers: {}, target }, prefixMatch('/api'))).toEqual({ kind: 'respond', response: { status: 301, headers: { location: 'https://shop.example/v2/v1/books?page=2' }, body: '' } });
  });

  it('answers with an injected failure instead of forwarding, by ratio', () => {
    const filters: inbound.HttpRoute_Filter[] = [{ kind: { $case: 'failureInjector', failureInjector: { status: 503, message: 'chaos', ratio: { numerator: 1, denominator: 4 } } } }];
    expect(applyHttpFilters(filters, { headers: {}, target }, undefined, () => 0.2)).toMatchObject({ kind: 'respond', response: { status: 503, headers: { 'l5d-proxy-error': 'chaos' } } });
    expect(applyHttpFilters(filters, { headers: {}, target }, undefined, () => 0.3)).toMatchObject({ kind: 'forward' });
  });

  it('answers 500 naming the problem when a filter cannot apply to the request', () => {
    const prefixRewrite: inbound.HttpRoute_Filter[] = [{ kind: { $case: 'urlRewrite', urlRewrite: { host: '', path: { replace: { $case: 'prefix', prefix: '/v2' } } } } }];
    const out = applyHttpFilters(prefixRewrite, { headers: {}, target }, undefined);
    expect(out).toMatchObject({ kind: 'respond', response: { status: 500 } });
    if (out.kind !== 'respond') throw new Error('expected an answer');
    expect(out.response.headers['l5d-proxy-error']).toMatch(/prefix/);
    const zeroRatio: inbound.GrpcRoute_Filter[] = [{ kind: { $case: 'failureInjector', failureInjector: { code: 14, message: '', ratio: { numerator: 1, denominator: 0 } } } }];
    expect(applyGrpcFilters(zeroRatio, {})).toMatchObject({ kind: 'respond', response: { status: 200, headers: { 'grpc-status': '13' } } });
  });

  it('gRPC: edits metadata, and injected failures carry the grpc-status', () => {
    const edit: inbound.GrpcRoute_Filter[] = [{ kind: { $case: 'requestHeaderModifier', requestHeaderModifier: { add: headers([['x-a', '2']]), remove: [] } } }];
    expect(applyGrpcFilters(edit, { 'x-a': '1' })).toEqual({ kind: 'forward', headers: { 'x-a': ['1', '2'] } });
    const fail: inbound.GrpcRoute_Filter[] = [{ kind: { $case: 'failureInjector', failureInjector: { code: 14, message: 'try later' } } }];
    expect(applyGrpcFilters(fail, {})).toMatchObject({ kind: 'respond', response: { status: 200, headers: { 'grpc-status': '14', 'grpc-message': 'try later' } } });
  });
});
