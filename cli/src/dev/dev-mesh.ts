import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  freePort,
  isPortFree,
  leafnodeListenConfig,
  leafnodeRemotesConfig,
  natsAuthorizationConfig,
  startNats,
  type LeafnodeListenTls,
  type LeafnodeRemote,
  type NatsCluster,
  type NatsExtraUser,
  type NatsUser,
} from '@meshbus/local-nats';
import { errorMessage, ResourceStack, type Logger } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { identityCommandDefaults, signWorkloadToken } from '../commands/identity.js';
import { devStatePath, readDevState, removeDevState, writeDevState, type DevState } from '../dev-state.js';
import { DevStartError } from '../errors.js';
import { ensureNatsReachable } from '../nats-probe.js';
import { createDevIdentity } from './identity-material.js';
import { loadOrCreateNatsUsers, natsUserList, natsUsersPath, type DevNatsUsers } from './nats-users.js';
import { planDevProcesses, planGatewayProxy, serviceScript, type DevProcessSpec, type DevServiceName } from './plan.js';
import { waitUntilReady } from './readiness.js';
import { describeExit, ProcessSupervisor } from './supervisor.js';
import { formatDevSummary, type DevSummary } from './summary.js';

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
  /** Set when this mesh is one of several linked ones (`meshbus dev --clusters 2`). */
  cluster?: DevClusterConfig;
}

/** One of the linked meshes of `meshbus dev --clusters 2`. */
export interface DevClusterConfig {
  /** The cluster's name: its JetStream domain, `MESHBUS_CLUSTER_NAME`, and the prefix of its process names. */
  name: string;
  /** The trust material, shared by the linked meshes: one trust anchor, one trust domain. */
  identityDir: string;
  /** Where this mesh's dev.json is written. */
  statePath: string;
  /** The clusters whose exports this one mirrors. */
  links: readonly string[];
  /** Port of the leaf node listener linked clusters connect to. */
  leafnodeListenPort?: number;
  /** TLS of the leaf node listener: the certificate it serves, and the CA linked clusters check it with (shown in the summary). */
  leafnodeListenTls?: LeafnodeListenTls & { readonly caFile: string };
  /** The leaf node connections to the clusters in `links`. */
  leafnodeRemotes?: readonly LeafnodeRemote[];
  /** The logins of linked clusters on this mesh's nats-server. */
  linkUsers?: readonly NatsExtraUser[];
  /** Tunnel port of this mesh's multicluster gateway (a proxy in gateway mode); without it the mesh exports nothing. */
  gatewayProxyPort?: number;
  /** Services (`<namespace>/<name>`) labelled `mirror.meshbus.io/exported: "true"` when the manifests are copied. */
  exportedServices?: readonly string[];
}

/** The label that exports a Service to linked clusters. */
export const exportedLabel = 'mirror.meshbus.io/exported';

/** How long the multicluster gateway's workload token is valid; it is signed again well before. */
const gatewayTokenLifetimeMs = 24 * 3_600_000;
const gatewayTokenRefreshMs = 3_600_000;

/**
 * The local mesh of `meshbus dev`: nats-server, every service as supervised
 * child processes, trust material, a manifests folder and the state file
 * other commands read. Resources are released in reverse order on dispose.
 */
export class DevMesh implements AsyncDisposable {
  private readonly stack: ResourceStack;
  private stopping = false;
  #summary: DevSummary | undefined;

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
    const cluster = config.cluster;
    await mkdir(config.stateDir, { recursive: true });
    const statePath = cluster?.statePath ?? devStatePath(config.stateDir);
    const running = await readDevState(dirname(statePath), '.');
    if (running) throw new DevStartError(`another meshbus dev (pid ${running.pid ?? '?'}) uses ${dirname(statePath)}; stop it or pass another --state-dir`);

