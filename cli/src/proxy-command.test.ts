import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from './context.js';
import { createProgram } from './program.js';

async function run(args: string[], env: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const context: CliContext = {
    env,
    cwd: '/nonexistent',
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    signal: new AbortController().signal,
  };
  try {
    await createProgram(context).parseAsync(args, { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { exitCode: error.exitCode, stdout, stderr };
  }
}

describe('meshbus proxy-init', () => {
  it('hands its flags to proxy-init: a dry run prints the rules', async () => {
    const { exitCode, stdout } = await run(['proxy-init', '--proxy-uid', '2102', '--inbound-port', '5143', '--dry-run']);
    expect(exitCode).toBe(0);
    expect(stdout).toContain('-j REDIRECT --to-ports 5143');
    expect(stdout).toMatch(/--uid-owner 2102/);
  });

  it('prints the usage of proxy-init for --help', async () => {
    const { exitCode, stdout } = await run(['proxy-init', '--help']);
    expect(exitCode).toBe(0);
    expect(stdout).toContain('Usage: proxy-init [options]');
  });

  it.each([
    [['proxy-init', '--bogus'], "Unknown option '--bogus'"],
    [['proxy-init', '--dry-run'], 'proxy-uid'],
    [['proxy-init', '--proxy-uid', '2102', '--inbound-port', '0', '--dry-run'], 'inbound-port'],
  ])('exits 2 for %j', async (args, message) => {
    const { exitCode, stdout, stderr } = await run(args);
    expect(exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
  });
});

describe('meshbus proxy', () => {
  it.each([
    [['proxy', '--bogus'], "unknown option '--bogus'"],
    [['proxy', 'extra'], "too many arguments for 'proxy'"],
  ])('exits 2 for %j before anything starts', async (args, message) => {
    const { exitCode, stderr } = await run(args, { MESHBUS_PROXY_GATEWAYS: '127.0.0.1:1' });
    expect(exitCode).toBe(2);
    expect(stderr).toContain(message);
  });

  it('exits 2 naming the setting when the environment is not a configuration', async () => {
    const { exitCode, stderr } = await run(['proxy']);
    expect(exitCode).toBe(2);
    const line = JSON.parse(stderr.trim()) as { level: string; msg: string };
    expect(line.level).toBe('fatal');
    expect(line.msg).toContain('MESHBUS_PROXY_GATEWAYS');
  });
});

describe('meshbus run', () => {
  const workload = ['run', '--namespace', 'shop', '--name', 'web-1', '--service-account', 'web', '--port', 'http=8080'];
  it.each([
    [[...workload, '--bogus', '--', 'true'], "unknown option '--bogus'"],
    [[...workload, '--address', 'localhost', '--', 'true'], 'is not an IPv4 or IPv6 address'],
    [[...workload, '--interval', '10ms', '--', 'true'], '--interval 10ms is shorter than 100ms'],
    [['run', '--namespace', 'shop', '--name', 'web-1', '--port', '8080', '--', 'true'], "required option '--service-account <name>' not specified"],
    [workload, "missing required argument 'command'"],
  ])('exits 2 for %j before anything starts', async (args, message) => {
    const { exitCode, stdout, stderr } = await run(args);
    expect(exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
  });
});
