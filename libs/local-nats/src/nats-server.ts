import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { MeshbusError } from '@meshbus/runtime';
import { freePort } from './free-port.js';
import { checkClusterName } from './multicluster.js';

/** No nats-server binary could be found. */
export class NatsServerNotFoundError extends MeshbusError {
  override name = 'NatsServerNotFoundError';
  constructor() {
    super('NatsServerNotFound', 'nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN');
  }
}

/** A nats-server did not become healthy in time. */
export class NatsStartError extends MeshbusError {
  override name = 'NatsStartError';
  constructor(message: string) {
    super('NatsStartFailed', message);
  }
}

/** How a server process ended. */
export interface NatsExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines the server wrote to stderr. */
  stderr: string;
}

/** `max_payload` of the servers {@link startNats} writes the configuration of: 8 MiB. */
export const defaultMaxPayload = 8 * 1024 * 1024;

/** Options of {@link startNats}. */
export interface NatsOptions {
  /** Number of clustered servers; 1 runs a standalone server. @default 1 */
  nodes?: number;
  /**
   * JetStream domain of the servers: the cluster's name when meshes are linked
   * (see multicluster.ts), so that a linked cluster reaches this one's streams
   * through `$JS.<domain>.API`.
   */
  jetstreamDomain?: string;
  /** Extra configuration appended to every server's config file. */
  extraConfig?: string;
  /**
   * Largest message the servers accept, in bytes (`max_payload`). Raised from
   * the nats-server default of 1 MB so that the endpoint set of a very large
   * service still fits once compressed (see docs/events.md).
   * @default 8 MiB ({@link defaultMaxPayload})
   */
  maxPayload?: number;
  /**
   * An `authorization { ... }` block (see `natsAuthorizationConfig`):
   * clients must then log in. The monitoring port used for health checks stays open.
   */
  authorization?: string;
  /** Seconds to wait for the servers (and the JetStream meta leader) to come up. @default 20 */
  startTimeoutSec?: number;
  /**
   * Folder for the config files and JetStream stores, kept after {@link NatsCluster.stop}
   * so that the next start finds the streams again.
   * @default a temporary folder, removed on stop
   */
  storeDir?: string;
  /** Called when a server exits on its own, not through `stop()` or `kill()`. */
  onExit?(node: NatsNode, exit: NatsExit): void;
  /**
   * Run each server in its own process group, so that a terminal's Ctrl-C
   * reaches only the parent, which then stops the servers when it is ready to.
   * @default false
   */
  ownProcessGroup?: boolean;
  /** Where to look for the binary. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** One running nats-server process of a {@link NatsCluster}. */
export interface NatsNode {
  name: string;
  clientPort: number;
  monitorPort: number;
  url: string;
  running: boolean;
  /** Process id of the running server. */
  pid: number | undefined;
}

/** Real nats-server processes with JetStream, on free ports. */
export interface NatsCluster extends AsyncDisposable {
  /** Client URLs of all nodes, comma separated (what NATS clients accept). */
  readonly url: string;
  readonly nodes: readonly NatsNode[];
  /** Folder holding the config files and stores. */
  readonly storeDir: string;
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
  throw new NatsServerNotFoundError();
}

/** A server exited at start because a port it was given was taken meanwhile. */
class PortTakenError extends MeshbusError {
  override name = 'PortTakenError';
  constructor(stderr: string) {
    super('NatsPortTaken', stderr.trim().split('\n').pop() ?? 'address already in use');
  }
}

/** The `server_id` of the INFO a server sends on a new client connection, if one answers on `port`. */
function clientPortServerId(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let text = '';
    const done = (id: string | undefined) => {
      socket.destroy();
      resolve(id);
    };
    socket.setTimeout(1000, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      const m = /^INFO\s+(\{.*\})\s*$/.exec(text.slice(0, end));
      try {
        done(m ? ((JSON.parse(m[1]!) as { server_id?: string }).server_id ?? undefined) : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}

async function waitUntilHealthy(check: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastError ? ` (last error: ${String(lastError)})` : '';
      throw new NatsStartError(`timed out waiting for ${what()}${suffix}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts real nats-server processes with JetStream for tests and `npm run dev`:
 * one standalone server, or a cluster of N with JetStream clustering, each on
 * free ports with its own store directory.
 */
export async function startNats(options: NatsOptions = {}): Promise<NatsCluster> {
  const n = options.nodes ?? 1;
  const bin = natsServerBinary(options.env);
  const persistent = options.storeDir !== undefined;
  const dir = persistent ? resolvePath(options.storeDir!) : await mkdtemp(join(tmpdir(), 'meshbus-nats-'));
  if (persistent) await mkdir(dir, { recursive: true });
  const specs: { name: string; client: number; monitor: number; route: number; config: string }[] = [];
  /** Picks free ports and writes each server's configuration (again, after a port was taken meanwhile). */
  const configure = async () => {
    specs.length = 0;
    for (let i = 0; i < n; i++) {
      specs.push({ name: `n${i + 1}`, client: await freePort(), monitor: await freePort(), route: await freePort(), config: join(dir, `n${i + 1}.conf`) });
    }
    for (const s of specs) {
      // 4GB of file storage: MESHBUS_METRICS reserves its size limit (1 GiB by
      // default) up front, and the state and events streams must still fit when
      // a restarted server recovers them.
      const lines = [
        `server_name: ${s.name}`,
        `listen: 127.0.0.1:${s.client}`,
        `http: 127.0.0.1:${s.monitor}`,
        `jetstream { store_dir: ${JSON.stringify(join(dir, s.name))}, max_memory_store: 256MB, max_file_store: 4GB${options.jetstreamDomain === undefined ? '' : `, domain: ${checkClusterName(options.jetstreamDomain, 'JetStream domain')}`} }`,
        `max_payload: ${options.maxPayload ?? defaultMaxPayload}`,
      ];
      if (n > 1) {
        const routes = specs.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.route}`);
        lines.push(`cluster { name: meshbus-local, listen: 127.0.0.1:${s.route}, routes: [${routes.join(', ')}] }`);
      }
      if (options.authorization) lines.push(options.authorization);
      if (options.extraConfig) lines.push(options.extraConfig);
      // The file may hold passwords (authorization).
      await writeFile(s.config, lines.join('\n') + '\n', { mode: 0o600 });
      await chmod(s.config, 0o600);
    }
  };
  await configure();
  const procs: (ChildProcess | undefined)[] = new Array(n).fill(undefined);
  const expectedExit: boolean[] = new Array(n).fill(false);
  const stderrs: string[] = new Array(n).fill('');
  const nodes: NatsNode[] = specs.map((s) => ({ name: s.name, clientPort: s.client, monitorPort: s.monitor, url: `nats://127.0.0.1:${s.client}`, running: false, pid: undefined }));
  const renumber = () =>
    specs.forEach((s, i) => Object.assign(nodes[i]!, { clientPort: s.client, monitorPort: s.monitor, url: `nats://127.0.0.1:${s.client}` }));
  const timeoutMs = (options.startTimeoutSec ?? 20) * 1000;

  const launch = (i: number) => {
    const p = spawn(bin, ['-c', specs[i]!.config], { stdio: ['ignore', 'ignore', 'pipe'], detached: options.ownProcessGroup ?? false });
    stderrs[i] = '';
    expectedExit[i] = false;
    p.stderr?.on('data', (d: Buffer) => {
      stderrs[i] = (stderrs[i] + d.toString()).slice(-4000);
    });
    p.on('exit', (code, signal) => {
      nodes[i]!.running = false;
      if (!expectedExit[i]) options.onExit?.(nodes[i]!, { code, signal, stderr: stderrs[i]! });
    });
    p.on('error', (err) => {
      stderrs[i] += `\n${err.message}`;
    });
    procs[i] = p;
    nodes[i]!.running = true;
    nodes[i]!.pid = p.pid;
  };

  const healthy = async (i: number) => {
    // The server must be running and own its client port: another process may have taken a
    // port between freePort and the server's start, while the monitor port already answers.
    if (!nodes[i]!.running) return false;
    const varz = (await (await fetch(`http://127.0.0.1:${specs[i]!.monitor}/varz`, { signal: AbortSignal.timeout(1000) })).json()) as { server_id?: string };
    if (!varz.server_id || (await clientPortServerId(specs[i]!.client)) !== varz.server_id) return false;
    const res = await fetch(`http://127.0.0.1:${specs[i]!.monitor}/jsz`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    if (n === 1) return true;
    const body = (await res.json()) as { meta_cluster?: { leader?: string } };
    return Boolean(body.meta_cluster?.leader);
  };

  /** A server that exited at start because one of its ports was taken. */
  const portTaken = (i: number) => !nodes[i]!.running && /address already in use/.test(stderrs[i]!);
  const stopProcesses = async () => {
    await Promise.all(
      procs.map(
        (p, i) =>
          new Promise<void>((resolve) => {
            expectedExit[i] = true;
            if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  };
  const stop = async () => {
    await stopProcesses();
    if (!persistent) await rm(dir, { recursive: true, force: true });
  };

  for (let attempt = 1; ; attempt++) {
    try {
      specs.forEach((_, i) => launch(i));
      for (let i = 0; i < n; i++) {
        await waitUntilHealthy(async () => portTaken(i) || (await healthy(i)), timeoutMs, () => `nats-server ${specs[i]!.name} (stderr: ${stderrs[i]})`);
        if (portTaken(i)) throw new PortTakenError(stderrs[i]!);
      }
      break;
    } catch (err) {
      const retry = err instanceof PortTakenError && attempt < 3;
      await stopProcesses();
      if (!retry) {
        if (!persistent) await rm(dir, { recursive: true, force: true });
        throw err instanceof PortTakenError ? new NatsStartError(`nats-server could not listen: ${err.message}`) : err;
      }
      await configure();
      renumber();
    }
  }

  return {
    url: nodes.map((x) => x.url).join(','),
    nodes,
    storeDir: dir,
    async kill(i) {
      const p = procs[i];
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      expectedExit[i] = true;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
    async restart(i) {
      launch(i);
      await waitUntilHealthy(() => healthy(i), timeoutMs, () => `nats-server ${specs[i]!.name} restart (stderr: ${stderrs[i]})`);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
