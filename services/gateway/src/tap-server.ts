/*
 * The gateway's `meshbus.tap.v1.Tap` service and its side of the bus: tap
 * requests from `meshbus tap` (core NATS, every replica) go to the connected
 * proxies whose proven identity they target; records from those proxies are
 * checked against the tap-event schema and published for the session.
 */
import { status, type handleBidiStreamingCall, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Msg, NatsConnection, Subscription } from 'nats';
import { decodeEvent, encodeEvent, MalformedEventError } from '@meshbus/bus';
import { subjects, SchemaValidationError, type BusValidator, type TapEvent, type TapRequest } from '@meshbus/bus-schemas';
import { tap, tapHelloSignaturePrefix } from '@meshbus/proxy-api';
import { Counter, errorMessage, Gauge, type Logger, type Registry } from '@meshbus/runtime';
import { TelemetryRefused, verifySigned, type ReportSender, type ReportTrust } from './telemetry-auth.js';
import { TapRouter, type TapCommand, type TapProxy, type TapSession } from './tap-router.js';

/** A hello signed longer ago (or further ahead) than this is refused, so an old one cannot be replayed. */
export const maxHelloSkewMs = 5 * 60_000;

const invalid = (message: string) => new TelemetryRefused(status.INVALID_ARGUMENT, 'InvalidTapHello', message);

/** Bytes that are not a protobuf ProxyMessage, kept for the handler (a throwing deserializer would answer INTERNAL). */
class UndecodableMessage {
  constructor(readonly reason: string) {}
}

type ReceivedMessage = tap.ProxyMessage | UndecodableMessage;

/** The Tap service definition, with a deserializer that never throws. */
export const tapServiceDefinition = {
  watch: {
    ...tap.TapService.watch,
    requestDeserialize: (bytes: Buffer): ReceivedMessage => {
      try {
        return tap.ProxyMessage.decode(bytes);
      } catch (error) {
        return new UndecodableMessage(errorMessage(error));
      }
    },
  },
} as const;

/** Checks a hello (chain, signature, clock) and returns who sent it with the instance it claims. Throws {@link TelemetryRefused}. */
export function verifyHello(hello: tap.Hello, trust: ReportTrust | undefined, nowMs: number): ReportSender & { instance: string } {
  const sender = verifySigned({ payload: hello.claim, certificateChain: hello.certificateChain, signature: hello.signature }, tapHelloSignaturePrefix, 'claim', trust, nowMs);
  let claim: tap.HelloClaim;
  try {
    claim = tap.HelloClaim.decode(hello.claim);
  } catch (error) {
    throw invalid(`claim is not a protobuf meshbus.tap.v1.HelloClaim: ${errorMessage(error)}`);
  }
  if (claim.instance.length > 253) throw invalid(`instance has ${claim.instance.length} characters; at most 253 are accepted`);
  const signedAt = Number(claim.signedAtMs);
  if (Math.abs(signedAt - nowMs) > maxHelloSkewMs) {
    throw invalid(`the hello was signed at ${new Date(signedAt).toISOString()}, too far from the gateway's clock (${new Date(nowMs).toISOString()}); sign a fresh claim`);
  }
  return { ...sender, instance: claim.instance };
}

function direction(d: tap.TapDirection): 'inbound' | 'outbound' | undefined {
  if (d === tap.TapDirection.INBOUND) return 'inbound';
  if (d === tap.TapDirection.OUTBOUND) return 'outbound';
  return undefined;
}

/** The bus data of a record from a verified proxy, or a reason it cannot be one. Not yet schema-checked. */
export function toTapEvent(record: tap.TapRecord, sender: ReportSender & { instance: string }): TapEvent | string {
  const dir = direction(record.direction);
  if (dir === undefined) return 'direction is not INBOUND or OUTBOUND';
  const startedMs = Number(record.startedAtMs);
  if (!Number.isSafeInteger(startedMs) || startedMs > 8.64e15) return 'started_at_ms is out of range';
  return {
    sessionId: record.sessionId,
    namespace: sender.namespace,
    workload: sender.workload,
    identity: sender.identity,
    instance: sender.instance,
    startedAt: new Date(startedMs).toISOString(),
    direction: dir,
    method: record.method,
    authority: record.authority,
    path: record.path,
    status: record.status,
    latencyMs: record.latencyMs,
    tls: record.tls,
    peerIdentity: record.peerIdentity,
    headers: { ...record.headers },
  };
}

