/*
 * Trace context on the wire: W3C Trace Context (`traceparent`, `tracestate`)
 * and B3 (the single `b3` header, or the `X-B3-*` headers). Pure functions:
 * headers in, a context out; a context out as headers again.
 */

/** The header formats a trace context travels in. */
export const traceFormats = ['w3c', 'b3', 'b3multi'] as const;
export type TraceFormat = (typeof traceFormats)[number];

/** Every request header the proxy reads or writes for trace context (lower case). */
export const traceHeaderNames: readonly string[] = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];

/** A span's place in a trace, as it travels between hops. */
export interface SpanContext {
  /** 32 lower-case hex digits, never all zero (a 64-bit B3 trace id is padded on the left). */
  readonly traceId: string;
  /** 16 lower-case hex digits, never all zero. */
  readonly spanId: string;
  /** The sampling decision; `undefined` when the caller deferred it (B3 without a sampling flag). */
  readonly sampled: boolean | undefined;
  /** W3C `tracestate`, forwarded as it came. */
  readonly traceState?: string | undefined;
  /** A B3 trace id that came as 16 hex digits goes on as 16. */
  readonly shortTraceId?: boolean | undefined;
}

/** What the headers of one request said about its trace. */
export interface IncomingTrace {
  /** The caller's span, from the first valid format (W3C, then `b3`, then `X-B3-*`). */
  readonly parent: SpanContext | undefined;
  /** The formats that came valid: the context goes on in these. */
  readonly formats: readonly TraceFormat[];
  /** The formats present but invalid: ignored (and counted). */
  readonly invalid: readonly TraceFormat[];
  /** A sampling decision that came without ids (`b3: 0`, `b3: 1`, `X-B3-Sampled` alone). */
  readonly samplingOnly?: boolean | undefined;
}

/** Request headers as Node.js gives them (names in lower case). */
export type TraceHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

const hex = (n: number): RegExp => new RegExp(`^[0-9a-f]{${n}}$`);
const hex2 = hex(2);
const hex16 = hex(16);
const hex32 = hex(32);
const zeros = /^0+$/;

