import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, ensureStreams } from '@meshbus/bus';
import { silentLogger } from '@meshbus/runtime';
import { startNats, type NatsCluster } from '@meshbus/testing';
import { runCli } from './cli-process.js';

type Connection = Awaited<ReturnType<typeof connectBus>>;

describe('meshbus register against a real nats-server', () => {
  let nats: NatsCluster;
  let nc: Connection;
  let cwd: string;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectBus({ servers: [nats.url], name: 'register-test' }, silentLogger());
    await ensureStreams(await nc.jetstreamManager());
    cwd = await mkdtemp(join(tmpdir(), 'meshbus-cli-register-'));
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('refuses bad flags before connecting', async () => {
    const cli = runCli(['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.300', '--port', '80'], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toContain('"127.0.0.300" is not an IPv4 or IPv6 address');

    const noPort = runCli(['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.1'], { cwd });
    expect((await noPort.exited).code).toBe(1);
    expect(noPort.output()).toContain("required option '--port <[name=]port>' not specified");

    const hugeZone = runCli(['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.1', '--port', '80', '--zone', 'z'.repeat(64)], { cwd });
    expect((await hugeZone.exited).code).toBe(1);
    expect(hugeZone.output()).toContain('the registration is not valid: /zone must NOT have more than 63 characters');
  });

  it('says how to give the workload token when there is none', async () => {
    const cli = runCli(['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.19', '--port', '80', '--nats-url', nats.url], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toContain('register needs the workload token: pass --token-file <file> or set MESHBUS_WORKLOAD_TOKEN');
  });
});
