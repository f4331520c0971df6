/*
 * The proxy benchmark: HTTP GETs on loopback, direct to a backend, through
 * HAProxy, through one meshbus proxy (outbound listener → a workload outside
 * the mesh) and through the mesh path (proxy A → mutual TLS 1.3 and HTTP/2 →
 * proxy B → the workload). Throughput with wrk, latency at a constant rate
 * with h2load, and the proxies' resident memory. Every program runs in its
 * own process; the control plane (nats-server, destination, policy,
 * identity, gateway) is started here as the built services.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, httpGet, startNats, startProcess, waitFor, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { proxyBenchCases, type ProxyBenchCase } from './flags.js';
import { IpcChild } from './ipc-child.js';
import { findOnPath, haproxyConfig, installHint, run, runH2loadRate, runH2loadRequests, runWrk, waitForPort, type LoadTool, type RateFigures, type WrkFigures } from './load-tools.js';
import type { BackendCommand, BackendReport } from './proxy-backend.js';
import { fmtMs, table } from './tables.js';

/** One meshbus hop should reach at least this fraction of HAProxy's requests per second. */
export const PROXY_TARGET_RATIO = 0.5;
/** The mesh path should add less than this at p99, at {@link PROXY_RATE} requests per second, in ms. */
export const PROXY_TARGET_ADDED_P99_MS = 2;
/** A proxy with a 100-endpoint service resolved should stay under this resident size, in bytes. */
export const PROXY_TARGET_RSS_BYTES = 64 * 1024 * 1024;
/** The constant rate of the latency figures (and of the target), requests per second. */
export const PROXY_RATE = 1000;
/** Endpoints of the service whose resolution the idle memory figure includes. */
export const PROXY_WIDE_ENDPOINTS = 100;

/** Options of {@link runProxyBench}. */
export interface ProxyBenchOptions {
  /** Measured seconds of each wrk run and of each constant-rate run. @default 6 */
  readonly durationS?: number;
  /** wrk threads and connections. @default 1 and 32 */
  readonly threads?: number;
  readonly connections?: number;
  /** HAProxy threads. @default 1, as the meshbus proxy runs on one thread */
  readonly haproxyThreads?: number;
  /** The constant rate, requests per second (a multiple of 10: 10 connections). @default {@link PROXY_RATE} */
  readonly rate?: number;
  /** Which cases to run. @default all of {@link proxyCaseNames} */
  readonly cases?: readonly ProxyCaseName[];
  /** Run the proxies with node --cpu-prof, writing their profiles here. */
  readonly cpuProfileDir?: string;
  readonly progress?: (line: string) => void;
}

/** The cases, in the order they run. */
export const proxyCaseNames = proxyBenchCases;
export type ProxyCaseName = ProxyBenchCase;

/** One way from the client to the backend. */
export interface ProxyCaseFigure {
  readonly name: ProxyCaseName;
  readonly title: string;
  /** wrk, or undefined when wrk is missing (or HAProxy for its case). */
  readonly throughput: WrkFigures | undefined;
  /** requests/s ÷ HAProxy's. */
  readonly ratioToHaproxy: number | undefined;
  /** At {@link PROXY_RATE} requests/s, or undefined when h2load is missing. */
  readonly rate: RateFigures | undefined;
  /** Requests the backend answered on this path's address during the measured wrk run. */
  readonly backendAnswered: number | undefined;
  /** Connections the backend accepted on this path's address during the measured wrk run, and its reads per request answered. */
  readonly backendConnections: { readonly opened: number; readonly readsPerRequest: number } | undefined;
  /**
   * CPU time (user + system, from /proc/<pid>/stat) per request during the measured wrk
   * run, in µs: of the proxies on the path together (HAProxy, or A, or A and B), and of each
   * process (`A`, `B`, `haproxy`, `backend`). On a machine shared with other work this shows
   * the cost of a request better than requests/s do.
   */
  readonly cpuPerRequestUs: { readonly path: number; readonly byProcess: Readonly<Record<string, number>> } | undefined;
}

/** Resident memory of the proxies (VmRSS), in bytes. */
export interface ProxyMemoryFigures {
  /** Proxy A once ready, before any request. */
  readonly readyA: number;
  readonly readyB: number;
  /** Proxy A idle with the 100-endpoint service resolved (lowest of 5 samples, 200 ms apart). */
  readonly idleWideA: number;
  /** V8 heap of proxy A at that point, used and reserved (its /metrics: nodejs_heap_size_used_bytes, nodejs_heap_size_total_bytes). */
  readonly idleWideHeapA: { readonly used: number; readonly total: number } | undefined;
  /** A Node.js process that runs nothing (`node -e`), on the same machine: the floor under any proxy written for Node.js. */
  readonly bareNode: number;
  /** Highest sample (every 250 ms) during the measured runs through each proxy. */
  readonly loadA: number | undefined;
  readonly loadB: number | undefined;
  /** Endpoints proxy A reached while resolving the wide service (backend requests per address). */
  readonly wideEndpointsReached: number;
}

