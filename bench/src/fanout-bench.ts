import { mkdir } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connectBus, ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects, type Endpoint, type EndpointSet } from '@meshbus/bus-schemas';
import { endpointSnapshot, endpointTransition, type EndpointSnapshot } from '@meshbus/gateway';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, startNats, startProcess, waitFor, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import type { BareCommand, BareReport, ClientCommand, ClientReport } from './fanout-protocol.js';
import { median, summarize, type LatencySummary } from './stats.js';
import { fmtMs, table } from './tables.js';
import { checkSharedClock, IpcChild } from './ipc-child.js';

/** Options of {@link runFanoutBench}. */
export interface FanoutBenchOptions {
  /** Numbers of concurrent Destination.Get streams, one step each. */
  readonly streams: readonly number[];
  /** Measured endpoint changes per step and server, after two warm-up changes. */
  readonly rounds: number;
  /** Streams per HTTP/2 connection, for both servers. @default 250 */
  readonly streamsPerConnection?: number;
  /** When set, the gateway runs with `node --cpu-prof` and writes its profiles here. */
  readonly cpuProfileDir?: string;
  /** Progress lines (to stderr in `npm run bench`). */
  readonly progress?: (line: string) => void;
}

/** Memory of a server process before and after its streams were opened (each the minimum of a few samples). */
export interface MemoryFigure {
  readonly before: { readonly rss: number; readonly heapUsed: number };
  readonly after: { readonly rss: number; readonly heapUsed: number };
  readonly rssPerStreamBytes: number;
  readonly heapPerStreamBytes: number;
}

/** One endpoint change pushed to every stream. */
export interface RoundFigure {
  /** Per-stream latency from publish (meshbus) or trigger (bare) to arrival, in ms. */
  readonly perStream: LatencySummary;
  /** Streams that did not get the change before the timeout. */
  readonly missing: number;
  /** Messages without the change that streams received during the round. */
  readonly otherMessages: number;
  /** Bare server only: how long its synchronous write loop over all streams took, in ms. */
  readonly serverLoopMs?: number;
}

/** What one server did at one stream count. */
export interface PathFigures {
  /** Median over the measured rounds of each round's per-stream p50 and p99, in ms: a typical change. */
  readonly typical: { readonly p50: number; readonly p99: number };
  /** Per-stream latency pooled over all measured rounds (N × rounds samples), in ms. */
  readonly pooled: LatencySummary;
  /** Time until the last stream had the change: median and worst over the rounds, in ms. */
  readonly everyStream: { readonly median: number; readonly max: number };
  readonly rounds: readonly RoundFigure[];
  /** Time for all streams to open and receive their first update, in ms. */
  readonly openMs: number;
  readonly memory: MemoryFigure;
  /** The change reached the clients as exactly the bytes the parent computed with the gateway's encoder. */
  readonly bytesAsExpected: boolean;
}

/** Both servers at one stream count. */
export interface FanoutStep {
  readonly streams: number;
  readonly connections: number;
  readonly meshbus: PathFigures;
  readonly bare: PathFigures;
  /** meshbus ÷ bare, of the typical p50 and p99 and of the median time until every stream had the change. */
  readonly ratio: { readonly p50: number; readonly p99: number; readonly everyStream: number };
}

/** Figures of one {@link runFanoutBench} run. */
export interface FanoutBenchResult {
  readonly rounds: number;
  readonly warmUpRounds: number;
  readonly streamsPerConnection: number;
  readonly steps: readonly FanoutStep[];
  /** A readable report with tables, for printing. */
  format(): string;
}

/** At 1,000 streams the meshbus path should be within this factor of the bare broadcast. */
export const FANOUT_TARGET_RATIO = 1.5;
/** Gateway memory per idle stream should stay under this. */
export const FANOUT_TARGET_BYTES_PER_STREAM = 20 * 1024;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const clientsMain = fileURLToPath(new URL('./fanout-clients.js', import.meta.url));
const bareMain = fileURLToPath(new URL('./bare-broadcast-server.js', import.meta.url));
const gatewayMain = `${repoRoot}services/gateway/dist/main.js`;

const namespace = 'bench';
const service = 'svc';
const servicePort = 80;
const destinationPath = `${service}.${namespace}.svc.cluster.local:${servicePort}`;
const roundTimeoutMs = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint();

type Clients = IpcChild<ClientCommand, ClientReport>;
type NatsConnection = Awaited<ReturnType<typeof connectBus>>;
type Memory = { rss: number; heapUsed: number };

