import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { destination } from '@meshbus/proxy-api';
import { applyChange, applyUpdate, diffEndpointSets, emptyEndpointSet, type EndpointChange, type EndpointSetView } from './endpoint-set.js';
import { GatewayCallError } from './errors.js';

/** What {@link followDestination} reports. */
export interface DestinationListener {
  /** The first update of the first stream: the set as it is now. */
  snapshot(set: EndpointSetView, gateway: string): void;
  /** A later update, or what a reconnect changed; `set` is the set after it. */
  change(change: EndpointChange, set: EndpointSetView): void;
  /** A stream broke (`reason`) and another is being opened on `next` (watch mode only). */
  interrupted(reason: string, next: string): void;
  /** A new stream gave its first update after an interruption. */
  resumed(gateway: string): void;
}

/** Options of {@link followDestination}. */
export interface FollowOptions {
  /** Gateways to try, in order; a broken stream moves to the next. */
  gateways: string[];
  request: destination.GetDestination;
  /** Keep streaming after the first update, reconnecting when a stream breaks. */
  watch: boolean;
  /** Longest wait for the first update of a stream. */
  firstUpdateTimeoutMs: number;
  /** Pause before opening another stream after an interruption. @default 1000 */
  reconnectDelayMs?: number;
  signal: AbortSignal;
  listener: DestinationListener;
}

// Statuses after which another stream (maybe on another gateway) may succeed.
const transient = new Set<number>([status.UNAVAILABLE, status.UNKNOWN, status.INTERNAL, status.RESOURCE_EXHAUSTED, status.ABORTED, status.DEADLINE_EXCEEDED, status.CANCELLED]);

function callError(gateway: string, err: ServiceError): GatewayCallError {
  // grpc-js appends an empty "Resolution note:" to connection failures.
  const details = (err.details || err.message).replace(/\s*Resolution note:\s*$/, '');
  return new GatewayCallError(gateway, err.code, status[err.code] ?? 'UNKNOWN', details);
}

/**
 * Calls Destination.Get as a proxy does. Without `watch` it resolves after the
 * first update. With `watch` it follows changes until the signal aborts; a
 * stream that ends or fails with a transient status is replaced by a new one
 * (next gateway) and the difference is reported as changes. Before any update
 * has arrived, each gateway is tried once; then the call fails.
 */
export async function followDestination(options: FollowOptions): Promise<void> {
  const { gateways, signal } = options;
  let known: EndpointSetView | undefined;
  let failuresBeforeFirst = 0;
  for (let attempt = 0; !signal.aborted; attempt++) {
    const gateway = gateways[attempt % gateways.length]!;
    try {
      const outcome = await streamOnce(gateway, options, known, (set) => (known = set));
      if (outcome === 'stopped') return;
      if (!options.watch) return;
      const next = gateways[(attempt + 1) % gateways.length]!;
      options.listener.interrupted(`gateway ${gateway} ended the stream`, next);
    } catch (err) {
      if (!(err instanceof GatewayCallError)) throw err;
      if (known === undefined) {
        if (++failuresBeforeFirst >= gateways.length || !transient.has(err.grpcCode)) throw err;
        continue;
      }
      if (!options.watch || !transient.has(err.grpcCode)) throw err;
      options.listener.interrupted(err.message, gateways[(attempt + 1) % gateways.length]!);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.reconnectDelayMs ?? 1000);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}

/** One Get stream. Resolves 'stopped' (done or aborted) or 'ended' (the server closed it). */
function streamOnce(
  gateway: string,
  options: FollowOptions,
  previous: EndpointSetView | undefined,
  update: (set: EndpointSetView) => void,
): Promise<'stopped' | 'ended'> {
  const { signal, listener } = options;
  const client = new destination.DestinationClient(gateway, credentials.createInsecure());
  return new Promise<'stopped' | 'ended'>((resolve, reject) => {
    let set: EndpointSetView | undefined;
    let stopping = false;
    let settled = false;
    const call = client.get(options.request);
    const finish = (result: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      client.close();
      result();
    };
    const stop = () => {
      stopping = true;
      call.cancel();
      finish(() => resolve('stopped'));
    };
    const onAbort = () => stop();
    const timer = setTimeout(() => {
      call.cancel();
      const seconds = options.firstUpdateTimeoutMs / 1000;
      finish(() => reject(new GatewayCallError(gateway, status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED', `no update within ${seconds}s`)));
    }, options.firstUpdateTimeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });

    call.on('data', (u: destination.Update) => {
      if (settled) return;
      if (set === undefined) {
        clearTimeout(timer);
        set = applyUpdate(emptyEndpointSet(), u).set;
        update(set);
        if (previous === undefined) {
          listener.snapshot(set, gateway);
        } else {
          listener.resumed(gateway);
          let view = previous;
          for (const c of diffEndpointSets(previous, set)) {
            view = applyChange(view, c);
            listener.change(c, view);
          }
        }
        if (!options.watch) stop();
        return;
      }
      const next = applyUpdate(set, u);
      set = next.set;
      update(set);
      if (next.change) listener.change(next.change, set);
    });
    call.on('error', (err: ServiceError) => {
      if (stopping) return;
      finish(() => reject(callError(gateway, err)));
    });
    call.on('end', () => {
      if (set === undefined && !stopping) {
        finish(() => reject(new GatewayCallError(gateway, status.OK, 'OK', 'the stream ended before its first update')));
        return;
      }
      finish(() => resolve(stopping ? 'stopped' : 'ended'));
    });
    if (signal.aborted) stop();
  });
}
