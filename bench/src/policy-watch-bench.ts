import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status as grpcStatus } from '@grpc/grpc-js';
import { connectBus, ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects } from '@meshbus/bus-schemas';
import { createPolicyIndex, type PolicyComputation } from '@meshbus/policy';
import { inbound } from '@meshbus/proxy-api';
import { silentLogger } from '@meshbus/runtime';
import { freePort, httpGet, startNats, startProcess, waitFor, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { checkSharedClock, IpcChild } from './ipc-child.js';
import { policyChangeKinds, policyChangeTitles, PolicyChanger, type PolicyChange, type PolicyChangeKind } from './policy-changes.js';
import { policyBenchPort, policyBenchSettings, policyDataSet, watchedWorkloads, type PolicyDataSetSize } from './policy-dataset.js';
import type { WatchCommand, WatchReport } from './policy-watch-protocol.js';
import { summarize, type LatencySummary } from './stats.js';
import { fmtMs, table } from './tables.js';

/** Options of {@link runPolicyWatchBench}. */
export interface PolicyWatchBenchOptions {
  /** Measured changes per kind, after {@link POLICY_WATCH_WARM_UP_ROUNDS} warm-up changes. */
  readonly rounds: number;
  /** WatchPort streams, on all the workloads of the first services (5 per service in the default data set). @default 1000 */
  readonly streams?: number;
  /** Streams per HTTP/2 connection. @default 100 */
  readonly streamsPerConnection?: number;
  readonly size?: PolicyDataSetSize;
  readonly progress?: (line: string) => void;
}

/** One kind of change, from the index update to the WatchPort streams. */
export interface PolicyWatchKindFigure {
  readonly kind: PolicyChangeKind;
  /** From the start of `index.update` to the first affected stream's update, in ms. */
  readonly first: LatencySummary;
  /** To the last affected stream's update, in ms. */
  readonly last: LatencySummary;
  /** `update` and reading `result`, in ms. */
  readonly index: LatencySummary;
  /** Until every changed inbound policy was acknowledged by JetStream, in ms. */
  readonly published: LatencySummary;
  /** From the end of the index's work to the first affected stream's update (publish, NATS, gateway, stream), in ms. */
  readonly afterIndex: LatencySummary;
  /** Affected streams per change (median). */
  readonly streamsPerChange: number;
  /** Affected streams that got no update within the timeout, over all rounds. */
  readonly missing: number;
  /** Updates on streams the change does not reach, over all rounds. */
  readonly otherMessages: number;
  /** Rounds whose first update was not a valid Server, or did not carry the change (where the change leaves a trace in the bytes). */
  readonly contentMismatches: number;
}

/** Figures of one {@link runPolicyWatchBench} run, or why it was skipped. */
export type PolicyWatchBenchResult =
  | { readonly skipped: true; readonly reason: string; format(): string }
  | {
      readonly skipped: false;
      readonly streams: number;
      readonly connections: number;
      readonly rounds: number;
      readonly warmUpRounds: number;
      /** Publishing the initial state (every inbound and outbound policy, the defaults), in ms. */
      readonly initialPublishMs: number;
      /** Opening every stream until each had its first policy, in ms. */
      readonly openMs: number;
      readonly kinds: readonly PolicyWatchKindFigure[];
      /** Every kind pooled. */
      readonly all: { readonly first: LatencySummary; readonly last: LatencySummary };
      /** Updates sent to any stream while no change was in flight. */
      readonly otherMessagesBetweenRounds: number;
      format(): string;
    };

/** p99 of change → first affected WatchPort update should stay under this. */
export const POLICY_WATCH_TARGET_P99_MS = 100;
export const POLICY_WATCH_WARM_UP_ROUNDS = 3;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const clientsMain = fileURLToPath(new URL('./policy-watch-clients.js', import.meta.url));
const gatewayMain = `${repoRoot}services/gateway/dist/main.js`;
const roundTimeoutMs = 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => process.hrtime.bigint();
const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6;

type Clients = IpcChild<WatchCommand, WatchReport>;
type Bus = Awaited<ReturnType<typeof connectBus>>;

function skipped(reason: string): PolicyWatchBenchResult {
  return { skipped: true, reason, format: () => `policy watch: skipped: ${reason}` };
}

/** What the first update after a change should contain, where its bytes show it. */
function traceOf(change: PolicyChange): string | undefined {
  switch (change.kind) {
    case 'route':
      return change.what.slice(change.what.lastIndexOf(' ') + 1);
    case 'workload': {
      // The workload now belongs to another Server, which names it.
      const app = change.what.slice(change.what.indexOf('app=') + 4);
      return `${app}-http`;
    }
    default:
      return undefined;
  }
}

/** Whether an update is a valid inbound Server and, where the change leaves a trace in the bytes, carries it. */
function carries(sample: Buffer, trace: string | undefined): boolean {
  try {
    inbound.Server.decode(sample);
  } catch {
    return false;
  }
  return trace === undefined || sample.includes(trace);
}

/** Publishes every policy of the index's result; returns the time it took. */
async function publishAll(publisher: JetStreamPublisher, index: PolicyComputation): Promise<number> {
  const t0 = performance.now();
  const { inbound: inboundPolicies, outbound, defaults } = index.result;
  await publisher.publish('policyDefaults', subjects.policyDefaults, 'cluster', defaults);
  const jobs: (() => Promise<number>)[] = [];
  for (const [key, policy] of inboundPolicies) jobs.push(() => publisher.publish('inboundPolicy', subjects.inboundPolicy(policy.namespace, policy.workload), key, policy));
  for (const [key, policy] of outbound) jobs.push(() => publisher.publish('outboundPolicy', subjects.outboundPolicy(policy.namespace, policy.service, policy.port), key, policy));
  for (let i = 0; i < jobs.length; i += 200) await Promise.all(jobs.slice(i, i + 200).map((job) => job()));
  return performance.now() - t0;
}

async function startGateway(natsUrl: string): Promise<{ address: string; stop(): Promise<void> }> {
  const [grpcPort, adminPort] = [await freePort(), await freePort()];
  const proc: RunningProcess = startProcess({
    command: process.execPath,
    args: [gatewayMain],
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      MESHBUS_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      MESHBUS_LOG_LEVEL: 'warn',
      MESHBUS_DRAIN_MS: '1000',
    },
  });
  try {
    await waitFor(async () => (await httpGet(`http://127.0.0.1:${adminPort}/ready`)).status === 200, { timeoutMs: 60_000, what: 'gateway ready' });
  } catch (err) {
    await proc.kill();
    throw new Error(`${(err as Error).message}; gateway output:\n${proc.output()}`);
  }
  return {
    address: `127.0.0.1:${grpcPort}`,
    async stop() {
      const { code, signal } = await proc.stop(10_000);
      if (code !== 0) throw new Error(`gateway exited with ${signal ?? code}; output:\n${proc.output()}`);
    },
  };
}