function toCommand(command: TapCommand): tap.GatewayCommand {
  switch (command.kind) {
    case 'start':
      return {
        kind: {
          $case: 'start',
          start: {
            sessionId: command.sessionId,
            filter: { path: command.filter.path ?? '', method: command.filter.method ?? '', authority: command.filter.authority ?? '' },
            maxRps: command.maxRps,
            expiresInMs: command.expiresInMs,
          },
        },
      };
    case 'renew':
      return { kind: { $case: 'renew', renew: { sessionId: command.sessionId, expiresInMs: command.expiresInMs } } };
    case 'stop':
      return { kind: { $case: 'stop', stop: { sessionId: command.sessionId } } };
  }
}

interface TapMetrics {
  records: Counter<'result'>;
  requests: Counter<'result'>;
}

const metricsByRegistry = new WeakMap<Registry, TapMetrics>();

function tapMetrics(registry: Registry | undefined, router: TapRouter): TapMetrics {
  const existing = registry && metricsByRegistry.get(registry);
  if (existing) return existing;
  const registers = registry ? [registry] : [];
  new Gauge({
    name: 'meshbus_gateway_tap_sessions',
    help: 'Tap sessions this replica is running.',
    registers,
    collect() {
      this.set(router.sessionCount);
    },
  });
  const metrics: TapMetrics = {
    records: new Counter({
      name: 'meshbus_gateway_tap_records_total',
      help: 'Tapped request records from proxies, by result: published, or why they were dropped.',
      labelNames: ['result'],
      registers,
    }),
    requests: new Counter({
      name: 'meshbus_gateway_tap_requests_total',
      help: 'Tap requests from the bus, by result: started, renewed, stopped, or why they were ignored.',
      labelNames: ['result'],
      registers,
    }),
  };
  if (registry) metricsByRegistry.set(registry, metrics);
  return metrics;
}

export interface TapOptions {
  /** Where tap requests come from and records go (core NATS). */
  readonly nc: Pick<NatsConnection, 'publish' | 'subscribe'>;
  readonly validator: BusValidator;
  /** The mesh trust, from the bus state; undefined until it is known. */
  readonly trust: () => ReportTrust | undefined;
  /** CloudEvents `source`, such as `/meshbus/gateway/<replica>`. */
  readonly source: string;
  readonly logger: Logger;
  readonly registry?: Registry;
  /** Epoch milliseconds. @default Date.now */
  readonly now?: () => number;
  /** How often expired sessions are ended. @default 1000 */
  readonly expiryCheckMs?: number;
}

export interface TapHandlers extends UntypedServiceImplementation {
  watch: handleBidiStreamingCall<ReceivedMessage, tap.GatewayCommand>;
}

/** The running tap side of a gateway replica. */
export interface TapService {
  readonly handlers: TapHandlers;
  readonly router: TapRouter;
  /** Handles one message of the tap-request subject (exposed for tests). */
  onRequest(msg: Pick<Msg, 'subject' | 'headers' | 'data'>): void;
  /** Unsubscribes, stops the expiry timer and ends every Watch stream. */
  close(): void;
}

/** Per-session token bucket of one stream: a proxy sending faster than the session's rate loses the excess. */
interface Bucket {
  tokens: number;
  at: number;
}

