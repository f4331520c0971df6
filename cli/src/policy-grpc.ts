import { credentials, Metadata, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { inbound, outbound } from '@meshbus/proxy-api';
import { GatewayCallError } from './errors.js';

/** One of the two policy services of the gateway, as the CLI calls it. */
export interface PolicyApi<Req, Res> {
  /** The unary call (GetPort, Get). */
  get(client: Client, request: Req, deadline: Date, done: (err: ServiceError | null, res: Res) => void): void;
  /** The streaming call (WatchPort, Watch). */
  watch(client: Client, request: Req): ClientReadableStream<Res>;
  client(gateway: string): Client;
}

/** InboundServerPolicies: GetPort and WatchPort. */
export const inboundApi: PolicyApi<inbound.PortSpec, inbound.Server> = {
  client: (gateway) => new inbound.InboundServerPoliciesClient(gateway, credentials.createInsecure()),
  get: (client, request, deadline, done) => void (client as inbound.InboundServerPoliciesClient).getPort(request, new Metadata(), { deadline }, done),
  watch: (client, request) => (client as inbound.InboundServerPoliciesClient).watchPort(request),
};

/** OutboundPolicies: Get and Watch. */
export const outboundApi: PolicyApi<outbound.TrafficSpec, outbound.OutboundPolicy> = {
  client: (gateway) => new outbound.OutboundPoliciesClient(gateway, credentials.createInsecure()),
  get: (client, request, deadline, done) => void (client as outbound.OutboundPoliciesClient).get(request, new Metadata(), { deadline }, done),
  watch: (client, request) => (client as outbound.OutboundPoliciesClient).watch(request),
};

// Statuses after which another gateway (or a new stream) may succeed.
const transient = new Set<number>([status.UNAVAILABLE, status.UNKNOWN, status.INTERNAL, status.RESOURCE_EXHAUSTED, status.ABORTED, status.DEADLINE_EXCEEDED, status.CANCELLED]);

function callError(gateway: string, err: ServiceError): GatewayCallError {
  const details = (err.details || err.message).replace(/\s*Resolution note:\s*$/, '');
  return new GatewayCallError(gateway, err.code, status[err.code] ?? 'UNKNOWN', details);
}

/** Calls the unary method on each gateway in turn until one answers; a non-transient error ends at once. */
export async function getPolicy<Req, Res>(api: PolicyApi<Req, Res>, gateways: readonly string[], request: Req, timeoutMs: number): Promise<{ gateway: string; response: Res }> {
  let last: GatewayCallError | undefined;
  for (const gateway of gateways) {
    const client = api.client(gateway);
    try {
      const response = await new Promise<Res>((resolve, reject) => {
        api.get(client, request, new Date(Date.now() + timeoutMs), (err, res) => (err ? reject(callError(gateway, err)) : resolve(res)));
      });
      return { gateway, response };
    } catch (err) {
      if (!(err instanceof GatewayCallError) || !transient.has(err.grpcCode)) throw err;
      last = err;
    } finally {
      client.close();
    }
  }
  throw last ?? new Error('no gateway to ask');
}

/** What {@link watchPolicy} reports. */
export interface WatchListener<Res> {
  update(response: Res, gateway: string): void;
  /** A stream broke; another is opened on `next` after a pause. */
  interrupted(reason: string, next: string): void;
}

/** Options of {@link watchPolicy}. */
export interface WatchOptions {
  gateways: readonly string[];
  /** Longest wait for the first message of a stream. */
  firstUpdateTimeoutMs: number;
  /** Pause before another stream after an interruption. @default 1000 */
  reconnectDelayMs?: number;
  signal: AbortSignal;
}

/**
 * Follows the streaming method until the signal aborts. A stream that ends or
 * fails with a transient status is replaced by one on the next gateway; until
 * the first message, each gateway is tried once, then the call fails.
 */
export async function watchPolicy<Req, Res>(api: PolicyApi<Req, Res>, request: Req, options: WatchOptions, listener: WatchListener<Res>): Promise<void> {
  const { gateways, signal } = options;
  let received = false;
  let failuresBeforeFirst = 0;
  for (let attempt = 0; !signal.aborted; attempt++) {
    const gateway = gateways[attempt % gateways.length]!;
    const next = gateways[(attempt + 1) % gateways.length]!;
    try {
      const outcome = await streamOnce(api, gateway, request, options, (res) => {
        received = true;
        listener.update(res, gateway);
      });
      if (outcome === 'stopped') return;
      listener.interrupted(`gateway ${gateway} ended the stream`, next);
    } catch (err) {
      if (!(err instanceof GatewayCallError) || !transient.has(err.grpcCode)) throw err;
      if (!received && ++failuresBeforeFirst >= gateways.length) throw err;
      if (received) listener.interrupted(err.message, next);
    }
    await pause(options.reconnectDelayMs ?? 1000, signal);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

function streamOnce<Req, Res>(api: PolicyApi<Req, Res>, gateway: string, request: Req, options: WatchOptions, onMessage: (res: Res) => void): Promise<'stopped' | 'ended'> {
  const { signal } = options;
  const client = api.client(gateway);
  return new Promise((resolve, reject) => {
    let first = true;
    let stopping = false;
    let settled = false;
    const call = api.watch(client, request);
    const finish = (result: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      client.close();
      result();
    };
    function stop() {
      stopping = true;
      call.cancel();
      finish(() => resolve('stopped'));
    }
    const timer = setTimeout(() => {
      call.cancel();
      finish(() => reject(new GatewayCallError(gateway, status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED', `no update within ${options.firstUpdateTimeoutMs / 1000}s`)));
    }, options.firstUpdateTimeoutMs);
    signal.addEventListener('abort', stop, { once: true });
    call.on('data', (res: Res) => {
      if (settled) return;
      if (first) clearTimeout(timer);
      first = false;
      onMessage(res);
    });
    call.on('error', (err: ServiceError) => {
      if (!stopping) finish(() => reject(callError(gateway, err)));
    });
    call.on('end', () => {
      if (first && !stopping) finish(() => reject(new GatewayCallError(gateway, status.UNAVAILABLE, 'UNAVAILABLE', 'the stream ended before its first update')));
      else finish(() => resolve(stopping ? 'stopped' : 'ended'));
    });
    if (signal.aborted) stop();
  });
}