export type ProxyBenchResult =
  | { readonly skipped: true; readonly reason: string; format(): string }
  | {
      readonly skipped: false;
      readonly settings: { readonly durationS: number; readonly warmUpS: number; readonly warmUpRequests: number; readonly threads: number; readonly connections: number; readonly haproxyThreads: number; readonly rate: number; readonly rateConnections: number };
      readonly missingTools: readonly LoadTool[];
      readonly cases: readonly ProxyCaseFigure[];
      /** Mesh path minus direct at the constant rate, in ms. */
      readonly added: { readonly p50: number; readonly p99: number } | undefined;
      readonly memory: ProxyMemoryFigures;
      /** Proxies that died during the run (each was started again). */
      readonly exits: readonly ProxyExit[];
      readonly profiles: readonly string[];
      format(): string;
    };

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const backendMain = fileURLToPath(new URL('./proxy-backend.js', import.meta.url));
const referenceMain = fileURLToPath(new URL('./node-proxy-reference.js', import.meta.url));
const proxyMain = `${repoRoot}proxy/dist/main.js`;
const cliMain = `${repoRoot}cli/dist/main.js`;
const serviceMain = (name: string) => `${repoRoot}services/${name}/dist/main.js`;

const ns = 'bench';
/** Proxy A's workload (the client side) and proxy B's (in front of the backend). */
const hostA = '127.0.0.61';
const hostB = '127.0.0.52';
/** The backend's address outside the mesh (direct, HAProxy, one meshbus hop). */
const hostPlain = '127.0.0.51';
const wideHost = (i: number) => `127.0.1.${i + 1}`;
const warmUpS = 2;
/** Requests of the h2load warm-up before each wrk run. */
const warmUpRequests = 3000;
const rateWarmUpS = 1;
const rateConnections = 10;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function skipped(reason: string): ProxyBenchResult {
  return { skipped: true, reason, format: () => `proxy: skipped: ${reason}` };
}

