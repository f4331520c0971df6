import { createPrivateKey } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { Proxy, proxyConfigFromEnv, type ProxyOverrides } from '@meshbus/proxy';
import { destination, inbound, outbound } from '@meshbus/proxy-api';
import { createDestinationService, envToConfig as destinationEnv, type DestinationOverrides, type DestinationService } from '@meshbus/destination';
import { createGateway, envToConfig as gatewayEnv, type Gateway, type GatewayOverrides } from '@meshbus/gateway';
import { createIdentityService, envToConfig as identityEnv, type IdentityService, type IdentityServiceOverrides } from '@meshbus/identity';
import { createPolicyService, envToConfig as policyEnv, type PolicyOverrides, type PolicyService } from '@meshbus/policy-service';
import { ResourceStack, silentLogger, type Logger } from '@meshbus/runtime';
import { httpGet, startNats, waitFor, type NatsCluster, type NatsOptions } from '@meshbus/testing';
import { createWorkloadToken } from '@meshbus/trust';

export const repoRoot = new URL('..', import.meta.url).pathname;

/** A copy of the example manifests in a temp dir, to edit freely. */
export async function exampleManifests(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'meshbus-manifests-'));
  await cp(join(repoRoot, 'examples/manifests'), dir, { recursive: true });
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

/** The in-process services {@link startMesh} can start. */
export type MeshServiceKind = 'destination' | 'gateway' | 'identity' | 'policy';

interface Services {
  destination: DestinationService;
  gateway: Gateway;
  identity: IdentityService;
  policy: PolicyService;
}

interface Overrides {
  destination: DestinationOverrides;
  gateway: GatewayOverrides;
  identity: IdentityServiceOverrides;
  policy: PolicyOverrides;
}

/** One replica of a service in {@link startMesh}. */
export interface ReplicaOptions<K extends MeshServiceKind> {
  /** @default `<kind>-<n>` */
  replicaId?: string;
  /** Environment on top of the mesh's defaults (NATS login, TLS files, timings...). */
  env?: Record<string, string>;
  /** @default the mesh's logger */
  overrides?: Overrides[K];
}

/** How many replicas of a service, or the options of each. */
export type ReplicasOption<K extends MeshServiceKind> = boolean | number | ReplicaOptions<K> | ReplicaOptions<K>[];

/** Options of {@link startMesh}. */
export interface MeshOptions {
  /** The NATS to run on: options of a new one (`{ nodes: 3 }` for a cluster), or one already running. @default one new node */
  nats?: NatsOptions | NatsCluster;
  destination?: ReplicasOption<'destination'>;
  gateway?: ReplicasOption<'gateway'>;
  identity?: ReplicasOption<'identity'>;
  /** Policy replicas: they read the same manifests folder as destination and elect one writer. */
  policy?: ReplicasOption<'policy'>;
  /** Environment every service gets, on top of the defaults and below each replica's. */
  env?: Partial<Record<MeshServiceKind, Record<string, string>>>;
  /** Manifests folder of destination and policy: a copy of examples/manifests is made when true or when either runs. @default a copy when destination or policy runs */
  manifests?: boolean | string;
  /** Trust material and `token.pub` for identity (as `meshbus identity init` writes them); required with identity. */
  identityDir?: string;
  /** The order services are started in; disposal is the reverse. @default destination, policy, identity, gateway */
  order?: MeshServiceKind[];
  /** Root logger of every service. @default a silent logger for each replica, so that a level changed on one stays there */
  logger?: Logger;
}

/** A running mesh: NATS and in-process services, disposed in the reverse order of start. */
export interface Mesh extends AsyncDisposable {
  readonly nats: NatsCluster;
  /** The manifests folder destination and policy read, when there is one. */
  readonly manifestsDir: string | undefined;
  readonly destinations: DestinationService[];
  readonly gateways: Gateway[];
  readonly identities: IdentityService[];
  readonly policies: PolicyService[];
  /** The first replica of each (throws when none runs). */
  readonly destination: DestinationService;
  readonly gateway: Gateway;
  readonly identity: IdentityService;
  readonly policy: PolicyService;
  /** Starts one more replica, disposed with the mesh. */
  add<K extends MeshServiceKind>(kind: K, options?: ReplicaOptions<K>): Promise<Services[K]>;
  /** A NATS connection closed with the mesh. */
  connect(options?: ConnectionOptions): Promise<NatsConnection>;
  /** Runs `cleanup` when the mesh is disposed, before what was started earlier. */
  defer(cleanup: () => unknown): void;
}

function replicaList<K extends MeshServiceKind>(option: ReplicasOption<K> | undefined): ReplicaOptions<K>[] {
  if (option === undefined || option === false) return [];
  if (option === true) return [{}];
  if (typeof option === 'number') return Array.from({ length: option }, () => ({}));
  return Array.isArray(option) ? option : [option];
}