/** The one value of a header; `undefined` when absent, `null` when it came more than once with different values. */
function single(headers: TraceHeaders, name: string): string | undefined | null {
  const v = headers[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v.trim();
  const values = [...new Set(v.map((s) => s.trim()))];
  return values.length === 1 ? values[0] : null;
}

/** A W3C `traceparent` (version 00, or a later version read as 00 with extra fields ignored). */
export function parseTraceparent(value: string): SpanContext | undefined {
  const parts = value.trim().toLowerCase().split('-');
  if (parts.length < 4) return undefined;
  const [version, traceId, spanId, flags] = parts as [string, string, string, string];
  if (!hex2.test(version) || version === 'ff') return undefined;
  if (version === '00' && parts.length !== 4) return undefined;
  if (!hex32.test(traceId) || zeros.test(traceId) || !hex16.test(spanId) || zeros.test(spanId) || !hex2.test(flags)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** W3C `tracestate`: at most 32 comma-separated `key=value` members, 512 characters; `undefined` when malformed. */
export function parseTracestate(value: string): string | undefined {
  const text = value.trim();
  if (text.length === 0 || text.length > 512) return undefined;
  const members = text.split(',').map((m) => m.trim()).filter((m) => m.length > 0);
  if (members.length > 32) return undefined;
  const member = /^[a-z0-9][a-z0-9_\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
  return members.every((m) => member.test(m)) ? members.join(',') : undefined;
}

function b3TraceId(text: string): { traceId: string; short: boolean } | undefined {
  const t = text.toLowerCase();
  if ((!hex16.test(t) && !hex32.test(t)) || zeros.test(t)) return undefined;
  return t.length === 16 ? { traceId: `0000000000000000${t}`, short: true } : { traceId: t, short: false };
}

function b3SpanId(text: string): string | undefined {
  const t = text.toLowerCase();
  return hex16.test(t) && !zeros.test(t) ? t : undefined;
}

/** `b3: {traceId}-{spanId}[-{sampled}[-{parentSpanId}]]`, or a sampling decision alone (`0`, `1`, `d`). */
export function parseB3Single(value: string): { context: SpanContext } | { sampled: boolean } | undefined {
  const text = value.trim().toLowerCase();
  if (text === '0') return { sampled: false };
  if (text === '1' || text === 'd') return { sampled: true };
  const parts = text.split('-');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const trace = b3TraceId(parts[0]!);
  const spanId = b3SpanId(parts[1]!);
  if (!trace || !spanId) return undefined;
  const flag = parts[2];
  if (flag !== undefined && flag !== '0' && flag !== '1' && flag !== 'd') return undefined;
  if (parts[3] !== undefined && b3SpanId(parts[3]) === undefined) return undefined;
  return { context: { traceId: trace.traceId, spanId, sampled: flag === undefined ? undefined : flag !== '0', shortTraceId: trace.short } };
}

function b3Sampled(sampled: string | undefined, flags: string | undefined): boolean | undefined | null {
  if (flags !== undefined) {
    if (flags === '1') return true;
    if (flags !== '0') return null;
  }
  if (sampled === undefined) return undefined;
  const s = sampled.toLowerCase();
  if (s === '1' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  return null;
}

/** The `X-B3-*` headers; `undefined` when none is present. */
export function parseB3Multi(headers: TraceHeaders): { context: SpanContext } | { sampled: boolean } | 'invalid' | undefined {
  const traceText = single(headers, 'x-b3-traceid');
  const spanText = single(headers, 'x-b3-spanid');
  const parentText = single(headers, 'x-b3-parentspanid');
  const sampledText = single(headers, 'x-b3-sampled');
  const flagsText = single(headers, 'x-b3-flags');
  const all = [traceText, spanText, parentText, sampledText, flagsText];
  if (all.every((v) => v === undefined)) return undefined;
  if (all.some((v) => v === null)) return 'invalid';
  const sampled = b3Sampled(sampledText ?? undefined, flagsText ?? undefined);
  if (sampled === null) return 'invalid';
  if (traceText === undefined && spanText === undefined && parentText === undefined) return sampled === undefined ? 'invalid' : { sampled };
  const trace = traceText ? b3TraceId(traceText) : undefined;
  const spanId = spanText ? b3SpanId(spanText) : undefined;
  if (!trace || !spanId || (parentText !== undefined && parentText !== null && b3SpanId(parentText) === undefined)) return 'invalid';
  return { context: { traceId: trace.traceId, spanId, sampled, shortTraceId: trace.short } };
}

/**
 * Reads the trace context of a request. Invalid headers are reported in `invalid` and otherwise
 * ignored: they never fail the request. When several formats are valid, W3C gives the parent,
 * then `b3`, then `X-B3-*`; the context goes on in all the valid ones.
 */
export function readTraceContext(headers: TraceHeaders): IncomingTrace {
  const formats: TraceFormat[] = [];
  const invalid: TraceFormat[] = [];
  let parent: SpanContext | undefined;
  let samplingOnly: boolean | undefined;

  const traceparent = single(headers, 'traceparent');
  if (traceparent !== undefined) {
    const context = traceparent === null ? undefined : parseTraceparent(traceparent);
    if (context) {
      formats.push('w3c');
      const stateText = single(headers, 'tracestate');
      const traceState = typeof stateText === 'string' ? parseTracestate(stateText) : undefined;
      parent = traceState !== undefined ? { ...context, traceState } : context;
    } else invalid.push('w3c');
  }

  const b3 = single(headers, 'b3');
  if (b3 !== undefined) {
    const read = b3 === null ? undefined : parseB3Single(b3);
    if (read === undefined) invalid.push('b3');
    else {
      formats.push('b3');
      if ('context' in read) parent ??= read.context;
      else samplingOnly ??= read.sampled;
    }
  }

  const multi = parseB3Multi(headers);
  if (multi === 'invalid') invalid.push('b3multi');
  else if (multi !== undefined) {
    formats.push('b3multi');
    if ('context' in multi) parent ??= multi.context;
    else samplingOnly ??= multi.sampled;
  }
  return { parent, formats, invalid, ...(samplingOnly !== undefined && parent === undefined ? { samplingOnly } : {}) };
}

/** The request headers that carry `context` in `formats`. `parentSpanId` is B3's parent, the span that `context` is a child of. */
export function writeTraceContext(context: SpanContext, formats: readonly TraceFormat[], parentSpanId?: string): Record<string, string> {
  const out: Record<string, string> = {};
  const sampled = context.sampled === true;
  const b3Trace = context.shortTraceId ? context.traceId.slice(16) : context.traceId;
  for (const format of formats) {
    if (format === 'w3c') {
      out['traceparent'] = `00-${context.traceId}-${context.spanId}-${sampled ? '01' : '00'}`;
      if (context.traceState !== undefined) out['tracestate'] = context.traceState;
    } else if (format === 'b3') {
      const flag = context.sampled === undefined ? '' : sampled ? '-1' : '-0';
      out['b3'] = `${b3Trace}-${context.spanId}${flag}${parentSpanId !== undefined && flag !== '' ? `-${parentSpanId}` : ''}`;
    } else {
      out['x-b3-traceid'] = b3Trace;
      out['x-b3-spanid'] = context.spanId;
      if (parentSpanId !== undefined) out['x-b3-parentspanid'] = parentSpanId;
      if (context.sampled !== undefined) out['x-b3-sampled'] = sampled ? '1' : '0';
    }
  }
  return out;
}