/** The mesh: the three services of the benchmark, their workloads, and B's Server that admits only A. */
export function proxyBenchManifests(backendPort: number): string {
  const workload = (name: string, app: string, address: string, sa: string, meshed: boolean) => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: ${name}
  namespace: ${ns}
  labels:
    app: ${app}
spec:
  address: ${address}
  ports:
    - name: http
      port: ${backendPort}
  serviceAccount: ${sa}
  meshed: ${meshed}
`;
  const service = (name: string) => `---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  selector:
    app: ${name}
  ports:
    - name: http
      port: 80
      targetPort: http
`;
  const accounts = ['client', 'server', 'plain']
    .map((sa) => `---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${sa}\n  namespace: ${ns}\n`)
    .join('');
  return `apiVersion: v1
kind: Namespace
metadata:
  name: ${ns}
${accounts}${service('server')}${service('plain')}${service('wide')}${workload('client-1', 'client', hostA, 'client', true)}${workload('server-1', 'server', hostB, 'server', true)}${workload('plain-1', 'plain', hostPlain, 'plain', false)}${Array.from({ length: PROXY_WIDE_ENDPOINTS }, (_, i) => workload(`wide-${i + 1}`, 'wide', wideHost(i), 'plain', false)).join('')}---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: server-http
  namespace: ${ns}
spec:
  podSelector:
    matchLabels:
      app: server
  port: http
  proxyProtocol: HTTP/1
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: client-only
  namespace: ${ns}
spec:
  identityRefs:
    - kind: ServiceAccount
      name: client
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: server-from-client
  namespace: ${ns}
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: server-http
  requiredAuthenticationRefs:
    - group: policy.linkerd.io
      kind: MeshTLSAuthentication
      name: client-only
`;
}

/** VmRSS of a process, in bytes, from /proc/<pid>/status. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** CPU time a process has used (user + system), in seconds, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which is in parentheses and may hold spaces).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`unreadable /proc/${pid}/stat`);
  return ticks / clockTicksPerSecond;
}
/** USER_HZ: 100 on Linux on every common architecture. */
const clockTicksPerSecond = 100;

/** The V8 heap figures of a proxy's /metrics, or undefined when it does not show them. */
async function heapOf(adminUrl: string): Promise<{ used: number; total: number } | undefined> {
  const { body } = await httpGet(`${adminUrl}/metrics`);
  const read = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'm').exec(body);
    return m ? Number(m[1]) : undefined;
  };
  const used = read('nodejs_heap_size_used_bytes');
  const total = read('nodejs_heap_size_total_bytes');
  return used === undefined || total === undefined ? undefined : { used, total };
}

/** VmRSS of a Node.js process that does nothing, 500 ms after it started. */
async function bareNodeRss(): Promise<number> {
  const proc = startProcess({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] });
  try {
    await sleep(500);
    return await residentBytes(proc.child.pid!);
  } finally {
    await proc.kill();
  }
}

/** Samples VmRSS of some processes every 250 ms until stopped; keeps the highest of each. */
function sampleRss(pids: readonly number[]): { stop(): Promise<number[]> } {
  const highest = pids.map(() => 0);
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(pids.map(async (pid, i) => (highest[i] = Math.max(highest[i]!, await residentBytes(pid).catch(() => 0)))));
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return highest;
    },
  };
}

/** A GET through an HTTP proxy in absolute form; resolves with the status (0 when the connection failed). */
function getVia(proxyPort: number, url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

interface ControlPlane {
  readonly gatewayAddress: string;
  stop(): Promise<void>;
}

/** nats-server and the four services as processes, each waited for on its /ready. */
async function startControlPlane(dir: string, progress: (line: string) => void): Promise<{ nats: NatsCluster; plane: ControlPlane }> {
  const nats = await startNats();
  const procs: { name: string; proc: RunningProcess }[] = [];
  const stop = async () => {
    for (const { proc } of procs.reverse()) await proc.stop(5000);
    await nats.stop();
  };
  try {
    const grpcPort = await freePort();
    const common = { NATS_URL: nats.url, MESHBUS_LOG_LEVEL: 'warn' };
    const specs: { name: string; env: Record<string, string> }[] = [
      { name: 'destination', env: { MESHBUS_MANIFESTS_DIR: join(dir, 'manifests'), MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'identity', 'token.pub') } },
      { name: 'policy', env: { MESHBUS_MANIFESTS_DIR: join(dir, 'manifests') } },
      { name: 'identity', env: { MESHBUS_IDENTITY_DIR: join(dir, 'identity'), MESHBUS_TOKEN_PUBLIC_KEY: join(dir, 'identity', 'token.pub') } },
      { name: 'gateway', env: { MESHBUS_GRPC_ADDR: `127.0.0.1:${grpcPort}`, MESHBUS_DRAIN_MS: '500' } },
    ];
    for (const spec of specs) {
      const adminPort = await freePort();
      progress(`proxy: starting ${spec.name}`);
      const proc = startProcess({
        command: process.execPath,
        args: [serviceMain(spec.name)],
        env: { ...process.env, ...common, MESHBUS_REPLICA_ID: `${spec.name}-1`, MESHBUS_ADMIN_ADDR: `127.0.0.1:${adminPort}`, ...spec.env },
      });
      procs.push({ name: spec.name, proc });
      try {
        await waitFor(async () => (await httpGet(`http://127.0.0.1:${adminPort}/ready`)).status === 200, { timeoutMs: 60_000, what: `${spec.name} ready` });
      } catch (err) {
        throw new Error(`${(err as Error).message}; ${spec.name} output:\n${proc.output()}`);
      }
    }
    return { nats, plane: { gatewayAddress: `127.0.0.1:${grpcPort}`, stop } };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function cpuOf(pids: Record<string, number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) out[k] = await cpuSeconds(pid);
  return out;
}

/** One proxy of the benchmark: its fixed ports and identity, and the process running it (started again if it dies). */
interface ProxySpec {
  /** A or B. */
  readonly label: string;
  readonly workload: string;
  readonly sa: string;
  readonly host: string;
  readonly inboundPorts: string;
  readonly outboundPort: number;
  readonly adminPort: number;
}

/** A proxy process that ended on its own during the benchmark. */
export interface ProxyExit {
  readonly proxy: string;
  /** The step it was noticed after. */
  readonly during: string;
  readonly exit: string;
  /** The first lines of the error it printed. */
  readonly error: string;
}

class ProxyHandle {
  proc: RunningProcess | undefined;
  readonly exits: ProxyExit[] = [];

  constructor(
    readonly spec: ProxySpec,
    private readonly env: Record<string, string>,
    private readonly cpuProfileDir: string | undefined,
  ) {}

  get adminUrl(): string {
    return `http://127.0.0.1:${this.spec.adminPort}`;
  }

  get pid(): number {
    return this.proc!.child.pid!;
  }

  async start(): Promise<void> {
    const nodeArgs = this.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', this.cpuProfileDir, '--cpu-prof-name', `proxy-${this.spec.label}.${Date.now()}.cpuprofile`] : [];
    const proc = startProcess({ command: process.execPath, args: [...nodeArgs, proxyMain], env: { ...process.env, ...this.env } });
    this.proc = proc;
    try {
      await waitFor(async () => (await httpGet(`${this.adminUrl}/ready`)).status === 200, { timeoutMs: 30_000, what: `proxy ${this.spec.label} ready` });
    } catch (err) {
      await proc.kill();
      throw new Error(`${(err as Error).message}; proxy output:\n${proc.output()}`);
    }
  }

