import { MeshbusError } from '@meshbus/core';

/** The cases of the proxy benchmark (as in proxy-bench.ts), in the order they run. */
export const proxyBenchCases = ['direct', 'haproxy', 'node-http', 'meshbus-hop', 'meshbus-mesh'] as const;
export type ProxyBenchCase = (typeof proxyBenchCases)[number];

/** The benchmarks `npm run bench` runs, in order. */
export const benchNames = ['fanout', 'identity', 'destination', 'policy', 'proxy', 'injector'] as const;
export type BenchName = (typeof benchNames)[number];

/** What `npm run bench` runs. */
export interface BenchFlags {
  /** Only one benchmark, or all when undefined. */
  readonly only: BenchName | undefined;
  /** Numbers of concurrent streams for the fan-out benchmark, ascending. */
  readonly streams: readonly number[];
  /** Measured rounds per stream count (after two warm-up rounds). */
  readonly rounds: number;
  /** Policy benchmark: measured changes per kind of change, for the index alone and through the gateway. */
  readonly policyRounds: number;
  /** Proxy benchmark: measured seconds of each run (throughput and constant rate), per case. */
  readonly proxyDuration: number;
  /** Proxy benchmark: the constant rate, requests per second (a multiple of 10). */
  readonly proxyRate: number;
  /** Proxy benchmark: the cases to run, in their fixed order. */
  readonly proxyCases: readonly ProxyBenchCase[];
  /** Injector benchmark: measured seconds per server (after a 2 s warm-up). */
  readonly injectorDuration: number;
  /** Injector benchmark: the constant rate, requests per second. */
  readonly injectorRate: number;
  /** Write CPU profiles (node --cpu-prof) of the gateway child (fan-out) and of the proxies (proxy) into bench/results/profiles. */
  readonly cpuProf: boolean;
  readonly help: boolean;
}

/** A command line `npm run bench` does not accept. */
export class BenchFlagError extends MeshbusError {
  override name = 'BenchFlagError';
  constructor(message: string) {
    super('InvalidBenchFlag', message);
  }
}

export const defaultBenchFlags: BenchFlags = { only: undefined, streams: [100, 1000, 10_000], rounds: 5, policyRounds: 100, proxyDuration: 6, proxyRate: 1000, proxyCases: proxyBenchCases, injectorDuration: 10, injectorRate: 1000, cpuProf: false, help: false };

/** Most streams one client process opens; 50,000 streams is already ~200 HTTP/2 connections. */
export const MAX_STREAMS = 50_000;
export const MAX_ROUNDS = 100;
export const MAX_POLICY_ROUNDS = 2000;
export const MAX_PROXY_DURATION = 600;
export const MAX_PROXY_RATE = 100_000;
export const MAX_INJECTOR_DURATION = 600;
export const MAX_INJECTOR_RATE = 20_000;

export const benchUsage = `usage: npm run bench -- [--only fanout|identity|destination|policy|proxy|injector] [--streams 100,1000,10000] [--rounds 5] [--policy-rounds 100] [--proxy-duration 6] [--proxy-rate 1000] [--proxy-cases direct,...] [--injector-duration 10] [--injector-rate 1000] [--cpu-prof]

  --only fanout|identity|destination|policy|proxy|injector
                           run one benchmark (default: all six)
  --streams N[,N...]       concurrent Destination.Get streams per fan-out step (1..${MAX_STREAMS}; default 100,1000,10000)
  --rounds R               measured endpoint changes per step, after two warm-up changes (1..${MAX_ROUNDS}; default 5)
  --policy-rounds R        policy benchmark: measured changes per kind of change, for the index and through the
                           gateway to 1,000 WatchPort streams (1..${MAX_POLICY_ROUNDS}; default ${defaultBenchFlags.policyRounds})
  --proxy-duration S       proxy benchmark: measured seconds of each wrk and constant-rate run, per case
                           (1..${MAX_PROXY_DURATION}; default ${defaultBenchFlags.proxyDuration})
  --proxy-rate N           proxy benchmark: the constant rate of the latency figures, requests/s, a multiple of 10
                           (10..${MAX_PROXY_RATE}; default ${defaultBenchFlags.proxyRate}; the target is for 1,000)
  --proxy-cases C[,C...]   proxy benchmark: the cases to run, of ${proxyBenchCases.join(', ')} (default: all)
  --injector-duration S    injector benchmark: measured seconds per server, after 2 s of warm-up
                           (1..${MAX_INJECTOR_DURATION}; default ${defaultBenchFlags.injectorDuration})
  --injector-rate N        injector benchmark: admission requests per second, open loop
                           (1..${MAX_INJECTOR_RATE}; default ${defaultBenchFlags.injectorRate}; the target is for 1,000)
  --cpu-prof               write CPU profiles of the gateway process (fanout), of the two proxies (proxy) and of
                           the webhook servers (injector) to bench/results/profiles/
  --help                   print this text`;

