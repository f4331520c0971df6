/*
 * The P2C balancer of one backend: power of two choices over the endpoints
 * Destination gives, load from a peak EWMA of latency times requests in
 * flight, failure accrual, and a bounded queue for requests that find no
 * ready endpoint. No I/O: the clock, the random source and the timers are
 * injected, and the data path reports each request's outcome.
 */
import type { destination, net, outbound } from '@meshbus/proxy-api';
import { backoffDelay, toBackoff, type Backoff } from './backoff.js';
import type { LoadConfig, QueueConfig } from './backend-target.js';
import type { Environment } from './durations.js';
import { MeshbusError } from '@meshbus/core';

/** One endpoint, from a Destination update. */
export interface Endpoint {
  /** `ip:port` (`[v6]:port`), unique within the balancer. */
  readonly key: string;
  readonly addr: net.TcpAddress;
  /** Relative weight; Destination's 0 (unset) counts as 1. */
  readonly weight: number;
  readonly tlsIdentity?: destination.TlsIdentity | undefined;
  readonly protocolHint?: destination.ProtocolHint | undefined;
  readonly authorityOverride?: string | undefined;
  /**
   * Set when the endpoint is reached through a linked cluster's multicluster gateway (`addr` is the
   * gateway): the gateway's cluster and identity, the authority to ask it for and the remote identities.
   */
  readonly gateway?: EndpointGateway | undefined;
  /** The set's labels overlaid with the address's own. */
  readonly labels: Readonly<Record<string, string>>;
}

/** How to reach an endpoint through a multicluster gateway. */
export interface EndpointGateway {
  readonly cluster: string;
  readonly identity: string;
  readonly authority: string;
  /** Identities the remote service's workloads present; the gateway names one per tunnel. */
  readonly identities: readonly string[];
}

/** The gateway of a Destination address: only with a gateway identity and an authority to ask for. */
function gatewayOf(a: destination.WeightedAddr): EndpointGateway | undefined {
  const g = a.meshbusGateway;
  const strategy = g?.identity?.strategy;
  const authority = a.authorityOverride?.authorityOverride;
  if (g === undefined || strategy?.$case !== 'dnsLikeIdentity' || !strategy.dnsLikeIdentity.name || !authority) return undefined;
  return { cluster: g.cluster, identity: strategy.dnsLikeIdentity.name, authority, identities: g.identities };
}

