import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { natsRoles } from '@meshbus/local-nats';
import { registerNatsAuthCommand } from './nats-auth.js';

describe('meshbus nats-auth', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshbus-nats-auth-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function run(...args: string[]): Promise<{ out: string; err: string }> {
    let out = '';
    let err = '';
    const program = new Command('meshbus').exitOverride();
    registerNatsAuthCommand(program, {
      env: {},
      cwd: dir,
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
      signal: new AbortController().signal,
    });
    await program.parseAsync(args, { from: 'user' });
    return { out, err };
  }

  it('creates a users file readable by its owner only and prints a block with every role', async () => {
    const { out, err } = await run('nats-auth', '--users', 'users.json');
    const file = join(dir, 'users.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const users = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { user: string; password: string }>;
    expect(out).toMatch(/^authorization \{/);
    for (const role of natsRoles) {
      expect(out).toContain(users[role]!.password);
    }
    expect(err).toContain(file);
  });

  it('gives the multicluster and reader users the link streams of --links, and no other user', async () => {
    const { out } = await run('nats-auth', '--users', 'users.json', '--links', 'east,north-1');
    // Each user's block, from its `user:` line to the next one.
    const blocks = new Map(out.split(/(?=user: ")/).slice(1).map((b) => [/^user: "([^"]+)"/.exec(b)![1]!, b]));
    const blockOf = (user: string) => blocks.get(user);
    expect(blockOf('multicluster')).toContain('"$JS.API.STREAM.CREATE.MESHBUS_LINK_NORTH_1"');
    expect(blockOf('reader')).toContain('"$JS.API.CONSUMER.CREATE.MESHBUS_LINK_EAST"');
    expect(blockOf('reader')).not.toContain('STREAM.CREATE.MESHBUS_LINK_EAST');
    expect(out.match(/MESHBUS_LINK_EAST/g)?.length).toBe((blockOf('multicluster')!.match(/MESHBUS_LINK_EAST/g)?.length ?? 0) + (blockOf('reader')!.match(/MESHBUS_LINK_EAST/g)?.length ?? 0));
    expect((await run('nats-auth', '--users', 'users.json')).out).not.toContain('MESHBUS_LINK_');
    await expect(run('nats-auth', '--users', 'users.json', '--links', 'East')).rejects.toThrow(/must be a cluster name/);
  });

  it('keeps the passwords of an existing file', async () => {
    const first = await run('nats-auth', '--users', 'users.json');
    const second = await run('nats-auth', '--users', 'users.json');
    expect(second.out).toBe(first.out);
  });
});
