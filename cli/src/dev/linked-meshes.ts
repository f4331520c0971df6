import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, isPortFree, linkUser } from '@meshbus/local-nats';
import type { Logger } from '@meshbus/runtime';
import type { CliContext } from '../context.js';
import { devStatePath, readDevState } from '../dev-state.js';
import { DevStartError } from '../errors.js';
import { DevMesh, type DevMeshConfig } from './dev-mesh.js';
import { createDevIdentity } from './identity-material.js';
import { loadOrCreateLeafnodeTls } from './leafnode-tls.js';
import { formatLinkedDevSummary } from './summary.js';

/** The two clusters of `meshbus dev --clusters 2`: east exports, west mirrors. */
export const linkedClusters = { exporting: 'east', mirroring: 'west' } as const;

/** What east exports: the Service `web.shop` of examples/manifests, port 80. */
export const exportedService = { namespace: 'shop', name: 'web', port: 80 } as const;

/** The port of a multicluster gateway's tunnel listener, taken when free. */
export const multiclusterGatewayPort = 4180;

/** How far east's gateway gRPC ports are from west's. */
const gatewayPortOffset = 10;

/** The settings both meshes share; the cluster parts are added here. */
export type LinkedMeshesConfig = Omit<DevMeshConfig, 'cluster' | 'manifestsDir' | 'natsUrl' | 'natsNodes' | 'streamReplicas'>;

/** The login east gives west on its nats-server, kept across runs in east's folder. */
async function loadOrCreateLinkLogin(path: string, user: string): Promise<{ user: string; password: string }> {
  if (existsSync(path)) {
    await chmod(path, 0o600);
    const text = await readFile(path, 'utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new DevStartError(`${path} is not JSON: ${(err as Error).message}; delete it to have a new link login generated`);
    }
    const v = value as { user?: unknown; password?: unknown } | null;
    if (v?.user !== user || typeof v.password !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(v.password)) {
      throw new DevStartError(`${path} holds no password for ${user}; delete it to have a new link login generated`);
    }
    return { user, password: v.password };
  }
  const login = { user, password: randomBytes(24).toString('base64url') };
  await writeFile(path, JSON.stringify(login, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return login;
}

/**
 * Two meshes on this machine, linked as docs/multicluster.md describes: each
 * with its own nats-server (JetStream domain = cluster name), store, manifests
 * folder and control plane with the multicluster service, one trust anchor
 * for both. East listens for leaf nodes and runs a multicluster gateway; west
 * connects to east over TLS (east's leaf node CA and serving certificate are
 * kept in `<stateDir>/east/leafnode-tls`) with the login `link-west` and
 * mirrors what east exports.
 * West's dev.json is `<stateDir>/dev.json`, so the CLI talks to west.
 */
export class LinkedDevMeshes implements AsyncDisposable {
  private readonly meshes: DevMesh[] = [];

  constructor(
    private readonly config: LinkedMeshesConfig,
    private readonly io: Pick<CliContext, 'env' | 'stdout' | 'stderr' | 'signal'>,
    private readonly logger: Logger,
  ) {}

  /** Starts east, then west; resolves true once every process of both is ready, false if aborted first. */
  async start(): Promise<boolean> {
    const { config } = this;
    const { exporting: east, mirroring: west } = linkedClusters;
    const running = (await readDevState(config.stateDir, '.')) ?? (await readDevState(join(config.stateDir, east), '.'));
    if (running) throw new DevStartError(`another meshbus dev (pid ${running.pid ?? '?'}) uses ${config.stateDir}; stop it or pass another --state-dir`);
    await mkdir(join(config.stateDir, east), { recursive: true });
    await mkdir(join(config.stateDir, west), { recursive: true });
    const identityDir = join(config.stateDir, 'identity');
    if (!existsSync(identityDir)) await createDevIdentity(identityDir);

    const login = await loadOrCreateLinkLogin(join(config.stateDir, east, `link-${west}.json`), `link-${west}`);
    const tls = await loadOrCreateLeafnodeTls(join(config.stateDir, east, 'leafnode-tls'), east);
    if (tls.made) this.io.stdout.write(`[dev ${east}] ${tls.made}\n`);
    const leafnodePort = await freePort();
    const tunnelPort = (await isPortFree(multiclusterGatewayPort)) ? multiclusterGatewayPort : await freePort();
    const eastMesh = new DevMesh(
      {
        ...config,
        stateDir: join(config.stateDir, east),
        gatewayPort: config.gatewayPort + gatewayPortOffset,
        cluster: {
          name: east,
          identityDir,
          statePath: devStatePath(join(config.stateDir, east)),
          links: [],
          leafnodeListenPort: leafnodePort,
          leafnodeListenTls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile },
          linkUsers: [linkUser(east, west, login.password)],
          gatewayProxyPort: tunnelPort,
          exportedServices: [`${exportedService.namespace}/${exportedService.name}`],
        },
      },
      this.io,
      this.logger,
    );
    this.meshes.push(eastMesh);
    if (!(await eastMesh.start())) return false;

    const westMesh = new DevMesh(
      {
        ...config,
        stateDir: join(config.stateDir, west),
        cluster: {
          name: west,
          identityDir,
          statePath: devStatePath(config.stateDir),
          links: [east],
          // tls://: nats-server does the TLS handshake and checks east's certificate, with east's leaf node CA, for 127.0.0.1.
          leafnodeRemotes: [{ url: `tls://127.0.0.1:${leafnodePort}`, ...login, tls: { caFile: tls.caFile } }],
        },
      },
      this.io,
      this.logger,
    );
    this.meshes.push(westMesh);
    if (!(await westMesh.start())) return false;

    this.io.stdout.write(formatLinkedDevSummary([westMesh.summary!, eastMesh.summary!], { local: west, remote: east, service: exportedService }));
    return true;
  }

  /** Stops west, then east. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const mesh of this.meshes.reverse()) await mesh[Symbol.asyncDispose]();
  }
}
