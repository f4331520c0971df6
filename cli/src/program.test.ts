import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from './context.js';
import { createProgram } from './program.js';

function run(args: string[]): Promise<{ error: unknown; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const context: CliContext = {
    env: {},
    cwd: '/nonexistent',
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    signal: new AbortController().signal,
  };
  return createProgram(context)
    .parseAsync(args, { from: 'user' })
    .then(
      () => ({ error: undefined, stdout, stderr }),
      (error: unknown) => ({ error, stdout, stderr }),
    );
}

describe('meshbus program', () => {
  it('lists its commands in the help', async () => {
    const { error, stdout } = await run(['--help']);
    expect((error as CommanderError).exitCode).toBe(0);
    for (const command of ['dev', 'endpoints', 'events', 'register']) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it.each([
    [['endpoints', 'web:80'], `target "web:80" must be <service>.<namespace>:<port>, e.g. web.shop:80`],
    [['endpoints', 'web.shop:80', '--gateway', 'localhost'], `gateway "localhost" must be host:port`],
    [['endpoints', 'web.shop:80', '--cluster-domain', 'a..b'], 'cluster domain "a..b" must be a DNS name'],
    [['events', '--subject', 'meshbus.>.state'], "'>' may only be the last token"],
    [['register', '--namespace', 'shop', '--name', 'w', '--address', '10.0.0.1', '--port', '80', '--interval', '50ms'], '--interval 50ms is shorter than 100ms'],
    [['register', '--namespace', 'shop', '--name', 'w', '--address', '10.0.0.1', '--port', '80', '--label', 'x'], 'label "x" must be key=value'],
    [['dev', '--replicas', '0'], '--replicas must be from 1 to 9, got 0'],
    [['dev', '--gateway-port', '70000'], '--gateway-port 70000 is out of range'],
    [['dev', '--log-level', 'loud'], "Allowed choices are trace, debug, info, warn, error, fatal, silent"],
  ])('refuses %j with a clear message', async (args, message) => {
    const { error, stderr } = await run(args);
    expect(error).toBeInstanceOf(CommanderError);
    expect((error as CommanderError).exitCode).toBe(1);
    expect(stderr).toContain(message);
  });
});
