import { headers as natsHeaders } from 'nats';
import type { MsgHdrs } from 'nats';
import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { busValidator, catalog, type BusValidator, type EventKind } from '@meshbus/bus-schemas';
import { MalformedEventError, decodeEvent, encodeEvent, type RejectReason } from './index.js';

const validator: BusValidator = busValidator();
// What decodeEvent may give; `attribute` is for encoding only.
const reasons = new Set<RejectReason>(['missing-header', 'specversion', 'unknown-type', 'content-type', 'json', 'schema', 'subject']);
const kinds = Object.keys(catalog) as EventKind[];

const token = fc.stringMatching(/^[a-z0-9][-a-z0-9]{0,12}$/);
/** A NATS subject matching the pattern of `kind`, with its placeholders filled in. */
const subjectOf = (kind: EventKind): fc.Arbitrary<string> => {
  const parts = catalog[kind].subject.split('.');
  return fc
    .tuple(...parts.map((part) => (part.startsWith('{') ? token : part === '>' ? fc.array(token, { minLength: 1, maxLength: 3 }).map((t) => t.join('.')) : fc.constant(part))))
    .map((filled) => filled.join('.'));
};
const natsSubject = fc.oneof(
  fc.constantFrom(...kinds).chain(subjectOf),
  fc.array(fc.oneof(token, fc.string({ minLength: 1, maxLength: 8 })), { minLength: 1, maxLength: 7 }).map((t) => t.join('.')),
);

const headerValue = fc.oneof(
  fc.constantFrom('1.0', '0.3', '', ' ', 'application/json', 'application/json; charset=utf-8', 'text/plain', ...kinds.map((k) => catalog[k].type)),
  fc.string({ maxLength: 30 }),
);
const headerName = fc.oneof(
  fc.constantFrom('ce-specversion', 'ce-type', 'ce-id', 'ce-source', 'ce-time', 'ce-subject', 'ce-dataschema', 'content-type', 'Ce-Type', 'CE-SPECVERSION'),
  fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/),
);
/** A header map as NATS would deliver it, or none; entries NATS itself refuses are dropped. */
const headerMap: fc.Arbitrary<MsgHdrs | undefined> = fc.option(
  fc.array(fc.tuple(headerName, headerValue), { maxLength: 10 }).map((entries) => {
    const h = natsHeaders();
    for (const [name, value] of entries) {
      try {
        h.append(name, value);
      } catch {
        // NATS does not put such a header on the wire.
      }
    }
    return h;
  }),
  { nil: undefined },
);

const encoder = new TextEncoder();
const nested = (depth: number, open: string, close: string): string => open.repeat(depth) + close.repeat(depth);
const body = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.jsonValue().map((value) => encoder.encode(JSON.stringify(value))),
  fc.string().map((text) => encoder.encode(text)),
  fc.record({ reason: fc.string(), role: fc.string(), holder: fc.string(), term: fc.integer() }, { requiredKeys: [] }).map((value) => encoder.encode(JSON.stringify(value))),
  fc.integer({ min: 1, max: 50_000 }).map((depth) => encoder.encode(nested(depth, '[', ']'))),
  fc.integer({ min: 1, max: 50_000 }).map((depth) => encoder.encode(nested(depth, '{"a":', '}').replace(/}+$/, (closing) => `1${closing}`))),
);

/** Mostly `valid`; else any header value, or no header. */
const mostly = (valid: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> =>
  fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: headerValue, weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
/** Messages close to a valid event of some kind: each header right, wrong or missing. */
const nearEvent = fc.constantFrom(...kinds).chain((kind) =>
  fc.tuple(
    fc.oneof({ arbitrary: subjectOf(kind), weight: 6 }, { arbitrary: natsSubject, weight: 1 }),
    fc.record({
      'ce-specversion': mostly(fc.constant('1.0')),
      'ce-type': mostly(fc.constant(catalog[kind].type)),
      'ce-id': mostly(fc.uuid()),
      'ce-source': mostly(fc.constant('/meshbus/test')),
      'ce-time': mostly(fc.date({ noInvalidDate: true, min: new Date(0), max: new Date('9999-01-01') }).map((d) => d.toISOString())),
      'ce-subject': mostly(fc.string({ minLength: 1, maxLength: 10 })),
      'content-type': mostly(fc.constantFrom('application/json', 'application/json; charset=utf-8')),
    }).map((values) => {
      const h = natsHeaders();
      for (const [name, value] of Object.entries(values)) if (value !== undefined && value.trim() === value && !/[\r\n]/.test(value)) h.set(name, value);
      return h;
    }),
    body,
  ),
);

describe('decodeEvent', () => {
  fuzzProperty('returns a validated event or throws MalformedEventError with a reason', [fc.oneof(fc.tuple(natsSubject, headerMap, body), nearEvent)], ([subject, h, payload]) => {
    let event;
    try {
      event = decodeEvent(subject, h, payload, validator);
    } catch (error) {
      expect(error).toBeInstanceOf(MalformedEventError);
      expect(reasons.has((error as MalformedEventError).reason)).toBe(true);
      expect((error as MalformedEventError).message).toMatch(/\S/);
      return;
    }
    expect(event.type).toBe(catalog[event.kind].type);
    expect(event.natsSubject).toBe(subject);
    for (const attribute of [event.id, event.source, event.time]) expect(attribute).not.toBe('');
    validator.check(event.kind, event.data);
  }, { runs: 300 });

  const deletedKinds = kinds.filter((kind) => catalog[kind].schema === 'state-deleted');
  const validEvent = fc.oneof(
    fc.constantFrom(...deletedKinds).chain((kind) => fc.tuple(fc.constant(kind), subjectOf(kind), fc.record({ reason: fc.string({ maxLength: 1024 }) }))),
    fc.tuple(fc.constant('leaderChanged' as const), subjectOf('leaderChanged'), fc.record({ role: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/), holder: fc.string({ minLength: 1, maxLength: 512 }), term: fc.integer({ min: 1 }) })),
  );
  const attribute = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), fc.constantFrom(' a', 'a ', 'a\nb', '\t'));
  const attributes = fc.record({
    source: attribute,
    subject: attribute,
    id: attribute,
    time: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
  });

  fuzzProperty('decodes what encodeEvent wrote', [validEvent, attributes], ([kind, subject, data], attrs) => {
    let encoded;
    try {
      encoded = encodeEvent(kind, subject, data, attrs, validator);
    } catch (error) {
      // What a NATS header cannot carry unchanged is refused when encoding, not lost on the way.
      expect(error).toMatchObject({ reason: 'attribute' });
      const carried = [attrs.id, attrs.source, attrs.subject].every((value) => value.trim() === value && !/[\r\n]/.test(value));
      expect(carried, `encodeEvent refused attributes a header can carry: ${String(error)}`).toBe(false);
      return;
    }
    const event = decodeEvent(subject, encoded.headers, encoded.payload, validator, 7);
    expect(event).toEqual({ kind, id: attrs.id, source: attrs.source, type: catalog[kind].type, time: attrs.time.toISOString(), subject: attrs.subject, data, natsSubject: subject, seq: 7 });
  }, { runs: 300 });
});
