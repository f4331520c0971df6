import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { inbound, outbound } from '@meshbus/proxy-api';
import { Counter, Gauge, type Logger, type Registry } from '@meshbus/runtime';
import { notFound, type PolicyIndex, type PolicySnapshot } from './policy-index.js';
import { inboundTarget, NotAServiceError, outboundTarget, PolicyRequestError, sourceWorkload, type InboundTarget, type OutboundTarget } from './policy-target.js';
import type { StreamSink, WatchTopic } from './watch-topic.js';

/** A request body that did not decode as protobuf. */
class UndecodableRequest {
  constructor(readonly reason: string) {}
}

const decoder =
  <T>(decode: (b: Buffer) => T) =>
  (bytes: Buffer): T | UndecodableRequest => {
    try {
      return decode(bytes);
    } catch (err) {
      return new UndecodableRequest((err as Error).message);
    }
  };

const passThrough = (v: Buffer): Buffer => v;

/**
 * The InboundServerPolicies definition, answering with buffers encoded once
 * per change and handing undecodable requests to the handler (INVALID_ARGUMENT).
 */
export const inboundPolicyServiceDefinition = {
  getPort: { ...inbound.InboundServerPoliciesService.getPort, requestDeserialize: decoder(inbound.PortSpec.decode), responseSerialize: passThrough },
  watchPort: { ...inbound.InboundServerPoliciesService.watchPort, requestDeserialize: decoder(inbound.PortSpec.decode), responseSerialize: passThrough },
} as const;

/** The OutboundPolicies definition, in the same way. */
export const outboundPolicyServiceDefinition = {
  get: { ...outbound.OutboundPoliciesService.get, requestDeserialize: decoder(outbound.TrafficSpec.decode), responseSerialize: passThrough },
  watch: { ...outbound.OutboundPoliciesService.watch, requestDeserialize: decoder(outbound.TrafficSpec.decode), responseSerialize: passThrough },
} as const;

/** Options of {@link createPolicyHandlers}. */
export interface PolicyHandlerOptions {
  index: PolicyIndex;
  clusterDomain: string;
  logger: Logger;
  registry: Registry;
}

/** The handlers of both policy services, and a way to end every open stream at shutdown. */
export interface PolicyHandlers {
  inbound: UntypedServiceImplementation;
  outbound: UntypedServiceImplementation;
  closeAll(reason: string): void;
  readonly openStreams: number;
}

type Method = 'GetPort' | 'WatchPort' | 'Get' | 'Watch';
type Api = 'inbound' | 'outbound';

interface Refusal {
  code: status;
  details: string;
}

const notSynced: Refusal = { code: status.UNAVAILABLE, details: 'the gateway has not read the bus state yet; try again' };

/** A parsed request, or why it is refused. */
type Parsed<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

function parse<T>(read: () => T): Parsed<T> {
  try {
    return { ok: true, value: read() };
  } catch (err) {
    if (err instanceof PolicyRequestError) return { ok: false, refusal: { code: status.INVALID_ARGUMENT, details: err.message } };
    if (err instanceof NotAServiceError) return { ok: false, refusal: { code: status.NOT_FOUND, details: err.message } };
    throw err;
  }
}

interface OutboundRequest {
  target: OutboundTarget;
  sourceNamespace: string | undefined;
}

const noPolicy = (t: OutboundTarget) => (t.kind === 'service' ? `no outbound policy for ${t.service.fqdn}:${t.service.port}` : `no outbound policy for ${t.key}`);

