import { describe, expect, it } from 'vitest';
import { decideTrace, deniedHeaders } from './sampling.js';
import { parseB3Single, parseTraceparent, parseTracestate, readTraceContext, writeTraceContext } from './trace-context.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

describe('W3C traceparent', () => {
  it('reads version 00 with its sampled flag', () => {
    expect(parseTraceparent(`00-${traceId}-${spanId}-01`)).toEqual({ traceId, spanId, sampled: true });
    expect(parseTraceparent(`00-${traceId}-${spanId}-00`)).toEqual({ traceId, spanId, sampled: false });
    expect(parseTraceparent(`00-${traceId.toUpperCase()}-${spanId}-03`)).toEqual({ traceId, spanId, sampled: true });
  });

  it('reads a later version by its first four fields', () => {
    expect(parseTraceparent(`01-${traceId}-${spanId}-01-extra`)).toEqual({ traceId, spanId, sampled: true });
  });

  it.each([
    ['version ff', `ff-${traceId}-${spanId}-01`],
    ['extra field on version 00', `00-${traceId}-${spanId}-01-x`],
    ['zero trace id', `00-${'0'.repeat(32)}-${spanId}-01`],
    ['zero span id', `00-${traceId}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${traceId.slice(2)}-${spanId}-01`],
    ['not hex', `00-${traceId.replace('4', 'g')}-${spanId}-01`],
    ['no flags', `00-${traceId}-${spanId}`],
    ['empty', ''],
  ])('refuses %s', (_, text) => expect(parseTraceparent(text)).toBeUndefined());

  it('keeps a valid tracestate and drops a malformed one', () => {
    expect(parseTracestate('congo=t61rcWkgMzE, rojo=00f067aa0ba902b7')).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    expect(parseTracestate('no-equals-sign')).toBeUndefined();
    expect(parseTracestate(`a=${'x'.repeat(600)}`)).toBeUndefined();
  });
});

describe('B3', () => {
  it('reads the single header with and without flags and parent', () => {
    expect(parseB3Single(`${traceId}-${spanId}-1-${'1'.repeat(16)}`)).toEqual({ context: { traceId, spanId, sampled: true, shortTraceId: false } });
    expect(parseB3Single(`${traceId}-${spanId}`)).toEqual({ context: { traceId, spanId, sampled: undefined, shortTraceId: false } });
    expect(parseB3Single(`a3ce929d0e0e4736-${spanId}-d`)).toEqual({ context: { traceId: '0000000000000000a3ce929d0e0e4736', spanId, sampled: true, shortTraceId: true } });
    expect(parseB3Single('0')).toEqual({ sampled: false });
    expect(parseB3Single(`${traceId}-${spanId}-x`)).toBeUndefined();
    expect(parseB3Single(`${traceId}-${spanId}-1-zz`)).toBeUndefined();
  });

  it('reads the X-B3 headers', () => {
    const read = readTraceContext({ 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': '1', 'x-b3-parentspanid': '1111111111111111' });
    expect(read).toEqual({ parent: { traceId, spanId, sampled: true, shortTraceId: false }, formats: ['b3multi'], invalid: [] });
    expect(readTraceContext({ 'x-b3-flags': '1', 'x-b3-traceid': traceId, 'x-b3-spanid': spanId }).parent?.sampled).toBe(true);
    expect(readTraceContext({ 'x-b3-traceid': traceId }).invalid).toEqual(['b3multi']);
    expect(readTraceContext({ 'x-b3-sampled': 'maybe', 'x-b3-traceid': traceId, 'x-b3-spanid': spanId }).invalid).toEqual(['b3multi']);
    expect(readTraceContext({ 'x-b3-sampled': '0' })).toEqual({ parent: undefined, formats: ['b3multi'], invalid: [], samplingOnly: false });
  });
});

describe('readTraceContext', () => {
  it('prefers W3C, forwards in every valid format, and reports the invalid ones', () => {
    const read = readTraceContext({ traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'k=v', b3: `${'a'.repeat(32)}-${'b'.repeat(16)}-0`, 'x-b3-traceid': 'nonsense' });
    expect(read.parent).toEqual({ traceId, spanId, sampled: true, traceState: 'k=v' });
    expect(read.formats).toEqual(['w3c', 'b3']);
    expect(read.invalid).toEqual(['b3multi']);
  });

  it('refuses a traceparent sent twice with different values', () => {
    expect(readTraceContext({ traceparent: [`00-${traceId}-${spanId}-01`, `00-${traceId}-1111111111111111-01`] as unknown as string }).invalid).toEqual(['w3c']);
  });

  it('finds nothing in a request without trace headers', () => {
    expect(readTraceContext({ host: 'a' })).toEqual({ parent: undefined, formats: [], invalid: [] });
  });
});

describe('writeTraceContext', () => {
  it('writes each format, B3 with the parent and the trace id at its length', () => {
    const ctx = { traceId: `0000000000000000${'a'.repeat(16)}`, spanId, sampled: true, shortTraceId: true, traceState: 'k=v' };
    expect(writeTraceContext(ctx, ['w3c', 'b3', 'b3multi'], '1111111111111111')).toEqual({
      traceparent: `00-0000000000000000${'a'.repeat(16)}-${spanId}-01`,
      tracestate: 'k=v',
      b3: `${'a'.repeat(16)}-${spanId}-1-1111111111111111`,
      'x-b3-traceid': 'a'.repeat(16),
      'x-b3-spanid': spanId,
      'x-b3-parentspanid': '1111111111111111',
      'x-b3-sampled': '1',
    });
  });
});

describe('decideTrace', () => {
  const none = { parent: undefined, formats: [], invalid: [] };
  it('honours the parent, whatever the ratio', () => {
    const parent = { traceId, spanId, sampled: false };
    expect(decideTrace({ parent, formats: ['w3c'], invalid: [] }, 1, () => 0)).toEqual({ kind: 'span', parent, sampled: false, formats: ['w3c'] });
    expect(decideTrace({ parent: { ...parent, sampled: true }, formats: ['w3c'], invalid: [] }, 0, () => 0.5)).toMatchObject({ sampled: true });
  });

  it('samples a deferred parent and a request without context by the ratio', () => {
    expect(decideTrace({ parent: { traceId, spanId, sampled: undefined }, formats: ['b3'], invalid: [] }, 0.5, () => 0.4)).toMatchObject({ kind: 'span', sampled: true });
    expect(decideTrace({ parent: { traceId, spanId, sampled: undefined }, formats: ['b3'], invalid: [] }, 0.5, () => 0.6)).toMatchObject({ kind: 'span', sampled: false });
    expect(decideTrace(none, 0.5, () => 0.4)).toEqual({ kind: 'span', parent: undefined, sampled: true, formats: ['w3c'] });
    expect(decideTrace(none, 0.5, () => 0.6)).toEqual({ kind: 'untraced' });
    expect(decideTrace(none, 0, () => 0)).toEqual({ kind: 'untraced' });
  });

  it('keeps a decision sent without ids', () => {
    expect(decideTrace({ ...none, formats: ['b3'], samplingOnly: false }, 1, () => 0)).toEqual({ kind: 'denied', formats: ['b3'] });
    expect(deniedHeaders(['b3', 'b3multi'])).toEqual({ b3: '0', 'x-b3-sampled': '0' });
    expect(decideTrace({ ...none, formats: ['b3'], samplingOnly: true }, 0, () => 0.9)).toEqual({ kind: 'span', parent: undefined, sampled: true, formats: ['b3'] });
  });
});