  alive(): boolean {
    const child = this.proc?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Starts the proxy again if it died; records why. Resolves with whether it had died. */
  async ensure(during: string): Promise<boolean> {
    if (this.alive()) return false;
    const proc = this.proc!;
    const { code, signal } = await proc.exited;
    const lines = proc.output().split('\n');
    const first = lines.findIndex((l) => /^\w*Error\b|^Error \[|"level":"fatal"/.test(l));
    const error = first === -1 ? lines.slice(-5).join('\n') : lines.slice(first, first + 3).join('\n');
    this.exits.push({ proxy: this.spec.label, during, exit: String(signal ?? code), error: error.trim() });
    await this.start();
    return true;
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    return this.proc?.stop(10_000);
  }
}

type Backend = IpcChild<BackendCommand, BackendReport>;

async function startBackend(port: number): Promise<Backend> {
  const hosts = [hostPlain, hostB, ...Array.from({ length: PROXY_WIDE_ENDPOINTS }, (_, i) => wideHost(i))];
  const child: ChildProcess = spawn(process.execPath, [backendMain], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_BACKEND_HOSTS: hosts.join(','), BENCH_BACKEND_PORT: String(port) },
  });
  const backend = new IpcChild<BackendCommand, BackendReport>(child, 'proxy benchmark backend');
  await backend.next('listening', 10_000);
  return backend;
}

async function backendCounts(backend: Backend): Promise<Record<string, number>> {
  return (await backendReport(backend)).byHost;
}

async function backendReport(backend: Backend): Promise<Extract<BackendReport, { type: 'count' }>> {
  backend.send({ type: 'count' });
  return backend.next('count', 5000);
}

/**
 * Runs the proxy benchmark. Cases whose tool is missing are left out (and
 * the report says how to install it); without the proxy and services
 * built, the benchmark is skipped.
 */
