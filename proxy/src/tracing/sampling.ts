/*
 * Whether the proxy's span of a request is sampled, and in which formats its
 * context goes on: a pure decision on what the request carried.
 */
import type { IncomingTrace, SpanContext, TraceFormat } from './trace-context.js';

/** What to do with the trace of one request. */
export type TraceDecision =
  /** No context came and the sampler said no: nothing is added to the request. */
  | { readonly kind: 'untraced' }
  /** The caller sent a sampling decision without ids, "not sampled": it goes on as it came. */
  | { readonly kind: 'denied'; readonly formats: readonly TraceFormat[] }
  /** The proxy's span: a child of `parent`, or the root of a new trace when there is none. */
  | { readonly kind: 'span'; readonly parent: SpanContext | undefined; readonly sampled: boolean; readonly formats: readonly TraceFormat[] };

/** The formats a trace the proxy starts is sent in. */
export const rootFormats: readonly TraceFormat[] = ['w3c'];

/**
 * The decision for a request: a parent's sampling flag is honoured; a parent that deferred it
 * (B3 without a flag), and a request with no context, are sampled with probability `ratio`
 * (`random()` in [0, 1)). A request without context that is not sampled starts no trace.
 */
export function decideTrace(incoming: IncomingTrace, ratio: number, random: () => number): TraceDecision {
  const { parent } = incoming;
  if (parent !== undefined) return { kind: 'span', parent, sampled: parent.sampled ?? random() < ratio, formats: incoming.formats };
  if (incoming.samplingOnly === false) return { kind: 'denied', formats: incoming.formats };
  if (incoming.samplingOnly === true) return { kind: 'span', parent: undefined, sampled: true, formats: incoming.formats };
  return random() < ratio ? { kind: 'span', parent: undefined, sampled: true, formats: rootFormats } : { kind: 'untraced' };
}

/** The headers of a sampling decision without ids ("not sampled"), in `formats`. */
export function deniedHeaders(formats: readonly TraceFormat[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (formats.includes('b3')) out['b3'] = '0';
  if (formats.includes('b3multi')) out['x-b3-sampled'] = '0';
  return out;
}
