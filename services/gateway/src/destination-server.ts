import { Metadata, status, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { destination } from '@meshbus/proxy-api';
import { Counter, Gauge, type Logger, type Registry } from '@meshbus/runtime';
import { DestinationPathError, parseDestinationTarget, type DestinationTarget } from './destination-path.js';
import type { DestinationIndex } from './destination-index.js';
import type { StreamSink, WatchTopic, Snapshot } from './watch-topic.js';

/** A request body that did not decode as protobuf. */
class UndecodableRequest {
  constructor(readonly reason: string) {}
}

type Request = destination.GetDestination | UndecodableRequest;

function decodeRequest(bytes: Buffer): Request {
  try {
    return destination.GetDestination.decode(bytes);
  } catch (err) {
    return new UndecodableRequest((err as Error).message);
  }
}

/**
 * The Destination service definition with two changes for the fan-out:
 * responses may be pre-encoded buffers (encoded once, written to many
 * streams), and an undecodable request reaches the handler, which answers
 * INVALID_ARGUMENT instead of a generic error.
 */
export const destinationServiceDefinition = {
  get: {
    ...destination.DestinationService.get,
    requestDeserialize: decodeRequest,
    responseSerialize: (v: Buffer | destination.Update): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(destination.Update.encode(v).finish())),
  },
  getProfile: {
    ...destination.DestinationService.getProfile,
    requestDeserialize: decodeRequest,
    responseSerialize: (v: Buffer | destination.DestinationProfile): Buffer =>
      Buffer.isBuffer(v) ? v : Buffer.from(destination.DestinationProfile.encode(v).finish()),
  },
} as const;

/** Options of {@link createDestinationHandlers}. */
export interface DestinationHandlerOptions {
  index: DestinationIndex;
  clusterDomain: string;
  logger: Logger;
  registry: Registry;
}

/** The Destination handlers, and a way to end every open stream at shutdown. */
export interface DestinationHandlers {
  implementation: UntypedServiceImplementation;
  /** Ends all open streams with UNAVAILABLE so proxies reconnect to another replica. */
  closeAll(reason: string): void;
  readonly openStreams: number;
}

export function createDestinationHandlers(options: DestinationHandlerOptions): DestinationHandlers {
  const { index, clusterDomain, logger } = options;
  const open = new Set<ServerWritableStream<Request, Buffer>>();
  const streams = new Gauge({
    name: 'meshbus_gateway_open_streams',
    help: 'Open watch streams, by method.',
    labelNames: ['method'],
    registers: [options.registry],
  });
  const requests = new Counter({
    name: 'meshbus_gateway_requests_total',
    help: 'Watch requests received, by method and outcome.',
    labelNames: ['method', 'outcome'],
    registers: [options.registry],
  });

  const serve = <S extends Snapshot>(method: 'Get' | 'GetProfile', pick: (target: DestinationTarget) => WatchTopic<S>) => {
    return (call: ServerWritableStream<Request, Buffer>) => {
      const req = call.request;
      let target: DestinationTarget;
      try {
        if (req instanceof UndecodableRequest) throw new DestinationPathError(`request is not a valid GetDestination message: ${req.reason}`);
        if (req.scheme !== '' && req.scheme !== 'k8s') throw new DestinationPathError(`unsupported scheme ${JSON.stringify(req.scheme)}; use k8s`);
        target = parseDestinationTarget(req.path, clusterDomain);
      } catch (err) {
        requests.inc({ method, outcome: 'invalid' });
        const details = err instanceof DestinationPathError ? err.message : 'invalid request';
        logger.debug({ method, details }, 'refused watch request');
        call.emit('error', { code: status.INVALID_ARGUMENT, details });
        return;
      }
      requests.inc({ method, outcome: 'ok' });
      // A stream is open for the client once headers arrive, even before the first update.
      call.sendMetadata(new Metadata());
      const topic = pick(target);
      const sink: StreamSink = {
        write: (m) => call.write(m),
        onceDrained: (cb) => call.once('drain', cb),
      };
      const watch = topic.watch(sink);
      open.add(call);
      streams.inc({ method });
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        open.delete(call);
        streams.dec({ method });
        topic.unwatch(watch);
        index.release(target);
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('error', finish);
      call.on('finish', finish);
    };
  };

  return {
    implementation: {
      get: serve('Get', (t) => index.endpointTopic(t)),
      getProfile: serve('GetProfile', (t) => index.profileTopic(t)),
    },
    closeAll(reason) {
      for (const call of [...open]) call.emit('error', { code: status.UNAVAILABLE, details: reason });
    },
    get openStreams() {
      return open.size;
    },
  };
}
