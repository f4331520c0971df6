/*
 * One span per proxied request: the incoming context is read, the proxy's
 * own span is made its child, and the forwarded request carries the new
 * context in the formats it came in. A connection the proxy relays without
 * reading it (an upgraded request such as a WebSocket, a CONNECT tunnel,
 * opaque TCP) gets one span too, covering the whole connection. Spans go to
 * a SpanSink (the OTLP exporter) only when sampled and a sink is configured.
 */
import { randomBytes } from 'node:crypto';
import { decideTrace, deniedHeaders, type TraceDecision } from './sampling.js';
import { readTraceContext, traceHeaderNames, writeTraceContext, type SpanContext, type TraceFormat, type TraceHeaders } from './trace-context.js';

/** The side of the proxy a request went through: outbound spans are CLIENT spans, inbound ones SERVER spans. */
export type SpanDirection = 'outbound' | 'inbound';

/**
 * A relayed connection whose bytes the proxy does not read: an HTTP/1.1
 * upgrade (WebSocket) after its handshake, a CONNECT tunnel, opaque TCP.
 */
export type ConnectionKind = 'upgrade' | 'connect' | 'tcp';

/** What is known of a request when its span begins. */
export interface SpanStart {
  readonly direction: SpanDirection;
  /** The request's method; `TCP` for opaque TCP, which has none. */
  readonly method: string;
  /** Set when the span is that of a relayed connection rather than of one request. */
  readonly connection?: ConnectionKind | undefined;
  /** The parent span; `undefined` for the root of a new trace. */
  readonly parent: SpanContext | undefined;
  /** Epoch milliseconds. */
  readonly startTime: number;
}

/** What is known of a request when it ends. */
export interface SpanEnd {
  /** The HTTP status given to the client; `undefined` when none was (the client went away). */
  readonly status?: number | undefined;
  readonly grpcStatus?: number | undefined;
  /** The route that applied (its policy name). */
  readonly route?: string | undefined;
  /** The authority of the request (outbound: from the policy). */
  readonly authority?: string | undefined;
  /** The peer's mesh identity: the server's (outbound) or the client's (inbound). */
  readonly peerIdentity?: string | undefined;
  /** The endpoint (outbound) or workload address (inbound) the request went to. */
  readonly targetAddr?: string | undefined;
  /** Why the request failed, when it did without a response (or its response broke off). */
  readonly error?: string | undefined;
  /** Connections: bytes read from the client and written to it, over the connection's life. */
  readonly bytesRead?: number | undefined;
  readonly bytesWritten?: number | undefined;
  /** Upgrades: the protocol switched to (the `Upgrade` header, such as `websocket`). */
  readonly protocol?: string | undefined;
  /** Inbound connections: the client's address, `ip:port`. */
  readonly clientAddr?: string | undefined;
}

/** A span being recorded. Its ids are the ones forwarded. */
export interface OpenSpan {
  readonly traceId: string;
  readonly spanId: string;
  end(end: SpanEnd, endTime: number): void;
}

/** Where sampled spans go. */
export interface SpanSink {
  begin(start: SpanStart): OpenSpan;
  /** Sends what is queued and stops. */
  shutdown(): Promise<void>;
}

/** The trace of one request. */
export interface RequestTrace {
  /** `headers` (the request to forward) with the caller's trace headers replaced by the proxy's span's. */
  forward<H extends Record<string, unknown>>(headers: H): H;
  /** Records the end of the request; later calls do nothing. */
  end(end: SpanEnd): void;
}

/** Options of {@link RequestTracer}. */
export interface RequestTracerOptions {
  /** Probability that a request without a sampling decision starts a sampled trace, in [0, 1]. */
  readonly samplingRatio: number;
  /** Where sampled spans go; none: spans are only propagated. */
  readonly sink?: SpanSink | undefined;
  /** Called once per invalid trace header format of a request. */
  readonly onInvalid?: ((format: TraceFormat) => void) | undefined;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
  /** New ids of `bytes` random bytes, as hex (never all zero). @default crypto */
  readonly newId?: (bytes: 8 | 16) => string;
}

function randomId(bytes: 8 | 16): string {
  for (;;) {
    const id = randomBytes(bytes).toString('hex');
    if (!/^0+$/.test(id)) return id;
  }
}

const untraced: RequestTrace = { forward: (headers) => withoutTraceHeaders(headers), end: () => undefined };

/** `headers` without any trace header, a copy. */
function withoutTraceHeaders<H extends Record<string, unknown>>(headers: H): H {
  const out: Record<string, unknown> = { ...headers };
  for (const name of Object.keys(out)) if (traceHeaderNames.includes(name.toLowerCase())) delete out[name];
  return out as H;
}

/** Begins the trace of each request the proxy handles. */
export class RequestTracer {
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly newId: (bytes: 8 | 16) => string;

  constructor(private readonly options: RequestTracerOptions) {
    if (!(options.samplingRatio >= 0 && options.samplingRatio <= 1)) throw new RangeError(`samplingRatio must be in [0, 1], got ${options.samplingRatio}`);
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? randomId;
  }

  /** The trace of a request with these headers, going through the proxy's `direction` side. */
  start(direction: SpanDirection, method: string, headers: TraceHeaders): RequestTrace {
    return this.begin(direction, method, undefined, headers);
  }

  /**
   * The trace of a relayed connection: an upgrade request or a CONNECT with
   * its headers (their context is the parent, and an upgrade forwards the
   * new one), or opaque TCP, which carries none: its span is the root of a
   * trace of its own, sampled by the ratio. End it when the connection closes.
   */
  startConnection(direction: SpanDirection, kind: ConnectionKind, method: string, headers: TraceHeaders = {}): RequestTrace {
    return this.begin(direction, kind === 'tcp' ? 'TCP' : method, kind, headers);
  }

  private begin(direction: SpanDirection, method: string, connection: ConnectionKind | undefined, headers: TraceHeaders): RequestTrace {
    const incoming = readTraceContext(headers);
    for (const format of incoming.invalid) this.options.onInvalid?.(format);
    const decision: TraceDecision = decideTrace(incoming, this.options.samplingRatio, this.random);
    if (decision.kind === 'untraced') return untraced;
    if (decision.kind === 'denied') {
      const out = deniedHeaders(decision.formats);
      return { forward: (h) => ({ ...withoutTraceHeaders(h), ...out }), end: () => undefined };
    }
    const { parent, sampled, formats } = decision;
    const startTime = this.now();
    const span = sampled && this.options.sink ? this.options.sink.begin({ direction, method, parent, startTime, ...(connection ? { connection } : {}) }) : undefined;
    const context: SpanContext = {
      traceId: span?.traceId ?? parent?.traceId ?? this.newId(16),
      spanId: span?.spanId ?? this.newId(8),
      sampled,
      traceState: parent?.traceState,
      shortTraceId: parent?.shortTraceId,
    };
    const out = writeTraceContext(context, formats, parent?.spanId);
    let ended = false;
    return {
      forward: (h) => ({ ...withoutTraceHeaders(h), ...out }),
      end: (end) => {
        if (ended) return;
        ended = true;
        span?.end(end, this.now());
      },
    };
  }

  /** Sends the spans still queued. */
  async shutdown(): Promise<void> {
    await this.options.sink?.shutdown();
  }
}