    const servicesDir = join(config.repoRoot, 'services');
    const services: DevServiceName[] = ['destination', 'policy', 'gateway'];
    const required: DevServiceName[] = cluster ? [...services, 'identity', 'multicluster'] : services;
    for (const s of required) {
      const script = serviceScript(servicesDir, s);
      if (!existsSync(script)) throw new DevStartError(`${script} is missing: build first (npm run build)`);
    }
    if (cluster || existsSync(serviceScript(servicesDir, 'identity'))) services.push('identity');
    if (cluster) services.push('multicluster');
    const proxyScript = join(config.repoRoot, 'proxy', 'dist', 'main.js');
    if (cluster?.gatewayProxyPort !== undefined && !existsSync(proxyScript)) throw new DevStartError(`${proxyScript} is missing: build first (npm run build)`);

    const manifests = await this.prepareManifests();
    const identityDir = cluster?.identityDir ?? join(config.stateDir, 'identity');
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
    const gatewayTunnel = cluster?.gatewayProxyPort === undefined ? undefined : `127.0.0.1:${cluster.gatewayProxyPort}`;
    const specs: DevProcessSpec[] = planDevProcesses({
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
      ...(cluster
        ? { namePrefix: `${cluster.name}-`, multicluster: { cluster: cluster.name, links: cluster.links, gatewayAddresses: gatewayTunnel ? [gatewayTunnel] : [] } }
        : {}),
    });
    // The gateway proxy starts once the control plane it asks for its certificate is ready.
    const later: DevProcessSpec[] = [];
    if (cluster && gatewayTunnel) {
      const tokenFile = join(config.stateDir, 'multicluster-gateway.token');
      await this.writeGatewayToken(identityDir, tokenFile);
      later.push(
        planGatewayProxy({
          script: proxyScript,
          name: `${cluster.name}-multicluster-gateway-1`,
          gateways: specs.flatMap((s) => (s.grpcAddress ? [s.grpcAddress] : [])),
          tunnelAddress: gatewayTunnel,
          adminPort: await freePort(),
          trustAnchors: join(identityDir, 'ca.crt'),
          tokenFile,
          logLevel: config.logLevel,
        }),
      );
    }

