import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, isPortFree } from './free-port.js';

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });

describe('freePort', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('hands out distinct ports below the ephemeral range that can be bound', async () => {
    const ports = [];
    for (let i = 0; i < 20; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(20_000);
      expect(p).toBeLessThan(32_768);
    }
    for (const p of ports) servers.push(await listen(p));
  });

  it('skips a port something already listens on', async () => {
    const first = await freePort();
    servers.push(await listen(first));
    expect(await isPortFree(first)).toBe(false);
    // A full round through the block never returns the taken port.
    const seen = new Set<number>();
    for (let i = 0; i < 1_500; i++) seen.add(await freePort());
    expect(seen.has(first)).toBe(false);
  });
});
