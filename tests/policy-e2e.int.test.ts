import { cp, mkdtemp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, subjects } from '@meshbus/bus-schemas';
import { inbound, outbound } from '@meshbus/proxy-api';
import { httpGet, startProcess, waitFor, type NatsCluster } from '@meshbus/testing';
import { exampleManifests, repoRoot, startMesh, startNats, type Mesh } from './harness.js';

// The whole policy path, as a proxy sees it: YAML files in the manifests folder,
// read by two real policy replicas (one leads and publishes), state on a real
// nats-server, served by the real gateway, read by clients generated from the
// public inbound.proto and outbound.proto. The resources are the worked
// examples of docs/policy.md (examples/policy/*.yaml).

const identityDomain = 'identity.meshbus.cluster.local';
const examples = join(repoRoot, 'examples/policy');
const cliMain = join(repoRoot, 'cli/dist/main.js');
/** Generous for a loaded 2-core machine; the measured times are printed. The docs promise a second. */
const updateBoundMs = 3000;

const call = <T>(f: (cb: (err: ServiceError | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));

/** A watch stream that keeps what it received and when. */
class Watch<T> {
  readonly received: { at: number; message: T }[] = [];
  error: ServiceError | undefined;
  constructor(readonly stream: ClientReadableStream<T>) {
    stream.on('data', (message: T) => this.received.push({ at: Date.now(), message }));
    stream.on('error', (e: ServiceError) => (this.error = e));
  }
  get last(): T | undefined {
    return this.received.at(-1)?.message;
  }
  /** The first message after `count` that passes `check`, with its arrival time. */
  async until(check: (m: T) => boolean, what: string, timeoutMs = 10_000): Promise<{ at: number; message: T }> {
    return waitFor(
      () => {
        if (this.error) throw this.error;
        return this.received.find((r) => check(r.message));
      },
      { what, timeoutMs, intervalMs: 5 },
    );
  }
  cancel(): void {
    this.stream.cancel();
  }
}

/** Messages on the bus as they go by (events), kept with their subject. */
class BusRecorder {
  readonly seen: { subject: string; data: Record<string, unknown> }[] = [];
  private readonly sub: Subscription;
  constructor(nc: NatsConnection, filter: string) {
    this.sub = nc.subscribe(filter, {
      callback: (_err, m) => {
        if (m.data.length > 0) this.seen.push({ subject: m.subject, data: JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown> });
      },
    });
  }
  stop(): void {
    this.sub.unsubscribe();
  }
}

/** The last state stored on a subject (undefined when none or a tombstone). */
async function lastState(nc: NatsConnection, subject: string): Promise<{ data: Record<string, unknown>; source: string } | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subject });
    if (m.data.length === 0) return undefined;
    return { data: JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>, source: m.header.get('ce-source') };
  } catch {
    return undefined;
  }
}

/** The proxy API's JSON form of a message, which is what the assertions compare. */
const serverJson = (s: inbound.Server): unknown => JSON.parse(JSON.stringify(inbound.Server.toJSON(s)));
const outboundJson = (p: outbound.OutboundPolicy): unknown => JSON.parse(JSON.stringify(outbound.OutboundPolicy.toJSON(p)));

const anyNetwork = [{ net: { ip: { ipv4: 0 } } }, { net: { ip: { ipv6: {} } } }];
const resource = (group: string, kind: string, namespace: string, name: string, port?: number) => ({ resource: { group, kind, name, namespace, ...(port ? { port } : {}) } });
const meshTls = (...names: string[]) => ({ meshTLS: { identities: { identities: names.map((name) => ({ name })) } } });

/** `name*weight` of each backend of the first rule of each HTTP/1 route of a detected outbound policy. */
function weights(p: outbound.OutboundPolicy): string[] {
  const kind = p.protocol?.kind;
  if (kind?.$case !== 'detect') throw new Error(`protocol ${kind?.$case}, expected detect`);
  return kind.detect.http1!.routes.flatMap((route) => {
    const dist = route.rules[0]?.backends?.kind;
    if (dist?.$case === 'randomAvailable') {
      return dist.randomAvailable.backends.map((b) => {
        const m = b.backend?.backend?.metadata?.kind;
        return `${m?.$case === 'resource' ? m.resource.name : '?'}*${b.weight}`;
      });
    }
    if (dist?.$case === 'firstAvailable') {
      return dist.firstAvailable.backends.map((b) => {
        const m = b.backend?.metadata?.kind;
        return `${m?.$case === 'resource' ? m.resource.name : '?'}*1`;
      });
    }
    return [];
  });
}

