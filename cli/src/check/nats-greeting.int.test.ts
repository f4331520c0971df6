import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startNats, type NatsCluster } from '@meshbus/testing';
import { natsGreeting } from './nats-greeting.js';

async function listen(onConnection: (socket: Socket) => void): Promise<Server & { port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return Object.assign(server, { port: (server.address() as { port: number }).port });
}

describe('natsGreeting', () => {
  let nats: NatsCluster;
  const sockets = new Set<Socket>();
  let web: Server & { port: number };
  let mute: Server & { port: number };

  beforeAll(async () => {
    nats = await startNats();
    web = await listen((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    mute = await listen((s) => void sockets.add(s.on('error', () => undefined)));
  });
  afterAll(async () => {
    await nats?.stop();
    for (const s of sockets) s.destroy();
    web?.close();
    mute?.close();
  });

  it("reads a real nats-server's INFO, trying the next server of the list when one is down", async () => {
    const down = await freePort();
    const greeting = await natsGreeting(`nats://127.0.0.1:${down},${nats.url}`, AbortSignal.timeout(5000));
    expect(greeting.address).toBe(`127.0.0.1:${nats.nodes[0]!.clientPort}`);
    expect(greeting.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(greeting.jetstream).toBe(true);
  });

  it('names what answered instead of NATS, and gives up when nothing answers in time', async () => {
    await expect(natsGreeting(`nats://127.0.0.1:${web.port}`, AbortSignal.timeout(5000))).rejects.toThrow(`127.0.0.1:${web.port} is not a NATS server: it said "HTTP/1.1 400 Bad Request"`);
    await expect(natsGreeting(`127.0.0.1:${mute.port}`, AbortSignal.timeout(200))).rejects.toThrow(`127.0.0.1:${mute.port}: no INFO in time`);
  });
});
