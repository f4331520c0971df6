/*
 * The external programs of the proxy benchmark: wrk (closed-loop
 * throughput), h2load (constant rate, every request's time in a log file) and
 * HAProxy (the one-hop baseline). Each is found on PATH; the benchmark skips
 * what needs a missing one and says how to install it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { connect } from 'node:net';
import { percentile } from './stats.js';

/** The programs, and the Debian package of each. */
export const loadTools = { wrk: 'wrk', h2load: 'nghttp2-client', haproxy: 'haproxy' } as const;
export type LoadTool = keyof typeof loadTools;

/** The full path of `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** How to install the missing tools, or undefined when none is missing. */
export function installHint(missing: readonly LoadTool[]): string | undefined {
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((t) => loadTools[t]))].join(' ');
  return `${missing.join(', ')} not found on PATH; on Debian or Ubuntu, as root: apt-get install -y ${packages}`;
}

/** Runs a program to its end; rejects with its output when it fails or takes longer than `timeoutMs`. */
export function run(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${signal ?? code}:\n${out}`));
    });
  });
}

/** Figures of one wrk run. Latencies in ms. */
export interface WrkFigures {
  readonly requests: number;
  readonly durationS: number;
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  /** Socket errors, timeouts, and answers other than 2xx or 3xx. */
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number; readonly status: number };
}

/** Options of {@link runWrk}. */
export interface WrkOptions {
  /** Where wrk connects: `http://host:port`. */
  readonly url: string;
  /** The request target: `/` for a server, `http://svc.ns/` (absolute form) for an HTTP proxy. */
  readonly target: string;
  /** The Host header. */
  readonly host: string;
  readonly threads: number;
  readonly connections: number;
  readonly durationS: number;
  readonly scriptPath: string;
  readonly wrkPath?: string;
}

const wrkMarker = 'BENCH-WRK ';

