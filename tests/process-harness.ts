import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, startProcess, type NatsCluster, type RunningProcess } from '@meshbus/testing';
import { repoRoot } from './harness.js';

/** The services that run as their own process from `services/<name>/dist/main.js`. */
export type ServiceName = 'destination' | 'policy' | 'gateway' | 'identity';

/** How a child process ended. */
export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Settings of one service process; ports are kept across restarts. */
export interface ServiceProcessSpec {
  service: ServiceName;
  replicaId: string;
  natsUrl: string;
  adminPort: number;
  /** gateway only */
  grpcPort?: number;
  /** Extra environment variables (MESHBUS_MANIFESTS_DIR, MESHBUS_LEASE_DURATION, ...). */
  env: Record<string, string>;
}

/** The built entry point of a service; throws with the fix when it has not been built. */
export function serviceMain(service: ServiceName): string {
  const main = join(repoRoot, 'services', service, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc --build\` before the HA tests`);
  return main;
}

/**
 * A meshbus service running as a child process (`node services/<svc>/dist/main.js`),
 * configured only through its environment, as in a deployment. Keeps its stdout
 * apart from stderr so that log lines can be checked one by one.
 */
export class ServiceProcess {
  private stdoutText = '';
  private stderrText = '';
  /** How the process was ended by the test: SIGKILL leaves a possibly torn last line. */
  endedBy: 'SIGTERM' | 'SIGKILL' | undefined;
  readonly startedAt = Date.now();

  private constructor(
    readonly spec: ServiceProcessSpec,
    readonly proc: RunningProcess,
  ) {
    proc.child.stdout?.on('data', (d: Buffer) => {
      this.stdoutText += d.toString();
    });
    proc.child.stderr?.on('data', (d: Buffer) => {
      this.stderrText += d.toString();
    });
  }

