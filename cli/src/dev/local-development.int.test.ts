import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, waitFor, type RunningProcess } from '@meshbus/testing';
import { cliMain } from '../cli-process.js';
import { repoRoot } from '../paths.js';

// Runs the `npm run dev` walkthrough of docs/local-development.md as written:
// every shell command of its steps, in order, in a folder that holds the
// repository's examples/; the output each `curl` and `authz` shows must come
// out. `npm run dev` and `npm run meshbus --` run the built CLI directly (the
// build is done). The programs listen on the walkthrough's addresses
// (127.0.0.71-73, the proxies on :4143), so it cannot run while someone
// follows the walkthrough on the same machine.

const run = promisify(execFile);

interface Block {
  lang: string;
  text: string;
}

/** The fenced code blocks of the walkthrough (the part before the compose section). */
function walkthroughBlocks(): Block[] {
  const doc = readFileSync(join(repoRoot, 'docs', 'local-development.md'), 'utf8');
  const walkthrough = doc.slice(0, doc.indexOf('## With docker compose'));
  return [...walkthrough.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));
}

/** The commands of a shell block, continuation lines joined. */
function commandsOf(block: Block): string[] {
  return block.text
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '');
}

/** The lines an output block promises: all but `...` and the ones that change every run. */
function promisedLines(block: Block): string[] {
  return block.text.split('\n').filter((l) => l.trim() !== '' && l.trim() !== '...' && !/^date: /.test(l));
}

const meshbusPrefix = 'npm run meshbus -- ';

