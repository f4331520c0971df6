import { createServer } from 'node:net';

/**
 * Ports handed out by `freePort` come from below the kernel's ephemeral range
 * (Linux defaults to 32768-60999), so no outgoing connection and no `listen(0)`
 * elsewhere on the machine can take one between the check and the bind. Each
 * test worker gets its own block, so parallel test files never pick the same
 * port either. Override the start with MESHBUS_PORT_BASE.
 */
const RANGE_START = Number(process.env.MESHBUS_PORT_BASE ?? 20_000);
const BLOCK_SIZE = 1_500;
const BLOCKS = 8;

function workerBlock(): number {
  const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? Number.NaN);
  // Outside a test runner, spread processes by pid so two CLIs rarely share a block.
  const slot = Number.isInteger(pool) && pool > 0 ? pool - 1 : process.pid;
  return slot % BLOCKS;
}

const blockStart = RANGE_START + workerBlock() * BLOCK_SIZE;
// A random starting point, so a test file that follows another in the same worker
// does not retry the ports whose previous owners may still be shutting down.
let cursor = Math.floor(Math.random() * BLOCK_SIZE);

/** A free TCP port on `host`, from this process's block below the ephemeral range. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < BLOCK_SIZE; tries++) {
    const port = blockStart + (cursor++ % BLOCK_SIZE);
    if (await isPortFree(port, host)) return port;
  }
  return kernelPort(host);
}

/** Asks the kernel for any free port (the fallback when a whole block is taken). */
async function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on `host:port` yet, so a server may bind it. */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}
