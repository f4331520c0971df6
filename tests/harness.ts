import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { destination } from '@meshbus/proxy-api';
import { createDestinationService, envToConfig as destinationEnv, type DestinationService } from '@meshbus/destination';
import { createGateway, envToConfig as gatewayEnv, type Gateway } from '@meshbus/gateway';
import { silentLogger } from '@meshbus/runtime';
import { freePort, startNats, type NatsCluster } from '@meshbus/testing';

export const repoRoot = new URL('..', import.meta.url).pathname;

/** A copy of the example manifests in a temp dir, to edit freely. */
export async function exampleManifests(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'meshbus-manifests-'));
  await cp(join(repoRoot, 'examples/manifests'), dir, { recursive: true });
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

/** Starts a destination replica in-process. */
export async function startDestination(natsUrl: string, manifestsDir: string, extra: Record<string, string> = {}): Promise<DestinationService> {
  const svc = createDestinationService(
    destinationEnv({ NATS_URL: natsUrl, MESHBUS_MANIFESTS_DIR: manifestsDir, MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`, MESHBUS_LEASE_DURATION: '1s', ...extra }),
    { logger: silentLogger() },
  );
  await svc.start();
  return svc;
}

/** Starts a gateway in-process. */
export async function startGateway(natsUrl: string, extra: Record<string, string> = {}): Promise<Gateway> {
  const gw = createGateway(gatewayEnv({ NATS_URL: natsUrl, MESHBUS_GRPC_ADDR: '127.0.0.1:0', MESHBUS_ADMIN_ADDR: `127.0.0.1:${await freePort()}`, MESHBUS_DRAIN_MS: '500', ...extra }), {
    logger: silentLogger(),
  });
  await gw.start();
  return gw;
}

export function destinationClient(port: number): destination.DestinationClient {
  return new destination.DestinationClient(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** A Destination.Get stream that keeps the endpoint set a proxy would hold. */
export class EndpointWatcher {
  readonly updates: destination.Update[] = [];
  readonly endpoints = new Map<string, destination.WeightedAddr>();
  exists: boolean | undefined;
  error: (Error & { code?: number }) | undefined;
  private readonly call: ClientReadableStream<destination.Update>;

  constructor(client: destination.DestinationClient, path: string) {
    this.call = client.get({ scheme: 'k8s', path, contextToken: '' });
    this.call.on('data', (u: destination.Update) => this.apply(u));
    this.call.on('error', (err: Error & { code?: number }) => {
      this.error = err;
    });
  }

  private apply(u: destination.Update): void {
    this.updates.push(u);
    const upd = u.update;
    if (upd?.$case === 'add') {
      this.exists = true;
      for (const a of upd.add.addrs) this.endpoints.set(addrText(a.addr!), a);
    } else if (upd?.$case === 'remove') {
      for (const a of upd.remove.addrs) this.endpoints.delete(addrText(a));
    } else if (upd?.$case === 'noEndpoints') {
      this.exists = upd.noEndpoints.exists;
      this.endpoints.clear();
    }
  }

  addresses(): string[] {
    return [...this.endpoints.keys()].sort();
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** `a.b.c.d:port` of a proxy API TCP address (IPv4). */
export function addrText(a: { ip?: { ip?: { $case: string; ipv4?: number } }; port: number }): string {
  const ip = a.ip?.ip;
  if (ip?.$case === 'ipv4' && ip.ipv4 !== undefined) {
    const n = ip.ipv4;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}:${a.port}`;
  }
  return `ipv6:${a.port}`;
}

export type { NatsCluster };
export { startNats };