/** Networks and authentication of each authorization of the first HTTP/1 route of an inbound server, in JSON form. */
function routeAuthz(s: inbound.Server): unknown[] {
  const kind = s.protocol?.kind;
  if (kind?.$case !== 'http1') throw new Error(`protocol ${kind?.$case}, expected http1`);
  return (kind.http1.routes[0]?.authorizations ?? []).map((a) => {
    const json = JSON.parse(JSON.stringify(inbound.Authz.toJSON(a))) as Record<string, unknown>;
    return { networks: json.networks, authentication: json.authentication };
  });
}

/** Replaces `from` by `to` in a file (written to a temp file and renamed, as editors do); returns when it was written. */
async function edit(file: string, from: string, to: string): Promise<number> {
  const text = await readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} does not contain ${JSON.stringify(from)}`);
  await writeFile(`${file}.tmp`, text.replace(from, to));
  await rename(`${file}.tmp`, file);
  return Date.now();
}

const portSpec = (ns: string, pod: string, port: number): inbound.PortSpec => ({ workload: JSON.stringify({ ns, pod }), port });
const traffic = (authority: string, source = ''): outbound.TrafficSpec => ({ sourceWorkload: source, target: { $case: 'authority', authority } });

describe('policy end to end: manifests folder -> policy replicas -> NATS -> gateway -> proxy API clients', () => {
  let nats: NatsCluster;
  let mesh: Mesh;
  let dir: string;
  let nc: NatsConnection;
  let events: BusRecorder;
  let inboundClient: inbound.InboundServerPoliciesClient;
  let outboundClient: outbound.OutboundPoliciesClient;
  /** The policy replicas' own connections, so that one can die without releasing its lease. */
  const policyConnections: Record<string, NatsConnection> = {};
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    nats = await startNats();
    const manifests = await exampleManifests();
    dir = manifests.dir;
    await cp(examples, dir, { recursive: true });
    for (const id of ['policy-a', 'policy-b']) policyConnections[id] = await connect({ servers: nats.url, name: `meshbus-policy/${id}` });
    mesh = await startMesh({
      nats,
      manifests: dir,
      destination: true,
      policy: ['policy-a', 'policy-b'].map((replicaId) => ({ replicaId, overrides: { nc: policyConnections[replicaId] } })),
      gateway: true,
    });
    mesh.defer(() => manifests[Symbol.asyncDispose]());
    nc = await mesh.connect();
    events = new BusRecorder(nc, 'meshbus.v1.events.>');
    const address = `127.0.0.1:${mesh.gateway.grpcPort}`;
    inboundClient = new inbound.InboundServerPoliciesClient(address, credentials.createInsecure());
    outboundClient = new outbound.OutboundPoliciesClient(address, credentials.createInsecure());
    await waitFor(() => mesh.policies.find((p) => p.isLeader), { what: 'a policy leader', timeoutMs: 15_000 });
    for (const p of mesh.policies) await waitFor(async () => (await httpGet(`${p.adminUrl}/ready`)).status === 200, { what: 'policy replicas ready', timeoutMs: 15_000 });
    await waitFor(async () => (await httpGet(`${mesh.gateway.adminUrl}/ready`)).status === 200, { what: 'gateway ready' });
    await waitFor(() => lastState(nc, subjects.outboundPolicy('store', 'checkout', 80)), { what: 'the canary published', timeoutMs: 15_000 });
  }, 60_000);

  afterAll(async () => {
    console.log(`policy end to end, measured:\n${Object.entries(timings)
      .map(([k, v]) => `  ${k}: ${v} ms`)
      .join('\n')}`);
    events?.stop();
    inboundClient?.close();
    outboundClient?.close();
    await mesh?.[Symbol.asyncDispose]();
    for (const c of Object.values(policyConnections)) await c.close().catch(() => undefined);
    await nats?.stop();
  }, 30_000);

  it('example (a): only the service account frontend may call GET /books on the catalog; nothing else is authorized', async () => {
    const server = await call<inbound.Server>((cb) => inboundClient.getPort(portSpec('library', 'catalog-1', 8080), cb));
    expect(serverJson(server)).toEqual({
      protocol: {
        http1: {
          routes: [
            {
              metadata: resource('gateway.networking.k8s.io', 'HTTPRoute', 'library', 'read-books'),
              authorizations: [
                {
                  networks: anyNetwork,
                  authentication: meshTls(`frontend.library.serviceaccount.${identityDomain}`),
                  labels: { group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', namespace: 'library', name: 'frontend-reads-books' },
                  metadata: resource('policy.linkerd.io', 'AuthorizationPolicy', 'library', 'frontend-reads-books'),
                },
              ],
              rules: [{ matches: [{ path: { prefix: '/books' }, method: { registered: 'GET' } }] }],
            },
          ],
        },
      },
      // No authorization on the server itself: a request that matches no route, or comes from anyone else, is refused.
      labels: { group: 'policy.linkerd.io', kind: 'Server', namespace: 'library', name: 'catalog-http' },
    });
    // A port of the catalog without a Server keeps the cluster default.
    const other = await call<inbound.Server>((cb) => inboundClient.getPort(portSpec('library', 'catalog-1', 9000), cb));
    expect(other.labels).toMatchObject({ kind: 'default', name: 'all-unauthenticated' });
  });

  it('example (b): the namespace vault denies by default; one Server admits the teller identity; the probe path stays open', async () => {
    const http = await call<inbound.Server>((cb) => inboundClient.getPort(portSpec('vault', 'vault-1', 8080), cb));
    const tellers = {
      networks: anyNetwork,
      authentication: meshTls(`teller.bank.serviceaccount.${identityDomain}`),
      labels: { group: 'policy.linkerd.io', kind: 'AuthorizationPolicy', namespace: 'vault', name: 'tellers-use-vault' },
      metadata: resource('policy.linkerd.io', 'AuthorizationPolicy', 'vault', 'tellers-use-vault'),
    };
    expect(serverJson(http)).toMatchObject({
      protocol: { http1: { routes: [{ metadata: { default: 'default' }, authorizations: [tellers], rules: [{ matches: [{ path: { prefix: '/' } }] }] }] } },
      authorizations: [tellers],
      labels: { kind: 'Server', name: 'vault-http' },
    });
    expect(http.authorizations).toHaveLength(1);

    // The admin port has no Server: the namespace's deny, with the readiness probe path open to the probe networks.
    const admin = await call<inbound.Server>((cb) => inboundClient.getPort(portSpec('vault', 'vault-1', 9990), cb));
    expect(serverJson(admin)).toEqual({
      protocol: {
        detect: {
          timeout: { seconds: '10' },
          httpRoutes: [
            { metadata: { default: 'default' }, rules: [{ matches: [{ path: { prefix: '/' } }] }] },
            {
              metadata: { default: 'probe' },
              authorizations: [{ networks: anyNetwork, authentication: { unauthenticated: {} }, metadata: { default: 'probe' } }],
              rules: [{ matches: [{ path: { exact: '/ready' }, method: { registered: 'GET' } }] }],
            },
          ],
        },
      },
      labels: { group: '', kind: 'default', name: 'deny' },
    });
    // Any other port, and a workload of the namespace the policy service has never heard of: deny, nothing authorized.
    for (const spec of [portSpec('vault', 'vault-1', 7000), portSpec('vault', 'unknown-1', 8080)]) {
      const denied = await call<inbound.Server>((cb) => inboundClient.getPort(spec, cb));
      expect(denied.labels, spec.workload).toMatchObject({ kind: 'default', name: 'deny' });
      expect(denied.authorizations, spec.workload).toEqual([]);
    }
  });

  it('example (c): calls to checkout split 90/10 between v1 and v2, with retries, timeouts and failure accrual', async () => {
    const policy = await call<outbound.OutboundPolicy>((cb) => outboundClient.get(traffic('checkout.store.svc.cluster.local:80'), cb));
    const backend = (name: string, weight: number) => ({
      backend: {
        backend: {
          metadata: resource('core', 'Service', 'store', name, 80),
          balancer: { discovery: { dst: { path: `${name}.store.svc.cluster.local:80` } } },
        },
      },
      weight,
    });
    const http = {
      routes: [
        {
          metadata: resource('gateway.networking.k8s.io', 'HTTPRoute', 'store', 'checkout-canary'),
          rules: [
            {
              matches: [{ path: { prefix: '/' } }],
              backends: { randomAvailable: { backends: [backend('checkout-v1', 90), backend('checkout-v2', 10)] } },
              timeouts: { request: { seconds: '2' }, response: { nanos: 500_000_000 } },
              retry: {
                maxRetries: 2,
                conditions: { statusRanges: [{ start: 502, end: 502 }, { start: 503, end: 503 }] },
                backoff: { minBackoff: { nanos: 50_000_000 } },
              },
            },
          ],
        },
      ],
      failureAccrual: { consecutiveFailures: { maxFailures: 5, backoff: { minBackoff: { seconds: '1' }, maxBackoff: { seconds: '60' }, jitterRatio: 0.5 } } },
    };
    const json = outboundJson(policy);
    expect(json).toMatchObject({ metadata: resource('core', 'Service', 'store', 'checkout', 80), protocol: { detect: { http1: http, http2: http } } });
    // Exactly one route with exactly two backends, and no retry timeout of its own (the attempt is bounded by backendRequest).
    expect(weights(policy)).toEqual(['checkout-v1*90', 'checkout-v2*10']);
    const rule = policy.protocol?.kind?.$case === 'detect' ? policy.protocol.kind.detect.http1!.routes[0]!.rules[0]! : undefined;
    expect(rule?.retry).toBeDefined();
    expect(rule?.retry?.timeout).toBeUndefined();

    // checkout-v1 itself has no route: the default, one backend, no failure accrual.
    const v1 = await call<outbound.OutboundPolicy>((cb) => outboundClient.get(traffic('checkout-v1.store.svc.cluster.local:80'), cb));
    expect(weights(v1)).toEqual(['checkout-v1*1']);
    expect(v1.protocol?.kind?.$case === 'detect' ? v1.protocol.kind.detect.http1?.failureAccrual : 'not detect').toBeUndefined();
  });

  it('an edit of a policy YAML reaches an open WatchPort stream and an open outbound Watch stream within a second', async () => {
    const port = new Watch(inboundClient.watchPort(portSpec('library', 'catalog-1', 8080)));
    const route = new Watch(outboundClient.watch(traffic('checkout.store.svc.cluster.local:80')));
    const office = [{ net: { ip: { ipv4: (10 << 24) + (1 << 16) }, prefixLen: 16 } }];
    const frontend = meshTls(`frontend.library.serviceaccount.${identityDomain}`);
    try {
      await port.until(() => true, 'the first WatchPort message');
      await route.until(() => true, 'the first Watch message');
      expect(routeAuthz(port.last!)).toEqual([{ networks: anyNetwork, authentication: frontend }]);
      expect(weights(route.last!)).toEqual(['checkout-v1*90', 'checkout-v2*10']);

      const requireFrontend = '    - group: policy.linkerd.io\n      kind: MeshTLSAuthentication\n      name: frontend-only\n';
      const requireOffice = `${requireFrontend}    - group: policy.linkerd.io\n      kind: NetworkAuthentication\n      name: office\n---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata:
  name: office
  namespace: library
