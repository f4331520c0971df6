#!/usr/bin/env node
/*
 * The client side of the fan-out benchmark, run as its own process (spawned by
 * fanout-bench.ts with an IPC channel) so that the servers under test do not
 * share an event loop with the N streams reading from them.
 *
 * Clock: arrival times are process.hrtime.bigint(). libuv reads it from the
 * system-wide monotonic clock (CLOCK_MONOTONIC on Linux), so values taken in the
 * parent and in this process are directly comparable, immune to wall-clock
 * steps, and in nanoseconds; performance.timeOrigin + performance.now() would
 * mix in a wall-clock reading taken at each process's start. The parent checks
 * the shared-clock assumption with 'clock' round trips (parent send ≤ child
 * reading ≤ parent receive) and refuses to run otherwise.
 *
 * Streams read raw bytes (no protobuf decoding) and look for the marker string
 * in them: decoding would add the same client CPU to both servers' figures on a
 * 2-core machine, blurring the comparison of the servers themselves.
 */
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { destination } from '@meshbus/proxy-api';
import type { ClientCommand, ClientReport } from './fanout-protocol.js';

const send = (report: ClientReport): void => {
  process.send!(report);
};

interface Round {
  round: number;
  marker: Buffer;
  timer: NodeJS.Timeout;
  otherMessages: number;
  sample: Buffer | undefined;
}

/** The streams to one server. */
class StreamGroup {
  private clients: destination.DestinationClient[] = [];
  private calls: ClientReadableStream<Buffer>[] = [];
  /** 1 once the stream's first message (the initial endpoint set) has arrived. */
  private initialized = new Uint8Array(0);
  private initializedCount = 0;
  /** Arrival time of the current marker per stream; 0n while not arrived. */
  private arrivals = new BigInt64Array(0);
  private arrivedCount = 0;
  private closing = false;
  private errors: string[] = [];
  private openStarted = 0n;
  private openReported = false;
  private current: Round | undefined;

  constructor(private readonly name: string) {}

  private keepError(text: string): void {
    if (this.errors.length < 10) this.errors.push(text);
  }

  private takeErrors(): string[] {
    const e = this.errors;
    this.errors = [];
    return e;
  }

  private onMessage(index: number, message: Buffer): void {
    const now = process.hrtime.bigint();
    if (this.initialized[index] === 0) {
      this.initialized[index] = 1;
      if (++this.initializedCount === this.calls.length && !this.openReported) this.reportOpened();
      return;
    }
    const r = this.current;
    if (!r) return;
    if (this.arrivals[index] === 0n && message.includes(r.marker)) {
      this.arrivals[index] = now;
      r.sample ??= message;
      if (++this.arrivedCount === this.calls.length) this.finishRound();
    } else {
      r.otherMessages++;
    }
  }

  private reportOpened(): void {
    this.openReported = true;
    const elapsedMs = Number(process.hrtime.bigint() - this.openStarted) / 1e6;
    send({ type: 'opened', group: this.name, streams: this.calls.length, connections: this.clients.length, elapsedMs, errors: this.takeErrors() });
  }

  private finishRound(): void {
    const r = this.current;
    if (!r) return;
    this.current = undefined;
    clearTimeout(r.timer);
    let base = 0n;
    for (const t of this.arrivals) if (t !== 0n && (base === 0n || t < base)) base = t;
    const offsetsNs: number[] = [];
    for (const t of this.arrivals) if (t !== 0n) offsetsNs.push(Number(t - base));
    send({
      type: 'arrived',
      group: this.name,
      round: r.round,
      baseNs: base.toString(),
      offsetsNs,
      missing: this.calls.length - offsetsNs.length,
      otherMessages: r.otherMessages,
      sample: r.sample?.toString('base64') ?? '',
      errors: this.takeErrors(),
    });
  }

  async open(command: Extract<ClientCommand, { type: 'open' }>): Promise<void> {
    const n = command.streams;
    this.openStarted = process.hrtime.bigint();
    this.initialized = new Uint8Array(n);
    this.arrivals = new BigInt64Array(n);
    // One channel per `perConnection` streams; a local subchannel pool gives each its own HTTP/2 connection.
    const connections = Math.ceil(n / command.perConnection);
    this.clients = Array.from(
      { length: connections },
      () => new destination.DestinationClient(command.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
    );
    const request = Buffer.from(destination.GetDestination.encode({ scheme: 'k8s', path: command.path, contextToken: '' }).finish());
    const method = destination.DestinationService.get.path;
    for (let i = 0; i < n; i++) {
      const call = this.clients[i % connections]!.makeServerStreamRequest<Buffer, Buffer>(
        method,
        (b) => b,
        (b) => b,
        request,
      );
      call.on('data', (m: Buffer) => this.onMessage(i, m));
      call.on('error', (err: Error) => {
        if (!this.closing) this.keepError(`stream ${i}: ${err.message}`);
      });
      this.calls.push(call);
      // Let the event loop send what is queued so far instead of building 10,000 calls in one tick.
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    if (this.initializedCount === n && !this.openReported) this.reportOpened();
  }

  arm(command: Extract<ClientCommand, { type: 'arm' }>): void {
    this.arrivals.fill(0n);
    this.arrivedCount = 0;
    this.current = {
      round: command.round,
      marker: Buffer.from(command.marker),
      otherMessages: 0,
      sample: undefined,
      timer: setTimeout(() => this.finishRound(), command.timeoutMs),
    };
    send({ type: 'armed', group: this.name, round: command.round });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.current) clearTimeout(this.current.timer);
    this.current = undefined;
    for (const call of this.calls) call.cancel();
    for (const client of this.clients) client.close();
    this.calls = [];
    this.clients = [];
    await new Promise((r) => setTimeout(r, 50));
    send({ type: 'closed', group: this.name });
  }
}

const groups = new Map<string, StreamGroup>();
const fail = (err: unknown) => send({ type: 'failed', message: String(err) });

process.on('message', (command: ClientCommand) => {
  switch (command.type) {
    case 'clock':
      send({ type: 'clock', parentNs: command.parentNs, childNs: process.hrtime.bigint().toString() });
      break;
    case 'open': {
      if (groups.has(command.group)) return fail(new Error(`group ${command.group} is already open`));
      const group = new StreamGroup(command.group);
      groups.set(command.group, group);
      group.open(command).catch(fail);
      break;
    }
    case 'arm': {
      const group = groups.get(command.group);
      if (!group) return fail(new Error(`no group ${command.group}`));
      group.arm(command);
      break;
    }
    case 'close': {
      const group = groups.get(command.group);
      groups.delete(command.group);
      if (group) group.close().catch(fail);
      else send({ type: 'closed', group: command.group });
      break;
    }
  }
});
process.on('disconnect', () => process.exit(0));
