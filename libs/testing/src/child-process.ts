import { spawn, type ChildProcess } from 'node:child_process';

/** Options of {@link startProcess}. */
export interface ProcessOptions {
  command: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep this many characters of the output for error messages and assertions. @default 200000 */
  keepOutput?: number;
}

/** A child process with its combined output captured. */
export interface RunningProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends SIGTERM and waits; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): Promise<void>;
}

/** Starts a child process (e.g. a meshbus service's built main.js) and captures its output. */
export function startProcess(options: ProcessOptions): RunningProcess {
  const child = spawn(options.command, options.args ?? [], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = options.keepOutput ?? 200_000;
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > keep) out = out.slice(-keep);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const stop = async (graceMs = 10_000) => {
    if (alive()) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    }
    return exited;
  };
  return {
    child,
    output: () => out,
    exited,
    stop,
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    [Symbol.asyncDispose]: async () => {
      await stop(3000);
    },
  };
}