/** Subscribes to tap requests and returns the Tap/Watch handlers routing them. */
export function createTapService(options: TapOptions): TapService {
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'tap' });
  const router = new TapRouter(now);
  const metrics = tapMetrics(options.registry, router);
  const calls = new Set<ServerDuplexStream<ReceivedMessage, tap.GatewayCommand>>();
  let closed = false;

  function onRequest(msg: Pick<Msg, 'subject' | 'headers' | 'data'>): void {
    let request: TapRequest;
    try {
      const event = decodeEvent(msg.subject, msg.headers, msg.data, options.validator);
      if (event.kind !== 'tapRequest') throw new MalformedEventError('unknown-type', `${event.type} is not a tap request`);
      request = event.data as TapRequest;
      if (msg.subject !== subjects.tapRequest(request.namespace, request.workload)) {
        throw new MalformedEventError('subject', `the request names ${request.namespace}/${request.workload} but came on ${msg.subject}`);
      }
    } catch (error) {
      const reason = error instanceof MalformedEventError ? error.reason : 'invalid';
      metrics.requests.inc({ result: `malformed_${reason}` });
      logger.warn({ subject: msg.subject, reason }, `tap request ignored: ${errorMessage(error)}`);
      return;
    }
    const outcome = router.apply(request);
    metrics.requests.inc({ result: outcome });
    if (outcome === 'conflict' || outcome === 'too_many_sessions') {
      logger.warn({ sessionId: request.sessionId, outcome }, 'tap request ignored');
    } else {
      logger.debug({ sessionId: request.sessionId, namespace: request.namespace, workload: request.workload, outcome }, 'tap request');
    }
  }

  const subscription: Subscription = options.nc.subscribe(subjects.allTapRequests, {
    callback: (error, msg) => {
      if (error) {
        logger.warn({ error: errorMessage(error) }, 'tap request subscription error');
        return;
      }
      try {
        onRequest(msg);
      } catch (err) {
        metrics.requests.inc({ result: 'internal' });
        logger.error({ error: errorMessage(err) }, 'tap request could not be handled');
      }
    },
  });
  const timer = setInterval(() => router.expire(), options.expiryCheckMs ?? 1000);
  timer.unref();

  function publish(session: TapSession, data: TapEvent, bucket: Map<string, Bucket>): string {
    const t = now();
    const b = bucket.get(session.sessionId) ?? { tokens: session.maxRps, at: t };
    b.tokens = Math.min(session.maxRps, b.tokens + ((t - b.at) / 1000) * session.maxRps);
    b.at = t;
    bucket.set(session.sessionId, b);
    if (b.tokens < 1) return 'rate_limited';
    b.tokens--;
    const subject = subjects.tapEvents(session.sessionId);
    let encoded;
    try {
      encoded = encodeEvent('tapEvent', subject, data, { source: options.source, subject: data.identity }, options.validator);
    } catch (error) {
      if (error instanceof SchemaValidationError || error instanceof MalformedEventError) {
        logger.debug({ identity: data.identity, sessionId: session.sessionId }, `tap record dropped, outside the bounds of tap-event: ${error.message}`);
        return 'invalid';
      }
      throw error;
    }
    try {
      options.nc.publish(subject, encoded.payload, { headers: encoded.headers });
    } catch (error) {
      // At most once: a record the bus cannot take now is dropped, the stream stays open.
      logger.debug({ sessionId: session.sessionId }, `tap record not published: ${errorMessage(error)}`);
      return 'publish_failed';
    }
    return 'published';
  }

  const watch = (call: ServerDuplexStream<ReceivedMessage, tap.GatewayCommand>) => {
    if (closed) {
      call.emit('error', { code: status.UNAVAILABLE, details: 'gateway shutting down; reconnect to another replica' });
      return;
    }
    calls.add(call);
    let sender: (ReportSender & { instance: string }) | undefined;
    let proxy: TapProxy | undefined;
    let done = false;
    const buckets = new Map<string, Bucket>();
    const finish = (error?: TelemetryRefused) => {
      if (done) return;
      done = true;
      calls.delete(call);
      if (proxy) router.disconnect(proxy);
      if (error) call.emit('error', { code: error.grpcCode, details: error.message });
      else call.end();
    };
    call.on('data', (message: ReceivedMessage) => {
      if (done) return;
      try {
        if (message instanceof UndecodableMessage) throw invalid(`the message is not a protobuf meshbus.tap.v1.ProxyMessage: ${message.reason}`);
        const kind = message.kind;
        if (sender === undefined) {
          if (kind?.$case !== 'hello') throw invalid('the first message of a Watch stream must be a hello');
          sender = verifyHello(kind.hello, options.trust(), now());
          const verified = sender;
          proxy = { namespace: verified.namespace, workload: verified.workload, send: (command) => void (done || call.write(toCommand(command))) };
          logger.debug({ peer: call.getPeer(), identity: verified.identity }, 'tap watch opened');
          router.connect(proxy);
          return;
        }
        if (kind?.$case !== 'record') throw invalid('a hello may be sent once, first; then only records');
        const session = router.accepts(proxy!, kind.record.sessionId);
        if (!session) {
          // The session ended, or never targeted this proxy: late or stray records are dropped, the stream stays.
          metrics.records.inc({ result: 'no_session' });
          return;
        }
        const data = toTapEvent(kind.record, sender);
        const result = typeof data === 'string' ? 'invalid' : publish(session, data, buckets);
        metrics.records.inc({ result });
        if (typeof data === 'string') logger.debug({ identity: sender.identity, sessionId: session.sessionId }, `tap record dropped: ${data}`);
      } catch (error) {
        const refusal = error instanceof TelemetryRefused ? error : new TelemetryRefused(status.INTERNAL, 'Internal', `the message could not be handled: ${errorMessage(error)}`);
        logger.info({ peer: call.getPeer(), code: refusal.code }, `tap watch refused: ${refusal.message}`);
        finish(refusal);
      }
    });
    call.on('end', () => finish());
    call.on('error', () => finish());
    call.on('cancelled', () => finish());
  };

  return {
    handlers: { watch },
    router,
    onRequest,
    close() {
      if (closed) return;
      closed = true;
      subscription.unsubscribe();
      clearInterval(timer);
      for (const call of [...calls]) {
        calls.delete(call);
        call.emit('error', { code: status.UNAVAILABLE, details: 'gateway shutting down; reconnect to another replica' });
      }
    },
  };
}
