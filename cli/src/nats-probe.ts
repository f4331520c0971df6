import { connect } from 'node:net';
import { NatsUnreachableError } from './errors.js';

/** Host and port of each server of a NATS URL list (`nats://a:4222,b:4223`). */
export function natsServers(url: string): { host: string; port: number }[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `nats://${s}`;
      let u: URL;
      try {
        u = new URL(withScheme);
      } catch {
        throw new NatsUnreachableError(`${JSON.stringify(s)} is not a NATS URL such as nats://127.0.0.1:4222`);
      }
      return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 4222 };
    });
}

function reachable(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (problem: string | undefined) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done('timed out'));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err) => done(err.message));
  });
}

/**
 * Fails fast, with a message saying what to do, when no server of the URL
 * accepts TCP connections; the NATS client itself would retry forever.
 */
export async function ensureNatsReachable(url: string, timeoutMs = 3000): Promise<void> {
  const problems: string[] = [];
  for (const { host, port } of natsServers(url)) {
    const problem = await reachable(host, port, timeoutMs);
    if (problem === undefined) return;
    problems.push(`${host}:${port}: ${problem}`);
  }
  throw new NatsUnreachableError(`cannot reach NATS at ${url} (${problems.join('; ')}); start the mesh with \`npm run dev\` or pass --nats-url`);
}