/** A server the clients stream from: the meshbus gateway, or the bare grpc-js broadcaster. */
interface ServerUnderTest {
  readonly which: 'meshbus' | 'bare';
  readonly address: string;
  memory(): Promise<Memory>;
  /** Makes `set` (reached from the previous set by `messages`) the next change, without sending it. */
  prepare(set: EndpointSet, messages: Buffer[]): Promise<void>;
  /** Sends the prepared change; returns the clock reading taken just before. */
  trigger(): bigint;
  /** After the change arrived: waits for the sending side to finish (publish ack; bare write-loop report). */
  settle(): Promise<{ serverLoopMs?: number }>;
  stop(): Promise<void>;
}

/** The endpoints of the benchmark's service: a few ordinary ones, and one more per change. */
function endpointSet(changes: number, marker: (i: number) => string): EndpointSet {
  const endpoints: Endpoint[] = [];
  const ordinary = (address: string, workload: string): Endpoint => ({
    address,
    port: 8080,
    weight: 10_000,
    identity: `${service}.${namespace}.serviceaccount.identity.meshbus.cluster.local`,
    protocolHint: 'h2',
    zone: 'zone-a',
    labels: { workload, serviceaccount: service },
  });
  for (let i = 0; i < 8; i++) endpoints.push(ordinary(`10.1.0.${i + 1}`, `${service}-${i}`));
  for (let i = 0; i < changes; i++) endpoints.push(ordinary(`10.2.${Math.floor(i / 200)}.${(i % 200) + 1}`, marker(i)));
  return { namespace, service, port: servicePort, endpoints };
}

/** Reads memory a few times and keeps the minimum of each figure: garbage not yet collected only ever adds. */
async function memorySample(read: () => Promise<Memory>, samples = 5, intervalMs = 200): Promise<Memory> {
  let rss = Infinity;
  let heapUsed = Infinity;
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(intervalMs);
    const m = await read();
    rss = Math.min(rss, m.rss);
    heapUsed = Math.min(heapUsed, m.heapUsed);
  }
  return { rss, heapUsed };
}

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([-+0-9.eE]+)$`, 'm').exec(text);
  if (!m) throw new Error(`the gateway's /metrics has no ${name}`);
  return Number(m[1]);
}

async function startGatewayPath(natsUrl: string, nc: NatsConnection, initialSet: EndpointSet, cpuProfileDir: string | undefined): Promise<ServerUnderTest> {
  const publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/bench' });
  const subject = subjects.endpoints(namespace, service, servicePort);
  const key = `${namespace}/${service}/${servicePort}`;
  // Published before the gateway starts: it finds the set in the state stream, as after a restart.
  await publisher.publish('endpointSet', subject, key, initialSet);
  const [grpcPort, adminPort] = [await freePort(), await freePort()];
  const nodeArgs = cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
  const proc: RunningProcess = startProcess({
    command: process.execPath,
    args: [...nodeArgs, gatewayMain],
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      MESHBUS_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      MESHBUS_LOG_LEVEL: 'warn',
      MESHBUS_DRAIN_MS: '1000',
    },
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(async () => (await httpGet(`${adminUrl}/ready`)).status === 200, { timeoutMs: 30_000, what: 'gateway ready' });
  } catch (err) {
    await proc.kill();
    throw new Error(`${(err as Error).message}; gateway output:\n${proc.output()}`);
  }
  let next: EndpointSet | undefined;
  let published: Promise<number> | undefined;
  return {
    which: 'meshbus',
    address: `127.0.0.1:${grpcPort}`,
    async memory() {
      const text = (await httpGet(`${adminUrl}/metrics`)).body;
      return { rss: metricValue(text, 'meshbus_process_resident_memory_bytes'), heapUsed: metricValue(text, 'meshbus_nodejs_heap_size_used_bytes') };
    },
    async prepare(set) {
      next = set;
    },
    trigger() {
      const t0 = now();
      published = publisher.publish('endpointSet', subject, key, next!);
      return t0;
    },
    async settle() {
      await published;
      return {};
    },
    async stop() {
      const { code, signal } = await proc.stop(10_000);
      if (code !== 0) throw new Error(`gateway exited with ${signal ?? code}; output:\n${proc.output()}`);
    },
  };
}

