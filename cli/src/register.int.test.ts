import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, ensureStreams, StreamReader, type BusEvent } from '@meshbus/bus';
import { busValidator, streams, subjects } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { startNats, waitFor, type NatsCluster } from '@meshbus/testing';
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

  it('heartbeats a registration and leaves a tombstone on SIGTERM', async () => {
    const seen: BusEvent[] = [];
    const reader = new StreamReader({
      nc,
      stream: streams.state.name,
      filter: subjects.workload('shop', 'web-9'),
      validator: busValidator(),
      logger: silentLogger(),
      onEvent: (e) => seen.push(e),
    });
    await reader.start();

    const cli = runCli(
      ['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.19', '--port', 'http=8080', '--port', '9090', '--label', 'app=web',
        '--service-account', 'web', '--zone', 'zone-a', '--interval', '200ms', '--nats-url', nats.url],
      { cwd },
    );
    await waitFor(() => seen.length >= 3, { what: 'three heartbeats', timeoutMs: 15_000 });
    expect(cli.output()).toContain('registered shop/web-9 (127.0.0.19, ports http=8080,9090)');
    expect(seen.every((e) => e.kind === 'workloadRegistered')).toBe(true);
    expect(seen[0]!.data).toEqual({
      namespace: 'shop',
      name: 'web-9',
      address: '127.0.0.19',
      ports: [{ name: 'http', port: 8080 }, { port: 9090 }],
      labels: { app: 'web' },
      serviceAccount: 'web',
      zone: 'zone-a',
      heartbeatIntervalMs: 200,
    });

    expect(await cli.stop()).toEqual({ code: 0, signal: null });
    await waitFor(() => seen.at(-1)?.kind === 'workloadDeregistered', { what: 'the tombstone' });
    expect(seen.at(-1)!.subject).toBe('shop/web-9');
    expect(cli.output()).toContain('deregistered shop/web-9');
    await reader.stop();
  });

  it('refuses bad flags before connecting', async () => {
    const cli = runCli(['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.300', '--port', '80'], { cwd });
    expect((await cli.exited).code).toBe(1);
    expect(cli.output()).toContain('"127.0.0.300" is not an IPv4 or IPv6 address');

    const noPort = runCli(['register', '--namespace', 'shop', '--name', 'web-9', '--address', '127.0.0.1'], { cwd });
    expect((await noPort.exited).code).toBe(1);
    expect(noPort.output()).toContain("required option '--port <[name=]port>' not specified");
  });
});
