/*
 * A benchmark's child process with a Node.js IPC channel, read as typed
 * messages, and the check that it reads the same clock as the parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** The clock round trip every client process answers (see fanout-clients.ts). */
export type ClockCommand = { type: 'clock'; parentNs: string };
export type ClockReport = { type: 'clock'; parentNs: string; childNs: string };

const now = () => process.hrtime.bigint();

/** A child process with an IPC channel, read as typed messages. */
export class IpcChild<Command, Report extends { type: string }> {
  private readonly queue: Report[] = [];
  private readonly waiters: { match: (r: Report) => boolean; resolve: (r: Report) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private exit: string | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    private readonly what: string,
  ) {
    child.on('message', (m: Report) => this.deliver(m));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = `${what} exited (${signal ?? code})`;
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(this.exit));
        }
        resolve();
      }),
    );
  }

  static spawn<C, R extends { type: string }>(file: string, what: string, nodeArgs: string[] = []): IpcChild<C, R> {
    const child = spawn(process.execPath, [...nodeArgs, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new IpcChild<C, R>(child, what);
  }

  private deliver(m: Report): void {
    const i = this.waiters.findIndex((w) => w.match(m));
    if (i !== -1) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      w!.resolve(m);
    } else if (m.type === 'failed') {
      const err = new Error(`${this.what}: ${(m as { message?: string }).message}`);
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(err);
      }
    } else {
      this.queue.push(m);
    }
  }

  send(command: Command): void {
    this.child.send(command as object);
  }

  /** The next message of `type` (and of `group`, when given): already received, or the next to arrive. */
  next<T extends Report['type']>(type: T, timeoutMs: number, group?: string): Promise<Extract<Report, { type: T }>> {
    const match = (m: Report) => m.type === type && (group === undefined || (m as { group?: string }).group === group);
    const i = this.queue.findIndex(match);
    if (i !== -1) return Promise.resolve(this.queue.splice(i, 1)[0] as Extract<Report, { type: T }>);
    if (this.exit) return Promise.reject(new Error(this.exit));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.waiters.findIndex((w) => w.timer === timer);
        if (k !== -1) this.waiters.splice(k, 1);
        reject(new Error(`${this.what}: no '${type}'${group ? ` for ${group}` : ''} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ match, resolve: resolve as (r: Report) => void, reject, timer });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.disconnect();
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

/** Checks that the two processes read one clock (see fanout-clients.ts): parent send ≤ child reading ≤ parent receive. */
export async function checkSharedClock<C, R extends { type: string }>(clients: IpcChild<C | ClockCommand, R | ClockReport>): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const sent = now();
    clients.send({ type: 'clock', parentNs: sent.toString() });
    const { childNs } = (await clients.next('clock', 5000)) as ClockReport;
    const received = now();
    const child = BigInt(childNs);
    if (child < sent || child > received) {
      throw new Error(`process.hrtime is not shared between processes here (child read ${child}, parent ${sent}..${received}); latencies would be meaningless`);
    }
  }
}
