import { describe, expect, it } from 'vitest';
import { durationText, filterText, hostMatchText, metadataText } from './policy-text.js';

describe('policy text pieces', () => {
  it('writes durations with the largest exact unit', () => {
    expect(durationText(undefined)).toBe('-');
    expect(durationText({ seconds: 90n, nanos: 0 })).toBe('90s');
    expect(durationText({ seconds: 120n, nanos: 0 })).toBe('2m');
    expect(durationText({ seconds: 0n, nanos: 250_000_000 })).toBe('250ms');
    expect(durationText({ seconds: 0n, nanos: 1500 })).toBe('1500ns');
    expect(durationText({ seconds: 0n, nanos: 7000 })).toBe('7us');
  });

  it('names resources with section and port, and defaults', () => {
    expect(metadataText(undefined)).toBe('(no metadata)');
    expect(metadataText({ kind: { $case: 'default', default: 'all-unauthenticated' } })).toBe('default all-unauthenticated');
    expect(metadataText({ kind: { $case: 'resource', resource: { group: '', kind: 'Service', namespace: 'shop', name: 'web', section: 'http', port: 80 } } })).toBe('service shop/web section http port 80');
  });

  it('writes a host suffix as a wildcard name', () => {
    expect(hostMatchText({ match: { $case: 'suffix', suffix: { reverseLabels: ['org', 'example'] } } })).toBe('*.example.org');
  });

  it('reads redirects, URL rewrites (the meshbus extension) and filters it does not know', () => {
    expect(filterText({ $case: 'redirect', redirect: { scheme: { type: { $case: 'registered', registered: 1 } }, host: 'shop.example', path: { replace: { $case: 'prefix', prefix: '/v2' } }, port: 0, status: 301 } })).toBe(
      'redirect: scheme https, host shop.example, path prefix /v2, status 301',
    );
    expect(filterText({ $case: 'urlRewrite', urlRewrite: { host: 'api.internal', path: { replace: { $case: 'full', full: '/' } } } })).toBe('rewrite: host api.internal, path /');
    expect(filterText({ $case: 'invalid', invalid: { message: 'no backend' } })).toBe('invalid: no backend');
    expect(filterText({ $case: 'somethingNew', somethingNew: { n: 1n } })).toBe('somethingNew: {"n":"1"}');
    expect(filterText(undefined)).toBe('(empty filter)');
  });
});
