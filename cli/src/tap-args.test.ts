import { describe, expect, it } from 'vitest';
import { newTapSessionId, parseTapAuthority, parseTapDuration, parseTapMaxRps, parseTapMethod, parseTapPath, parseTapTarget, tapFilter } from './tap-args.js';
import { UsageError } from './errors.js';

describe('tap arguments', () => {
  it('takes <namespace>/<workload> of DNS labels and refuses anything else', () => {
    expect(parseTapTarget('shop/web')).toEqual({ namespace: 'shop', workload: 'web' });
    for (const bad of ['shop', 'shop/', '/web', 'shop/web/x', 'Shop/web', 'shop/web.v1', 'shop/web_1']) {
      expect(() => parseTapTarget(bad), bad).toThrow(UsageError);
    }
    expect(() => parseTapTarget('shop')).toThrow('target "shop" must be <namespace>/<workload>');
  });

  it('upper-cases a method and refuses one that is not letters', () => {
    expect(parseTapMethod('get')).toBe('GET');
    expect(parseTapMethod('PATCH')).toBe('PATCH');
    expect(() => parseTapMethod('GET POST')).toThrow('--method "GET POST" must be an HTTP method');
    expect(() => parseTapMethod('')).toThrow(UsageError);
    expect(() => parseTapMethod('A'.repeat(17))).toThrow(UsageError);
  });

  it('wants a path prefix starting with / and a plain authority, within the schema lengths', () => {
    expect(parseTapPath('/api/')).toBe('/api/');
    expect(() => parseTapPath('api')).toThrow('must be a path prefix starting with /');
    expect(() => parseTapPath(`/${'a'.repeat(1024)}`)).toThrow('at most 1024');
    expect(parseTapAuthority('Web.Shop:80')).toBe('Web.Shop:80');
    expect(() => parseTapAuthority('http://web')).toThrow('must be a host or host:port');
    expect(() => parseTapAuthority('a'.repeat(261))).toThrow('at most 260');
  });

  it('keeps --max-rps within 1 to 100 and --duration within 1s to 24h', () => {
    expect(parseTapMaxRps('1')).toBe(1);
    expect(parseTapMaxRps('100')).toBe(100);
    expect(() => parseTapMaxRps('0')).toThrow('--max-rps 0 is out of range (1 to 100');
    expect(() => parseTapMaxRps('101')).toThrow('out of range');
    expect(() => parseTapMaxRps('2.5')).toThrow('whole number');
    expect(parseTapDuration('30s')).toBe(30_000);
    expect(() => parseTapDuration('500ms')).toThrow('shorter than');
    expect(() => parseTapDuration('2d')).toThrow('longer than');
    expect(() => parseTapDuration('soon')).toThrow('must be a duration');
  });

  it('leaves flags not given out of the filter', () => {
    expect(tapFilter({})).toEqual({});
    expect(tapFilter({ path: '/a', method: 'GET' })).toEqual({ path: '/a', method: 'GET' });
  });

  it('makes session ids the schema accepts, different each time', () => {
    const ids = new Set(Array.from({ length: 50 }, () => newTapSessionId()));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
  });
});
