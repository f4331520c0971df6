import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

/** Options of {@link startNats}. */
export interface NatsOptions {
  /** Number of clustered servers; 1 runs a standalone server. @default 1 */
  nodes?: number;
  /** Extra configuration appended to every server's config file. */
  extraConfig?: string;
  /** Seconds to wait for the servers (and the JetStream meta leader) to come up. @default 20 */
  startTimeoutSec?: number;
}

/** One running nats-server process of a {@link NatsCluster}. */
export interface NatsNode {
  name: string;
  clientPort: number;
  monitorPort: number;
  url: string;
  running: boolean;
}

/** Real nats-server processes with JetStream, on free ports, in a temp dir. */
export interface NatsCluster extends AsyncDisposable {
  /** Client URLs of all nodes, comma separated (what NATS clients accept). */
  readonly url: string;
  readonly nodes: readonly NatsNode[];
  /** Kills node i (SIGKILL), keeping its store. */
  kill(i: number): Promise<void>;
  /** Starts node i again with the same ports and store. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Finds the nats-server binary: $NATS_SERVER_BIN, PATH, or /usr/sbin. */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NATS_SERVER_BIN) return env.NATS_SERVER_BIN;
  for (const dir of (env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/bin', '/usr/bin'])) {
    if (dir && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  throw new Error('nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
}

/**
 * Starts real nats-server processes with JetStream for tests and `npm run dev`:
 * one standalone server, or a cluster of N with JetStream clustering, each on
 * free ports with its own store directory.
 */
export async function startNats(options: NatsOptions = {}): Promise<NatsCluster> {
  const n = options.nodes ?? 1;
  const bin = natsServerBinary();
  const dir = await mkdtemp(join(tmpdir(), 'meshbus-nats-'));
  const specs: { name: string; client: number; monitor: number; route: number; config: string }[] = [];
  for (let i = 0; i < n; i++) {
    specs.push({ name: `n${i + 1}`, client: await freePort(), monitor: await freePort(), route: await freePort(), config: join(dir, `n${i + 1}.conf`) });
  }
  for (const s of specs) {
    const lines = [
      `server_name: ${s.name}`,
      `listen: 127.0.0.1:${s.client}`,
      `http: 127.0.0.1:${s.monitor}`,
      `jetstream { store_dir: "${join(dir, s.name)}", max_memory_store: 256MB, max_file_store: 1GB }`,
    ];
    if (n > 1) {
      const routes = specs.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.route}`);
      lines.push(`cluster { name: meshbus-test, listen: 127.0.0.1:${s.route}, routes: [${routes.join(', ')}] }`);
    }
    if (options.extraConfig) lines.push(options.extraConfig);
    await writeFile(s.config, lines.join('\n') + '\n');
  }
  const procs: (ChildProcess | undefined)[] = new Array(n).fill(undefined);
  const nodes: NatsNode[] = specs.map((s) => ({ name: s.name, clientPort: s.client, monitorPort: s.monitor, url: `nats://127.0.0.1:${s.client}`, running: false }));
  const timeoutMs = (options.startTimeoutSec ?? 20) * 1000;

  const launch = (i: number) => {
    const p = spawn(bin, ['-c', specs[i]!.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    p.on('exit', () => {
      nodes[i]!.running = false;
    });
    procs[i] = p;
    nodes[i]!.running = true;
    return () => stderr;
  };

  const healthy = async (i: number) => {
    const res = await fetch(`http://127.0.0.1:${specs[i]!.monitor}/jsz`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    if (n === 1) return true;
    const body = (await res.json()) as { meta_cluster?: { leader?: string } };
    return Boolean(body.meta_cluster?.leader);
  };

  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const stderrs = specs.map((_, i) => launch(i));
    for (let i = 0; i < n; i++) {
      await waitFor(() => healthy(i), { timeoutMs, what: `nats-server ${specs[i]!.name} (stderr: ${stderrs[i]!()})` });
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: nodes.map((x) => x.url).join(','),
    nodes,
    async kill(i) {
      const p = procs[i];
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
    async restart(i) {
      launch(i);
      await waitFor(() => healthy(i), { timeoutMs, what: `nats-server ${specs[i]!.name} restart` });
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