/**
 * From one resource change to the first affected WatchPort update: the
 * policy index updates, the bench publishes the changed inbound policies on
 * JetStream as the policy service does, and the gateway (its own process)
 * pushes them to the streams of a client process watching port 8080 of
 * 1,000 workloads, those the change reaches and others.
 */
export async function runPolicyWatchBench(options: PolicyWatchBenchOptions): Promise<PolicyWatchBenchResult> {
  const progress = options.progress ?? (() => undefined);
  const streamCount = options.streams ?? 1000;
  const perConnection = options.streamsPerConnection ?? 100;
  if (!existsSync(gatewayMain)) return skipped(`the gateway is not built (${gatewayMain} is missing)`);

  const data = policyDataSet(options.size);
  const watched = watchedWorkloads(data, streamCount);
  const streamOf = new Map(watched.keys.map((key, i) => [key, i]));
  const index = createPolicyIndex(policyBenchSettings);
  index.update(data.inputs);
  const changer = new PolicyChanger(data, watched.services);

  let nats: NatsCluster | undefined;
  let bus: Bus | undefined;
  let gateway: { address: string; stop(): Promise<void> } | undefined;
  const clients: Clients = IpcChild.spawn(clientsMain, 'WatchPort client process');
  try {
    await checkSharedClock(clients);
    nats = await startNats({ extraConfig: 'max_payload: 8388608' });
    bus = await connectBus({ servers: [nats.url], name: 'meshbus-bench-policy' }, silentLogger());
    await ensureStreams(await bus.jetstreamManager());
    const publisher = new JetStreamPublisher({ js: bus.jetstream(), validator: busValidator(), source: '/meshbus/bench/policy' });
    progress(`policy watch: publishing ${index.result.inbound.size} inbound and ${index.result.outbound.size} outbound policies`);
    const initialPublishMs = await publishAll(publisher, index);

    progress('policy watch: starting the gateway');
    gateway = await startGateway(nats.url);
    progress(`policy watch: opening ${streamCount} WatchPort streams`);
    const workloadStrings = watched.keys.map((key) => key.replace('/', ':'));
    clients.send({ type: 'open', address: gateway.address, workloads: workloadStrings, port: policyBenchPort, perConnection, timeoutMs: 120_000 });
    const opened = await clients.next('opened', 130_000);
    if (opened.errors.some((e) => e.code === grpcStatus.UNIMPLEMENTED)) {
      return skipped(`the gateway does not serve io.linkerd.proxy.inbound.InboundServerPolicies/WatchPort (UNIMPLEMENTED: ${opened.errors[0]!.message})`);
    }
    if (opened.errors.length > 0 || opened.waiting > 0) {
      throw new Error(`WatchPort streams failed while opening (${opened.waiting} without a first policy): ${opened.errors.map((e) => e.message).join('; ')}`);
    }
    progress(`policy watch: ${streamCount} streams open in ${fmtMs(opened.elapsedMs)} ms; ${options.rounds} changes of each kind`);

    const kinds: PolicyWatchKindFigure[] = [];
    const pooledFirst: number[] = [];
    const pooledLast: number[] = [];
    for (const kind of policyChangeKinds) {
      const first: number[] = [];
      const last: number[] = [];
      const indexMs: number[] = [];
      const publishedMs: number[] = [];
      const afterIndex: number[] = [];
      const reached: number[] = [];
      let missing = 0;
      let otherMessages = 0;
      let contentMismatches = 0;
      for (let round = 0; round < POLICY_WATCH_WARM_UP_ROUNDS + options.rounds; round++) {
        const change = changer.next(kind, round);
        const expected = change.affected.map((key) => streamOf.get(key)).filter((i): i is number => i !== undefined);
        if (expected.length === 0) throw new Error(`${change.what}: the change reaches none of the watched workloads`);
        clients.send({ type: 'arm', round, expected, timeoutMs: roundTimeoutMs });
        await clients.next('armed', 5000);

        const t0 = now();
        const changes = index.update(change.inputs);
        const result = index.result;
        const tIndex = now();
        await Promise.all(
          [...changes.inbound].map((key) => {
            const policy = result.inbound.get(key);
            if (!policy) throw new Error(`${change.what}: inbound policy ${key} went away`);
            return publisher.publish('inboundPolicy', subjects.inboundPolicy(policy.namespace, policy.workload), key, policy);
          }),
        );
        const tPublished = now();
        const arrived = await clients.next('arrived', roundTimeoutMs + 5000);
        if (arrived.errors.length > 0) throw new Error(`WatchPort streams failed: ${arrived.errors.map((e) => e.message).join('; ')}`);

        const times = arrived.arrivalsNs.filter((t) => t !== '').map((t) => ms(t0, BigInt(t)));
        const trace = traceOf(change);
        const sample = arrived.sample === '' ? undefined : Buffer.from(arrived.sample, 'base64');
        if (round < POLICY_WATCH_WARM_UP_ROUNDS) continue;
        missing += expected.length - times.length;
        otherMessages += arrived.otherMessages;
        if (sample && !carries(sample, trace)) contentMismatches++;
        indexMs.push(ms(t0, tIndex));
        publishedMs.push(ms(t0, tPublished));
        reached.push(expected.length);
        const f = times.length > 0 ? Math.min(...times) : Number.POSITIVE_INFINITY;
        const l = times.length === expected.length ? Math.max(...times) : Number.POSITIVE_INFINITY;
        first.push(f);
        last.push(l);
        afterIndex.push(f - ms(t0, tIndex));
        pooledFirst.push(f);
        pooledLast.push(l);
        await sleep(20);
      }
      const figure: PolicyWatchKindFigure = {
        kind,
        first: summarize(first),
        last: summarize(last),
        index: summarize(indexMs),
        published: summarize(publishedMs),
        afterIndex: summarize(afterIndex),
        streamsPerChange: summarize(reached).p50,
        missing,
        otherMessages,
        contentMismatches,
      };
      kinds.push(figure);
      progress(`policy watch: ${policyChangeTitles[kind]}: first update p50 ${fmtMs(figure.first.p50)} ms, p99 ${fmtMs(figure.first.p99)} ms`);
    }
    clients.send({ type: 'close' });
    const closed = await clients.next('closed', 30_000);
    const result = {
      skipped: false as const,
      streams: streamCount,
      connections: opened.connections,
      rounds: options.rounds,
      warmUpRounds: POLICY_WATCH_WARM_UP_ROUNDS,
      initialPublishMs,
      openMs: opened.elapsedMs,
      kinds,
      all: { first: summarize(pooledFirst), last: summarize(pooledLast) },
      otherMessagesBetweenRounds: closed.otherMessagesBetweenRounds,
    };
    return { ...result, format: () => formatPolicyWatchBench(result) };
  } finally {
    await clients.stop();
    await gateway?.stop();
    await bus?.close();
    await nats?.stop();
  }
}