/** The Lua script that sets the request and prints wrk's figures as one JSON line (latencies in µs). */
export function wrkScript(target: string, host: string): string {
  const lua = (s: string) => JSON.stringify(s); // a JSON string is a valid Lua string for these characters
  if (/[\\\r\n"]/.test(target + host)) throw new Error(`wrk: the target and host must not contain quotes, backslashes or line breaks: ${target} ${host}`);
  return `wrk.method = "GET"
wrk.path = ${lua(target)}
wrk.headers["Host"] = ${lua(host)}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${wrkMarker}{"requests":%d,"durationUs":%d,"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f,"mean":%.1f,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status))
end
`;
}

/** Reads the line {@link wrkScript} prints out of wrk's output. */
export function parseWrkOutput(output: string): WrkFigures {
  const line = output.split('\n').find((l) => l.startsWith(wrkMarker));
  if (!line) throw new Error(`wrk printed no figures:\n${output}`);
  const j = JSON.parse(line.slice(wrkMarker.length)) as Record<string, number>;
  const num = (k: string) => {
    const v = j[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`wrk: ${k} is missing in ${line}`);
    return v;
  };
  const durationS = num('durationUs') / 1e6;
  return {
    requests: num('requests'),
    durationS,
    requestsPerSecond: durationS > 0 ? num('requests') / durationS : 0,
    p50: num('p50') / 1000,
    p90: num('p90') / 1000,
    p99: num('p99') / 1000,
    max: num('max') / 1000,
    mean: num('mean') / 1000,
    errors: { connect: num('connect'), read: num('read'), write: num('write'), timeout: num('timeout'), status: num('status') },
  };
}

/** Runs wrk with `--latency` and the script; resolves with its figures. */
export async function runWrk(options: WrkOptions): Promise<WrkFigures> {
  await writeFile(options.scriptPath, wrkScript(options.target, options.host));
  const output = await run(
    options.wrkPath ?? 'wrk',
    ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.durationS}s`, '--timeout', '5s', '--latency', '-s', options.scriptPath, options.url],
    (options.durationS + 30) * 1000,
  );
  return parseWrkOutput(output);
}

/** Figures of one constant-rate h2load run, from its per-request log. Latencies in ms. */
export interface RateFigures {
  /** Requests measured (after the warm-up). */
  readonly requests: number;
  /** Requests measured per second of the measured window. */
  readonly achievedRate: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** Measured requests whose status was not 200 (h2load logs -1 for a request without an answer). */
  readonly failed: number;
  /** Measured requests by status. */
  readonly statuses: Readonly<Record<string, number>>;
}

/**
 * The figures of an h2load `--log-file` (start µs since the epoch, status,
 * µs until the end of the answer; tab-separated), leaving out the requests
 * started in the first `warmUpS` seconds.
 */
export function parseH2loadLog(text: string, warmUpS: number): RateFigures {
  const rows: { start: number; status: number; us: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [start, status, us] = line.split('\t').map(Number);
    if (![start, status, us].every((n) => Number.isFinite(n))) throw new Error(`h2load log: unreadable line ${JSON.stringify(line)}`);
    rows.push({ start: start!, status: status!, us: us! });
  }
  if (rows.length === 0) throw new Error('h2load log is empty');
  const first = Math.min(...rows.map((r) => r.start));
  const measured = rows.filter((r) => r.start >= first + warmUpS * 1e6);
  if (measured.length === 0) throw new Error(`h2load log: no request after the ${warmUpS} s warm-up`);
  const times = measured.map((r) => r.us / 1000).sort((a, b) => a - b);
  const starts = measured.map((r) => r.start);
  const windowS = (Math.max(...starts) - Math.min(...starts)) / 1e6;
  return {
    requests: measured.length,
    achievedRate: windowS > 0 ? (measured.length - 1) / windowS : 0,
    p50: percentile(times, 50),
    p90: percentile(times, 90),
    p99: percentile(times, 99),
    p999: percentile(times, 99.9),
    max: times[times.length - 1]!,
    failed: measured.filter((r) => r.status !== 200).length,
    statuses: measured.reduce<Record<string, number>>((acc, r) => ((acc[String(r.status)] = (acc[String(r.status)] ?? 0) + 1), acc), {}),
  };
}

/** Options of {@link runH2loadRate}. */
export interface RateOptions {
  /** Where h2load connects: `http://host:port/path`. */
  readonly url: string;
  readonly host: string;
  /** Requests per second, over all connections. */
  readonly rate: number;
  readonly connections: number;
  readonly warmUpS: number;
  readonly durationS: number;
  readonly logPath: string;
  readonly h2loadPath?: string;
}

/**
 * Sends `rate` requests per second with h2load over HTTP/1.1 for
 * `warmUpS + durationS` seconds and reads every request's time from its log.
 * Each connection sends `rate / connections` per second; the connections
 * open 1 ms apart (`-r 1 --rate-period 1ms`), so that their timers do not
 * fire together and the requests arrive spread out rather than in bursts of
 * `connections`.
 */
export async function runH2loadRate(options: RateOptions): Promise<RateFigures> {
  if (options.rate % options.connections !== 0) throw new Error(`h2load: ${options.rate} requests/s do not split evenly over ${options.connections} connections`);
  await rm(options.logPath, { force: true });
  const total = options.rate * (options.warmUpS + options.durationS);
  await run(
    options.h2loadPath ?? 'h2load',
    ['--h1', '-t', '1', '-c', String(options.connections), '-r', '1', '--rate-period', '1ms', '--rps', String(options.rate / options.connections), '-n', String(total), '-T', '60s', '--log-file', options.logPath, '-H', `:authority: ${options.host}`, options.url],
    (options.warmUpS + options.durationS + 30) * 1000,
  );
  return parseH2loadLog(await readFile(options.logPath, 'utf8'), options.warmUpS);
}

/**
 * Closed-loop requests with h2load over HTTP/1.1, as a warm-up: unlike wrk,
 * h2load with a request count ends only after the last answer, so no
 * request is in flight when it closes its connections. Resolves with the
 * number of 2xx answers.
 */
export async function runH2loadRequests(options: { url: string; host: string; connections: number; requests: number; h2loadPath?: string }): Promise<number> {
  const output = await run(
    options.h2loadPath ?? 'h2load',
    ['--h1', '-t', '1', '-c', String(options.connections), '-n', String(options.requests), '-T', '60s', '-H', `:authority: ${options.host}`, options.url],
    120_000,
  );
  const m = /status codes: (\d+) 2xx/.exec(output);
  if (!m) throw new Error(`h2load printed no status codes:\n${output}`);
  return Number(m[1]);
}

/** The HAProxy configuration of the baseline: one frontend, one backend server, HTTP keep-alive on both sides. */
export function haproxyConfig(listen: { host: string; port: number }, server: { host: string; port: number }, threads: number): string {
  return `# Written by the meshbus proxy benchmark.
global
    nbthread ${threads}
    maxconn 4096
    log stderr format raw local0 err

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend bench
    bind ${listen.host}:${listen.port}
    default_backend backend

backend backend
    server backend1 ${server.host}:${server.port} maxconn 10000
`;
}

/** Resolves once a TCP connection to host:port succeeds, or rejects after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