function positiveInt(text: string, flag: string, max: number): number {
  if (!/^\d+$/.test(text)) throw new BenchFlagError(`${flag} expects a whole number, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < 1 || n > max) throw new BenchFlagError(`${flag} must be within 1..${max}, got ${n}`);
  return n;
}

/** Parses the command line (without `node` and the script); throws {@link BenchFlagError} on anything unexpected. */
export function parseBenchFlags(argv: readonly string[]): BenchFlags {
  let only: BenchFlags['only'] = defaultBenchFlags.only;
  let streams = defaultBenchFlags.streams;
  let rounds = defaultBenchFlags.rounds;
  let policyRounds = defaultBenchFlags.policyRounds;
  let proxyDuration = defaultBenchFlags.proxyDuration;
  let proxyCases = defaultBenchFlags.proxyCases;
  let proxyRate = defaultBenchFlags.proxyRate;
  let injectorDuration = defaultBenchFlags.injectorDuration;
  let injectorRate = defaultBenchFlags.injectorRate;
  let cpuProf = false;
  let help = false;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const takesValue = name === '--only' || name === '--streams' || name === '--rounds' || name === '--policy-rounds' || name === '--proxy-duration' || name === '--proxy-cases' || name === '--proxy-rate' || name === '--injector-duration' || name === '--injector-rate';
    if (!takesValue && name !== '--help' && name !== '-h' && name !== '--cpu-prof') {
      throw new BenchFlagError(arg.startsWith('-') ? `unknown flag ${name}` : `unexpected argument ${JSON.stringify(arg)}`);
    }
    if (seen.has(name)) throw new BenchFlagError(`${name} given more than once`);
    seen.add(name);
    if (!takesValue) {
      if (eq !== -1) throw new BenchFlagError(`${name} takes no value`);
      if (name === '--cpu-prof') cpuProf = true;
      else help = true;
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new BenchFlagError(`${name} needs a value`);
      value = next;
      i++;
    }
    if (name === '--only') {
      const bench = benchNames.find((b) => b === value);
      if (bench === undefined) throw new BenchFlagError(`--only expects fanout, identity, destination, policy, proxy or injector, got ${JSON.stringify(value)}`);
      only = bench;
    } else if (name === '--streams') {
      const parts = value.split(',').map((s) => s.trim());
      if (parts.some((p) => p === '')) throw new BenchFlagError(`--streams expects a comma-separated list of numbers, got ${JSON.stringify(value)}`);
      const list = parts.map((p) => positiveInt(p, '--streams', MAX_STREAMS));
      streams = [...new Set(list)].sort((a, b) => a - b);
    } else if (name === '--policy-rounds') {
      policyRounds = positiveInt(value, '--policy-rounds', MAX_POLICY_ROUNDS);
    } else if (name === '--proxy-cases') {
      const parts = value.split(',').map((p) => p.trim());
      const unknown = parts.filter((p) => !(proxyBenchCases as readonly string[]).includes(p));
      if (unknown.length > 0 || parts.length === 0) throw new BenchFlagError(`--proxy-cases expects a comma-separated list of ${proxyBenchCases.join(', ')}, got ${JSON.stringify(value)}`);
      proxyCases = proxyBenchCases.filter((c) => parts.includes(c));
    } else if (name === '--proxy-rate') {
      proxyRate = positiveInt(value, '--proxy-rate', MAX_PROXY_RATE);
      if (proxyRate % 10 !== 0) throw new BenchFlagError(`--proxy-rate must be a multiple of 10 (it is split over 10 connections), got ${proxyRate}`);
    } else if (name === '--injector-duration') {
      injectorDuration = positiveInt(value, '--injector-duration', MAX_INJECTOR_DURATION);
    } else if (name === '--injector-rate') {
      injectorRate = positiveInt(value, '--injector-rate', MAX_INJECTOR_RATE);
    } else if (name === '--proxy-duration') {
      proxyDuration = positiveInt(value, '--proxy-duration', MAX_PROXY_DURATION);
    } else {
      rounds = positiveInt(value, '--rounds', MAX_ROUNDS);
    }
  }
  return { only, streams, rounds, policyRounds, proxyDuration, proxyRate, proxyCases, injectorDuration, injectorRate, cpuProf, help };
}
