import { describe, expect, it } from 'vitest';
import { tap } from '@meshbus/proxy-api';
import { applyTapCommand, pathOnly, tapRecordMessage, TAP_RECORD_LIMITS, type TapRequestRecord } from './record.js';
import { DEFAULT_TAP_HEADERS, MAX_SESSIONS_PER_PROXY, TapSessions } from './sessions.js';

const allowed = new Set(DEFAULT_TAP_HEADERS);
const request: TapRequestRecord = {
  direction: 'inbound',
  method: 'GET',
  authority: 'web.shop.svc.cluster.local:80',
  path: '/api/cart?token=secret#x',
  startedAtMs: 1_700_000_000_000,
  status: 200,
  latencyMs: 12.4,
  tls: true,
  peerIdentity: 'front.shop.serviceaccount.identity.meshbus.cluster.local',
  requestHeaders: { 'user-agent': 'curl/8', authorization: 'Bearer secret', cookie: 'sid=1', 'content-type': 'text/plain', 'x-other': 'v' },
  responseHeaders: { 'content-type': 'application/json', 'set-cookie': ['a=1'] },
};

const start = (sessionId: string, filter: Partial<tap.TapFilter> = {}, maxRps = 0, expiresInMs = 10_000): tap.GatewayCommand => ({
  kind: { $case: 'start', start: { sessionId, filter: { path: '', method: '', authority: '', ...filter }, maxRps, expiresInMs } },
});
const renew = (sessionId: string, expiresInMs: number): tap.GatewayCommand => ({ kind: { $case: 'renew', renew: { sessionId, expiresInMs } } });
const stop = (sessionId: string): tap.GatewayCommand => ({ kind: { $case: 'stop', stop: { sessionId } } });

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('applyTapCommand', () => {
  it('starts with the filter (empty fields match all), renews the expiry, and stops', () => {
    const c = clock();
    const sessions = new TapSessions(c.now);
    expect(applyTapCommand(sessions, start('session-0001', { path: '/api/', method: 'get' }))).toBe('started');
    expect(sessions.route({ direction: 'inbound', method: 'GET', authority: 'x', path: '/api/cart' })).toEqual(['session-0001']);
    expect(sessions.route({ direction: 'inbound', method: 'POST', authority: 'x', path: '/api/cart' })).toEqual([]);
    expect(sessions.route({ direction: 'inbound', method: 'GET', authority: 'x', path: '/health' })).toEqual([]);

    c.advance(9_000);
    expect(applyTapCommand(sessions, renew('session-0001', 10_000))).toBe('renewed');
    c.advance(9_000);
    expect(sessions.active()).toEqual(['session-0001']);
    c.advance(1_000);
    expect(sessions.tapping).toBe(false);
    // A renewal comes too late for an expired session: the proxy does not bring it back.
    expect(applyTapCommand(sessions, renew('session-0001', 10_000))).toBe('unknown_session');
    expect(sessions.tapping).toBe(false);

    expect(applyTapCommand(sessions, start('session-0002'))).toBe('started');
    expect(sessions.tapping).toBe(true);
    expect(applyTapCommand(sessions, stop('session-0002'))).toBe('stopped');
    expect(sessions.tapping).toBe(false);
  });

  it('a second start replaces the filter and rate; a rate of 0 is the default', () => {
    const c = clock();
    const sessions = new TapSessions(c.now);
    applyTapCommand(sessions, start('session-0001', { authority: 'API.shop:80' }, 1));
    const r = { direction: 'outbound' as const, method: 'GET', authority: 'api.shop:80', path: '/' };
    expect(sessions.route(r)).toEqual(['session-0001']);
    expect(sessions.route(r)).toEqual([]);
    expect(sessions.counters.dropped).toBe(1);
    applyTapCommand(sessions, start('session-0001', { path: '/other' }));
    expect(sessions.route(r)).toEqual([]);
    expect(sessions.route({ ...r, path: '/other/x' })).toEqual([]);
    c.advance(1_000);
    expect(sessions.route({ ...r, path: '/other/x' })).toEqual(['session-0001']);
  });

  it('refuses sessions past the per-proxy limit and commands without a kind', () => {
    const sessions = new TapSessions(clock().now);
    for (let i = 0; i < MAX_SESSIONS_PER_PROXY; i++) expect(applyTapCommand(sessions, start(`session-${1000 + i}`))).toBe('started');
    expect(applyTapCommand(sessions, start('session-9999'))).toBe('too_many_sessions');
    expect(applyTapCommand(sessions, start('session-1000', {}, 5))).toBe('started');
    expect(applyTapCommand(sessions, { kind: undefined })).toBe('bad_request');
    sessions.clear();
    expect(sessions.tapping).toBe(false);
  });
});

