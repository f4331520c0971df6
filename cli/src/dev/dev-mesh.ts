import { existsSync } from 'node:fs';
import { cp, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, isPortFree, natsAuthorizationConfig, startNats, type NatsCluster } from '@meshbus/local-nats';
import { errorMessage, ResourceStack, type Logger } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { devStatePath, readDevState, removeDevState, writeDevState, type DevState } from '../dev-state.js';
import { DevStartError } from '../errors.js';
import { ensureNatsReachable } from '../nats-probe.js';
import { createDevIdentity } from './identity-material.js';
import { loadOrCreateNatsUsers, natsUserList, natsUsersPath, type DevNatsUsers } from './nats-users.js';
import { planDevProcesses, serviceScript, type DevServiceName } from './plan.js';
import { waitUntilReady } from './readiness.js';
import { describeExit, ProcessSupervisor } from './supervisor.js';
import { formatDevSummary } from './summary.js';

/** Configuration of {@link DevMesh}, from the flags of `meshbus dev`. */
export interface DevMeshConfig {
  /** Absolute path of the state folder (`.meshbus`). */
  stateDir: string;
  /** Absolute path of the manifests folder. @default `<stateDir>/manifests`, copied from examples/manifests when missing */
  manifestsDir?: string;
  /** Replicas of each service. */
  replicas: number;
  /** nats-server processes to start, clustered when more than 1 (ignored with natsUrl). @default 1 */
  natsNodes?: number;
  /** `MESHBUS_STREAM_REPLICAS` of the services. @default unset (the services' default, 1) */
  streamReplicas?: number;
  /** An existing NATS to use. @default a nats-server started with its store under `<stateDir>/nats` */
  natsUrl?: string;
  /** gRPC port of the first gateway; replica i asks for `gatewayPort + i - 1`. */
  gatewayPort: number;
  logLevel: string;
  /** Print the services' JSON log lines as they are instead of readable lines. */
  json: boolean;
  readyTimeoutMs: number;
  /** Repository root: `services/<svc>/dist/main.js` and `examples/manifests` are found from here. */
  repoRoot: string;
  /** @default 10000 */
  stopGraceMs?: number;
  /** @default 1000 */
  restartDelayMs?: number;
}

/**
 * The local mesh of `meshbus dev`: nats-server, every service as supervised
 * child processes, trust material, a manifests folder and the state file
 * other commands read. Resources are released in reverse order on dispose.
 */
export class DevMesh implements AsyncDisposable {
  private readonly stack: ResourceStack;
  private stopping = false;

  constructor(
    private readonly config: DevMeshConfig,
    private readonly io: Pick<CliContext, 'env' | 'stdout' | 'stderr' | 'signal'>,
    logger: Logger,
  ) {
    this.stack = new ResourceStack(logger);
  }