/**
 * Starts a real NATS (one node or a cluster) and any set of in-process
 * services on it in one call: `startMesh({ destination: true, gateway: 2 })`.
 * Each service is configured as main.ts would configure it from its
 * environment, on free ports. Disposing the mesh stops everything in the
 * reverse order of start; a start that fails disposes what was started.
 */
export async function startMesh(options: MeshOptions = {}): Promise<Mesh> {
  const stack = new ResourceStack(options.logger ?? silentLogger());
  try {
    const given = options.nats && 'url' in options.nats ? options.nats : undefined;
    const nats = given ?? (await startNats(options.nats as NatsOptions | undefined));
    if (!given) stack.defer(nats, () => nats.stop());

    const wanted = {
      destination: replicaList(options.destination),
      gateway: replicaList(options.gateway),
      identity: replicaList(options.identity),
      policy: replicaList(options.policy),
    };
    let manifestsDir: string | undefined = typeof options.manifests === 'string' ? options.manifests : undefined;
    if (manifestsDir === undefined && (options.manifests === true || (options.manifests === undefined && wanted.destination.length + wanted.policy.length > 0))) {
      const copy = await exampleManifests();
      stack.use(copy);
      manifestsDir = copy.dir;
    }
    const started: { [K in MeshServiceKind]: Services[K][] } = { destination: [], gateway: [], identity: [], policy: [] };
    const counts: Record<MeshServiceKind, number> = { destination: 0, gateway: 0, identity: 0, policy: 0 };

    const create = <K extends MeshServiceKind>(kind: K, replica: ReplicaOptions<K>): Services[K] => {
      const replicaId = replica.replicaId ?? `${kind}-${++counts[kind]}`;
      const env: Record<string, string> = { NATS_URL: nats.url, MESHBUS_REPLICA_ID: replicaId, MESHBUS_ADMIN_ADDR: '127.0.0.1:0' };
      const overrides = { logger: options.logger ?? silentLogger(), ...replica.overrides };
      if (kind === 'destination') {
        if (!manifestsDir) throw new Error('startMesh: destination needs a manifests folder');
        Object.assign(env, { MESHBUS_MANIFESTS_DIR: manifestsDir, MESHBUS_LEASE_DURATION: '1s' }, options.env?.destination, replica.env);
        return createDestinationService(destinationEnv(env), overrides) as Services[K];
      }
      if (kind === 'policy') {
        if (!manifestsDir) throw new Error('startMesh: policy needs a manifests folder');
        Object.assign(env, { MESHBUS_MANIFESTS_DIR: manifestsDir, MESHBUS_LEASE_DURATION: '1s' }, options.env?.policy, replica.env);
        return createPolicyService(policyEnv(env), overrides) as Services[K];
      }
      if (kind === 'gateway') {
        Object.assign(env, { MESHBUS_GRPC_ADDR: '127.0.0.1:0', MESHBUS_DRAIN_MS: '500' }, options.env?.gateway, replica.env);
        return createGateway(gatewayEnv(env), overrides) as Services[K];
      }
      if (!options.identityDir) throw new Error('startMesh: identity needs identityDir (trust material and token.pub, from `meshbus identity init`)');
      Object.assign(env, { MESHBUS_IDENTITY_DIR: options.identityDir, MESHBUS_TOKEN_PUBLIC_KEY: join(options.identityDir, 'token.pub') }, options.env?.identity, replica.env);
      return createIdentityService(identityEnv(env), overrides) as Services[K];
    };
    const add = async <K extends MeshServiceKind>(kind: K, replica: ReplicaOptions<K> = {}): Promise<Services[K]> => {
      const service = create(kind, replica);
      stack.use(service);
      await service.start();
      started[kind].push(service);
      return service;
    };

    for (const kind of options.order ?? (['destination', 'policy', 'identity', 'gateway'] as const)) {
      for (const replica of wanted[kind]) await add(kind, replica);
    }

    const first = <K extends MeshServiceKind>(kind: K): Services[K] => {
      const service = started[kind][0];
      if (!service) throw new Error(`startMesh: no ${kind} was started`);
      return service;
    };
    return {
      nats,
      manifestsDir,
      destinations: started.destination,
      gateways: started.gateway,
      identities: started.identity,
      policies: started.policy,
      get destination() {
        return first('destination');
      },
      get gateway() {
        return first('gateway');
      },
      get identity() {
        return first('identity');
      },
      get policy() {
        return first('policy');
      },
      add,
      async connect(connectOptions = {}) {
        const nc = await connect({ servers: nats.url.split(','), ...connectOptions });
        stack.defer(nc, () => nc.close());
        return nc;
      },
      defer(cleanup) {
        stack.defer(null, cleanup);
      },
      [Symbol.asyncDispose]: () => stack.disposeAll(),
    };
  } catch (err) {
    await stack.disposeAll();
    throw err;
  }
}

