import { describe, expect, it } from 'vitest';
import type { MsgHdrs } from 'nats';
import { decodeEvent, encodeEvent } from '@meshbus/bus';
import { busValidator, subjects, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { TapSession, tapRenewEveryMs, type TapBus, type TapMessage, type TapTimers } from './tap-session.js';

const validator = busValidator();

/** Timers run by hand: `advance` fires what is due, in order. */
class ManualTimers implements TapTimers {
  nowMs = 0;
  private readonly pending: { at: number; every?: number; run: () => void; live: boolean }[] = [];

  every(ms: number, run: () => void) {
    const t = { at: this.nowMs + ms, every: ms, run, live: true };
    this.pending.push(t);
    return () => void (t.live = false);
  }

  after(ms: number, run: () => void) {
    const t = { at: this.nowMs + ms, run, live: true };
    this.pending.push(t);
    return () => void (t.live = false);
  }

  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      const due = this.pending.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.nowMs = due.at;
      if (due.every === undefined) due.live = false;
      else due.at += due.every;
      due.run();
    }
    this.nowMs = end;
  }

  get live(): number {
    return this.pending.filter((t) => t.live).length;
  }
}

/** A bus that remembers what was done to it, in order, and lets the test deliver messages. */
class RecordingBus implements TapBus {
  readonly log: string[] = [];
  readonly requests: { at: number; request: TapRequest }[] = [];
  private handler?: (msg: TapMessage) => void;
  failPublish = false;

  constructor(private readonly timers: ManualTimers) {}

  subscribe(subject: string, onMessage: (msg: TapMessage) => void) {
    this.log.push(`subscribe ${subject}`);
    this.handler = onMessage;
    return Promise.resolve({ unsubscribe: () => void this.log.push(`unsubscribe ${subject}`) });
  }

  publish(subject: string, payload: Uint8Array, headers: MsgHdrs) {
    if (this.failPublish) return Promise.reject(new Error('connection closed'));
    const event = decodeEvent(subject, headers, payload, validator);
    const request = event.data as TapRequest;
    this.log.push(`publish ${subject} ${request.action}`);
    this.requests.push({ at: this.timers.nowMs, request });
    return Promise.resolve();
  }

  deliver(subject: string, data: unknown, kind: 'tapEvent' | 'raw' = 'tapEvent'): void {
    if (kind === 'raw') return this.handler?.({ subject, data: new TextEncoder().encode(JSON.stringify(data)) });
    const encoded = encodeEvent('tapEvent', subject, data as TapEvent, { source: '/meshbus/gateway/test', subject: 'x' }, validator);
    this.handler?.({ subject, headers: encoded.headers, data: encoded.payload });
  }
}

function record(sessionId: string, path = '/api/cart'): TapEvent {
  return {
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
    latencyMs: 3,
    tls: true,
    peerIdentity: '',
    headers: {},
  };
}

function setup(options: { expiresInMs?: number } = {}) {
  const timers = new ManualTimers();
  const bus = new RecordingBus(timers);
  const seen = { records: [] as TapEvent[], malformed: [] as string[], notices: [] as string[] };
  const start = () =>
    TapSession.start({
      bus,
      validator,
      source: '/meshbus/cli/test',
      target: { namespace: 'shop', workload: 'web' },
      filter: { path: '/api/', method: 'GET' },
      maxRps: 20,
      sessionId: 'session-0001',
      timers,
      ...options,
      listener: {
        record: (e) => void seen.records.push(e),
        malformed: (subject, reason) => void seen.malformed.push(`${subject}: ${reason}`),
        notice: (text) => void seen.notices.push(text),
      },
    });
  return { timers, bus, seen, start };
}

describe('tapRenewEveryMs', () => {
  it('renews three times within the expiry, at most every 5 s and at least every 250 ms', () => {
    expect(tapRenewEveryMs(15_000)).toBe(5_000);
    expect(tapRenewEveryMs(60_000)).toBe(5_000);
    expect(tapRenewEveryMs(3_000)).toBe(1_000);
    expect(tapRenewEveryMs(1_000)).toBe(333);
    expect(tapRenewEveryMs(100)).toBe(250);
  });
});

