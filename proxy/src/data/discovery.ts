/*
 * What the data path needs of the control plane: the last OutboundPolicy of
 * an authority, the Destination updates of a backend path and the last
 * inbound policy of a workload port. `GrpcDiscovery` opens the watches on
 * the gateway and reopens them after a failure, keeping the last state.
 */
import { credentials as grpcCredentials, type ChannelCredentials, type ClientReadableStream } from '@grpc/grpc-js';
import { destination, inbound, outbound } from '@meshbus/proxy-api';
import { errorMessage, silentLogger, type Logger } from '@meshbus/runtime';

/** The control-plane view the listeners read. */
export interface Discovery {
  /** The OutboundPolicy of an authority: the last one received, waiting for the first up to `timeoutMs`. */
  outboundPolicy(authority: string, timeoutMs: number): Promise<outbound.OutboundPolicy>;
  /** Streams Destination updates of `path` (a full snapshot first, and again after a reconnect). Returns the unsubscribe. */
  endpoints(path: string, onUpdate: (update: destination.Update) => void): () => void;
  /** The last inbound policy of a workload port; undefined before the first. */
  inboundPolicy(port: number): inbound.Server | undefined;
  /** Starts watching a workload port's inbound policy; resolves with the first one. */
  watchInbound(port: number): Promise<inbound.Server>;
  close(): void;
}

/** Options of {@link GrpcDiscovery}. */
export interface GrpcDiscoveryOptions {
  /** A gateway, `host:port`. */
  readonly gateway: string;
  readonly credentials?: ChannelCredentials;
  /** The workload string of policy requests, `{"ns":"<ns>","name":"<name>"}`. */
  readonly workload: string;
  /** Destination's context token. */
  readonly contextToken: string;
  readonly logger?: Logger;
  /** Wait before reopening a failed stream. @default 500 */
  readonly retryMs?: number;
}

interface Watch<T> {
  last: T | undefined;
  stream: ClientReadableStream<T> | undefined;
  waiters: ((value: T) => void)[];
  listeners: Set<(value: T) => void>;
  timer: NodeJS.Timeout | undefined;
}

/** {@link Discovery} on the gateway's proxy API, one stream per watched name. */
export class GrpcDiscovery implements Discovery {
  private readonly dst: destination.DestinationClient;
  private readonly outboundClient: outbound.OutboundPoliciesClient;
  private readonly inboundClient: inbound.InboundServerPoliciesClient;
  private readonly policies = new Map<string, Watch<outbound.OutboundPolicy>>();
  private readonly servers = new Map<number, Watch<inbound.Server>>();
  private readonly logger: Logger;
  private readonly retryMs: number;
  private closed = false;

  constructor(private readonly options: GrpcDiscoveryOptions) {
    const creds = options.credentials ?? grpcCredentials.createInsecure();
    this.dst = new destination.DestinationClient(options.gateway, creds);
    this.outboundClient = new outbound.OutboundPoliciesClient(options.gateway, creds);
    this.inboundClient = new inbound.InboundServerPoliciesClient(options.gateway, creds);
    this.logger = options.logger ?? silentLogger();
    this.retryMs = options.retryMs ?? 500;
  }

  private run<T>(what: string, watch: Watch<T>, open: () => ClientReadableStream<T>): void {
    if (this.closed) return;
    const stream = open();
    watch.stream = stream;
    stream.on('data', (value: T) => {
      watch.last = value;
      for (const w of watch.waiters.splice(0)) w(value);
      for (const l of watch.listeners) l(value);
    });
    const again = (reason: string): void => {
      if (watch.stream !== stream || this.closed) return;
      watch.stream = undefined;
      this.logger.debug({ watch: what, reason }, 'control-plane stream ended; reopening');
      watch.timer = setTimeout(() => this.run(what, watch, open), this.retryMs);
    };
    stream.on('error', (error: Error) => again(errorMessage(error)));
    stream.on('end', () => again('ended'));
  }

  private first<T>(watch: Watch<T>, timeoutMs: number, what: string): Promise<T> {
    if (watch.last !== undefined) return Promise.resolve(watch.last);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watch.waiters = watch.waiters.filter((w) => w !== done);
        reject(new Error(`no ${what} from the control plane within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (value: T): void => {
        clearTimeout(timer);
        resolve(value);
      };
      watch.waiters.push(done);
    });
  }

  outboundPolicy(authority: string, timeoutMs: number): Promise<outbound.OutboundPolicy> {
    let watch = this.policies.get(authority);
    if (!watch) {
      const w: Watch<outbound.OutboundPolicy> = { last: undefined, stream: undefined, waiters: [], listeners: new Set(), timer: undefined };
      watch = w;
      this.policies.set(authority, w);
      this.run(`outbound ${authority}`, w, () => this.outboundClient.watch({ sourceWorkload: this.options.workload, target: { $case: 'authority', authority } }));
    }
    return this.first(watch, timeoutMs, `outbound policy for ${authority}`);
  }

  endpoints(path: string, onUpdate: (update: destination.Update) => void): () => void {
    const watch: Watch<destination.Update> = { last: undefined, stream: undefined, waiters: [], listeners: new Set([onUpdate]), timer: undefined };
    let reopened = false;
    this.run(`destination ${path}`, watch, () => {
      // A new stream starts with a full snapshot: forget what the last one said.
      if (reopened) onUpdate({ update: { $case: 'noEndpoints', noEndpoints: { exists: true } } });
      reopened = true;
      return this.dst.get({ scheme: 'k8s', path, contextToken: this.options.contextToken });
    });
    return () => {
      clearTimeout(watch.timer);
      const stream = watch.stream;
      watch.stream = undefined;
      stream?.cancel();
    };
  }

  inboundPolicy(port: number): inbound.Server | undefined {
    return this.servers.get(port)?.last;
  }

  watchInbound(port: number): Promise<inbound.Server> {
    let watch = this.servers.get(port);
    if (!watch) {
      const w: Watch<inbound.Server> = { last: undefined, stream: undefined, waiters: [], listeners: new Set(), timer: undefined };
      watch = w;
      this.servers.set(port, w);
      this.run(`inbound ${port}`, w, () => this.inboundClient.watchPort({ workload: this.options.workload, port }));
    }
    return this.first(watch, 60_000, `inbound policy for port ${port}`);
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.policies.values(), ...this.servers.values()]) {
      clearTimeout(w.timer);
      const s = w.stream;
      w.stream = undefined;
      s?.cancel();
    }
    this.dst.close();
    this.outboundClient.close();
    this.inboundClient.close();
  }
}