  /** Brings everything up; resolves true once every process is ready, false if aborted first. */
  async start(): Promise<boolean> {
    const { config, io } = this;
    await mkdir(config.stateDir, { recursive: true });
    const statePath = devStatePath(config.stateDir);
    const running = await readDevState(config.stateDir, '.');
    if (running) throw new DevStartError(`another meshbus dev (pid ${running.pid ?? '?'}) uses ${config.stateDir}; stop it or pass another --state-dir`);

    const servicesDir = join(config.repoRoot, 'services');
    const services: DevServiceName[] = ['destination', 'policy', 'gateway'];
    for (const s of services) {
      const script = serviceScript(servicesDir, s);
      if (!existsSync(script)) throw new DevStartError(`${script} is missing: build first (npm run build)`);
    }
    if (existsSync(serviceScript(servicesDir, 'identity'))) services.push('identity');

    const manifests = await this.prepareManifests();
    const identityDir = join(config.stateDir, 'identity');
    const identityCreated = !existsSync(identityDir);
    if (identityCreated) await createDevIdentity(identityDir);

    // With an external NATS its operator decides who may do what; the children inherit NATS_USER/NATS_PASSWORD.
    const natsUsers = config.natsUrl ? undefined : await loadOrCreateNatsUsers(config.stateDir);
    const nats = await this.startNats(natsUsers);
    const natsUrl = nats?.url ?? config.natsUrl!;

    const processCount = services.length * config.replicas;
    const adminPorts: number[] = [];
    for (let i = 0; i < processCount; i++) adminPorts.push(await freePort());
    const gatewayPorts: number[] = [];
    for (let i = 0; i < config.replicas; i++) {
      const wanted = config.gatewayPort + i;
      if (await isPortFree(wanted)) {
        gatewayPorts.push(wanted);
      } else {
        const port = await freePort();
        this.notice(`port ${wanted} is busy; gateway-${i + 1} listens on ${port} instead`);
        gatewayPorts.push(port);
      }
    }
    const specs = planDevProcesses({
      services,
      replicas: config.replicas,
      servicesDir,
      natsUrl,
      logLevel: config.logLevel,
      manifestsDir: manifests.dir,
      identityDir,
      adminPorts,
      gatewayPorts,
      ...(natsUsers ? { natsUsers } : {}),
      ...(config.streamReplicas !== undefined ? { streamReplicas: config.streamReplicas } : {}),
    });

    const supervisor = new ProcessSupervisor({
      specs,
      baseEnv: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
      json: config.json,
      restartDelayMs: config.restartDelayMs,
      stopGraceMs: config.stopGraceMs,
      notice: (t) => this.notice(t),
    });
    supervisor.start();
    this.stack.defer(supervisor, () => supervisor.stop());
    this.notice(`started ${specs.map((s) => s.name).join(', ')}; waiting until each answers /ready`);

    const ready = await waitUntilReady(specs, {
      timeoutMs: config.readyTimeoutMs,
      signal: io.signal,
      describe: (name) => {
        const p = supervisor.processes.find((x) => x.spec.name === name);
        if (!p?.lastExit) return undefined;
        const exits = p.restarts + (p.pid === undefined ? 1 : 0);
        return `it exited ${exits} time(s), last ${describeExit(p.lastExit)} (see its [${name}] output above)`;
      },
    });
    if (!ready) return false;

    const state: DevState = {
      natsUrl,
      gateways: specs.flatMap((s) => (s.grpcAddress ? [s.grpcAddress] : [])),
      admin: Object.fromEntries(specs.map((s) => [s.name, s.adminUrl])),
      pid: process.pid,
      manifestsDir: manifests.dir,
      ...(natsUsers ? { natsUsers: { reader: natsUsers.reader, workload: natsUsers.workload, tap: natsUsers.tap } } : {}),
    };
    await writeDevState(statePath, state);
    this.stack.defer(statePath, () => removeDevState(statePath));
    io.stdout.write(
      formatDevSummary({
        natsUrl,
        ...(nats ? { natsMonitorUrl: `http://127.0.0.1:${nats.nodes[0]!.monitorPort}`, natsStoreDir: nats.storeDir } : {}),
        ...(natsUsers ? { natsUsersPath: natsUsersPath(config.stateDir) } : {}),
        gateways: state.gateways,
        admin: state.admin,
        manifestsDir: manifests.dir,
        manifestsCopied: manifests.copied,
        identityDir,
        identityCreated,
        statePath,
      }),
    );
    return true;
  }

  /** Stops the children (SIGTERM, then SIGKILL after the grace period), then NATS; removes the state file. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stopping = true;
    await this.stack.disposeAll();
  }

  private notice(text: string): void {
    this.io.stdout.write(`[dev] ${text}\n`);
  }

  private async prepareManifests(): Promise<{ dir: string; copied: boolean }> {
    const { config } = this;
    if (config.manifestsDir) {
      const s = await stat(config.manifestsDir).catch(() => undefined);
      if (!s?.isDirectory()) throw new DevStartError(`manifests folder ${config.manifestsDir} does not exist`);
      return { dir: config.manifestsDir, copied: false };
    }
    const dir = join(config.stateDir, 'manifests');
    if (existsSync(dir)) return { dir, copied: false };
    await cp(join(config.repoRoot, 'examples', 'manifests'), dir, { recursive: true });
    this.notice(`copied examples/manifests to ${dir}: edit the files there`);
    return { dir, copied: true };
  }

  private async startNats(users: DevNatsUsers | undefined): Promise<NatsCluster | undefined> {
    const { config } = this;
    if (config.natsUrl) {
      await ensureNatsReachable(config.natsUrl);
      return undefined;
    }
    const delay = config.restartDelayMs ?? 1000;
    const nats: NatsCluster = await startNats({
      nodes: config.natsNodes ?? 1,
      // A cluster keeps its own stores: streams a single server created hold one replica.
      storeDir: join(config.stateDir, (config.natsNodes ?? 1) > 1 ? 'nats-cluster' : 'nats'),
      ...(users ? { authorization: natsAuthorizationConfig(natsUserList(users)) } : {}),
      ownProcessGroup: true,
      onExit: (node, exit) => {
        if (this.stopping) return;
        const why = exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`;
        this.notice(`nats-server ${node.name} exited ${why}; starting it again in ${delay / 1000}s${exit.stderr ? `\n${exit.stderr.trimEnd()}` : ''}`);
        setTimeout(() => {
          if (this.stopping) return;
          nats.restart(nats.nodes.indexOf(node)).then(
            () => this.notice(`nats-server ${node.name} started again on ${node.url}`),
            (err: unknown) => this.notice(`nats-server did not start again: ${errorMessage(err)}`),
          );
        }, delay);
      },
    });
    this.stack.defer(nats, () => nats.stop());
    const what = nats.nodes.length > 1 ? `a cluster of ${nats.nodes.length} nats-servers` : 'nats-server';
    this.notice(`${what} listening on ${nats.url} (JetStream store ${nats.storeDir})`);
    return nats;
  }
}