/** Timers the balancer needs for its queue and for waking up when an ejection ends. */
export interface Timers extends Environment {
  /** Calls `fn` after `ms`; the returned function cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** Failure accrual in plain numbers; `maxFailures` 0 never trips. */
export interface FailureAccrualConfig {
  readonly maxFailures: number;
  readonly backoff: Backoff;
  /** Endpoints kept in the pool whatever their failures (0: no floor). */
  readonly minReadyEndpoints: number;
}

/**
 * Reads a proxy API FailureAccrual; undefined (circuit breaking off) when
 * unset. For `unified`, the consecutive-failure part applies (the success
 * rate is not evaluated).
 */
export function toFailureAccrual(f: outbound.FailureAccrual | undefined): FailureAccrualConfig | undefined {
  const minReadyEndpoints = f?.ejection?.minReadyEndpoints ?? 0;
  switch (f?.kind?.$case) {
    case undefined:
      return undefined;
    case 'consecutiveFailures':
      return { maxFailures: f.kind.consecutiveFailures.maxFailures, backoff: toBackoff(f.kind.consecutiveFailures.backoff), minReadyEndpoints };
    case 'unified':
      return { maxFailures: f.kind.unified.maxConsecutiveFailures, backoff: toBackoff(f.kind.unified.backoff), minReadyEndpoints };
  }
}

/** A balancer that cannot serve a request: answered as HTTP 503 "service unavailable" (gRPC UNAVAILABLE). */
export class ServiceUnavailableError extends MeshbusError {
  override readonly name = 'ServiceUnavailableError';
  declare readonly code: 'ServiceUnavailable';
  readonly status = 503;
  readonly grpcStatus = 14;
  constructor(readonly reason: 'failfast' | 'queueFull' | 'closed') {
    super('ServiceUnavailable', `service unavailable: ${reason === 'failfast' ? 'no ready endpoint within the failfast timeout' : reason === 'queueFull' ? 'the queue of requests waiting for an endpoint is full' : 'the balancer is closed'}`);
  }
}

/** How a request to an endpoint ended, as the data path reports it. */
export interface Outcome {
  /** Time from sending the request to the response headers (or the failure). */
  readonly latencyMs: number;
  /** A failure for failure accrual: connection error, timeout, 5xx, or a gRPC error the route classifies so. */
  readonly failure: boolean;
  /** An overload answer (429, 503) for the penalty EWMA. */
  readonly overloaded?: boolean | undefined;
  readonly retryAfterMs?: number | undefined;
}

/** A request's hold on an endpoint: it counts in flight until released. Releasing twice does nothing. */
export interface Lease {
  readonly endpoint: Endpoint;
  /** The request is the one probe of an endpoint whose ejection ended. */
  readonly probe: boolean;
  release(outcome: Outcome): void;
}

interface EndpointState {
  endpoint: Endpoint;
  rttMs: number;
  rttAt: number;
  penaltyMs: number;
  penaltyAt: number;
  inFlight: number;
  failures: number;
  /** Set while the endpoint is out of the pool; from then on it may take one probe. */
  ejectedUntil: number | undefined;
  ejections: number;
  probing: boolean;
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(error: Error): void;
  cancel(): void;
}

/** The endpoint's key: `ip:port`, or `[ip]:port` for IPv6. */
export function endpointKey(addr: net.TcpAddress): string {
  const ip = addr.ip?.ip;
  if (ip?.$case === 'ipv4') return `${[24, 16, 8, 0].map((s) => (ip.ipv4 >>> s) & 255).join('.')}:${addr.port}`;
  if (ip?.$case === 'ipv6') {
    const hextets = [ip.ipv6.first, ip.ipv6.last].flatMap((half) => [48n, 32n, 16n, 0n].map((s) => ((half >> s) & 0xffffn).toString(16)));
    return `[${hextets.join(':')}]:${addr.port}`;
  }
  return `?:${addr.port}`;
}

/** The balancer's settings. */
export interface P2cBalancerOptions {
  readonly load: LoadConfig;
  readonly queue: QueueConfig;
  /** Unset: no circuit breaking. */
  readonly failureAccrual?: FailureAccrualConfig | undefined;
  readonly timers: Timers;
}

export class P2cBalancer {
  readonly #options: P2cBalancerOptions;
  readonly #active = new Map<string, EndpointState>();
  /** Removed endpoints that still have requests in flight. */
  readonly #draining = new Map<string, EndpointState>();
  readonly #waiters: Waiter[] = [];
  #failfast = false;
  #cancelWake: (() => void) | undefined;
  #closed = false;

  constructor(options: P2cBalancerOptions) {
    this.#options = options;
  }

