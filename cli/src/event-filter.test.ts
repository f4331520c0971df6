import { describe, expect, it } from 'vitest';
import type { BusEvent } from '@meshbus/bus';
import { catalog, eventExamples, type EventKind } from '@meshbus/bus-schemas';
import { eventMatcher, eventScope, parseSequence, parseSince, startPosition, validateTypes } from './event-filter.js';
import { selectStreams } from './event-subjects.js';

const now = new Date('2026-12-01T12:00:00.000Z');

function example(kind: EventKind, subject?: string): BusEvent {
  const e = eventExamples[kind];
  return { kind, id: 'id', source: e.source, type: catalog[kind].type, time: now.toISOString(), subject: subject ?? e.subject, data: e.data, natsSubject: e.natsSubject } as BusEvent;
}

describe('parseSince', () => {
  it('takes a duration back from now or an RFC 3339 time', () => {
    expect(parseSince('10m', now).toISOString()).toBe('2026-12-01T11:50:00.000Z');
    expect(parseSince('1d', now).toISOString()).toBe('2026-11-30T12:00:00.000Z');
    expect(parseSince('2026-12-01T10:00:00Z', now).toISOString()).toBe('2026-12-01T10:00:00.000Z');
    expect(parseSince('2026-12-01T11:00:00.5+01:00', now).toISOString()).toBe('2026-12-01T10:00:00.500Z');
  });

  it('names what is wrong', () => {
    expect(() => parseSince('yesterday', now)).toThrow(/--since "yesterday" must be a duration such as 10m, 2h or 1d, or an RFC 3339 time/);
    expect(() => parseSince('2026-12-01', now)).toThrow(/RFC 3339/);
    expect(() => parseSince('2026-13-01T10:00:00Z', now)).toThrow(/RFC 3339/);
    expect(() => parseSince('10x', now)).toThrow(/--since "10x" must be a duration/);
    expect(() => parseSince('2027-01-01T00:00:00Z', now)).toThrow(/is in the future/);
  });
});

describe('startPosition', () => {
  const one = selectStreams('meshbus.v1.events.>');
  const both = selectStreams();
  it('is new by default, everything with --replay, a time with --since and a sequence with --from-seq', () => {
    expect(startPosition({}, both, now)).toBe('new');
    expect(startPosition({ replay: true }, both, now)).toBe('all');
    expect(startPosition({ since: '1h' }, both, now)).toEqual({ time: new Date('2026-12-01T11:00:00.000Z') });
    expect(startPosition({ fromSeq: parseSequence('17') }, one, now)).toEqual({ seq: 17 });
  });

  it('refuses two starts, and a sequence over two streams', () => {
    expect(() => startPosition({ replay: true, since: '1h' }, both, now)).toThrow('--replay and --since cannot be used together');
    expect(() => startPosition({ fromSeq: 3 }, both, now)).toThrow(
      '--from-seq is a sequence of one stream: add --subject within meshbus.v1.state.> (MESHBUS_STATE) or meshbus.v1.events.> (MESHBUS_EVENTS)',
    );
    expect(() => parseSequence('0')).toThrow('--from-seq must be a stream sequence (a whole number from 1), got "0"');
    expect(() => parseSequence('1.5')).toThrow(/--from-seq/);
  });
});

describe('event filter', () => {
  it('matches types exactly or by glob, and refuses a type that matches nothing', () => {
    const issued = example('certificateIssued');
    expect(eventMatcher({ types: validateTypes(['io.meshbus.v1.identity.*']) })(issued)).toBe(true);
    expect(eventMatcher({ types: ['io.meshbus.v1.identity.certificate-issued'] })(issued)).toBe(true);
    expect(eventMatcher({ types: ['io.meshbus.v1.policy.*', '*.leader.changed'] })(issued)).toBe(false);
    expect(eventMatcher({ types: ['io.meshbus.v1.policy.*', '*.certificate-issued'] })(issued)).toBe(true);
    expect(() => validateTypes(['io.meshbus.v1.endpoint.snapshot'])).toThrow(/--type io.meshbus.v1.endpoint.snapshot matches no event type; the types are io.meshbus.v1.endpoints.snapshot, /);
    expect(() => validateTypes(['io.meshbus.v1.[a]'])).toThrow(/must be a CloudEvents type/);
  });

  it('takes namespace and name from the data, else from the CloudEvents subject', () => {
    expect(eventScope(example('endpointSet'))).toEqual({ namespace: 'shop', name: 'web' });
    expect(eventScope(example('endpointSetDeleted'))).toEqual({ namespace: 'shop', name: 'web' });
    expect(eventScope(example('inboundPolicy'))).toEqual({ namespace: 'authn-ns', name: 'b' });
    expect(eventScope(example('workloadRegistered'))).toEqual({ namespace: 'shop', name: 'billing-vm-1' });
    expect(eventScope(example('podInjection'))).toEqual({ namespace: 'shop', name: 'web-5d8f7-' });
    expect(eventScope(example('policyStatusDeleted'))).toEqual({ namespace: 'shop', name: 'NetworkAuthentication' });
    expect(eventScope(example('leaderChanged'))).toEqual({ namespace: undefined, name: undefined });

    const inShop = eventMatcher({ namespace: 'shop' });
    expect(inShop(example('endpointSet'))).toBe(true);
    expect(inShop(example('inboundPolicy'))).toBe(false);
    expect(inShop(example('leaderChanged'))).toBe(false);
    const web = eventMatcher({ namespace: 'shop', name: 'web', types: ['io.meshbus.v1.endpoints.*'] });
    expect(web(example('endpointSet'))).toBe(true);
    expect(web(example('endpointSet', 'shop/api/80'))).toBe(true);
    expect(web(example('endpointSetDeleted', 'shop/api/80'))).toBe(false);
    expect(web(example('serviceProfile'))).toBe(false);
  });
});