export async function runProxyBench(options: ProxyBenchOptions = {}): Promise<ProxyBenchResult> {
  const progress = options.progress ?? (() => undefined);
  const durationS = options.durationS ?? 6;
  const threads = options.threads ?? 1;
  const connections = options.connections ?? 32;
  const haproxyThreads = options.haproxyThreads ?? 1;
  const rateTotal = options.rate ?? PROXY_RATE;
  if (!Number.isInteger(rateTotal) || rateTotal < rateConnections || rateTotal % rateConnections !== 0) throw new Error(`the constant rate must be a multiple of ${rateConnections}, got ${rateTotal}`);
  for (const file of [proxyMain, cliMain, ...['destination', 'policy', 'identity', 'gateway'].map(serviceMain)]) {
    if (!existsSync(file)) return skipped(`${file} is missing: run npm run build`);
  }
  const tools = { wrk: findOnPath('wrk'), h2load: findOnPath('h2load'), haproxy: findOnPath('haproxy') };
  const missingTools = (Object.keys(tools) as LoadTool[]).filter((t) => tools[t] === undefined);
  const hint = installHint(missingTools);
  if (hint) progress(`proxy: ${hint}; the cases that need them are left out`);

  const dir = await mkdtemp(join(tmpdir(), 'meshbus-bench-proxy-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const backendPort = await freePort(hostPlain);
    const inboundPort = await freePort(hostB);
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'bench.yaml'), proxyBenchManifests(backendPort));
    await run(process.execPath, [cliMain, 'identity', 'init', '--dir', join(dir, 'identity')], 30_000);

    const backend = await startBackend(backendPort);
    cleanups.push(() => backend.stop());
    const { plane } = await startControlPlane(dir, progress);
    cleanups.push(() => plane.stop());

    progress('proxy: starting proxies A and B');
    if (options.cpuProfileDir) await mkdir(options.cpuProfileDir, { recursive: true });
    const proxyEnv = async (spec: ProxySpec): Promise<Record<string, string>> => ({
      MESHBUS_PROXY_GATEWAYS: plane.gatewayAddress,
      MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
      MESHBUS_PROXY_NAMESPACE: ns,
      MESHBUS_PROXY_WORKLOAD_NAME: spec.workload,
      MESHBUS_PROXY_SERVICE_ACCOUNT: spec.sa,
      MESHBUS_PROXY_TRUST_ANCHORS: join(dir, 'identity', 'ca.crt'),
      MESHBUS_PROXY_IDENTITY_TOKEN: (await run(process.execPath, [cliMain, 'identity', 'token', '--namespace', ns, '--service-account', spec.sa, '--key', join(dir, 'identity', 'token.key')], 30_000)).trim(),
      MESHBUS_PROXY_INBOUND_ADDR: `${spec.host}:${inboundPort}`,
      MESHBUS_PROXY_INBOUND_PORTS: spec.inboundPorts,
      MESHBUS_PROXY_WORKLOAD_ADDR: spec.host,
      MESHBUS_PROXY_OUTBOUND_ADDR: `127.0.0.1:${spec.outboundPort}`,
      MESHBUS_PROXY_ADMIN_ADDR: `127.0.0.1:${spec.adminPort}`,
      MESHBUS_PROXY_LOG_LEVEL: 'warn',
      MESHBUS_PROXY_ACCESS_LOG: 'off',
      MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '1s',
    });
    const handles: ProxyHandle[] = [];
    for (const [label, workload, sa, host] of [['A', 'client-1', 'client', hostA], ['B', 'server-1', 'server', hostB]] as const) {
      const spec: ProxySpec = { label, workload, sa, host, inboundPorts: String(backendPort), outboundPort: await freePort(), adminPort: await freePort() };
      const handle = new ProxyHandle(spec, await proxyEnv(spec), options.cpuProfileDir);
      await handle.start();
      cleanups.push(() => handle.stop());
      handles.push(handle);
    }
    const [a, b] = handles as [ProxyHandle, ProxyHandle];
    const readyA = await residentBytes(a.pid);
    const readyB = await residentBytes(b.pid);

    const plainUrl = `http://plain.${ns}/`;
    const meshUrl = `http://server.${ns}/`;
    const wideUrl = `http://wide.${ns}/`;
    const answers = (url: string) => waitFor(async () => (await getVia(a.spec.outboundPort, url)) === 200, { timeoutMs: 30_000, intervalMs: 200, what: `200 from ${url} through proxy A` });
    for (const url of [plainUrl, meshUrl]) await answers(url);
    /** After a step: any proxy that died is started again, and answers before the next step. */
    const ensureProxies = async (during: string): Promise<boolean> => {
      let restarted = false;
      for (const h of handles) {
        if (await h.ensure(during)) {
          progress(`proxy: proxy ${h.spec.label} exited during ${during} (${h.exits.at(-1)!.error.split('\n')[0]}); started it again`);
          restarted = true;
        }
      }
      if (restarted) for (const url of [plainUrl, meshUrl]) await answers(url);
      return restarted;
    };

    // Resolve the 100-endpoint service: requests until the backend has seen most of its addresses.
    progress(`proxy: resolving a service with ${PROXY_WIDE_ENDPOINTS} endpoints`);
    await answers(wideUrl);
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 25 }, () => getVia(a.spec.outboundPort, wideUrl)));
    const wideCounts = await backendCounts(backend);
    const wideEndpointsReached = Array.from({ length: PROXY_WIDE_ENDPOINTS }, (_, i) => wideHost(i)).filter((h) => (wideCounts[h] ?? 0) > 0).length;
    await sleep(2000);
    const idleSamples: number[] = [];
    for (let i = 0; i < 5; i++) {
      idleSamples.push(await residentBytes(a.pid));
      await sleep(200);
    }
    const idleWideA = Math.min(...idleSamples);
    const idleWideHeapA = await heapOf(a.adminUrl);
    const bareNode = await bareNodeRss();

    const wanted = new Set(options.cases ?? proxyCaseNames);
    let referencePort: number | undefined;
    let referencePid: number | undefined;
    if (wanted.has('node-http')) {
      referencePort = await freePort();
      const reference = startProcess({
        command: process.execPath,
        args: [referenceMain],
        env: { ...process.env, BENCH_REFERENCE_LISTEN: `127.0.0.1:${referencePort}`, BENCH_REFERENCE_UPSTREAM: `${hostPlain}:${backendPort}` },
      });
      cleanups.push(() => reference.stop(5000));
      referencePid = reference.child.pid;
      try {
        await waitForPort('127.0.0.1', referencePort, 10_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}; node:http reference output:\n${reference.output()}`);
      }
    }
    let haproxyPort: number | undefined;
    let haproxyPid: number | undefined;
    if (tools.haproxy && wanted.has('haproxy')) {
      haproxyPort = await freePort();
      const cfg = join(dir, 'haproxy.cfg');
      await writeFile(cfg, haproxyConfig({ host: '127.0.0.1', port: haproxyPort }, { host: hostPlain, port: backendPort }, haproxyThreads));
      const haproxy = startProcess({ command: tools.haproxy, args: ['-f', cfg, '-db'] });
      cleanups.push(() => haproxy.stop(5000));
      haproxyPid = haproxy.child.pid;
      try {
        await waitForPort('127.0.0.1', haproxyPort, 10_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}; haproxy output:\n${haproxy.output()}`);
      }
    }

    interface CaseSpec {
      readonly name: ProxyCaseName;
      readonly title: string;
      /** Where the client connects. */
      readonly connect: { host: string; port: number } | undefined;
      /** wrk's request target and Host; h2load sends origin form with the Host (the outbound listener takes both). */
      readonly target: string;
      readonly host: string;
      readonly backendHost: string;
      readonly through: readonly ProxyHandle[];
      /** The proxies on the path, for CPU per request. */
      readonly pathProcesses: () => Record<string, number>;
    }
    const specs: CaseSpec[] = [
      { name: 'direct', title: 'direct to the backend', connect: { host: hostPlain, port: backendPort }, target: '/', host: `${hostPlain}:${backendPort}`, backendHost: hostPlain, through: [], pathProcesses: () => ({}) },
      {
        name: 'haproxy',
        title: `HAProxy, 1 hop (${haproxyThreads} thread${haproxyThreads === 1 ? '' : 's'})`,
        connect: haproxyPort === undefined ? undefined : { host: '127.0.0.1', port: haproxyPort },
        target: '/',
        host: `plain.${ns}`,
        backendHost: hostPlain,
        through: [],
        pathProcesses: (): Record<string, number> => (haproxyPid === undefined ? {} : { haproxy: haproxyPid }),
      },
      {
        name: 'node-http',
        title: 'node:http minimal proxy, 1 hop (reference)',
        connect: referencePort === undefined ? undefined : { host: '127.0.0.1', port: referencePort },
        target: plainUrl,
        host: `plain.${ns}`,
        backendHost: hostPlain,
        through: [],
        pathProcesses: (): Record<string, number> => (referencePid === undefined ? {} : { node: referencePid }),
      },
      { name: 'meshbus-hop', title: 'meshbus, 1 hop (A outbound → backend)', connect: { host: '127.0.0.1', port: a.spec.outboundPort }, target: plainUrl, host: `plain.${ns}`, backendHost: hostPlain, through: [a], pathProcesses: () => ({ A: a.pid }) },
      { name: 'meshbus-mesh', title: 'meshbus mesh (A → mTLS h2 → B → backend)', connect: { host: '127.0.0.1', port: a.spec.outboundPort }, target: meshUrl, host: `server.${ns}`, backendHost: hostB, through: [a, b], pathProcesses: () => ({ A: a.pid, B: b.pid }) },
    ];

    const loadPeak = new Map<string, number>();
    const sampleThrough = (spec: CaseSpec) => {
      const sampler = sampleRss(spec.through.map((h) => h.pid));
      return async () => {
        const peaks = await sampler.stop();
        spec.through.forEach((h, i) => loadPeak.set(h.spec.label, Math.max(loadPeak.get(h.spec.label) ?? 0, peaks[i]!)));
      };
    };
    const cases: ProxyCaseFigure[] = [];
    for (const spec of specs.filter((x) => wanted.has(x.name))) {
      let throughput: WrkFigures | undefined;
      let rate: RateFigures | undefined;
      let backendAnswered: number | undefined;
      let cpuPerRequestUs: ProxyCaseFigure['cpuPerRequestUs'];
      let backendConnections: ProxyCaseFigure['backendConnections'];
      const c = spec.connect;
      const warmUp = async (): Promise<void> => {
        if (!c) return;
        if (tools.h2load) {
          await runH2loadRequests({ url: `http://${c.host}:${c.port}/`, host: spec.host, connections, requests: warmUpRequests, h2loadPath: tools.h2load });
        } else if (tools.wrk) {
          await runWrk({ url: `http://${c.host}:${c.port}`, target: spec.target, host: spec.host, threads, connections, durationS: warmUpS, scriptPath: join(dir, 'warm-up.lua'), wrkPath: tools.wrk });
          await ensureProxies(`the warm-up of "${spec.title}"`);
        }
      };
      if (c && tools.wrk) {
        progress(`proxy: ${spec.title}: warm-up, then wrk for ${durationS} s`);
        await warmUp();
        const reportBefore = await backendReport(backend);
        const before = reportBefore.byHost[spec.backendHost] ?? 0;
        const pids: Record<string, number> = { ...spec.pathProcesses(), backend: backend.child.pid! };
        const cpuBefore = await cpuOf(pids);
        const sampled = sampleThrough(spec);
        throughput = await runWrk({ url: `http://${c.host}:${c.port}`, target: spec.target, host: spec.host, threads, connections, durationS, scriptPath: join(dir, `${spec.name}.lua`), wrkPath: tools.wrk });
        await sampled();
        const cpuAfter = await cpuOf(pids);
        const reportAfter = await backendReport(backend);
        backendAnswered = (reportAfter.byHost[spec.backendHost] ?? 0) - before;
        const delta = (k: 'connections' | 'reads') => (reportAfter[k][spec.backendHost] ?? 0) - (reportBefore[k][spec.backendHost] ?? 0);
        backendConnections = { opened: delta('connections'), readsPerRequest: delta('reads') / Math.max(1, backendAnswered) };
        const requests = throughput.requests;
        const byProcess = Object.fromEntries(Object.keys(pids).map((k) => [k, ((cpuAfter[k]! - cpuBefore[k]!) / requests) * 1e6]));
        cpuPerRequestUs = { path: Object.entries(byProcess).reduce((sum, [k, us]) => (k === 'backend' ? sum : sum + us), 0), byProcess };
        const e = throughput.errors;
        if (e.connect + e.read + e.write + e.timeout + e.status > 0) progress(`proxy: ${spec.title}: wrk saw errors ${JSON.stringify(e)}`);
        if (backendAnswered < throughput.requests) progress(`proxy: ${spec.title}: the backend answered ${backendAnswered} requests on ${spec.backendHost}, wrk counted ${throughput.requests}`);
        if (await ensureProxies(`the wrk run of "${spec.title}"`)) await warmUp();
      }
      if (c && tools.h2load) {
        progress(`proxy: ${spec.title}: ${rateTotal} requests/s for ${rateWarmUpS} + ${durationS} s`);
        const sampled = sampleThrough(spec);
        rate = await runH2loadRate({
          url: `http://${c.host}:${c.port}/`,
          host: spec.host,
          rate: rateTotal,
          connections: rateConnections,
          warmUpS: rateWarmUpS,
          durationS,
          logPath: join(dir, `${spec.name}.h2load.tsv`),
          h2loadPath: tools.h2load,
        });
        await sampled();
        if (rate.failed > 0) progress(`proxy: ${spec.title}: ${rate.failed} of ${rate.requests} requests at ${rateTotal}/s did not get 200: ${JSON.stringify(rate.statuses)}`);
        await ensureProxies(`the constant-rate run of "${spec.title}"`);
      }
      cases.push({ name: spec.name, title: spec.title, throughput, rate, backendAnswered, backendConnections, cpuPerRequestUs, ratioToHaproxy: undefined });
    }
    const haproxyRps = cases.find((x) => x.name === 'haproxy')?.throughput?.requestsPerSecond;
    const withRatios = cases.map((x) => ({ ...x, ratioToHaproxy: haproxyRps && x.throughput ? x.throughput.requestsPerSecond / haproxyRps : undefined }));
    const direct = withRatios.find((x) => x.name === 'direct')?.rate;
    const mesh = withRatios.find((x) => x.name === 'meshbus-mesh')?.rate;
    const added = direct && mesh ? { p50: mesh.p50 - direct.p50, p99: mesh.p99 - direct.p99 } : undefined;
    const memory: ProxyMemoryFigures = { readyA, readyB, idleWideA, idleWideHeapA, bareNode, loadA: loadPeak.get('A'), loadB: loadPeak.get('B'), wideEndpointsReached };
    const exits = handles.flatMap((h) => h.exits);

    // Stop the proxies here, so that their CPU profiles are written before the report.
    for (const h of handles) {
      const stopped = await h.stop();
      if (stopped && stopped.code !== 0) progress(`proxy: proxy ${h.spec.label} exited with ${stopped.signal ?? stopped.code} when stopped:\n${h.proc!.output().slice(-2000)}`);
    }
    const profiles = options.cpuProfileDir ? [join(options.cpuProfileDir, 'proxy-A.*.cpuprofile'), join(options.cpuProfileDir, 'proxy-B.*.cpuprofile')] : [];
    const settings = { durationS, warmUpS, warmUpRequests, threads, connections, haproxyThreads, rate: rateTotal, rateConnections };
    return { skipped: false, settings, missingTools, cases: withRatios, added, memory, exits, profiles, format: () => formatProxy(settings, missingTools, withRatios, added, memory, exits, profiles) };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