async function startBarePath(initialMessages: Buffer[]): Promise<ServerUnderTest> {
  const bare = IpcChild.spawn<BareCommand, BareReport>(bareMain, 'bare grpc-js server');
  const { port } = await bare.next('listening', 20_000);
  const b64 = (messages: Buffer[]) => messages.map((m) => m.toString('base64'));
  bare.send({ type: 'initial', messages: b64(initialMessages) });
  await bare.next('ready', 5000);
  return {
    which: 'bare',
    address: `127.0.0.1:${port}`,
    async memory() {
      bare.send({ type: 'memory' });
      const { rss, heapUsed } = await bare.next('memory', 5000);
      return { rss, heapUsed };
    },
    async prepare(_set, messages) {
      bare.send({ type: 'prepare', messages: b64(messages) });
      await bare.next('ready', 5000);
    },
    trigger() {
      const t0 = now();
      bare.send({ type: 'broadcast' });
      return t0;
    },
    async settle() {
      const { loopMs } = await bare.next('broadcasted', 5000);
      return { serverLoopMs: loopMs };
    },
    async stop() {
      await bare.stop();
    },
  };
}


/** What is collected for one server during a step. */
class PathRecord {
  readonly rounds: RoundFigure[] = [];
  readonly pooled: number[] = [];
  bytesAsExpected = true;
  openMs = 0;
  memory: MemoryFigure | undefined;

  constructor(readonly server: ServerUnderTest) {}

  figures(): PathFigures {
    const everyStream = this.rounds.map((r) => (r.missing > 0 ? Number.POSITIVE_INFINITY : r.perStream.max));
    return {
      typical: { p50: median(this.rounds.map((r) => r.perStream.p50)), p99: median(this.rounds.map((r) => r.perStream.p99)) },
      pooled: summarize(this.pooled),
      everyStream: { median: median(everyStream), max: Math.max(...everyStream) },
      rounds: this.rounds,
      openMs: this.openMs,
      memory: this.memory!,
      bytesAsExpected: this.bytesAsExpected,
    };
  }
}

/** Unmeasured changes per server and step, before the measured rounds (JIT, first-use allocations). */
const WARM_UP_ROUNDS = 2;

/** Opens `streams` streams on a server, reading its memory before and after. */
async function openStreams(clients: Clients, record: PathRecord, streams: number, perConnection: number): Promise<void> {
  const { server } = record;
  const before = await memorySample(() => server.memory());
  clients.send({ type: 'open', group: server.which, address: server.address, path: destinationPath, streams, perConnection });
  const opened = await clients.next('opened', 180_000, server.which);
  if (opened.errors.length > 0) throw new Error(`${server.which}: streams failed while opening: ${opened.errors.join('; ')}`);
  record.openMs = opened.elapsedMs;
  // Let buffers, timers and the allocator settle before reading memory again.
  await sleep(1000);
  const after = await memorySample(() => server.memory());
  record.memory = {
    before,
    after,
    rssPerStreamBytes: (after.rss - before.rss) / streams,
    heapPerStreamBytes: (after.heapUsed - before.heapUsed) / streams,
  };
}

/** Pushes one change through one server to its streams and records the latencies. */
async function measureRound(clients: Clients, record: PathRecord, round: number, set: EndpointSet, messages: Buffer[], markerText: string): Promise<RoundFigure> {
  const { server } = record;
  await server.prepare(set, messages);
  clients.send({ type: 'arm', group: server.which, round, marker: markerText, timeoutMs: roundTimeoutMs });
  await clients.next('armed', 5000, server.which);
  const t0 = server.trigger();
  const arrived = await clients.next('arrived', roundTimeoutMs + 10_000, server.which);
  const { serverLoopMs } = await server.settle();
  if (arrived.errors.length > 0) throw new Error(`${server.which}: streams failed: ${arrived.errors.join('; ')}`);
  const base = Number(BigInt(arrived.baseNs) - t0);
  const latencies = arrived.offsetsNs.map((o) => (base + o) / 1e6);
  const expected = messages.find((m) => m.includes(markerText));
  if (!expected || arrived.sample !== expected.toString('base64')) record.bytesAsExpected = false;
  const figure: RoundFigure = { perStream: summarize(latencies), missing: arrived.missing, otherMessages: arrived.otherMessages, ...(serverLoopMs === undefined ? {} : { serverLoopMs }) };
  if (round >= WARM_UP_ROUNDS) {
    record.rounds.push(figure);
    for (const l of latencies) record.pooled.push(l);
  }
  return figure;
}

