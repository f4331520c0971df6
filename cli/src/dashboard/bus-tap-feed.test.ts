import { describe, expect, it } from 'vitest';
import type { MsgHdrs } from 'nats';
import { decodeEvent, encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import type { TapConnection } from '../tap-bus.js';
import type { TapBus, TapMessage, TapTimers } from '../tap-session.js';
import { createBusTapFeed } from './bus-tap-feed.js';
import { tapFilterOf } from './server.js';
import type { TapFeedListener, TapRecord } from './tap-feed.js';

const validator = busValidator();
const noTimers: TapTimers = { every: () => () => undefined, after: () => () => undefined };

/** A bus of one connection: requests are kept, records can be delivered to a session's subscription. */
class MemoryBus implements TapBus {
  readonly requests: TapRequest[] = [];
  readonly handlers = new Map<string, (msg: TapMessage) => void>();

  subscribe(subject: string, onMessage: (msg: TapMessage) => void) {
    this.handlers.set(subject, onMessage);
    return Promise.resolve({ unsubscribe: () => void this.handlers.delete(subject) });
  }

  publish(subject: string, payload: Uint8Array, headers: MsgHdrs) {
    this.requests.push(decodeEvent(subject, headers, payload, validator).data as TapRequest);
    return Promise.resolve();
  }

  deliver(sessionId: string, path: string): void {
    const subject = subjects.tapEvents(sessionId);
    const data: TapEvent = {
      sessionId,
      namespace: 'shop',
      workload: 'web',
      identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
      instance: 'web-1',
      startedAt: '2026-12-01T10:00:01.250Z',
      direction: 'inbound',
      method: 'GET',
      authority: 'web.shop:80',
      path,
      status: 200,
      latencyMs: 1,
      tls: true,
      peerIdentity: '',
      headers: {},
    };
    const encoded = encodeEvent('tapEvent', subject, data, { source: '/meshbus/gateway/test', subject: data.identity }, validator);
    this.handlers.get(subject)?.({ subject, headers: encoded.headers, data: encoded.payload });
  }
}

function collecting(): TapFeedListener & { records: TapRecord[]; notices: string[] } {
  const records: TapRecord[] = [];
  const notices: string[] = [];
  return { records, notices, record: (r) => void records.push(r), notice: (t) => void notices.push(t) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the dashboard tap feed on the bus', () => {
  it('connects once, runs a session per page with its filter, and stops each when its page leaves', async () => {
    const bus = new MemoryBus();
    let connects = 0;
    let closed = 0;
    const connection: TapConnection = { url: 'nats://test', user: 'tap', bus, close: () => Promise.resolve(void closed++) };
    const feed = createBusTapFeed({ connect: () => Promise.resolve(void connects++).then(() => connection), validator, source: '/meshbus/cli/test', timers: noTimers });

    const a = collecting();
    const b = collecting();
    const stopA = feed.start({ namespace: 'shop', workload: 'web', path: '/api/' }, a);
    const stopB = feed.start({ namespace: 'shop', workload: 'web', method: 'POST' }, b);
    await settle();
    expect(connects).toBe(1);
    const [startA, startB] = bus.requests;
    expect(startA).toMatchObject({ action: 'start', namespace: 'shop', workload: 'web', filter: { path: '/api/' }, maxRps: 10 });
    expect(startB).toMatchObject({ action: 'start', filter: { method: 'POST' } });
    expect(startA!.sessionId).not.toBe(startB!.sessionId);
    expect(a.notices).toEqual([`tapping shop/web (session ${startA!.sessionId})`]);

    bus.deliver(startA!.sessionId, '/api/cart');
    bus.deliver(startB!.sessionId, '/api/pay');
    expect(a.records.map((r) => r.path)).toEqual(['/api/cart']);
    expect(b.records.map((r) => r.path)).toEqual(['/api/pay']);

    stopA();
    stopA();
    await settle();
    expect(bus.requests.slice(2)).toEqual([{ ...startA!, action: 'stop' }]);
    bus.deliver(startA!.sessionId, '/late');
    expect(a.records).toHaveLength(1);

    await feed[Symbol.asyncDispose]();
    expect(bus.requests.slice(3)).toEqual([{ ...startB!, action: 'stop' }]);
    expect(closed).toBe(1);
    stopB();
  });

  it('starts nothing for a page that left before the connection was up, and tells a page the connection failed', async () => {
    const bus = new MemoryBus();
    let open: (c: TapConnection) => void = () => undefined;
    const feed = createBusTapFeed({ connect: () => new Promise((resolve) => (open = resolve)), validator, source: '/meshbus/cli/test', timers: noTimers });
    const stop = feed.start({ namespace: 'shop', workload: 'web' }, collecting());
    stop();
    open({ url: 'nats://test', user: undefined, bus, close: () => Promise.resolve() });
    await settle();
    expect(bus.requests).toEqual([]);

    const failing = createBusTapFeed({ connect: () => Promise.reject(new Error('nats://127.0.0.1:4222 is not reachable')), validator, source: '/meshbus/cli/test' });
    const page = collecting();
    failing.start({ namespace: 'shop', workload: 'web' }, page);
    await settle();
    expect(page.notices).toEqual(['tap failed: nats://127.0.0.1:4222 is not reachable']);
    await failing[Symbol.asyncDispose]();
  });
});

describe('tapFilterOf', () => {
  it('reads the workload and the filter of /api/tap, leaving empty parameters out', () => {
    expect(tapFilterOf(new URLSearchParams('workload=shop/web&path=/api/&method=get&authority='))).toEqual({ namespace: 'shop', workload: 'web', path: '/api/', method: 'GET' });
    expect(() => tapFilterOf(new URLSearchParams(''))).toThrow('must be <namespace>/<workload>');
    expect(() => tapFilterOf(new URLSearchParams('workload=shop/web&max=1&path=api'))).toThrow('path "api" must be a path prefix');
  });
});