  static start(spec: ServiceProcessSpec): ServiceProcess {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NATS_URL: spec.natsUrl,
      MESHBUS_ADMIN_ADDR: `127.0.0.1:${spec.adminPort}`,
      MESHBUS_REPLICA_ID: spec.replicaId,
      MESHBUS_LOG_LEVEL: 'info',
      ...spec.env,
    };
    if (spec.grpcPort !== undefined) env.MESHBUS_GRPC_ADDR = `127.0.0.1:${spec.grpcPort}`;
    const proc = startProcess({ command: process.execPath, args: [serviceMain(spec.service)], env, cwd: repoRoot });
    return new ServiceProcess(spec, proc);
  }

  /** A new process with the same settings (ports, replica id unless given). */
  restart(replicaId = this.spec.replicaId): ServiceProcess {
    return ServiceProcess.start({ ...this.spec, replicaId });
  }

  get replicaId(): string {
    return this.spec.replicaId;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.spec.adminPort}`;
  }

  get grpcPort(): number {
    if (this.spec.grpcPort === undefined) throw new Error(`${this.spec.service} has no gRPC port`);
    return this.spec.grpcPort;
  }

  /** Name of the NATS connection, as the server's /connz shows it. */
  get connectionName(): string {
    return `meshbus-${this.spec.service}/${this.spec.replicaId}`;
  }

  get running(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  get stdout(): string {
    return this.stdoutText;
  }

  get stderr(): string {
    return this.stderrText;
  }

  describe(): string {
    return `${this.spec.service} ${this.spec.replicaId} (pid ${this.proc.child.pid})`;
  }

  /** Output for an assertion message. */
  tail(chars = 3000): string {
    return `--- ${this.describe()} stdout ---\n${this.stdoutText.slice(-chars)}\n--- stderr ---\n${this.stderrText.slice(-chars)}`;
  }

  /** Resolves once /ready answers 200; fails early when the process exits. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!this.running) throw new Error(`${this.describe()} exited before it was ready\n${this.tail()}`);
      try {
        const r = await httpGet(`${this.adminUrl}/ready`);
        if (r.status === 200) return;
        last = `${r.status} ${r.body.trim()}`;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`${this.describe()} not ready after ${timeoutMs} ms (last: ${last})\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async metrics(): Promise<string> {
    const r = await httpGet(`${this.adminUrl}/metrics`);
    if (r.status !== 200) throw new Error(`${this.describe()} /metrics answered ${r.status}`);
    return r.body;
  }

  /** SIGKILL: no clean-up, no lease release. */
  async kill(): Promise<ExitResult> {
    this.endedBy ??= 'SIGKILL';
    await this.proc.kill();
    return this.proc.exited;
  }

  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`, which the caller sees as a signal exit). */
  async terminate(graceMs = 15_000): Promise<ExitResult> {
    this.endedBy ??= 'SIGTERM';
    return this.proc.stop(graceMs);
  }
}

/** Every service process a test file starts, so that all are stopped (and their logs checked) at the end. */
export class Fleet {
  readonly all: ServiceProcess[] = [];

  constructor(
    readonly natsUrl: string,
    private readonly common: Record<string, string>,
  ) {}

  start(spec: Omit<ServiceProcessSpec, 'natsUrl' | 'env'> & { env?: Record<string, string> }): ServiceProcess {
    return this.track(ServiceProcess.start({ ...spec, natsUrl: this.natsUrl, env: { ...this.common, ...spec.env } }));
  }

  restart(p: ServiceProcess, replicaId?: string): ServiceProcess {
    return this.track(p.restart(replicaId));
  }

  private track(p: ServiceProcess): ServiceProcess {
    this.all.push(p);
    return p;
  }

  running(): ServiceProcess[] {
    return this.all.filter((p) => p.running);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running().map((p) => p.terminate(5000)));
  }
}

/** A log line as every meshbus process writes it. */
export interface LogLine {
  level: string;
  time: string;
  service: string;
  msg: string;
  [field: string]: unknown;
}

const levels = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/**
 * Parses a process's stdout as JSON lines and checks the fields every line
 * must carry. A process killed with SIGKILL may have been cut off in the
 * middle of its last line; that fragment is ignored, any other is an error.
 */
export function parseLogLines(p: ServiceProcess): LogLine[] {
  const text = p.stdout;
  const lines = text.split('\n');
  const tail = lines.pop()!;
  if (tail !== '' && p.endedBy !== 'SIGKILL') throw new Error(`${p.describe()}: stdout ends without a newline: ${JSON.stringify(tail.slice(0, 200))}`);
  return lines.map((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new Error(`${p.describe()}: stdout line ${i + 1} is not JSON: ${JSON.stringify(line.slice(0, 300))}`);
    }
    const o = v as Partial<LogLine> | null;
    const what = `${p.describe()}: stdout line ${i + 1} ${line.slice(0, 300)}`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`${what}: not a JSON object`);
    if (typeof o.level !== 'string' || !levels.has(o.level)) throw new Error(`${what}: level must be one of ${[...levels].join(', ')}`);
    if (typeof o.time !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(o.time) || Number.isNaN(Date.parse(o.time))) {
      throw new Error(`${what}: time must be an RFC 3339 timestamp`);
    }
    if (o.service !== p.spec.service) throw new Error(`${what}: service must be ${p.spec.service}`);
    if (typeof o.msg !== 'string' || o.msg === '') throw new Error(`${what}: msg must be a non-empty string`);
    return o as LogLine;
  });
}

const metricName = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const labelPair = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
const sampleLine = new RegExp(`^(${metricName})(\\{(?:${labelPair}(?:,${labelPair})*,?)?\\})? (\\S+)( -?\\d+)?$`);
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`);
const helpLine = new RegExp(`^# HELP (${metricName}) .*$`);

/**
 * Checks Prometheus text exposition format (0.0.4): HELP/TYPE comments,
 * samples with well-formed labels and float values, each sample belonging to
 * a declared family (histogram/summary suffixes allowed). Returns the samples.
 */
export function parsePrometheusText(text: string): { name: string; labels: string; value: number }[] {
  const types = new Map<string, string>();
  const samples: { name: string; labels: string; value: number }[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    const where = `metrics line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('#')) {
      const t = typeLine.exec(line);
      if (t) {
        types.set(t[1]!, t[2]!);
        continue;
      }
      if (helpLine.test(line)) continue;
      throw new Error(`${where} is a malformed comment`);
    }
    const m = sampleLine.exec(line);
    if (!m) throw new Error(`${where} is not a sample`);
    const [, name, labels = '', raw] = m as unknown as [string, string, string | undefined, string];
    const value = parseGoFloat(raw);
    if (value === undefined) throw new Error(`${where} has a value that is not a float`);
    const family = [name, name.replace(/_(bucket|sum|count)$/, ''), name.replace(/_(sum|count)$/, '')].find((n) => types.has(n));
    if (!family) throw new Error(`${where} belongs to no # TYPE-declared family`);
    samples.push({ name, labels, value });
  }
  if (samples.length === 0) throw new Error('no metric samples');
  return samples;
}