/** One step: both servers with N streams each, changes pushed through them in alternating rounds. */
async function measureStep(
  streams: number,
  options: { clients: Clients; rounds: number; perConnection: number; progress: (line: string) => void; startGateway: (initial: EndpointSet) => Promise<ServerUnderTest> },
): Promise<FanoutStep> {
  const { clients, progress } = options;
  const tag = Math.random().toString(16).slice(2, 10);
  const marker = (i: number) => `bench-marker-${String(i).padStart(4, '0')}-${tag}`;
  let version = 0;
  let snapshot: EndpointSnapshot = endpointSnapshot(++version, endpointSet(0, marker));
  const records: PathRecord[] = [];
  try {
    records.push(new PathRecord(await options.startGateway(endpointSet(0, marker))));
    records.push(new PathRecord(await startBarePath(endpointTransition(undefined, snapshot))));
    for (const record of records) await openStreams(clients, record, streams, options.perConnection);
    const total = WARM_UP_ROUNDS + options.rounds;
    for (let round = 0; round < total; round++) {
      const set = endpointSet(round + 1, marker);
      const next = endpointSnapshot(++version, set);
      // Both servers get the same change, so the same bytes: what the gateway's encoder makes of it.
      const messages = endpointTransition(snapshot, next);
      snapshot = next;
      // Alternate which server goes first, so neither always runs right after the other.
      const order = round % 2 === 0 ? records : [...records].reverse();
      for (const record of order) {
        const f = await measureRound(clients, record, round, set, messages, marker(round));
        progress(
          `  N=${streams} ${round < WARM_UP_ROUNDS ? 'warm-up' : `round ${round - WARM_UP_ROUNDS + 1}`} ${record.server.which.padEnd(7)}: ` +
            `p50 ${fmtMs(f.perStream.p50)}  p99 ${fmtMs(f.perStream.p99)}  max ${fmtMs(f.perStream.max)} ms` +
            (f.serverLoopMs === undefined ? '' : `  (write loop ${fmtMs(f.serverLoopMs)} ms)`) +
            (f.missing > 0 ? `  ${f.missing} streams missed it` : ''),
        );
        await sleep(streams >= 5000 ? 300 : 100);
      }
    }
    for (const record of records) {
      clients.send({ type: 'close', group: record.server.which });
      await clients.next('closed', 30_000, record.server.which);
    }
  } finally {
    for (const record of records) await record.server.stop();
  }
  const meshbus = records[0]!.figures();
  const bare = records[1]!.figures();
  return {
    streams,
    connections: Math.ceil(streams / options.perConnection),
    meshbus,
    bare,
    ratio: {
      p50: meshbus.typical.p50 / bare.typical.p50,
      p99: meshbus.typical.p99 / bare.typical.p99,
      everyStream: meshbus.everyStream.median / bare.everyStream.median,
    },
  };
}

/**
 * Measures the fan-out of one endpoint change to N concurrent Destination.Get
 * streams, through meshbus (publish on NATS JetStream → gateway → streams) and
 * through a bare grpc-js server writing the same pre-encoded bytes in a loop,
 * with the streams held by a separate client process. Also reads each server's
 * memory per idle stream.
 */
export async function runFanoutBench(options: FanoutBenchOptions): Promise<FanoutBenchResult> {
  const rounds = options.rounds;
  const streamsPerConnection = options.streamsPerConnection ?? 250;
  const progress = options.progress ?? (() => undefined);
  if (options.cpuProfileDir) await mkdir(options.cpuProfileDir, { recursive: true });
  const steps: FanoutStep[] = [];
  let nats: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  const clients: Clients = IpcChild.spawn(clientsMain, 'fan-out client process');
  try {
    await checkSharedClock(clients);
    nats = await startNats();
    nc = await connectBus({ servers: [nats.url], name: 'meshbus-bench' }, silentLogger());
    await ensureStreams(await nc.jetstreamManager());
    const natsUrl = nats.url;
    const busConnection = nc;
    for (const streams of options.streams) {
      progress(`fan-out: ${streams} streams on each server`);
      steps.push(
        await measureStep(streams, {
          clients,
          rounds,
          perConnection: streamsPerConnection,
          progress,
          startGateway: (initial) => startGatewayPath(natsUrl, busConnection, initial, options.cpuProfileDir),
        }),
      );
    }
  } finally {
    await clients.stop();
    await nc?.close();
    await nats?.stop();
  }
  const result = { rounds, warmUpRounds: WARM_UP_ROUNDS, streamsPerConnection, steps };
  return { ...result, format: () => formatFanoutBench(result) };
}

