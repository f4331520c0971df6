#!/usr/bin/env node
/*
 * The client side of the policy benchmark: N InboundServerPolicies.WatchPort
 * streams in their own process (spawned by policy-watch-bench.ts with an IPC
 * channel), so that the gateway and the bench's policy index do not share an
 * event loop with them. Streams read raw bytes; the parent decodes the one
 * sample it is sent.
 */
import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { inbound } from '@meshbus/proxy-api';
import type { WatchCommand, WatchReport } from './policy-watch-protocol.js';

const send = (report: WatchReport): void => {
  process.send!(report);
};

interface Round {
  round: number;
  /** Stream index → position in `expected`. */
  expected: Map<number, number>;
  arrivals: bigint[];
  arrived: number;
  otherMessages: number;
  sample: Buffer | undefined;
  timer: NodeJS.Timeout;
}

let clients: inbound.InboundServerPoliciesClient[] = [];
let calls: ClientReadableStream<Buffer>[] = [];
/** Per stream: 0 until its first (full) policy arrives or it fails, then 1 (policy) or 2 (failed). */
let initialized = new Uint8Array(0);
let initializedCount = 0;
let opened: { started: bigint; timer: NodeJS.Timeout } | undefined;
let current: Round | undefined;
let closing = false;
let errors: { code: number; message: string }[] = [];
/** Messages on any stream while no round is armed (should stay 0). */
let between = 0;

function takeErrors() {
  const e = errors;
  errors = [];
  return e;
}

function reportOpened(): void {
  if (!opened) return;
  clearTimeout(opened.timer);
  const elapsedMs = Number(process.hrtime.bigint() - opened.started) / 1e6;
  opened = undefined;
  send({ type: 'opened', streams: calls.length, connections: clients.length, elapsedMs, waiting: calls.length - initializedCount, errors: takeErrors() });
}

function finishRound(): void {
  const r = current;
  if (!r) return;
  current = undefined;
  clearTimeout(r.timer);
  send({
    type: 'arrived',
    round: r.round,
    arrivalsNs: r.arrivals.map((t) => (t === 0n ? '' : t.toString())),
    otherMessages: r.otherMessages,
    sample: r.sample?.toString('base64') ?? '',
    errors: takeErrors(),
  });
}

function onMessage(index: number, message: Buffer): void {
  const now = process.hrtime.bigint();
  if (initialized[index] === 0) {
    initialized[index] = 1;
    if (++initializedCount === initialized.length) reportOpened();
    return;
  }
  const r = current;
  if (!r) {
    between++;
    return;
  }
  const at = r.expected.get(index);
  if (at === undefined || r.arrivals[at] !== 0n) {
    r.otherMessages++;
    return;
  }
  r.arrivals[at] = now;
  r.sample ??= message;
  if (++r.arrived === r.expected.size) finishRound();
}

async function open(command: Extract<WatchCommand, { type: 'open' }>): Promise<void> {
  const n = command.workloads.length;
  initialized = new Uint8Array(n);
  initializedCount = 0;
  opened = { started: process.hrtime.bigint(), timer: setTimeout(reportOpened, command.timeoutMs) };
  const connections = Math.ceil(n / command.perConnection);
  clients = Array.from({ length: connections }, () => new inbound.InboundServerPoliciesClient(command.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const method = inbound.InboundServerPoliciesService.watchPort.path;
  for (let i = 0; i < n; i++) {
    const request = Buffer.from(inbound.PortSpec.encode({ workload: command.workloads[i]!, port: command.port }).finish());
    const call = clients[i % connections]!.makeServerStreamRequest<Buffer, Buffer>(
      method,
      (b) => b,
      (b) => b,
      request,
    );
    call.on('data', (m: Buffer) => onMessage(i, m));
    call.on('error', (err: ServiceError) => {
      if (closing) return;
      if (errors.length < 10) errors.push({ code: err.code, message: `stream ${i} (${command.workloads[i]}): ${err.details || err.message}` });
      if (initialized[i] === 0) {
        initialized[i] = 2;
        if (++initializedCount === n) reportOpened();
      }
    });
    calls.push(call);
    if (i % 250 === 249) await new Promise((r) => setImmediate(r));
  }
}

function arm(command: Extract<WatchCommand, { type: 'arm' }>): void {
  current = {
    round: command.round,
    expected: new Map(command.expected.map((stream, i) => [stream, i])),
    arrivals: command.expected.map(() => 0n),
    arrived: 0,
    otherMessages: 0,
    sample: undefined,
    timer: setTimeout(finishRound, command.timeoutMs),
  };
  send({ type: 'armed', round: command.round });
}

async function close(): Promise<void> {
  closing = true;
  if (current) clearTimeout(current.timer);
  current = undefined;
  for (const call of calls) call.cancel();
  for (const client of clients) client.close();
  calls = [];
  clients = [];
  await new Promise((r) => setTimeout(r, 50));
  send({ type: 'closed', otherMessagesBetweenRounds: between });
}

const fail = (err: unknown) => send({ type: 'failed', message: String(err) });

process.on('message', (command: WatchCommand) => {
  switch (command.type) {
    case 'clock':
      send({ type: 'clock', parentNs: command.parentNs, childNs: process.hrtime.bigint().toString() });
      break;
    case 'open':
      if (calls.length > 0) return fail(new Error('streams are already open'));
      open(command).catch(fail);
      break;
    case 'arm':
      arm(command);
      break;
    case 'close':
      close().catch(fail);
      break;
  }
});
process.on('disconnect', () => process.exit(0));
