import { describe, expect } from 'vitest';
import { fc } from '@fast-check/vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { RequestTracer } from './request-tracer.js';
import { readTraceContext, traceFormats, writeTraceContext, type SpanContext } from './trace-context.js';

const hexId = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`)).filter((s) => !/^0+$/.test(s));
const context: fc.Arbitrary<SpanContext> = fc.record({
  traceId: fc.oneof(hexId(32), hexId(16).map((s) => `0000000000000000${s}`)),
  spanId: hexId(16),
  sampled: fc.boolean(),
});
const formats = fc.subarray([...traceFormats], { minLength: 1 });
const headerValue = fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-f-]{0,70}$/));
const garbage = fc.dictionary(fc.constantFrom('traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'), headerValue);
// Valid context in some formats, with any of its headers overwritten by garbage.
const anyTraceHeaders = fc.oneof(garbage, fc.tuple(context, formats, garbage).map(([ctx, fmts, junk]) => ({ ...writeTraceContext(ctx, fmts), ...junk })), fc.tuple(context, formats).map(([ctx, fmts]) => writeTraceContext(ctx, fmts)));

describe('trace context properties', () => {
  fuzzProperty('what is written is read back, in every format written', [context, formats], (ctx, fmts) => {
    const short = ctx.traceId.startsWith('0000000000000000') && fmts.every((f) => f !== 'w3c');
    const written = writeTraceContext({ ...ctx, shortTraceId: short }, fmts);
    const read = readTraceContext(written);
    expect(read.invalid).toEqual([]);
    expect(read.formats).toEqual(fmts);
    expect(read.parent?.traceId).toBe(ctx.traceId);
    expect(read.parent?.spanId).toBe(ctx.spanId);
    expect(read.parent?.sampled).toBe(ctx.sampled);
  });

  fuzzProperty('any headers at all: reading never throws, and the proxy forwards only valid context, a child of the caller', [anyTraceHeaders, fc.double({ min: 0, max: 1, noNaN: true })], (headers, ratio) => {
    const tracer = new RequestTracer({ samplingRatio: ratio });
    const incoming = readTraceContext(headers);
    const forwarded = tracer.start('outbound', 'GET', headers).forward({ ...headers, other: 'kept' });
    expect(forwarded['other']).toBe('kept');
    const out = readTraceContext(forwarded);
    expect(out.invalid).toEqual([]);
    if (incoming.parent) {
      expect(out.parent?.traceId).toBe(incoming.parent.traceId);
      expect(out.parent?.spanId).not.toBe(incoming.parent.spanId);
      if (incoming.parent.sampled !== undefined) expect(out.parent?.sampled).toBe(incoming.parent.sampled);
      expect(out.formats).toEqual(incoming.formats);
    }
  });
});