describe('tapRecordMessage', () => {
  it('carries metadata and allowlisted headers only: no query string, no secrets', () => {
    const m = tapRecordMessage('session-0001', request, allowed);
    expect(m).toEqual({
      sessionId: 'session-0001',
      startedAtMs: 1_700_000_000_000n,
      direction: tap.TapDirection.INBOUND,
      method: 'GET',
      authority: 'web.shop.svc.cluster.local:80',
      path: '/api/cart',
      status: 200,
      latencyMs: 12,
      tls: true,
      peerIdentity: 'front.shop.serviceaccount.identity.meshbus.cluster.local',
      headers: { 'user-agent': 'curl/8', 'content-type': 'application/json' },
    });
    expect(JSON.stringify({ ...m, startedAtMs: 0 })).not.toMatch(/secret|sid=|a=1/);
  });

  it('records the grpc-status of the trailers, or of the headers, whatever the allowlist', () => {
    const grpc = { ...request, responseHeaders: { 'grpc-status': '5', 'grpc-message': 'not found' } };
    expect(tapRecordMessage('session-0001', grpc, allowed).headers).toMatchObject({ 'grpc-status': '5', 'grpc-message': 'not found' });
    expect(tapRecordMessage('session-0001', { ...grpc, grpcStatus: 14 }, new Set()).headers).toEqual({ 'grpc-status': '14' });
    expect(tapRecordMessage('session-0001', { ...request, responseHeaders: undefined }, new Set(['content-type'])).headers).toEqual({ 'content-type': 'text/plain' });
  });

  it('cuts every field to the bounds of the tap-event schema', () => {
    const huge: TapRequestRecord = {
      ...request,
      direction: 'outbound',
      method: 'VERYLONGEXTENSIONMETHOD',
      authority: `${'a'.repeat(300)}:80`,
      path: `/${'p'.repeat(5000)}`,
      status: 1234,
      latencyMs: 10 * 3_600_000,
      peerIdentity: 'x'.repeat(400),
      requestHeaders: { 'user-agent': 'u'.repeat(5000) },
      responseHeaders: {},
    };
    const m = tapRecordMessage('session-0001', huge, allowed);
    expect(m.method).toHaveLength(TAP_RECORD_LIMITS.method);
    expect(m.authority).toHaveLength(TAP_RECORD_LIMITS.authority);
    expect(m.path).toHaveLength(TAP_RECORD_LIMITS.path);
    expect(m.peerIdentity).toHaveLength(TAP_RECORD_LIMITS.peerIdentity);
    expect(m.headers['user-agent']).toHaveLength(TAP_RECORD_LIMITS.headerValue);
    expect([m.status, m.latencyMs]).toEqual([999, 3_600_000]);
    expect(tapRecordMessage('session-0001', { ...request, status: -1, latencyMs: Number.NaN }, allowed)).toMatchObject({ status: 0, latencyMs: 0 });

  });

  it('pathOnly drops the query and fragment', () => {
    expect(pathOnly('/a/b?c=d')).toBe('/a/b');
    expect(pathOnly('/a#f')).toBe('/a');
    expect(pathOnly('/a')).toBe('/a');
  });
});
