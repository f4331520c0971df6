import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@meshbus/testing';
import type { DevProcessSpec } from './plan.js';
import { waitUntilReady } from './readiness.js';
import { ProcessSupervisor } from './supervisor.js';

class Buffered {
  text = '';
  write(s: string) {
    this.text += s;
  }
}

const scripts = {
  // Logs one JSON line (written in two chunks) and its replica id, then waits; exits 0 on SIGTERM.
  steady: `
    process.stdout.write(JSON.stringify({ level: 'info', msg: 'listening', replica: process.env.MESHBUS_REPLICA_ID }).slice(0, 10));
    setTimeout(() => process.stdout.write(JSON.stringify({ level: 'info', msg: 'listening', replica: process.env.MESHBUS_REPLICA_ID }).slice(10) + '\\n'), 50);
    process.on('SIGTERM', () => { console.error('bye'); process.exit(0); });
    setInterval(() => {}, 1000);`,
  crashing: `setTimeout(() => process.exit(3), 100);`,
  stubborn: `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000);`,
};

describe('ProcessSupervisor', () => {
  let dir: string;
  const spec = (name: string, script: keyof typeof scripts): DevProcessSpec => ({
    name,
    service: 'destination',
    script: join(dir, `${script}.mjs`),
    env: { MESHBUS_REPLICA_ID: name },
    adminUrl: 'http://127.0.0.1:1',
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-supervisor-'));
    for (const [name, code] of Object.entries(scripts)) await writeFile(join(dir, `${name}.mjs`), code);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes whole JSON records through with json, prefixes other lines with the process name, and passes its environment', async () => {
    const stdout = new Buffered();
    const stderr = new Buffered();
    const supervisor = new ProcessSupervisor({ specs: [spec('destination-1', 'steady')], baseEnv: process.env, stdout, stderr, json: true, notice: () => undefined });
    supervisor.start();
    await waitFor(() => stdout.text.includes('\n'), { what: 'a log line' });
    expect(stdout.text).toBe('{"level":"info","msg":"listening","replica":"destination-1"}\n');
    await supervisor.stop();
    expect(stderr.text).toBe('[destination-1] bye\n');
    expect(supervisor.processes[0]!.lastExit).toEqual({ code: 0, signal: null });
  });

  it('prints each JSON log record as one readable line by default', async () => {
    const stdout = new Buffered();
    const stderr = new Buffered();
    const supervisor = new ProcessSupervisor({ specs: [spec('gateway-2', 'steady')], baseEnv: process.env, stdout, stderr, notice: () => undefined });
    supervisor.start();
    await waitFor(() => stdout.text.includes('\n'), { what: 'a log line' });
    expect(stdout.text).toBe('gateway-2 INFO  listening\n');
    await supervisor.stop();
    expect(stderr.text).toBe('[gateway-2] bye\n');
  });

  it('prints lines that are not JSON after the process name, in both modes', async () => {
    for (const json of [false, true]) {
      const stdout = new Buffered();
      const supervisor = new ProcessSupervisor({ specs: [spec('destination-3', 'stubborn')], baseEnv: process.env, stdout, stderr: new Buffered(), json, stopGraceMs: 100, notice: () => undefined });
      supervisor.start();
      await waitFor(() => stdout.text.includes('\n'), { what: 'a line' });
      expect(stdout.text).toBe('[destination-3] up\n');
      await supervisor.stop();
    }
  });

  it('reports a process that dies and starts it again after the delay, but not once stopping', async () => {
    const notices: string[] = [];
    const supervisor = new ProcessSupervisor({
      specs: [spec('destination-2', 'crashing')],
      baseEnv: process.env,
      stdout: new Buffered(),
      stderr: new Buffered(),
      restartDelayMs: 100,
      notice: (t) => notices.push(t),
    });
    supervisor.start();
    await waitFor(() => supervisor.processes[0]!.restarts >= 2, { what: 'two restarts' });
    expect(notices).toContain('destination-2 exited with code 3; starting it again in 0.1s');
    expect(notices.some((n) => /^destination-2 started again \(pid \d+\)$/.test(n))).toBe(true);
    await supervisor.stop();
    const restarts = supervisor.processes[0]!.restarts;
    await new Promise((r) => setTimeout(r, 300));
    expect(supervisor.processes[0]!.restarts).toBe(restarts);
  });

  it('kills a process that ignores SIGTERM after the grace period', async () => {
    const notices: string[] = [];
    const stdout = new Buffered();
    const supervisor = new ProcessSupervisor({ specs: [spec('gateway-1', 'stubborn')], baseEnv: process.env, stdout, stderr: new Buffered(), stopGraceMs: 300, notice: (t) => notices.push(t) });
    supervisor.start();
    await waitFor(() => stdout.text.includes('up'), { what: 'the process to start' });
    await supervisor.stop();
    expect(notices).toEqual(['gateway-1 did not stop within 0.3s; killing it']);
    expect(supervisor.processes[0]!.lastExit).toEqual({ code: null, signal: 'SIGKILL' });
  });
});

describe('waitUntilReady', () => {
  let server: Server;
  let url: string;
  let ready = false;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/ready' && ready) res.writeHead(200).end('ready\n');
      else res.writeHead(503).end('not ready: bus not caught up\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('waits until /ready answers 200', async () => {
    ready = false;
    setTimeout(() => (ready = true), 300);
    await expect(waitUntilReady([{ name: 'gateway-1', adminUrl: url }], { timeoutMs: 5000, intervalMs: 50, signal: new AbortController().signal })).resolves.toBe(true);
  });

  it('names the processes that are not ready when time is up', async () => {
    ready = false;
    const closed = `http://127.0.0.1:${await freePort()}`;
    await expect(
      waitUntilReady(
        [
          { name: 'gateway-1', adminUrl: url },
          { name: 'destination-1', adminUrl: closed },
        ],
        { timeoutMs: 300, intervalMs: 50, signal: new AbortController().signal, describe: (n) => (n === 'destination-1' ? 'it exited 2 time(s)' : undefined) },
      ),
    ).rejects.toThrow(
      new RegExp(`^not ready after 0.3s: gateway-1 at ${url}/ready answered 503: not ready: bus not caught up; destination-1 at ${closed}/ready no answer \\(ECONNREFUSED\\); it exited 2 time\\(s\\)$`),
    );
  });

  it('stops waiting when aborted', async () => {
    ready = false;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expect(waitUntilReady([{ name: 'gateway-1', adminUrl: url }], { timeoutMs: 5000, signal: controller.signal })).resolves.toBe(false);
  });
});
