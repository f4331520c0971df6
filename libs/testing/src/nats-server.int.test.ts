import { describe, expect, it } from 'vitest';
import { startNats } from './nats-server.js';
import { httpGet } from './wait.js';

describe('startNats', () => {
  it('starts a standalone JetStream server on free ports and stops it', async () => {
    const nats = await startNats();
    const jsz = await httpGet(`http://127.0.0.1:${nats.nodes[0]!.monitorPort}/jsz`);
    expect(jsz.status).toBe(200);
    expect(nats.nodes[0]!.clientPort).not.toBe(4222);
    await nats.stop();
    await expect(httpGet(`http://127.0.0.1:${nats.nodes[0]!.monitorPort}/jsz`)).rejects.toThrow();
  });

  it('starts a 3-node cluster with a JetStream meta leader', async () => {
    await using nats = await startNats({ nodes: 3 });
    expect(nats.url.split(',')).toHaveLength(3);
    const body = JSON.parse((await httpGet(`http://127.0.0.1:${nats.nodes[1]!.monitorPort}/jsz`)).body) as {
      meta_cluster?: { leader?: string; cluster_size?: number };
    };
    expect(body.meta_cluster?.leader).toMatch(/^n[123]$/);
    await nats.kill(0);
    expect(nats.nodes[0]!.running).toBe(false);
    await nats.restart(0);
    expect(nats.nodes[0]!.running).toBe(true);
  });
});
