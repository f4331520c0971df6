import { describe, expect, it } from 'vitest';
import type { TapRequest } from '@meshbus/bus-schemas';
import { maxGatewaySessions, TapRouter, type TapCommand, type TapProxy } from './tap-router.js';

function proxy(namespace: string, workload: string): TapProxy & { got: TapCommand[] } {
  const got: TapCommand[] = [];
  return { namespace, workload, got, send: (c) => got.push(c) };
}

function request(overrides: Partial<TapRequest> = {}): TapRequest {
  return { sessionId: 'session-0001', action: 'start', namespace: 'shop', workload: 'web', filter: { path: '/api/' }, maxRps: 10, expiresInMs: 10_000, ...overrides };
}

function setup() {
  let nowMs = 1_000_000;
  const router = new TapRouter(() => nowMs);
  return { router, advance: (ms: number) => (nowMs += ms) };
}

describe('TapRouter', () => {
  it('starts a session only on proxies of the targeted namespace and workload', () => {
    const { router } = setup();
    const web = proxy('shop', 'web');
    const api = proxy('shop', 'api');
    const otherNs = proxy('shop2', 'web');
    for (const p of [web, api, otherNs]) router.connect(p);
    expect(router.apply(request())).toBe('started');
    expect(web.got).toEqual([{ kind: 'start', sessionId: 'session-0001', filter: { path: '/api/' }, maxRps: 10, expiresInMs: 10_000 }]);
    expect(api.got).toEqual([]);
    expect(otherNs.got).toEqual([]);
    expect(router.sessionCount).toBe(1);
    expect(router.accepts(web, 'session-0001')).toBeDefined();
    expect(router.accepts(api, 'session-0001')).toBeUndefined();
  });

  it('starts running sessions on a proxy that connects later, with the time left', () => {
    const { router, advance } = setup();
    router.apply(request());
    advance(4_000);
    const web = proxy('shop', 'web');
    router.connect(web);
    expect(web.got).toEqual([{ kind: 'start', sessionId: 'session-0001', filter: { path: '/api/' }, maxRps: 10, expiresInMs: 6_000 }]);
  });

  it('renews with the same filter, and starts again when the filter or rate changes', () => {
    const { router } = setup();
    const web = proxy('shop', 'web');
    router.connect(web);
    router.apply(request());
    expect(router.apply(request({ expiresInMs: 20_000 }))).toBe('renewed');
    expect(web.got[1]).toEqual({ kind: 'renew', sessionId: 'session-0001', expiresInMs: 20_000 });
    router.apply(request({ filter: { method: 'GET' } }));
    expect(web.got[2]).toMatchObject({ kind: 'start', filter: { method: 'GET' } });
  });

  it('sends stop when the session expires without renewal, and not before', () => {
    const { router, advance } = setup();
    const web = proxy('shop', 'web');
    router.connect(web);
    router.apply(request());
    advance(9_999);
    expect(router.expire()).toBe(0);
    advance(1);
    expect(router.accepts(web, 'session-0001')).toBeUndefined();
    expect(router.expire()).toBe(1);
    expect(web.got.at(-1)).toEqual({ kind: 'stop', sessionId: 'session-0001' });
    expect(router.sessionCount).toBe(0);
    expect(router.expire()).toBe(0);
    expect(web.got.filter((c) => c.kind === 'stop')).toHaveLength(1);
  });

  it('a renewal pushes the expiry back', () => {
    const { router, advance } = setup();
    const web = proxy('shop', 'web');
    router.connect(web);
    router.apply(request());
    advance(8_000);
    router.apply(request());
    advance(8_000);
    expect(router.expire()).toBe(0);
    advance(2_000);
    expect(router.expire()).toBe(1);
  });

  it('stops on request, and refuses a session id reused for another workload', () => {
    const { router } = setup();
    const web = proxy('shop', 'web');
    router.connect(web);
    router.apply(request());
    expect(router.apply(request({ workload: 'api' }))).toBe('conflict');
    expect(router.apply(request({ action: 'stop' }))).toBe('stopped');
    expect(web.got.at(-1)).toEqual({ kind: 'stop', sessionId: 'session-0001' });
    expect(router.apply(request({ action: 'stop' }))).toBe('unknown_session');
  });

  it('sends nothing to a disconnected proxy', () => {
    const { router } = setup();
    const web = proxy('shop', 'web');
    router.connect(web);
    router.apply(request());
    router.disconnect(web);
    router.apply(request({ action: 'stop' }));
    expect(web.got.map((c) => c.kind)).toEqual(['start']);
  });

  it('keeps at most maxGatewaySessions sessions', () => {
    const { router } = setup();
    for (let i = 0; i < maxGatewaySessions; i++) expect(router.apply(request({ sessionId: `session-${i}-x` }))).toBe('started');
    expect(router.apply(request({ sessionId: 'one-too-many' }))).toBe('too_many_sessions');
  });
});