function formatPolicyWatchBench(result: Omit<Extract<PolicyWatchBenchResult, { skipped: false }>, 'format'>): string {
  const n = result.streams.toLocaleString('en-US');
  const lines = [
    `policy watch: one resource change -> first affected update on ${n} InboundServerPolicies.WatchPort streams ` +
      `(${result.connections} HTTP/2 connections, clients in another process, gateway in its own process)`,
    '  path: index.update + result -> JetStream publish of the changed inbound policies -> NATS -> gateway -> streams; ' +
      `ms from the start of index.update, over ${result.rounds} changes per kind (after ${result.warmUpRounds} warm-up changes)`,
    `  initial state published in ${fmtMs(result.initialPublishMs)} ms; ${n} streams opened (each with its first policy) in ${fmtMs(result.openMs)} ms`,
    table(
      ['change', 'first p50', 'p99', 'max', 'last p50', 'p99', 'index p50', 'published p50', 'after index p50', 'p99', 'streams reached'],
      [
        ...result.kinds.map((k) => [
          policyChangeTitles[k.kind],
          fmtMs(k.first.p50),
          fmtMs(k.first.p99),
          fmtMs(k.first.max),
          fmtMs(k.last.p50),
          fmtMs(k.last.p99),
          fmtMs(k.index.p50),
          fmtMs(k.published.p50),
          fmtMs(k.afterIndex.p50),
          fmtMs(k.afterIndex.p99),
          String(k.streamsPerChange),
        ]),
        ['every kind', fmtMs(result.all.first.p50), fmtMs(result.all.first.p99), fmtMs(result.all.first.max), fmtMs(result.all.last.p50), fmtMs(result.all.last.p99), '', '', '', '', ''],
      ],
    ),
    '  first/last: the first/last affected stream has the update; index: update and result read; published: every changed policy acknowledged by JetStream;',
    '  after index: first minus index (publish, NATS, gateway and stream)',
  ];
  const p99 = result.all.first.p99;
  lines.push(`target: change -> first affected WatchPort update p99 under ${POLICY_WATCH_TARGET_P99_MS} ms: ${fmtMs(p99)} ms: ${p99 < POLICY_WATCH_TARGET_P99_MS ? 'met' : 'NOT met'}`);
  for (const k of result.kinds) {
    const title = policyChangeTitles[k.kind];
    if (k.missing > 0) lines.push(`warning: ${title}: ${k.missing} affected streams got no update within ${roundTimeoutMs} ms`);
    if (k.otherMessages > 0) lines.push(`warning: ${title}: ${k.otherMessages} updates on streams the change does not reach`);
    if (k.contentMismatches > 0) lines.push(`warning: ${title}: ${k.contentMismatches} first updates did not carry the change`);
  }
  if (result.otherMessagesBetweenRounds > 0) lines.push(`warning: ${result.otherMessagesBetweenRounds} updates arrived while no change was in flight`);
  return lines.join('\n');
}