spec:
  networks:
    - cidr: 10.1.0.0/16
`;
      const edits = [
        { what: 'edit 1', auth: [requireFrontend, requireOffice], weight: ['weight: 90', 'weight: 50'], networks: office, weights: ['checkout-v1*50', 'checkout-v2*10'] },
        { what: 'edit 2 (back)', auth: [requireOffice, requireFrontend], weight: ['weight: 50', 'weight: 90'], networks: anyNetwork, weights: ['checkout-v1*90', 'checkout-v2*10'] },
      ];
      for (const e of edits) {
        const from = { port: port.received.length, route: route.received.length };
        // The route's AuthorizationPolicy gets (or loses) a NetworkAuthentication; the canary's weights change.
        const authAt = await edit(join(dir, 'allow-one-route.yaml'), e.auth[0]!, e.auth[1]!);
        const weightAt = await edit(join(dir, 'canary.yaml'), e.weight[0]!, e.weight[1]!);
        const portUpdate = await port.until(
          (m) => port.received.findIndex((r) => r.message === m) >= from.port && JSON.stringify(routeAuthz(m)) === JSON.stringify([{ networks: e.networks, authentication: frontend }]),
          `${e.what}: the authorization on the WatchPort stream`,
          updateBoundMs * 3,
        );
        const routeUpdate = await route.until(
          (m) => route.received.findIndex((r) => r.message === m) >= from.route && JSON.stringify(weights(m)) === JSON.stringify(e.weights),
          `${e.what}: the weights on the Watch stream`,
          updateBoundMs * 3,
        );
        timings[`${e.what}: AuthorizationPolicy authentication in allow-one-route.yaml -> WatchPort update`] = portUpdate.at - authAt;
        timings[`${e.what}: HTTPRoute backend weights in canary.yaml -> outbound Watch update`] = routeUpdate.at - weightAt;
        expect(portUpdate.at - authAt).toBeLessThan(updateBoundMs);
        expect(routeUpdate.at - weightAt).toBeLessThan(updateBoundMs);
      }
      expect(port.error).toBeUndefined();
      expect(route.error).toBeUndefined();
    } finally {
      port.cancel();
      route.cancel();
    }
  }, 40_000);
});