export function createPolicyHandlers(options: PolicyHandlerOptions): PolicyHandlers {
  const { index, clusterDomain, logger } = options;
  const open = new Set<ServerWritableStream<unknown, Buffer>>();
  const streams = new Gauge({
    name: 'meshbus_gateway_policy_streams',
    help: 'Open policy watch streams, by API.',
    labelNames: ['api'],
    registers: [options.registry],
  });
  const updates = new Counter({
    name: 'meshbus_gateway_policy_updates_total',
    help: 'Policies written to watch streams, by API.',
    labelNames: ['api'],
    registers: [options.registry],
  });
  const requests = new Counter({
    name: 'meshbus_gateway_policy_requests_total',
    help: 'Policy requests received, by method and outcome.',
    labelNames: ['method', 'outcome'],
    registers: [options.registry],
  });

  const readInbound = (req: unknown): InboundTarget => {
    if (req instanceof UndecodableRequest) throw new PolicyRequestError(`request is not a valid PortSpec message: ${req.reason}`);
    return inboundTarget(req as inbound.PortSpec);
  };
  const readOutbound = (req: unknown): OutboundRequest => {
    if (req instanceof UndecodableRequest) throw new PolicyRequestError(`request is not a valid TrafficSpec message: ${req.reason}`);
    const spec = req as outbound.TrafficSpec;
    const source = sourceWorkload(spec.sourceWorkload);
    return { target: outboundTarget(spec.target, clusterDomain), sourceNamespace: source?.namespace };
  };

  const refuse = (method: Method, refusal: Refusal, answer: (r: Refusal) => void) => {
    requests.inc({ method, outcome: refusal.code === status.NOT_FOUND ? 'not-found' : refusal.code === status.UNAVAILABLE ? 'unavailable' : 'invalid' });
    logger.debug({ method, details: refusal.details }, 'refused policy request');
    answer(refusal);
  };

  const unary = <R>(method: Method, read: (req: unknown) => R, now: (r: R) => Buffer | Refusal) => {
    return (call: ServerUnaryCall<unknown, Buffer>, callback: sendUnaryData<Buffer>) => {
      const answer = (r: Refusal) => callback({ code: r.code, details: r.details });
      const parsed = parse(() => read(call.request));
      if (!parsed.ok) return refuse(method, parsed.refusal, answer);
      if (!index.live) return refuse(method, notSynced, answer);
      const result = now(parsed.value);
      if (!Buffer.isBuffer(result)) return refuse(method, result, answer);
      requests.inc({ method, outcome: 'ok' });
      callback(null, result);
    };
  };

  const watch = <R>(method: Method, api: Api, read: (req: unknown) => R, topicOf: (r: R) => WatchTopic<PolicySnapshot>, release: (r: R) => void, missing: (r: R) => string) => {
    return (call: ServerWritableStream<unknown, Buffer>) => {
      const parsed = parse(() => read(call.request));
      if (!parsed.ok) return refuse(method, parsed.refusal, (r) => call.emit('error', { code: r.code, details: r.details }));
      const request = parsed.value;
      requests.inc({ method, outcome: 'ok' });
      // grpc-js opens the stream for the client only once headers are sent; send them now, before the first policy.
      call.sendMetadata(new Metadata());
      const topic = topicOf(request);
      let ended = false;
      const sink: StreamSink = {
        write: (m) => {
          if (ended) return true;
          if (m === notFound) {
            ended = true;
            call.emit('error', { code: status.NOT_FOUND, details: missing(request) });
            return true;
          }
          updates.inc({ api });
          return call.write(m);
        },
        onceDrained: (cb) => call.once('drain', cb),
      };
      open.add(call);
      streams.inc({ api });
      const w = topic.watch(sink);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        ended = true;
        open.delete(call);
        streams.dec({ api });
        topic.unwatch(w);
        release(request);
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('error', finish);
      call.on('finish', finish);
      if (ended) finish();
    };
  };

  return {
    inbound: {
      getPort: unary('GetPort', readInbound, (t) => index.inboundNow(t)),
      watchPort: watch(
        'WatchPort',
        'inbound',
        readInbound,
        (t) => index.inboundTopic(t),
        (t) => index.releaseInbound(t),
        () => 'no inbound policy',
      ),
    },
    outbound: {
      get: unary('Get', readOutbound, (r) => index.outboundNow(r.target, r.sourceNamespace) ?? { code: status.NOT_FOUND, details: noPolicy(r.target) }),
      watch: watch(
        'Watch',
        'outbound',
        readOutbound,
        (r) => index.outboundTopic(r.target, r.sourceNamespace),
        (r) => index.releaseOutbound(r.target, r.sourceNamespace),
        (r) => noPolicy(r.target),
      ),
    },
    closeAll(reason) {
      for (const call of [...open]) call.emit('error', { code: status.UNAVAILABLE, details: reason });
    },
    get openStreams() {
      return open.size;
    },
  };
}