const num = (n: number) => Math.round(n).toLocaleString('en-US');

function formatProxy(
  settings: Extract<ProxyBenchResult, { skipped: false }>['settings'],
  missingTools: readonly LoadTool[],
  cases: readonly ProxyCaseFigure[],
  added: { p50: number; p99: number } | undefined,
  memory: ProxyMemoryFigures,
  exits: readonly ProxyExit[],
  profiles: readonly string[],
): string {
  const lines = [
    `proxy: HTTP/1.1 GET on loopback to a canned-response backend (its own process); every proxy in its own process`,
    `  throughput: wrk ${settings.threads} thread, ${settings.connections} connections, ${settings.durationS} s after a warm-up (${num(settings.warmUpRequests)} requests with h2load); ` +
      `constant rate: h2load, ${num(settings.rate)} requests/s over ${settings.rateConnections} connections, ${settings.durationS} s after 1 s`,
  ];
  const hint = installHint(missingTools);
  if (hint) lines.push(`  left out: ${hint}`);
  const cpuLine = cases
    .filter((c) => c.cpuPerRequestUs)
    .map((c) => `${c.name} ${Object.entries(c.cpuPerRequestUs!.byProcess).map(([k, us]) => `${k} ${us.toFixed(0)}`).join(', ')}`)
    .join('; ');
  const dash = '-';
  lines.push(
    table(
      ['case', 'requests/s', 'p50 ms', 'p99 ms', 'vs HAProxy', 'CPU µs/req', `@${num(settings.rate)}/s p50`, 'p99', 'p99.9', 'max'],
      cases.map((c) => [
        c.title,
        c.throughput ? num(c.throughput.requestsPerSecond) : dash,
        c.throughput ? fmtMs(c.throughput.p50) : dash,
        c.throughput ? fmtMs(c.throughput.p99) : dash,
        c.ratioToHaproxy !== undefined ? `${c.ratioToHaproxy.toFixed(2)}x` : dash,
        c.cpuPerRequestUs && c.name !== 'direct' ? c.cpuPerRequestUs.path.toFixed(0) : dash,
        c.rate ? fmtMs(c.rate.p50) : dash,
        c.rate ? fmtMs(c.rate.p99) : dash,
        c.rate ? fmtMs(c.rate.p999) : dash,
        c.rate ? fmtMs(c.rate.max) : dash,
      ]),
    ),
  );
  if (cpuLine) lines.push(`  CPU µs per request during the wrk run, by process: ${cpuLine}`);
  const connLine = cases
    .filter((c) => c.backendConnections)
    .map((c) => `${c.name} ${num(c.backendConnections!.opened)} connections, ${c.backendConnections!.readsPerRequest.toFixed(2)} reads/request`)
    .join('; ');
  if (connLine) lines.push(`  backend during the wrk run: ${connLine}`);
  const errors = cases.filter((c) => c.throughput && Object.values(c.throughput.errors).some((n) => n > 0) || (c.rate?.failed ?? 0) > 0);
  for (const c of errors) lines.push(`  errors in "${c.title}": wrk ${JSON.stringify(c.throughput?.errors ?? {})}, at the constant rate ${c.rate?.failed ?? 0} without 200 ${JSON.stringify(c.rate?.statuses ?? {})}`);
  const hop = cases.find((c) => c.name === 'meshbus-hop')?.ratioToHaproxy;
  lines.push(
    hop !== undefined
      ? `target: one meshbus hop at least ${PROXY_TARGET_RATIO}x HAProxy's requests/s: ${hop.toFixed(2)}x: ${met(hop >= PROXY_TARGET_RATIO)}`
      : 'target: one meshbus hop against HAProxy: not measured (wrk or haproxy missing, or the case was not run)',
  );
  const atTargetRate = settings.rate === PROXY_RATE;
  lines.push(
    added && !atTargetRate
      ? `the mesh path adds +${fmtMs(added.p99)} ms at p99 (p50 +${fmtMs(added.p50)} ms) over direct at ${num(settings.rate)} requests/s (the target is for ${num(PROXY_RATE)}/s)`
      : added
      ? `target: the mesh path adds under ${PROXY_TARGET_ADDED_P99_MS} ms at p99 at ${num(settings.rate)} requests/s: +${fmtMs(added.p99)} ms (p50 +${fmtMs(added.p50)} ms) over direct: ${met(added.p99 < PROXY_TARGET_ADDED_P99_MS)}`
      : 'target: latency added by the mesh path: not measured (h2load missing, or the direct or mesh case was not run)',
  );
  lines.push(
    `target: proxy RSS under ${mb(PROXY_TARGET_RSS_BYTES)} with a ${PROXY_WIDE_ENDPOINTS}-endpoint service resolved (${memory.wideEndpointsReached} endpoints reached), idle: ${mb(memory.idleWideA)}: ${met(memory.idleWideA < PROXY_TARGET_RSS_BYTES)}`,
  );
  const heap = memory.idleWideHeapA ? ` (V8 heap ${mb(memory.idleWideHeapA.used)} used of ${mb(memory.idleWideHeapA.total)})` : '';
  lines.push(
    `  proxy RSS: A ready ${mb(memory.readyA)}, B ready ${mb(memory.readyB)}; A idle with ${PROXY_WIDE_ENDPOINTS} endpoints ${mb(memory.idleWideA)}${heap}; ` +
      `highest under load: A ${memory.loadA ? mb(memory.loadA) : dash}, B ${memory.loadB ? mb(memory.loadB) : dash}; a Node.js process running nothing: ${mb(memory.bareNode)}`,
  );
  for (const exit of exits) lines.push(`  proxy ${exit.proxy} exited (${exit.exit}) during ${exit.during}, and was started again: ${exit.error.split('\n').slice(0, 2).join(' ')}`);
  if (profiles.length > 0) lines.push(`  CPU profiles: ${profiles.join(', ')}`);
  return lines.join('\n');
}