/**
 * A sample value as the format defines it, a Go ParseFloat number: NaN and
 * Inf are case-insensitive there (prom-client writes `Nan`, which Prometheus reads).
 */
function parseGoFloat(raw: string): number | undefined {
  if (/^nan$/i.test(raw)) return NaN;
  const inf = /^([+-]?)inf(inity)?$/i.exec(raw);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return undefined;
  return Number(raw);
}

/** Value of the sample `name` (any labels) in Prometheus text; undefined if absent. */
export function metricValue(text: string, name: string): number | undefined {
  return parsePrometheusText(text).find((s) => s.name === name)?.value;
}

/** Index of the cluster node a NATS connection of that name is attached to, asked from each node's /connz. */
export async function nodeOfConnection(nats: NatsCluster, connectionName: string): Promise<number | undefined> {
  for (const [i, node] of nats.nodes.entries()) {
    if (!node.running) continue;
    try {
      const r = await httpGet(`http://127.0.0.1:${node.monitorPort}/connz?limit=4096`);
      const body = JSON.parse(r.body) as { connections?: { name?: string }[] };
      if (body.connections?.some((c) => c.name === connectionName)) return i;
    } catch {
      // A node that does not answer holds nobody.
    }
  }
  return undefined;
}

/** True once every running node reports itself healthy (JetStream current) on /healthz. */
export async function clusterHealthy(nats: NatsCluster): Promise<boolean> {
  for (const node of nats.nodes) {
    if (!node.running) return false;
    const r = await httpGet(`http://127.0.0.1:${node.monitorPort}/healthz`);
    if (r.status !== 200) return false;
  }
  return true;
}

/**
 * A data-plane proxy as its own process (`node proxy/dist/main.js`),
 * configured through its environment (see `meshProxyEnv` in harness.ts), so
 * that a test can kill it with SIGKILL: no drain, no GOAWAY, sockets reset
 * by the kernel.
 */
export class ProxyProcess {
  private constructor(
    readonly name: string,
    readonly adminPort: number,
    readonly proc: RunningProcess,
  ) {}

  /** `env` must set MESHBUS_PROXY_ADMIN_ADDR to `127.0.0.1:<adminPort>`. */
  static start(name: string, adminPort: number, env: Record<string, string>): ProxyProcess {
    const main = join(repoRoot, 'proxy', 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc --build\` first`);
    if (env.MESHBUS_PROXY_ADMIN_ADDR !== `127.0.0.1:${adminPort}`) throw new Error(`ProxyProcess ${name}: MESHBUS_PROXY_ADMIN_ADDR must be 127.0.0.1:${adminPort}`);
    const proc = startProcess({ command: process.execPath, args: [main], env: { PATH: process.env.PATH, HOME: process.env.HOME, MESHBUS_PROXY_LOG_LEVEL: 'warn', ...env }, cwd: repoRoot });
    return new ProxyProcess(name, adminPort, proc);
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  get running(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  /** Resolves once /ready answers 200; fails early when the process exits. */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!this.running) throw new Error(`proxy ${this.name} exited before it was ready:\n${this.proc.output().slice(-3000)}`);
      try {
        const r = await httpGet(`${this.adminUrl}/ready`);
        if (r.status === 200) return;
        last = `${r.status} ${r.body.trim()}`;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) throw new Error(`proxy ${this.name} not ready after ${timeoutMs} ms (last: ${last}):\n${this.proc.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async metrics(): Promise<string> {
    const r = await httpGet(`${this.adminUrl}/metrics`);
    if (r.status !== 200) throw new Error(`proxy ${this.name} /metrics answered ${r.status}`);
    return r.body;
  }

  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void> {
    return this.proc.kill();
  }

  /** SIGTERM (a drain), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    await this.proc.stop(graceMs);
  }
}

/**
 * The sum of the samples of `name` in Prometheus text whose labels contain
 * every `key="value"` of `labels` (0 when there is none).
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return parsePrometheusText(text)
    .filter((s) => s.name === name && wanted.every((w) => s.labels.includes(w)))
    .reduce((sum, s) => sum + s.value, 0);
}