describe('TapSession', () => {
  it('subscribes before it starts, renews with the same request well inside the expiry, and stops', async () => {
    const { timers, bus, start } = setup();
    const session = await start();
    expect(bus.log).toEqual(['subscribe meshbus.v1.tap.events.session-0001', 'publish meshbus.v1.tap.requests.shop.web start']);
    expect(bus.requests[0]!.request).toEqual({
      sessionId: 'session-0001',
      action: 'start',
      namespace: 'shop',
      workload: 'web',
      filter: { path: '/api/', method: 'GET' },
      maxRps: 20,
      expiresInMs: 15_000,
    });

    timers.advance(16_000);
    const renewals = bus.requests.slice(1);
    expect(renewals.map((r) => r.at)).toEqual([5_000, 10_000, 15_000]);
    for (const r of renewals) expect(r.request).toEqual(bus.requests[0]!.request);
    // No gap between two requests comes near the expiry.
    const times = bus.requests.map((r) => r.at);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(15_000 / 3);

    await session.stop();
    await session.stop();
    expect(bus.log.slice(-2)).toEqual(['publish meshbus.v1.tap.requests.shop.web stop', 'unsubscribe meshbus.v1.tap.events.session-0001']);
    expect(bus.requests.at(-1)!.request).toMatchObject({ action: 'stop', sessionId: 'session-0001' });
    expect(timers.live).toBe(0);
    timers.advance(30_000);
    expect(bus.requests.filter((r) => r.request.action === 'start')).toHaveLength(4);
  });

  it('renews a short session more often', async () => {
    const { timers, bus, start } = setup({ expiresInMs: 3_000 });
    await start();
    timers.advance(3_500);
    expect(bus.requests.map((r) => r.at)).toEqual([0, 1_000, 2_000, 3_000]);
  });

  it('hands on the records of its session and skips what is not one, reporting it', async () => {
    const { bus, seen, start } = setup();
    const session = await start();
    const subject = subjects.tapEvents('session-0001');
    bus.deliver(subject, record('session-0001'));
    bus.deliver(subject, { not: 'a cloudevent' }, 'raw');
    bus.deliver(subject, { ...record('session-0001'), status: 'ok' }, 'raw');
    bus.deliver(subject, record('other-session'));
    bus.deliver(subject, record('session-0001', '/api/pay'));
    expect(seen.records.map((r) => r.path)).toEqual(['/api/cart', '/api/pay']);
    expect(session.records).toBe(2);
    expect(seen.malformed).toHaveLength(3);
    expect(seen.malformed[0]).toBe('meshbus.v1.tap.events.session-0001: missing-header: missing header ce-specversion');
    expect(seen.malformed[2]).toContain('names session other-session');
  });

  it('hints once when no record came within a few seconds, and not when one did', async () => {
    const quiet = setup();
    await quiet.start();
    quiet.timers.advance(4_999);
    expect(quiet.seen.notices).toEqual([]);
    quiet.timers.advance(20_000);
    expect(quiet.seen.notices).toHaveLength(1);
    expect(quiet.seen.notices[0]).toMatch(/^no record after 5s: either no proxy of shop\/web is connected to a gateway .* or no request matched the filter; still tapping$/);

    const busy = setup();
    await busy.start();
    busy.bus.deliver(subjects.tapEvents('session-0001'), record('session-0001'));
    busy.timers.advance(20_000);
    expect(busy.seen.notices).toEqual([]);
  });

  it('reports a renewal the bus does not take and keeps going', async () => {
    const { timers, bus, seen, start } = setup();
    await start();
    bus.failPublish = true;
    timers.advance(5_000);
    await Promise.resolve();
    await Promise.resolve();
    expect(seen.notices.filter((n) => n.includes('renew'))).toEqual(['could not renew tap session session-0001: connection closed']);
    bus.failPublish = false;
    timers.advance(5_000);
    expect(bus.requests.map((r) => r.at)).toEqual([0, 10_000]);
  });

  it('unsubscribes when the start request cannot be sent', async () => {
    const { bus, start } = setup();
    bus.failPublish = true;
    await expect(start()).rejects.toThrow('connection closed');
    expect(bus.log).toEqual(['subscribe meshbus.v1.tap.events.session-0001', 'unsubscribe meshbus.v1.tap.events.session-0001']);
  });
});
