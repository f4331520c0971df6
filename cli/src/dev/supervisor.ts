import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { TextSink } from '../context.js';
import { formatLogLine } from '../log-format.js';
import { LineSplitter } from './line-splitter.js';
import type { DevProcessSpec } from './plan.js';

/** How a child process ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the supervisor knows about one of its processes. */
export interface SupervisedProcess {
  readonly spec: DevProcessSpec;
  /** Pid of the running child; undefined while it is down. */
  readonly pid: number | undefined;
  /** How many times it was started again after dying. */
  readonly restarts: number;
  readonly lastExit: ChildExit | undefined;
}

/** Options of {@link ProcessSupervisor}. */
export interface ProcessSupervisorOptions {
  specs: readonly DevProcessSpec[];
  /** Environment every child inherits; each spec's variables are set on top. */
  baseEnv: Readonly<Record<string, string | undefined>>;
  stdout: TextSink;
  stderr: TextSink;
  /** Pass the children's JSON log records through as they are, instead of one readable line each. @default false */
  json?: boolean;
  /** Pause before a child that died is started again. @default 1000 */
  restartDelayMs?: number;
  /** How long a child may take to exit after SIGTERM before it is killed. @default 10000 */
  stopGraceMs?: number;
  /** Receives the supervisor's own messages (exits, restarts). */
  notice(text: string): void;
}

interface Entry {
  spec: DevProcessSpec;
  child: ChildProcess | undefined;
  restarts: number;
  lastExit: ChildExit | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

export function describeExit(exit: ChildExit): string {
  return exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`;
}

/**
 * Runs each spec's main.js as a child process with node, prints every
 * output line as a readable line that names the process (or, with `json`,
 * log records as written, which name their service and replica, and other
 * lines after `[name]`), and starts a child that dies on its own again
 * after a pause. Children get their own process group, so a terminal's
 * Ctrl-C reaches only `meshbus dev`, which then stops them in order.
 */
export class ProcessSupervisor {
  private readonly entries: Entry[];
  private stopping = false;

  constructor(private readonly options: ProcessSupervisorOptions) {
    this.entries = options.specs.map((spec) => ({ spec, child: undefined, restarts: 0, lastExit: undefined, restartTimer: undefined, exited: Promise.resolve() }));
  }

  /** The processes, in spec order. */
  get processes(): readonly SupervisedProcess[] {
    return this.entries.map((e) => ({ spec: e.spec, pid: e.child?.pid, restarts: e.restarts, lastExit: e.lastExit }));
  }

  /** Starts every child. */
  start(): void {
    for (const e of this.entries) this.launch(e);
  }

  /** SIGTERM to every child, SIGKILL to those still running after the grace period; no more restarts. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.entries.map((e) => this.stopOne(e)));
  }

  private launch(entry: Entry): void {
    const { spec } = entry;
    const child = spawn(process.execPath, [spec.script], {
      env: { ...this.options.baseEnv, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    entry.child = child;
    this.pipe(child.stdout!, this.options.stdout, spec.name);
    this.pipe(child.stderr!, this.options.stderr, spec.name);
    entry.exited = new Promise<void>((resolve) => {
      let done = false;
      const onExit = (exit: ChildExit) => {
        if (done) return;
        done = true;
        resolve();
        this.exited(entry, exit);
      };
      child.once('exit', (code, signal) => onExit({ code, signal }));
      child.once('error', (err) => {
        this.options.notice(`${spec.name} could not be started: ${err.message}`);
        if (child.pid === undefined) onExit({ code: null, signal: null });
      });
    });
  }

  private exited(entry: Entry, exit: ChildExit): void {
    entry.child = undefined;
    entry.lastExit = exit;
    if (this.stopping) return;
    const delay = this.options.restartDelayMs ?? 1000;
    this.options.notice(`${entry.spec.name} exited ${describeExit(exit)}; starting it again in ${delay / 1000}s`);
    entry.restartTimer = setTimeout(() => {
      entry.restartTimer = undefined;
      if (this.stopping) return;
      entry.restarts++;
      this.launch(entry);
      this.options.notice(`${entry.spec.name} started again (pid ${entry.child?.pid})`);
    }, delay);
  }

  private async stopOne(entry: Entry): Promise<void> {
    clearTimeout(entry.restartTimer);
    const child = entry.child;
    if (!child) return;
    child.kill('SIGTERM');
    const grace = this.options.stopGraceMs ?? 10_000;
    const timer = setTimeout(() => {
      this.options.notice(`${entry.spec.name} did not stop within ${grace / 1000}s; killing it`);
      child.kill('SIGKILL');
    }, grace);
    await entry.exited;
    clearTimeout(timer);
  }

  private pipe(from: Readable, to: TextSink, name: string): void {
    const splitter = new LineSplitter();
    const write = (lines: string[]) => {
      for (const line of lines) to.write(`${this.options.json ? (isJsonObject(line) ? line : `[${name}] ${line}`) : formatLogLine(line, { source: name })}\n`);
    };
    from.setEncoding('utf8');
    from.on('data', (chunk: string) => write(splitter.push(chunk)));
    from.on('end', () => write(splitter.flush()));
  }
}

function isJsonObject(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
}