function fmtKb(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

function formatFanoutBench(result: Omit<FanoutBenchResult, 'format'>): string {
  const lines: string[] = [];
  const n = (s: FanoutStep) => s.streams.toLocaleString('en-US');
  lines.push(
    `fan-out: one endpoint change to N concurrent Destination.Get streams (${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `clients in another process, ${result.streamsPerConnection} streams per HTTP/2 connection)`,
  );
  lines.push(
    `latency per stream in ms, p50/p99 = median over ${result.rounds} rounds (after ${result.warmUpRounds} warm-up rounds) of each round's percentile; ` +
      'max = worst stream of all rounds',
  );
  lines.push('  meshbus: JetStream publish by the bench → NATS → gateway → update on every stream');
  lines.push('  bare:    trigger → a bare grpc-js server writes the same bytes to every stream in one loop');
  lines.push(
    table(
      ['N', 'meshbus p50', 'p99', 'max', 'bare p50', 'p99', 'max', 'ratio p50', 'ratio p99', 'last stream meshbus / bare', 'bare loop'],
      result.steps.map((s) => [
        n(s),
        fmtMs(s.meshbus.typical.p50),
        fmtMs(s.meshbus.typical.p99),
        fmtMs(s.meshbus.pooled.max),
        fmtMs(s.bare.typical.p50),
        fmtMs(s.bare.typical.p99),
        fmtMs(s.bare.pooled.max),
        `${s.ratio.p50.toFixed(2)}x`,
        `${s.ratio.p99.toFixed(2)}x`,
        `${fmtMs(s.meshbus.everyStream.median)} / ${fmtMs(s.bare.everyStream.median)} (${s.ratio.everyStream.toFixed(2)}x)`,
        fmtMs(median(s.bare.rounds.map((r) => r.serverLoopMs ?? Number.NaN))),
      ]),
    ),
  );
  const spread = (p: PathFigures) => {
    const p50s = p.rounds.map((r) => r.perStream.p50);
    return `${fmtMs(Math.min(...p50s))}–${fmtMs(Math.max(...p50s))}`;
  };
  lines.push(`round-to-round spread of p50 (ms): ${result.steps.map((s) => `N=${n(s)} meshbus ${spread(s.meshbus)}, bare ${spread(s.bare)}`).join('; ')}`);
  lines.push('');
  lines.push('memory per idle stream in KB: (after − before opening N streams) / N, each the minimum of 5 samples');
  lines.push(
    table(
      ['N', 'gateway RSS', 'gateway heap', 'bare RSS', 'bare heap', 'open N streams meshbus / bare'],
      result.steps.map((s) => [
        n(s),
        fmtKb(s.meshbus.memory.rssPerStreamBytes),
        fmtKb(s.meshbus.memory.heapPerStreamBytes),
        fmtKb(s.bare.memory.rssPerStreamBytes),
        fmtKb(s.bare.memory.heapPerStreamBytes),
        `${fmtMs(s.meshbus.openMs)} / ${fmtMs(s.bare.openMs)} ms`,
      ]),
    ),
  );
  const problems: string[] = [];
  for (const s of result.steps) {
    for (const [name, p] of [['meshbus', s.meshbus], ['bare', s.bare]] as const) {
      const missing = p.rounds.reduce((sum, r) => sum + r.missing, 0);
      const other = p.rounds.reduce((sum, r) => sum + r.otherMessages, 0);
      if (missing > 0) problems.push(`${name} N=${n(s)}: ${missing} stream-rounds missed the change within ${roundTimeoutMs} ms`);
      if (other > 0) problems.push(`${name} N=${n(s)}: ${other} unexpected extra messages`);
      if (!p.bytesAsExpected) problems.push(`${name} N=${n(s)}: the clients did not receive the expected bytes`);
    }
  }
  lines.push('');
  const at1000 = result.steps.find((s) => s.streams === 1000);
  if (at1000) {
    const worst = Math.max(at1000.ratio.p50, at1000.ratio.p99);
    lines.push(
      `target: at 1,000 streams meshbus within ${FANOUT_TARGET_RATIO}x of bare: p50 ${at1000.ratio.p50.toFixed(2)}x, p99 ${at1000.ratio.p99.toFixed(2)}x: ` +
        (worst <= FANOUT_TARGET_RATIO ? 'met' : 'NOT met'),
    );
  }
  const largest = result.steps[result.steps.length - 1];
  // Below a few thousand streams the gateway's fixed first-use allocations dominate the per-stream figure.
  if (largest && largest.streams < 10_000) {
    lines.push(`target: gateway memory per idle stream is judged at 10,000 streams (largest step here: ${n(largest)})`);
  } else if (largest) {
    const { rssPerStreamBytes: rss, heapPerStreamBytes: heap } = largest.meshbus.memory;
    lines.push(
      `target: gateway memory per idle stream under ${fmtKb(FANOUT_TARGET_BYTES_PER_STREAM)} KB at N=${n(largest)}: RSS ${fmtKb(rss)} KB, heap ${fmtKb(heap)} KB: ` +
        (Math.max(rss, heap) < FANOUT_TARGET_BYTES_PER_STREAM ? 'met' : 'NOT met'),
    );
  }
  for (const p of problems) lines.push(`warning: ${p}`);
  return lines.join('\n');
}
