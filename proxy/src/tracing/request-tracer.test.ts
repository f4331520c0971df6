import { describe, expect, it } from 'vitest';
import { endAttributes, isErrorEnd, startAttributes } from './otlp-export.js';
import { RequestTracer, type OpenSpan, type SpanEnd, type SpanSink, type SpanStart } from './request-tracer.js';

/** A sink that keeps what it is given. */
function recordingSink(): SpanSink & { spans: { start: SpanStart; end?: SpanEnd; endTime?: number }[] } {
  const spans: { start: SpanStart; end?: SpanEnd; endTime?: number }[] = [];
  let next = 1;
  return {
    spans,
    begin(start: SpanStart): OpenSpan {
      const record: { start: SpanStart; end?: SpanEnd; endTime?: number } = { start };
      spans.push(record);
      const spanId = String(next++).padStart(16, '0');
      return {
        traceId: start.parent?.traceId ?? 'a'.repeat(32),
        spanId,
        end(end, endTime) {
          record.end = end;
          record.endTime = endTime;
        },
      };
    },
    shutdown: async () => undefined,
  };
}

const parentTraceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const parentSpanId = '00f067aa0ba902b7';
const traceparent = `00-${parentTraceId}-${parentSpanId}-01`;

function tracer(sink: SpanSink, samplingRatio = 1): { tracer: RequestTracer; clock: { now: number } } {
  const clock = { now: 1_000 };
  return { tracer: new RequestTracer({ samplingRatio, sink, now: () => clock.now, random: () => 0.5 }), clock };
}

describe('connection spans', () => {
  it('gives an upgrade one span from the handshake to the close, a child of the caller, and forwards its own context', () => {
    const sink = recordingSink();
    const { tracer: t, clock } = tracer(sink);
    const trace = t.startConnection('outbound', 'upgrade', 'GET', { traceparent, upgrade: 'websocket' });
    const forwarded = trace.forward({ traceparent, upgrade: 'websocket', host: 'web' });
    expect(forwarded).toEqual({ upgrade: 'websocket', host: 'web', traceparent: `00-${parentTraceId}-0000000000000001-01` });
    clock.now = 61_000;
    trace.end({ status: 101, authority: 'web.shop.svc.cluster.local:80', protocol: 'websocket', peerIdentity: 'web.shop', targetAddr: '10.0.0.7:8080', bytesRead: 120, bytesWritten: 4096 });
    trace.end({ status: 500 }); // later calls do nothing
    expect(sink.spans).toHaveLength(1);
    const [span] = sink.spans;
    expect(span!.start).toEqual({ direction: 'outbound', method: 'GET', connection: 'upgrade', parent: expect.objectContaining({ traceId: parentTraceId, spanId: parentSpanId }), startTime: 1_000 });
    expect(span!.endTime).toBe(61_000);
    expect(span!.end).toMatchObject({ status: 101, bytesRead: 120, bytesWritten: 4096 });
  });

  it('starts opaque TCP as the root of a trace of its own, by the sampling ratio, and forwards nothing', () => {
    const sink = recordingSink();
    const trace = tracer(sink).tracer.startConnection('inbound', 'tcp', 'ignored');
    expect(sink.spans.map((s) => s.start)).toEqual([{ direction: 'inbound', method: 'TCP', connection: 'tcp', parent: undefined, startTime: 1_000 }]);
    trace.end({ targetAddr: '127.0.0.1:5432', clientAddr: '10.0.0.9:40000', bytesRead: 10, bytesWritten: 20 });
    expect(sink.spans[0]!.end).toEqual({ targetAddr: '127.0.0.1:5432', clientAddr: '10.0.0.9:40000', bytesRead: 10, bytesWritten: 20 });

    const unsampled = recordingSink();
    tracer(unsampled, 0).tracer.startConnection('inbound', 'tcp', 'TCP').end({ bytesRead: 1 });
    expect(unsampled.spans).toEqual([]);
  });

  it('makes a CONNECT tunnel the child of the context its request carried', () => {
    const sink = recordingSink();
    tracer(sink, 0).tracer.startConnection('outbound', 'connect', 'CONNECT', { traceparent }).end({ status: 200, authority: 'db:5432' });
    expect(sink.spans[0]!.start).toMatchObject({ method: 'CONNECT', connection: 'connect', parent: { traceId: parentTraceId, spanId: parentSpanId } });
  });

  it('honours a caller that said "not sampled"', () => {
    const sink = recordingSink();
    const trace = tracer(sink).tracer.startConnection('inbound', 'upgrade', 'GET', { traceparent: `00-${parentTraceId}-${parentSpanId}-00` });
    expect(trace.forward<Record<string, string>>({}).traceparent).toMatch(/-00$/);
    trace.end({ status: 101 });
    expect(sink.spans).toEqual([]);
  });
});

describe('span attributes of connections', () => {
  it('names the kind and transport, and no HTTP method for opaque TCP', () => {
    expect(startAttributes({ direction: 'inbound', method: 'TCP', connection: 'tcp', parent: undefined, startTime: 0 })).toEqual({
      'meshbus.direction': 'inbound',
      'meshbus.connection.kind': 'tcp',
      'network.transport': 'tcp',
    });
    expect(startAttributes({ direction: 'outbound', method: 'GET', connection: 'upgrade', parent: undefined, startTime: 0 })).toEqual({
      'meshbus.direction': 'outbound',
      'http.request.method': 'GET',
      'meshbus.connection.kind': 'upgrade',
      'network.transport': 'tcp',
    });
    expect(startAttributes({ direction: 'outbound', method: 'GET', parent: undefined, startTime: 0 })).toEqual({ 'meshbus.direction': 'outbound', 'http.request.method': 'GET' });
  });

  it('carries the peer, the bytes both ways and the protocol', () => {
    expect(endAttributes({ status: 101, protocol: 'websocket', peerIdentity: 'api.shop', clientAddr: '10.0.0.9:40000', targetAddr: '127.0.0.1:8080', bytesRead: 5, bytesWritten: 7 })).toEqual({
      'http.response.status_code': 101,
      'network.protocol.name': 'websocket',
      'meshbus.peer.identity': 'api.shop',
      'client.address': '10.0.0.9:40000',
      'meshbus.target.addr': '127.0.0.1:8080',
      'meshbus.bytes.read': 5,
      'meshbus.bytes.written': 7,
    });
    expect(endAttributes({ bytesRead: 0, bytesWritten: 0, error: 'ECONNRESET' })).toEqual({ 'meshbus.bytes.read': 0, 'meshbus.bytes.written': 0, 'error.type': 'ECONNRESET' });
  });

  it('marks a tunnel or TCP connection as an error only when it failed, an upgrade as a request', () => {
    expect(isErrorEnd({ bytesRead: 3 }, 'tcp')).toBe(false);
    expect(isErrorEnd({ error: 'ECONNRESET' }, 'tcp')).toBe(true);
    expect(isErrorEnd({ status: 200 }, 'connect')).toBe(false);
    expect(isErrorEnd({ status: 503, error: 'no endpoints' }, 'connect')).toBe(true);
    expect(isErrorEnd({ status: 101 }, 'upgrade')).toBe(false);
    expect(isErrorEnd({}, 'upgrade')).toBe(true);
    expect(isErrorEnd({ status: 502 }, 'upgrade')).toBe(true);
    expect(isErrorEnd({})).toBe(true);
  });
});
