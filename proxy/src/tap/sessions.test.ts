import { describe, expect, it } from 'vitest';
import { MAX_EXPIRY_MS, matchesFilter, TapSessions, tapHeaderAllowlist, tappedHeaders, DEFAULT_TAP_HEADERS } from './sessions.js';

const req = { direction: 'inbound' as const, method: 'GET', authority: 'api.shop:8080', path: '/orders/7' };

describe('matchesFilter', () => {
  it('matches on path prefix, method and authority; absent fields match anything', () => {
    expect(matchesFilter({}, req)).toBe(true);
    expect(matchesFilter({ path: '/orders' }, req)).toBe(true);
    expect(matchesFilter({ path: '/users' }, req)).toBe(false);
    expect(matchesFilter({ method: 'get' }, req)).toBe(true);
    expect(matchesFilter({ method: 'POST' }, req)).toBe(false);
    expect(matchesFilter({ authority: 'API.shop:8080' }, req)).toBe(true);
    expect(matchesFilter({ authority: 'web.shop:8080' }, req)).toBe(false);
    expect(matchesFilter({ path: '/orders', method: 'POST' }, req)).toBe(false);
  });
});

describe('header allowlist', () => {
  it('never carries authorization or cookie values, nor headers outside the list', () => {
    const { allowed } = tapHeaderAllowlist(undefined);
    const out = tappedHeaders({ authorization: 'secret', cookie: 'sid=1', 'content-type': 'application/json', 'x-other': 'v', 'User-Agent': 'curl' }, allowed);
    expect(out).toEqual({ 'content-type': 'application/json', 'user-agent': 'curl' });
    expect(JSON.stringify(out)).not.toContain('secret');
  });
  it('the setting can only narrow the default list', () => {
    const { allowed, rejected } = tapHeaderAllowlist('content-type, authorization, x-custom');
    expect([...allowed]).toEqual(['content-type']);
    expect(rejected).toEqual(['authorization', 'x-custom']);
    expect(tapHeaderAllowlist('').allowed.size).toBe(0);
    expect([...tapHeaderAllowlist(undefined).allowed]).toEqual([...DEFAULT_TAP_HEADERS]);
  });
});

describe('TapSessions', () => {
  function setup(max?: number) {
    let t = 0;
    return { sessions: new TapSessions(() => t, max), advance: (ms: number) => void (t += ms) };
  }

  it('expires a session without renewal and keeps a renewed one', () => {
    const { sessions, advance } = setup();
    sessions.start({ sessionId: 'a', filter: {}, expiresInMs: 10_000 });
    sessions.start({ sessionId: 'b', filter: {}, expiresInMs: 10_000 });
    advance(9_000);
    sessions.start({ sessionId: 'b', filter: {}, expiresInMs: 10_000 });
    advance(1_000);
    expect(sessions.active()).toEqual(['b']);
    expect(sessions.route(req)).toEqual(['b']);
    advance(9_000);
    expect(sessions.tapping).toBe(false);
    expect(sessions.route(req)).toEqual([]);
  });

  it('caps the expiry at MAX_EXPIRY_MS', () => {
    const { sessions, advance } = setup();
    sessions.start({ sessionId: 'a', filter: {}, expiresInMs: 3_600_000 });
    advance(MAX_EXPIRY_MS);
    expect(sessions.active()).toEqual([]);
  });

  it('bounds the number of sessions and rejects bad requests', () => {
    const { sessions } = setup(2);
    expect(sessions.start({ sessionId: 'a', filter: {}, expiresInMs: 1000 })).toEqual({ ok: true });
    expect(sessions.start({ sessionId: 'b', filter: {}, expiresInMs: 1000 })).toEqual({ ok: true });
    expect(sessions.start({ sessionId: 'c', filter: {}, expiresInMs: 1000 })).toEqual({ ok: false, reason: 'too_many_sessions' });
    expect(sessions.start({ sessionId: 'a', filter: {}, expiresInMs: 1000 })).toEqual({ ok: true });
    expect(sessions.start({ sessionId: '', filter: {}, expiresInMs: 1000 })).toEqual({ ok: false, reason: 'bad_request' });
    expect(sessions.start({ sessionId: 'd', filter: {}, expiresInMs: Number.NaN })).toEqual({ ok: false, reason: 'bad_request' });
  });

  it('rate limits per session and counts drops', () => {
    const { sessions, advance } = setup();
    sessions.start({ sessionId: 'a', filter: { path: '/orders' }, maxRps: 2, expiresInMs: 10_000 });
    expect(sessions.route(req)).toEqual(['a']);
    expect(sessions.route(req)).toEqual(['a']);
    expect(sessions.route(req)).toEqual([]);
    expect(sessions.route({ ...req, path: '/users' })).toEqual([]);
    expect(sessions.counters).toEqual({ sent: 2, dropped: 1 });
    advance(500);
    expect(sessions.route(req)).toEqual(['a']);
  });

  it('stops a session on request', () => {
    const { sessions } = setup();
    sessions.start({ sessionId: 'a', filter: {}, expiresInMs: 10_000 });
    sessions.stop('a');
    expect(sessions.route(req)).toEqual([]);
  });
});
