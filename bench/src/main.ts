#!/usr/bin/env node
/*
 * `npm run bench`: the fan-out, identity, destination, policy, proxy and injector benchmarks, printed as
 * tables (with ratios against baselines measured in the same run where there is
 * one), and written as JSON to bench/results/latest.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runFanoutBench, type FanoutBenchResult } from './fanout-bench.js';
import { BenchFlagError, benchUsage, parseBenchFlags, type BenchFlags } from './flags.js';
import { runDestinationBench, type DestinationBenchResult } from './destination-bench.js';
import { runIdentityBench, type IdentityBenchResult } from './identity-bench.js';
import { runIdentityBusBench, type IdentityBusBenchResult } from './identity-bus-bench.js';
import { runPolicyBench, type PolicyBenchResult } from './policy-bench.js';
import { runPolicyWatchBench, type PolicyWatchBenchResult } from './policy-watch-bench.js';
import { runProxyBench, type ProxyBenchResult } from './proxy-bench.js';
import { runInjectorBench, type InjectorBenchResult } from './injector-bench.js';

const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
/** Per identity workload; the workloads plus CSR generation stay under ~15 s. */
const identityDurationMs = 2000;
/** Requests over the bus to one identity replica, after a one-second warm-up. */
const identityBusDurationMs = 3000;

let flags: BenchFlags;
try {
  flags = parseBenchFlags(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof BenchFlagError)) throw err;
  process.stderr.write(`bench: ${err.message}\n\n${benchUsage}\n`);
  process.exit(2);
}
if (flags.help) {
  process.stdout.write(`${benchUsage}\n`);
  process.exit(0);
}

const progress = (line: string) => process.stderr.write(`${line}\n`);
const started = Date.now();
let fanout: FanoutBenchResult | undefined;
let identity: IdentityBenchResult | undefined;
let identityBus: IdentityBusBenchResult | undefined;
let destination: DestinationBenchResult | undefined;
let policy: PolicyBenchResult | undefined;
let policyWatch: PolicyWatchBenchResult | undefined;
let proxy: ProxyBenchResult | undefined;
let injector: InjectorBenchResult | undefined;

if (flags.only === undefined || flags.only === 'fanout') {
  fanout = await runFanoutBench({
    streams: flags.streams,
    rounds: flags.rounds,
    cpuProfileDir: flags.cpuProf ? `${resultsDir}profiles` : undefined,
    progress,
  });
}
if (flags.only === undefined || flags.only === 'identity') {
  progress('identity: issuing leaf certificates');
  identity = await runIdentityBench({ durationMs: identityDurationMs });
  progress('identity: certificates over NATS from one replica');
  identityBus = await runIdentityBusBench({ durationMs: identityBusDurationMs });
}

if (flags.only === undefined || flags.only === 'destination') {
  destination = await runDestinationBench({ progress });
}

if (flags.only === undefined || flags.only === 'policy') {
  policy = await runPolicyBench({ rounds: flags.policyRounds, progress });
  policyWatch = await runPolicyWatchBench({ rounds: flags.policyRounds, progress });
  if (policyWatch.skipped) progress(`policy watch: skipped: ${policyWatch.reason}`);
}

if (flags.only === undefined || flags.only === 'proxy') {
  proxy = await runProxyBench({ durationS: flags.proxyDuration, rate: flags.proxyRate, cases: flags.proxyCases, cpuProfileDir: flags.cpuProf ? `${resultsDir}profiles` : undefined, progress });
  if (proxy.skipped) progress(`proxy: skipped: ${proxy.reason}`);
}

if (flags.only === undefined || flags.only === 'injector') {
  injector = await runInjectorBench({ durationS: flags.injectorDuration, rate: flags.injectorRate, cpuProfileDir: flags.cpuProf ? `${resultsDir}profiles` : undefined, progress });
}

const report = [fanout?.format(), identity?.format(), identityBus?.format(), destination?.format(), policy?.format(), policyWatch?.format(), proxy?.format(), injector?.format()].filter((s) => s !== undefined).join('\n\n');
process.stdout.write(`\n${report}\n`);

/** The figures of a result, without its formatter. */
function figuresOf<T extends { format(): string }>(result: T | undefined): Omit<T, 'format'> | null {
  if (!result) return null;
  const { format: _format, ...figures } = result;
  return figures;
}

const json = {
  date: new Date().toISOString(),
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem(), node: process.version, platform: process.platform },
  flags: { only: flags.only ?? null, streams: flags.streams, rounds: flags.rounds, policyRounds: flags.policyRounds, proxyDuration: flags.proxyDuration, proxyRate: flags.proxyRate, proxyCases: flags.proxyCases, injectorDuration: flags.injectorDuration, injectorRate: flags.injectorRate },
  elapsedMs: Date.now() - started,
  fanout: figuresOf(fanout),
  identity: figuresOf(identity),
  identityBus: figuresOf(identityBus),
  destination: figuresOf(destination),
  policy: figuresOf(policy),
  policyWatch: figuresOf(policyWatch),
  proxy: figuresOf(proxy),
  injector: figuresOf(injector),
};
await mkdir(resultsDir, { recursive: true });
// Infinity (a stream that never got the change) is not JSON; write it as null.
await writeFile(`${resultsDir}latest.json`, `${JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
process.stdout.write(`\nraw figures: bench/results/latest.json (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