describe('docs/local-development.md, the npm run dev walkthrough', () => {
  let cwd: string | undefined;
  const background: RunningProcess[] = [];

  afterAll(async () => {
    for (const p of background.reverse()) await p.stop(20_000);
    if (cwd) await rm(cwd, { recursive: true, force: true });
  }, 60_000);

  it('works as written', async () => {
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-walkthrough-'));
    await symlink(join(repoRoot, 'examples'), join(cwd, 'examples'));
    const blocks = walkthroughBlocks();
    const shell = async (command: string) => {
      const { stdout, stderr } = await run('sh', ['-c', command], { cwd, encoding: 'utf8' });
      return stdout + stderr;
    };
    const cli = (args: string) => {
      const p = startProcess({ command: process.execPath, args: [cliMain, ...args.split(/\s+/)], cwd: cwd! });
      background.push(p);
      return p;
    };
    let dev: RunningProcess | undefined;
    let events: RunningProcess | undefined;
    const runs: RunningProcess[] = [];
    const executed: string[] = [];

    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b]!;
      if (block.lang !== 'sh') continue;
      const next = blocks[b + 1]?.lang === '' ? blocks[b + 1] : undefined;
      for (const command of commandsOf(block)) {
        executed.push(command.startsWith(meshbusPrefix) ? command.split(' ').slice(0, 5).join(' ') : command);
        if (command === 'npm run dev') {
          // A free gateway port rather than 8086, which another mesh on this machine may hold.
          dev = cli(`dev --gateway-port ${20_000 + Math.floor(Math.random() * 20_000)}`);
          await waitFor(() => dev!.output().includes('Ctrl-C stops everything'), { timeoutMs: 90_000, what: 'npm run dev to be ready' });
          expect(dev.output()).toContain('meshbus dev is ready.');
        } else if (command === 'npm run dev -- --ha') {
          // dev-ha.int.test.ts runs this one.
        } else if (command === `${meshbusPrefix}events`) {
          events = cli('events');
          await waitFor(() => events!.output().includes('following meshbus.v1.state.>'), { timeoutMs: 15_000, what: 'meshbus events to follow' });
        } else if (command.startsWith(`${meshbusPrefix}run `)) {
          const p = cli(command.slice(meshbusPrefix.length));
          runs.push(p);
          await waitFor(() => p.output().includes('registered on'), { timeoutMs: 30_000, what: `${command} to register` });
        } else if (command.startsWith(`${meshbusPrefix}tap `)) {
          // Tap runs while another terminal calls web again.
          const tap = cli(command.slice(meshbusPrefix.length));
          await waitFor(() => tap.output().includes('Ctrl-C to stop'), { timeoutMs: 15_000, what: 'meshbus tap to start' });
          await waitFor(
            async () => {
              await shell('curl -s -o /dev/null http://127.0.0.71:4143/items');
              return /out +GET +store\.demo\.svc\.cluster\.local:80 +\/items +200 .*demo\/api → demo\/store +tls/.test(tap.output()) && /in +GET +api\.demo +\/items +200 .*demo\/web → demo\/api +tls/.test(tap.output());
            },
            { timeoutMs: 15_000, intervalMs: 500, what: 'tap to show the request api took and the one it sent' },
          ).catch((error: unknown) => {
            throw new Error(`${(error as Error).message}\ngot:\n${tap.output()}`);
          });
          expect(tap.output()).toMatch(/^TIME +DIR +METHOD +AUTHORITY +PATH +STATUS +LATENCY +CLIENT → SERVER +TLS$/m);
          tap.child.kill('SIGINT');
          expect((await tap.exited).code).toBe(0);
        } else if (command === `${meshbusPrefix}stat demo`) {
          // The summaries arrive every 10 s.
          let output = '';
          await waitFor(
            async () => {
              output = await shell(`node ${cliMain} stat demo`);
              return ['demo/api', 'demo/store', 'demo/web'].every((w) => new RegExp(`^${w} +1 +\\d+\\.\\d\\d% +\\d`, 'm').test(output));
            },
            { timeoutMs: 30_000, intervalMs: 1000, what: 'stat to show the three workloads' },
          ).catch((error: unknown) => {
            throw new Error(`${(error as Error).message}\ngot:\n${output}`);
          });
          expect(output).toMatch(/^NAME +MESHED +SUCCESS +RPS +LATENCY_P50 +LATENCY_P95 +LATENCY_P99 +TCP_CONN$/m);
          expect(output).toMatch(/^demo\/store +1 +100\.00% /m);
        } else if (command === `${meshbusPrefix}top demo`) {
          // top redraws every 2 s until Ctrl-C; off a terminal each view follows the previous one.
          const top = cli(command.slice(meshbusPrefix.length));
          const lastView = () => top.output().slice(top.output().lastIndexOf('demo: busiest routes'));
          await waitFor(
            () => ['api', 'store', 'web'].every((w) => new RegExp(`^demo/${w} +inbound +\\S+ +default +\\d+ `, 'm').test(lastView())) && /^demo\/api +outbound +store\.demo\.svc\.cluster\.local:80 +default +\d+ /m.test(lastView()) && /^demo\/web +outbound +api\.demo\.svc\.cluster\.local:80 +default +\d+ /m.test(lastView()),
            { timeoutMs: 15_000, intervalMs: 500, what: 'top to rank the routes of the three workloads' },
          ).catch((error: unknown) => {
            throw new Error(`${(error as Error).message}\ngot:\n${top.output()}`);
          });
          expect(lastView()).toMatch(/^demo: busiest routes over the last 60s, at \S+\n/);
          expect(lastView()).toMatch(/^WORKLOAD +DIRECTION +AUTHORITY +ROUTE +COUNT +RPS +SUCCESS +LATENCY_P50 +LATENCY_P99$/m);
          top.child.kill('SIGINT');
          expect((await top.exited).code).toBe(0);
        } else if (command.startsWith('curl ')) {
          // The walkthrough's policy takes effect "within a second": wait that long, and a little more on a busy machine.
          expect(next, `the output of ${command}`).toBeDefined();
          const lines = promisedLines(next!);
          let output = '';
          await waitFor(
            async () => {
              output = await shell(command);
              return lines.every((l) => output.includes(l));
            },
            { timeoutMs: 5_000, intervalMs: 200, what: `${command} to answer as the walkthrough shows` },
          ).catch((error: unknown) => {
            throw new Error(`${(error as Error).message}\ngot:\n${output}\nexpected the lines:\n${lines.join('\n')}`);
          });
        } else if (command.startsWith(meshbusPrefix)) {
          const output = await shell(`node ${cliMain} ${command.slice(meshbusPrefix.length)}`);
          if (next) for (const l of promisedLines(next)) expect(output, command).toContain(l);
        } else {
          await shell(command);
        }
      }
    }
    expect(executed).toEqual([
      'npm run dev',
      'cp -r examples/demo/manifests .meshbus/manifests/demo',
      'npm run dev -- --ha',
      'npm run meshbus -- events',
      'npm run meshbus -- run',
      'npm run meshbus -- run',
      'npm run meshbus -- run',
      'curl http://127.0.0.71:4143/items',
      'npm run meshbus -- tap',
      'npm run meshbus -- stat',
      'npm run meshbus -- top',
      "sed -i '/name: api-only/,/name: api$/ s/name: api$/name: web/' .meshbus/manifests/demo/policy.yaml",
      'curl -i http://127.0.0.71:4143/items',
      'npm run meshbus -- authz',
      'cp examples/demo/manifests/policy.yaml .meshbus/manifests/demo/policy.yaml',
    ]);
    // The step back: the call goes through again.
    await waitFor(async () => (await shell('curl -s -o /dev/null -w "%{http_code}" http://127.0.0.71:4143/items')) === '200', { timeoutMs: 5_000, what: 'web to answer 200 again' });

    // What the events terminal shows along the way.
    expect(events!.output()).toMatch(/workload\.registered +demo\/web-1 +127\.0\.0\.71 ports http=8080 sa=web/);
    expect(events!.output()).toMatch(/identity\.certificate-issued +api\.demo\.serviceaccount\.identity\.meshbus\.cluster\.local/);
    expect(events!.output()).toMatch(/policy\.inbound\.snapshot +demo\/store-1/);

    // Step 5: Ctrl-C in each terminal.
    for (const p of runs) {
      p.child.kill('SIGINT');
      await p.exited;
    }
    await waitFor(() => /workload\.deregistered +demo\/store-1/.test(events!.output()), { timeoutMs: 10_000, what: 'store-1 deregistered' });
    events!.child.kill('SIGINT');
    await events!.exited;
    dev!.child.kill('SIGINT');
    expect((await dev!.exited).code).toBe(0);
    expect(dev!.output()).toContain('[dev] stopped');
  }, 180_000);
});
