import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import { startNats, type NatsExit } from './nats-server.js';

describe('startNats', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('removes its temporary store on stop', async () => {
    const nats = await startNats();
    expect(nats.nodes[0]!.pid).toBeGreaterThan(0);
    await nats.stop();
    await expect(readdir(nats.storeDir)).rejects.toThrow(/ENOENT/);
  });

  it('keeps JetStream streams in a persistent store dir across runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshbus-local-nats-'));
    dirs.push(dir);
    const first = await startNats({ storeDir: join(dir, 'nats') });
    const nc = await connect({ servers: first.url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
    await nc.jetstream().publish('keep.one', new TextEncoder().encode('1'));
    await nc.close();
    await first.stop();
    expect(await readdir(join(dir, 'nats'))).toContain('n1.conf');

    await using second = await startNats({ storeDir: join(dir, 'nats') });
    const nc2 = await connect({ servers: second.url });
    const info = await (await nc2.jetstreamManager()).streams.info('KEEP');
    expect(info.state.messages).toBe(1);
    await nc2.close();
  });

  it('reports a server that exits on its own, but not one that is stopped', async () => {
    const exits: NatsExit[] = [];
    const nats = await startNats({ onExit: (_node, exit) => exits.push(exit) });
    process.kill(nats.nodes[0]!.pid!, 'SIGKILL');
    await expect.poll(() => exits.length).toBe(1);
    expect(exits[0]!.signal).toBe('SIGKILL');
    expect(nats.nodes[0]!.running).toBe(false);
    await nats.restart(0);
    await nats.stop();
    expect(exits).toHaveLength(1);
  });
});
