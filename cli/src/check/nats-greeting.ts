import { connect } from 'node:net';
import { natsServers } from '../nats-probe.js';

/** What a NATS server says first on a new connection (its `INFO` line), in part. */
export interface NatsGreeting {
  readonly address: string;
  readonly serverId?: string;
  readonly version?: string;
  readonly jetstream?: boolean;
}

const maxGreeting = 64 * 1024;

function greet(host: string, port: number, signal: AbortSignal): Promise<NatsGreeting> {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let text = '';
    const done = (error: Error | undefined, greeting?: NatsGreeting) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(greeting!);
    };
    const onAbort = () => done(new Error(`${address}: no INFO in time`));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (error) => done(new Error(`${address}: ${error.message}`)));
    socket.once('close', () => done(new Error(`${address}: closed before the server sent INFO`)));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n');
      if (end < 0) {
        if (text.length > maxGreeting) done(new Error(`${address}: no INFO line in the first ${maxGreeting} bytes`));
        return;
      }
      const line = text.slice(0, end);
      if (!line.startsWith('INFO ')) return done(new Error(`${address} is not a NATS server: it said ${JSON.stringify(line.slice(0, 60))}`));
      try {
        const info = JSON.parse(line.slice(5)) as { server_id?: unknown; version?: unknown; jetstream?: unknown };
        done(undefined, {
          address,
          ...(typeof info.server_id === 'string' ? { serverId: info.server_id } : {}),
          ...(typeof info.version === 'string' ? { version: info.version } : {}),
          ...(typeof info.jetstream === 'boolean' ? { jetstream: info.jetstream } : {}),
        });
      } catch {
        done(new Error(`${address}: the INFO line is not JSON`));
      }
    });
  });
}

/**
 * Connects to the servers of a NATS URL list in turn and reads the first
 * one's INFO greeting; fails with every server's problem when none answers.
 * Works for TLS servers too, which greet in plain text before the handshake.
 */
export async function natsGreeting(url: string, signal: AbortSignal): Promise<NatsGreeting> {
  const problems: string[] = [];
  for (const { host, port } of natsServers(url)) {
    try {
      return await greet(host, port, signal);
    } catch (error) {
      problems.push((error as Error).message);
      if (signal.aborted) break;
    }
  }
  throw new Error(problems.length === 0 ? `${url} names no server` : problems.join('; '));
}