  /** Applies a Destination update: add (or refresh) endpoints, remove them, or no endpoints at all. */
  apply(update: destination.Update): void {
    const now = this.#options.timers.now();
    switch (update.update?.$case) {
      case 'add':
        for (const a of update.update.add.addrs) {
          if (!a.addr) continue;
          const endpoint = toEndpoint(a, update.update.add.metricLabels);
          const known = this.#active.get(endpoint.key) ?? this.#draining.get(endpoint.key);
          this.#draining.delete(endpoint.key);
          if (known) known.endpoint = endpoint;
          this.#active.set(endpoint.key, known ?? newState(endpoint, this.#options.load.defaultRttMs, now));
        }
        break;
      case 'remove':
        for (const a of update.update.remove.addrs) this.#remove(endpointKey(a));
        break;
      case 'noEndpoints':
        for (const key of [...this.#active.keys()]) this.#remove(key);
        break;
      case undefined:
        break;
    }
    this.#serveWaiters();
  }

  #remove(key: string): void {
    const s = this.#active.get(key);
    if (!s) return;
    this.#active.delete(key);
    if (s.inFlight > 0) this.#draining.set(key, s);
  }

  /** The endpoints in the pool, ejected or not, by key. */
  endpoints(): Endpoint[] {
    return [...this.#active.values()].map((s) => s.endpoint).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Requests in flight, including those on endpoints removed since they started. */
  inFlight(): number {
    let n = 0;
    for (const s of this.#active.values()) n += s.inFlight;
    for (const s of this.#draining.values()) n += s.inFlight;
    return n;
  }

  /** Whether the endpoint is out of the pool for failure accrual now (its backoff has not ended). */
  isEjected(key: string): boolean {
    const s = this.#active.get(key);
    return s?.ejectedUntil !== undefined && s.ejectedUntil > this.#options.timers.now();
  }

  /** Requests waiting for an endpoint. */
  queued(): number {
    return this.#waiters.length;
  }

  /** Whether a request would get an endpoint now, without waiting. */
  isReady(): boolean {
    return this.#candidates().length > 0;
  }

  /** Endpoints a request may go to now: not ejected, or ejected with the backoff over and no probe out; topped up to the floor. */
  #candidates(): EndpointState[] {
    const now = this.#options.timers.now();
    const out: EndpointState[] = [];
    const held: EndpointState[] = [];
    for (const s of this.#active.values()) {
      if (s.ejectedUntil === undefined || (s.ejectedUntil <= now && !s.probing)) out.push(s);
      else held.push(s);
    }
    const floor = this.#options.failureAccrual?.minReadyEndpoints ?? 0;
    if (out.length < floor) {
      held.sort((a, b) => a.ejectedUntil! - b.ejectedUntil!);
      out.push(...held.slice(0, floor - out.length));
    }
    return out;
  }

  /**
   * The latency estimate at `now`: it decays towards zero while no response
   * comes, so an endpoint that was slow once is tried again after a while
   * instead of being passed over for good.
   */
  #rtt(s: EndpointState, now: number): number {
    return s.rttMs * Math.exp(-Math.max(0, now - s.rttAt) / Math.max(1, this.#options.load.decayMs));
  }

  #cost(s: EndpointState, now: number): number {
    const { penaltyDecayMs } = this.#options.load;
    const penalty = s.penaltyMs === 0 ? 0 : s.penaltyMs * Math.exp(-(now - s.penaltyAt) / Math.max(1, penaltyDecayMs));
    return ((this.#rtt(s, now) + penalty) * (s.inFlight + 1)) / s.endpoint.weight;
  }

  /** Picks an endpoint now by power of two choices, or undefined when none is ready. */
  tryPick(): Lease | undefined {
    if (this.#closed) return undefined;
    const candidates = this.#candidates();
    if (candidates.length === 0) return undefined;
    const timers = this.#options.timers;
    let chosen: EndpointState;
    if (candidates.length === 1) chosen = candidates[0]!;
    else {
      const i = Math.min(candidates.length - 1, Math.floor(timers.random() * candidates.length));
      let j = Math.min(candidates.length - 2, Math.floor(timers.random() * (candidates.length - 1)));
      if (j >= i) j++;
      const t = timers.now();
      const a = candidates[i]!;
      const b = candidates[j]!;
      chosen = this.#cost(b, t) < this.#cost(a, t) ? b : a;
    }
    this.#failfast = false;
    return this.#lease(chosen);
  }

  #lease(s: EndpointState): Lease {
    const probe = s.ejectedUntil !== undefined && s.ejectedUntil <= this.#options.timers.now();
    if (probe) s.probing = true;
    s.inFlight++;
    let released = false;
    return {
      endpoint: s.endpoint,
      probe,
      release: (outcome) => {
        if (released) return;
        released = true;
        s.inFlight--;
        if (probe) s.probing = false;
        this.#observe(s, outcome);
        if (s.inFlight === 0 && this.#draining.get(s.endpoint.key) === s) this.#draining.delete(s.endpoint.key);
        this.#serveWaiters();
      },
    };
  }

  #observe(s: EndpointState, outcome: Outcome): void {
    const { timers, load, failureAccrual } = this.#options;
    const now = timers.now();
    const rtt = Math.max(0, outcome.latencyMs);
    const current = this.#rtt(s, now);
    if (rtt > current) s.rttMs = rtt;
    else {
      const w = Math.exp(-(now - s.rttAt) / Math.max(1, load.decayMs));
      s.rttMs = current * w + rtt * (1 - w);
    }
    s.rttAt = now;
    if (outcome.overloaded && load.penaltyMs > 0) {
      const current = s.penaltyMs * Math.exp(-(now - s.penaltyAt) / Math.max(1, load.penaltyDecayMs));
      const hint = Math.min(outcome.retryAfterMs ?? 0, load.maxRetryAfterMs);
      s.penaltyMs = current + Math.max(load.penaltyMs, hint);
      s.penaltyAt = now;
    }
    if (!failureAccrual || failureAccrual.maxFailures <= 0) return;
    if (!outcome.failure) {
      s.failures = 0;
      s.ejections = 0;
      s.ejectedUntil = undefined;
      return;
    }
    s.failures++;
    const wasEjected = s.ejectedUntil !== undefined;
    if (!wasEjected && s.failures < failureAccrual.maxFailures) return;
    if (!wasEjected && !this.#mayEject(s)) return;
    s.ejectedUntil = now + backoffDelay(failureAccrual.backoff, s.ejections, timers.random(), outcome.retryAfterMs);
    s.ejections++;
  }

  /** Ejecting `s` must leave at least the floor of endpoints that are not ejected. */
  #mayEject(s: EndpointState): boolean {
    const floor = this.#options.failureAccrual?.minReadyEndpoints ?? 0;
    if (floor <= 0) return true;
    let others = 0;
    for (const o of this.#active.values()) if (o !== s && o.ejectedUntil === undefined) others++;
    return others >= floor;
  }

  /**
   * An endpoint for a request: at once when one is ready; otherwise the
   * request waits in the queue (up to its capacity) for at most the
   * failfast timeout. When that passes, every waiting request fails with
   * ServiceUnavailableError and new requests fail at once until an endpoint
   * is ready again (failfast).
   */
  acquire(): Promise<Lease> {
    if (this.#closed) return Promise.reject(new ServiceUnavailableError('closed'));
    const lease = this.tryPick();
    if (lease) return Promise.resolve(lease);
    if (this.#failfast) return Promise.reject(new ServiceUnavailableError('failfast'));
    if (this.#waiters.length >= this.#options.queue.capacity) return Promise.reject(new ServiceUnavailableError('queueFull'));
    return new Promise<Lease>((resolve, reject) => {
      const cancel = this.#options.timers.setTimeout(() => this.#enterFailfast(), this.#options.queue.failfastTimeoutMs);
      this.#waiters.push({ resolve, reject, cancel });
      this.#scheduleWake();
    });
  }

  #enterFailfast(): void {
    this.#failfast = true;
    for (const w of this.#waiters.splice(0)) {
      w.cancel();
      w.reject(new ServiceUnavailableError('failfast'));
    }
    this.#clearWake();
  }

  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const lease = this.tryPick();
      if (!lease) break;
      const w = this.#waiters.shift()!;
      w.cancel();
      w.resolve(lease);
    }
    if (this.#candidates().length > 0) this.#failfast = false;
    this.#scheduleWake();
  }

  /** While requests wait and every endpoint is ejected, wake when the first ejection ends. */
  #scheduleWake(): void {
    this.#clearWake();
    if (this.#waiters.length === 0) return;
    const now = this.#options.timers.now();
    let next: number | undefined;
    for (const s of this.#active.values()) if (s.ejectedUntil !== undefined && s.ejectedUntil > now && !s.probing) next = Math.min(next ?? Infinity, s.ejectedUntil);
    if (next === undefined) return;
    this.#cancelWake = this.#options.timers.setTimeout(() => {
      this.#cancelWake = undefined;
      this.#serveWaiters();
    }, next - now);
  }

  #clearWake(): void {
    this.#cancelWake?.();
    this.#cancelWake = undefined;
  }

  /** Fails waiting requests and refuses new ones; leases already out may still be released. */
  close(): void {
    this.#closed = true;
    this.#clearWake();
    for (const w of this.#waiters.splice(0)) {
      w.cancel();
      w.reject(new ServiceUnavailableError('closed'));
    }
  }
}

function toEndpoint(a: destination.WeightedAddr, setLabels: Readonly<Record<string, string>>): Endpoint {
  return {
    key: endpointKey(a.addr!),
    addr: a.addr!,
    weight: a.weight > 0 ? a.weight : 1,
    tlsIdentity: a.tlsIdentity,
    protocolHint: a.protocolHint,
    authorityOverride: a.authorityOverride?.authorityOverride || undefined,
    gateway: gatewayOf(a),
    labels: { ...setLabels, ...a.metricLabels },
  };
}

function newState(endpoint: Endpoint, rttMs: number, now: number): EndpointState {
  return { endpoint, rttMs, rttAt: now, penaltyMs: 0, penaltyAt: now, inFlight: 0, failures: 0, ejectedUntil: undefined, ejections: 0, probing: false };
}