export function destinationClient(port: number): destination.DestinationClient {
  return new destination.DestinationClient(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** Clients of the gateway's policy APIs (io.linkerd.proxy.inbound and io.linkerd.proxy.outbound). */
export function policyClients(port: number): { inbound: inbound.InboundServerPoliciesClient; outbound: outbound.OutboundPoliciesClient } & Disposable {
  const address = `127.0.0.1:${port}`;
  const clients = {
    inbound: new inbound.InboundServerPoliciesClient(address, credentials.createInsecure()),
    outbound: new outbound.OutboundPoliciesClient(address, credentials.createInsecure()),
  };
  return {
    ...clients,
    [Symbol.dispose]: () => {
      clients.inbound.close();
      clients.outbound.close();
    },
  };
}

/** A gRPC watch stream (WatchPort, an outbound Watch...) that keeps every message with the time it arrived. */
export class StreamRecorder<T> {
  readonly received: { at: number; message: T }[] = [];
  error: (Error & { code?: number }) | undefined;

  constructor(private readonly call: ClientReadableStream<T>) {
    call.on('data', (message: T) => this.received.push({ at: Date.now(), message }));
    call.on('error', (err: Error & { code?: number }) => {
      this.error = err;
    });
  }

  get last(): T | undefined {
    return this.received.at(-1)?.message;
  }

  /** The first message from index `from` on that passes `check`, with its arrival time; rejects when the stream fails or after `timeoutMs`. */
  until(check: (message: T) => boolean, what: string, options: { from?: number; timeoutMs?: number } = {}): Promise<{ at: number; message: T }> {
    return waitFor(
      () => {
        if (this.error) throw this.error;
        return this.received.slice(options.from ?? 0).find((r) => check(r.message));
      },
      { what, timeoutMs: options.timeoutMs ?? 10_000, intervalMs: 5 },
    );
  }

  cancel(): void {
    this.call.cancel();
  }
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


/** The mesh TLS identity of a service account, in the default control namespace and trust domain. */
export function meshIdentity(namespace: string, serviceAccount: string): string {
  return `${serviceAccount}.${namespace}.serviceaccount.identity.meshbus.cluster.local`;
}

/** A local-mode workload token signed with `<identityDir>/token.key`, as `meshbus identity token` signs it (valid for an hour). */
export async function workloadToken(identityDir: string, namespace: string, serviceAccount: string): Promise<string> {
  const key = createPrivateKey(await readFile(join(identityDir, 'token.key'), 'utf8'));
  return createWorkloadToken({ namespace, serviceAccount, audience: 'identity.meshbus.io', expiresAt: new Date(Date.now() + 3_600_000) }, key);
}

/** One workload's proxy in explicit mode on this machine: its workload has its own loopback address. */
export interface MeshProxySpec {
  /** Gateway gRPC addresses, `host:port` (plaintext). */
  gateways: readonly string[];
  namespace: string;
  /** The workload's name (a Workload manifest or a registration). */
  name: string;
  serviceAccount: string;
  /** Trust anchors (`ca.crt`) and `token.key`, as `meshbus identity init` writes them. */
  identityDir: string;
  /** The workload's address: the proxy's inbound listener runs there too. */
  address: string;
  /** The inbound port of every proxy of the mesh. */
  inboundPort: number;
  /** The workload's ports. */
  ports: readonly number[];
  /** Where the outbound listener and the admin listener bind on 127.0.0.1. @default free ports (for an in-process proxy) */
  outboundPort?: number;
  adminPort?: number;
  /** More MESHBUS_PROXY_* variables. */
  env?: Record<string, string>;
}

/** The MESHBUS_PROXY_* environment of a proxy (docs/proxy.md), with a fresh workload token. */
export async function meshProxyEnv(spec: MeshProxySpec): Promise<Record<string, string>> {
  return {
    MESHBUS_PROXY_GATEWAYS: spec.gateways.join(','),
    MESHBUS_PROXY_GATEWAY_PLAINTEXT: 'true',
    MESHBUS_PROXY_NAMESPACE: spec.namespace,
    MESHBUS_PROXY_WORKLOAD_NAME: spec.name,
    MESHBUS_PROXY_SERVICE_ACCOUNT: spec.serviceAccount,
    MESHBUS_PROXY_TRUST_ANCHORS: join(spec.identityDir, 'ca.crt'),
    MESHBUS_PROXY_IDENTITY_TOKEN: await workloadToken(spec.identityDir, spec.namespace, spec.serviceAccount),
    MESHBUS_PROXY_INBOUND_ADDR: `${spec.address}:${spec.inboundPort}`,
    MESHBUS_PROXY_INBOUND_PORTS: spec.ports.join(','),
    MESHBUS_PROXY_WORKLOAD_ADDR: spec.address,
    MESHBUS_PROXY_OUTBOUND_ADDR: `127.0.0.1:${spec.outboundPort ?? 0}`,
    MESHBUS_PROXY_ADMIN_ADDR: `127.0.0.1:${spec.adminPort ?? 0}`,
    MESHBUS_PROXY_SHUTDOWN_GRACE_PERIOD: '1s',
    ...spec.env,
  };
}

/** Starts a proxy in this process (outbound and admin listeners on free ports unless given) and waits until it is ready. */
export async function startMeshProxy(spec: MeshProxySpec, overrides: ProxyOverrides = {}): Promise<Proxy> {
  const proxy = new Proxy(proxyConfigFromEnv(await meshProxyEnv(spec)), {}, overrides);
  try {
    await proxy.start();
    await waitFor(async () => (await httpGet(`${proxy.adminUrl}/ready`)).status === 200, { what: `the proxy of ${spec.namespace}/${spec.name} ready`, timeoutMs: 20_000 });
  } catch (error) {
    await proxy.stop();
    throw error;
  }
  return proxy;
}

/** An answer through a proxy; status 0 when the request failed without one. */
export interface ProxiedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The error when there was no answer. */
  error?: string;
}

/**
 * `method url` sent to an HTTP proxy (a proxy's outbound listener) in
 * absolute form, as a program with HTTP_PROXY set sends it. Never rejects:
 * a request that gets no answer within `timeoutMs` resolves with status 0.
 */
export function viaProxy(proxyPort: number, url: string, options: { method?: string; agent?: Agent; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<ProxiedAnswer> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: proxyPort, method: options.method ?? 'GET', path: url, headers: { host: new URL(url).host, ...options.headers }, ...(options.agent ? { agent: options.agent } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', (error) => resolve({ status: 0, headers: res.headers, body, error: error.message }));
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', (error) => resolve({ status: 0, headers: {}, body: '', error: error.message }));
    req.end();
  });
}

/** One request of a {@link SteadyLoad}: when it was sent, how long it took, what came back. */
export interface LoadSample extends ProxiedAnswer {
  sentAt: number;
  ms: number;
}

/**
 * Open-loop load: `send` is called `ratePerSecond` times a second, whether
 * earlier requests have answered or not, until {@link stop}. Every answer is
 * kept, so a test can count failures and tell which endpoint answered.
 */
export class SteadyLoad {
  readonly samples: LoadSample[] = [];
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private startedAt = 0;

  constructor(
    private readonly send: () => Promise<ProxiedAnswer>,
    private readonly ratePerSecond: number,
  ) {}

  start(): this {
    this.startedAt = performance.now();
    // A timer every 5 ms catches up with the schedule, so the rate holds even when the event loop is late.
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.startedAt) * this.ratePerSecond) / 1000);
      while (this.sent < due) this.fire();
    }, 5);
    return this;
  }

  private fire(): void {
    this.sent++;
    const sentAt = Date.now();
    const t0 = performance.now();
    const p = this.send().then((answer) => {
      this.samples.push({ ...answer, sentAt, ms: performance.now() - t0 });
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Stops sending and waits for every answer. */
  async stop(): Promise<LoadSample[]> {
    clearInterval(this.timer);
    await Promise.all(this.pending);
    return this.samples;
  }

  /** Answers so far other than 2xx. */
  failures(): LoadSample[] {
    return this.samples.filter((s) => s.status < 200 || s.status > 299);
  }
}

/**
 * Manifests of a namespace with two workloads, `client-1` and `server-1` (service accounts
 * `client` and `server`, each at its own address and listening on `appPort`), and the Service
 * `server` (port 80 to the workloads' `http` port).
 */
export function clientServerManifests(ns: string, hosts: { client: string; server: string }, appPort: number): string {
  const workload = (name: 'client' | 'server') => `---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata: {name: ${name}-1, namespace: ${ns}, labels: {app: ${name}}}
spec:
  address: ${hosts[name]}
  ports: [{name: http, port: ${appPort}}]
  serviceAccount: ${name}
`;
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: ${ns}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: server, namespace: ${ns}}
${workload('client')}${workload('server')}---
apiVersion: v1
kind: Service
metadata: {name: server, namespace: ${ns}}
spec:
  selector: {app: server}
  ports: [{name: http, port: 80, targetPort: http}]
`;
}

export type { NatsCluster };
export { startNats };