    if (!(await this.runUntilReady(specs))) return false;
    if (later.length > 0) {
      if (!(await this.runUntilReady(later))) return false;
      specs.push(...later);
    }

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
    this.#summary = {
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
      ...(cluster
        ? {
            cluster: {
              name: cluster.name,
              links: cluster.links,
              ...(gatewayTunnel ? { multiclusterGateway: gatewayTunnel } : {}),
              ...(cluster.leafnodeListenPort !== undefined ? { leafnodeListen: `127.0.0.1:${cluster.leafnodeListenPort}` } : {}),
              ...(cluster.leafnodeListenTls ? { leafnodeCaFile: cluster.leafnodeListenTls.caFile } : {}),
              ...(cluster.leafnodeRemotes?.some((r) => r.tls) ? { linkCaFiles: [...new Set(cluster.leafnodeRemotes.flatMap((r) => (r.tls ? [r.tls.caFile] : [])))] } : {}),
            },
          }
        : {}),
    };
    // Linked meshes print their summaries together, once all of them are ready.
    if (!cluster) io.stdout.write(formatDevSummary(this.#summary));
    return true;
  }

  /** Starts the processes under a supervisor of their own; resolves true once each answers /ready, false if aborted first. */
  private async runUntilReady(specs: DevProcessSpec[]): Promise<boolean> {
    const { config, io } = this;
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
    return waitUntilReady(specs, {
      timeoutMs: config.readyTimeoutMs,
      signal: io.signal,
      describe: (name) => {
        const p = supervisor.processes.find((x) => x.spec.name === name);
        if (!p?.lastExit) return undefined;
        const exits = p.restarts + (p.pid === undefined ? 1 : 0);
        return `it exited ${exits} time(s), last ${describeExit(p.lastExit)} (see its [${name}] output above)`;
      },
    });
  }

  /** What the summary shows, once {@link start} resolved true. */
  get summary(): DevSummary | undefined {
    return this.#summary;
  }

  /** Signs the multicluster gateway's workload token into `file`, and again every hour while the mesh runs. */
  private async writeGatewayToken(identityDir: string, file: string): Promise<void> {
    const write = async () =>
      writeFile(
        file,
        await signWorkloadToken({
          namespace: 'meshbus',
          serviceAccount: 'multicluster-gateway',
          expiresMs: gatewayTokenLifetimeMs,
          audience: identityCommandDefaults.audience,
          keyFile: join(identityDir, 'token.key'),
          now: new Date(),
        }),
        { mode: 0o600 },
      );
    await write();
    const timer = setInterval(() => void write().catch((err: unknown) => this.notice(`cannot sign the multicluster gateway's token again: ${errorMessage(err)}`)), gatewayTokenRefreshMs);
    timer.unref();
    this.stack.defer(file, () => clearInterval(timer));
  }

  /** Stops the children (SIGTERM, then SIGKILL after the grace period), then NATS; removes the state file. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stopping = true;
    await this.stack.disposeAll();
  }

  private notice(text: string): void {
    this.io.stdout.write(`[dev${this.config.cluster ? ` ${this.config.cluster.name}` : ''}] ${text}\n`);
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
    const exported = config.cluster?.exportedServices ?? [];
    if (exported.length > 0) await labelExported(dir, exported);
    this.notice(`copied examples/manifests to ${dir}${exported.length > 0 ? ` (${exported.join(', ')} labelled ${exportedLabel}: "true")` : ''}: edit the files there`);
    return { dir, copied: true };
  }

  private async startNats(users: DevNatsUsers | undefined): Promise<NatsCluster | undefined> {
    const { config } = this;
    if (config.natsUrl) {
      await ensureNatsReachable(config.natsUrl);
      return undefined;
    }
    const delay = config.restartDelayMs ?? 1000;
    const cluster = config.cluster;
    // A linked mesh's multicluster service and the CLI's reader name the link streams they may use.
    const withLinks = (list: NatsUser[]) => list.map((u) => (cluster && (u.role === 'multicluster' || u.role === 'reader') ? { ...u, links: cluster.links } : u));
    const extraConfig = [
      // Only the serving certificate: the CA is for the remotes, which log in with a password, not a client certificate.
      ...(cluster?.leafnodeListenPort !== undefined
        ? [leafnodeListenConfig('127.0.0.1', cluster.leafnodeListenPort, cluster.leafnodeListenTls ? { certFile: cluster.leafnodeListenTls.certFile, keyFile: cluster.leafnodeListenTls.keyFile } : undefined)]
        : []),
      ...(cluster?.leafnodeRemotes?.length ? [leafnodeRemotesConfig(cluster.leafnodeRemotes)] : []),
    ].join('');
    const nats: NatsCluster = await startNats({
      nodes: config.natsNodes ?? 1,
      // A cluster keeps its own stores: streams a single server created hold one replica.
      storeDir: join(config.stateDir, (config.natsNodes ?? 1) > 1 ? 'nats-cluster' : 'nats'),
      ...(users ? { authorization: natsAuthorizationConfig(withLinks(natsUserList(users)), cluster?.linkUsers ?? []) } : {}),
      ...(cluster ? { jetstreamDomain: cluster.name } : {}),
      ...(extraConfig ? { extraConfig } : {}),
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

/** Adds the export label to the named Services (`<namespace>/<name>`) of a copied manifests folder. */
async function labelExported(dir: string, services: readonly string[]): Promise<void> {
  const missing = new Set(services);
  for (const file of (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const path = join(dir, file);
    const docs = parseAllDocuments(await readFile(path, 'utf8'));
    let changed = false;
    for (const doc of docs) {
      const key = `${String(doc.getIn(['metadata', 'namespace']) ?? 'default')}/${String(doc.getIn(['metadata', 'name']))}`;
      if (doc.get('kind') !== 'Service' || !missing.has(key)) continue;
      doc.setIn(['metadata', 'labels', exportedLabel], 'true');
      missing.delete(key);
      changed = true;
    }
    if (changed) await writeFile(path, docs.map((d) => String(d)).join(''));
  }
  if (missing.size > 0) throw new DevStartError(`${dir} has no Service ${[...missing].join(', ')} to export`);
}
