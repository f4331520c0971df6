import { cp, mkdtemp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { connect, type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streams, subjects } from '@meshbus/bus-schemas';
import { destination, inbound, outbound } from '@meshbus/proxy-api';
import { httpGet, startProcess, waitFor, type NatsCluster } from '@meshbus/testing';
import { destinationClient, exampleManifests, policyClients, repoRoot, startMesh, startNats, StreamRecorder, type Mesh } from './harness.js';
import { publicClient, publicPolicyApi } from './public-proxy-api.js';

// The whole policy path, as a proxy sees it: YAML files in the manifests folder,
// read by two real policy replicas (one leads and publishes), state on a real
// nats-server, served by the real gateway, read by the proxy API clients of
// @meshbus/proxy-api (generated from proxy-api/proto), and by one built from
// the public inbound.proto and outbound.proto (tests/public-proxy-api.ts). The
// resources are the worked examples of docs/policy.md (examples/policy/*.yaml).

const identityDomain = 'identity.meshbus.cluster.local';
const examples = join(repoRoot, 'examples/policy');
const cliMain = join(repoRoot, 'cli/dist/main.js');
/** Generous for a loaded 2-core machine; the measured times are printed. The docs promise a second. */
const updateBoundMs = 3000;

const call = <T>(f: (cb: (err: ServiceError | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));

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
  let clients: ReturnType<typeof policyClients>;
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
    clients = policyClients(mesh.gateway.grpcPort);
    ({ inbound: inboundClient, outbound: outboundClient } = clients);
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
    clients?.[Symbol.dispose]();
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

    // The retry budget of the retries: checkout's ServiceProfile, served with its profile by Destination.
    // It has no routes, so a proxy keeps the HTTPRoute above for the routing.
    const dst = destinationClient(mesh.gateway.grpcPort);
    try {
      const profile = (path: string) =>
        new Promise<destination.DestinationProfile>((resolve, reject) => {
          const stream = dst.getProfile({ scheme: 'k8s', path, contextToken: '' });
          stream.on('data', (p: destination.DestinationProfile) => {
            resolve(p);
            stream.cancel();
          });
          stream.on('error', (err: ServiceError) => {
            if (err.code !== status.CANCELLED) reject(err);
          });
        });
      // retry_ratio is a float (32 bits) on the wire: 0.1 comes back as the float nearest to it.
      const budget = { retryRatio: Math.fround(0.1), minRetriesPerSecond: 5, ttl: { seconds: '10' } };
      let checkout: unknown;
      await waitFor(
        async () => {
          checkout = destination.DestinationProfile.toJSON(await profile('checkout.store.svc.cluster.local:80'));
          return JSON.stringify((checkout as { retryBudget?: unknown }).retryBudget) === JSON.stringify(budget);
        },
        { what: "checkout's retry budget on GetProfile", timeoutMs: updateBoundMs * 3 },
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; last profile ${JSON.stringify(checkout)}`);
      });
      expect(checkout).toMatchObject({
        fullyQualifiedName: 'checkout.store.svc.cluster.local',
        retryBudget: budget,
        parentRef: resource('core', 'Service', 'store', 'checkout', 80),
        profileRef: resource('linkerd.io', 'ServiceProfile', 'store', 'checkout.store.svc.cluster.local'),
      });
      expect((checkout as { routes?: unknown[] }).routes ?? []).toEqual([]);
      // checkout-v1 has no ServiceProfile: it gets Linkerd's default budget, and no profile_ref.
      const v1Profile = destination.DestinationProfile.toJSON(await profile('checkout-v1.store.svc.cluster.local:80')) as Record<string, unknown>;
      expect(v1Profile.retryBudget).toEqual({ retryRatio: Math.fround(0.2), minRetriesPerSecond: 10, ttl: { seconds: '10' } });
      expect(v1Profile.profileRef).toBeUndefined();
    } finally {
      dst.close();
    }
  });

  it('a client built from the public inbound.proto and outbound.proto gets the policies of the examples, and nothing only meshbus fields carry', async () => {
    const { definition, source } = publicPolicyApi();
    console.log(`public proxy API client from ${source}`);
    const pubInbound = publicClient(definition, 'io.linkerd.proxy.inbound.InboundServerPolicies', mesh.gateway.grpcPort);
    const pubOutbound = publicClient(definition, 'io.linkerd.proxy.outbound.OutboundPolicies', mesh.gateway.grpcPort);
    type Decoded = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- read by the public field names
    const ask = (c: typeof pubInbound, method: string, request: object) =>
      new Promise<Decoded>((resolve, reject) => c.client[method]!(request, (err: ServiceError | null, value: Decoded) => (err ? reject(err) : resolve(value))));
    try {
      // Inbound: every port the examples show. The public client's answer, encoded again by the
      // public definitions, reads the same as ours: no part of it was in a field the public API lacks.
      const ports: [string, string, number][] = [['library', 'catalog-1', 8080], ['library', 'catalog-1', 9000], ['vault', 'vault-1', 8080], ['vault', 'vault-1', 9990], ['vault', 'unknown-1', 8080]];
      const servers: Record<string, Decoded> = {};
      for (const [ns, pod, port] of ports) {
        const theirs = await ask(pubInbound, 'GetPort', { workload: JSON.stringify({ ns, pod }), port });
        const ours = await call<inbound.Server>((cb) => inboundClient.getPort(portSpec(ns, pod, port), cb));
        const again = inbound.Server.decode(pubInbound.methods.GetPort!.responseSerialize(theirs));
        expect(serverJson(again), `${ns}/${pod} port ${port}`).toEqual(serverJson(ours));
        servers[`${ns}/${pod}:${port}`] = theirs;
      }
      // (a) in the public names: only frontend's identity, on GET /books, nothing on the server itself.
      const catalog = servers['library/catalog-1:8080']!;
      expect(catalog.labels).toMatchObject({ kind: 'Server', name: 'catalog-http' });
      expect(catalog.authorizations ?? []).toEqual([]);
      expect(catalog.protocol.kind).toBe('http1');
      const [read] = catalog.protocol.http1.routes;
      expect(read.authorizations.map((a: Decoded) => a.authentication.meshTLS.identities.identities.map((i: Decoded) => i.name))).toEqual([[`frontend.library.serviceaccount.${identityDomain}`]]);
      expect(read.rules[0].matches[0]).toMatchObject({ path: { prefix: '/books' }, method: { registered: 'GET' } });
      // (b): deny on the admin port, but the readiness probe open without authentication.
      const admin = servers['vault/vault-1:9990']!;
      expect(admin.labels).toMatchObject({ kind: 'default', name: 'deny' });
      const probe = admin.protocol.detect.http_routes.find((r: Decoded) => r.metadata?.default === 'probe');
      expect(probe.authorizations[0].authentication.unauthenticated).toEqual({});
      expect(probe.rules[0].matches[0]).toMatchObject({ path: { exact: '/ready' }, method: { registered: 'GET' } });
      expect(servers['vault/unknown-1:8080']!.labels).toMatchObject({ kind: 'default', name: 'deny' });

      // Outbound: the canary, checkout-v1, and an address no service has.
      const targets: outbound.TrafficSpec[] = [traffic('checkout.store.svc.cluster.local:80'), traffic('checkout-v1.store.svc.cluster.local:80'), { sourceWorkload: '', target: { $case: 'addr', addr: { ip: { ip: { $case: 'ipv4', ipv4: (10 << 24) + 99 } }, port: 8080 } } }];
      const policies: Decoded[] = [];
      for (const spec of targets) {
        const request = spec.target?.$case === 'authority' ? { source_workload: '', authority: spec.target.authority } : { source_workload: '', addr: { ip: { ipv4: (10 << 24) + 99 }, port: 8080 } };
        const theirs = await ask(pubOutbound, 'Get', request);
        const ours = await call<outbound.OutboundPolicy>((cb) => outboundClient.get(spec, cb));
        const again = outbound.OutboundPolicy.decode(pubOutbound.methods.Get!.responseSerialize(theirs));
        expect(outboundJson(again), JSON.stringify(request)).toEqual(outboundJson(ours));
        policies.push(theirs);
      }
      // (c) in the public names: 90/10, 2 s per call, 500 ms per attempt, two retries on 502 and 503, failure accrual after 5.
      const canary = policies[0]!.protocol.detect.http1;
      const rule = canary.routes[0].rules[0];
      expect(rule.backends.random_available.backends.map((b: Decoded) => [b.backend.backend.metadata.resource.name, b.weight])).toEqual([['checkout-v1', 90], ['checkout-v2', 10]]);
      expect(rule.timeouts).toMatchObject({ request: { seconds: '2' }, response: { nanos: 500_000_000 } });
      expect(rule.retry).toMatchObject({ max_retries: 2, conditions: { status_ranges: [{ start: 502, end: 502 }, { start: 503, end: 503 }] } });
      expect(canary.failure_accrual.consecutive_failures.max_failures).toBe(5);
      expect(policies[2]!.metadata).toMatchObject({ default: 'forward' });
    } finally {
      pubInbound.client.close();
      pubOutbound.client.close();
    }
  });

  it('a consumer route in the caller\'s namespace replaces the producer routes for callers from there only', async () => {
    await writeFile(
      join(dir, 'qa-consumer.yaml'),
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: checkout-v2-only, namespace: qa }
spec:
  parentRefs: [{ group: core, kind: Service, name: checkout, namespace: store, port: 80 }]
  rules:
    - backendRefs: [{ name: checkout-v2, namespace: store, port: 80 }]
`,
    );
    const fromQa = traffic('checkout.store.svc.cluster.local:80', JSON.stringify({ ns: 'qa', pod: 'tester-1' }));
    const qa = await waitFor(
      async () => {
        const p = await call<outbound.OutboundPolicy>((cb) => outboundClient.get(fromQa, cb));
        return JSON.stringify(weights(p)) === JSON.stringify(['checkout-v2*1']) ? p : undefined;
      },
      { what: 'the consumer route for callers from qa', timeoutMs: updateBoundMs * 3 },
    );
    const route = qa.protocol?.kind?.$case === 'detect' ? qa.protocol.kind.detect.http1!.routes : [];
    expect(route.map((r) => r.metadata?.kind)).toEqual([{ $case: 'resource', resource: expect.objectContaining({ kind: 'HTTPRoute', namespace: 'qa', name: 'checkout-v2-only' }) }]);
    // Everyone else still gets the canary.
    for (const source of ['', JSON.stringify({ ns: 'store', pod: 'checkout-v1-1' })]) {
      const other = await call<outbound.OutboundPolicy>((cb) => outboundClient.get(traffic('checkout.store.svc.cluster.local:80', source), cb));
      expect(weights(other), source).toEqual(['checkout-v1*90', 'checkout-v2*10']);
    }
    await rm(join(dir, 'qa-consumer.yaml'));
    await waitFor(
      async () => JSON.stringify(weights(await call<outbound.OutboundPolicy>((cb) => outboundClient.get(fromQa, cb)))) === JSON.stringify(['checkout-v1*90', 'checkout-v2*10']),
      { what: 'the canary for qa once its route is gone', timeoutMs: updateBoundMs * 3 },
    );
  });

  it('an edit of a policy YAML reaches an open WatchPort stream and an open outbound Watch stream within a second', async () => {
    const port = new StreamRecorder(inboundClient.watchPort(portSpec('library', 'catalog-1', 8080)));
    const route = new StreamRecorder(outboundClient.watch(traffic('checkout.store.svc.cluster.local:80')));
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
          (m) => JSON.stringify(routeAuthz(m)) === JSON.stringify([{ networks: e.networks, authentication: frontend }]),
          `${e.what}: the authorization on the WatchPort stream`,
          { from: from.port, timeoutMs: updateBoundMs * 3 },
        );
        const routeUpdate = await route.until(
          (m) => JSON.stringify(weights(m)) === JSON.stringify(e.weights),
          `${e.what}: the weights on the Watch stream`,
          { from: from.route, timeoutMs: updateBoundMs * 3 },
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

  it('invalid and conflicting resources are reported with file, resource and reason; the rest of the policy stays as it was', async () => {
    const port = new StreamRecorder(inboundClient.watchPort(portSpec('library', 'catalog-1', 8080)));
    const route = new StreamRecorder(outboundClient.watch(traffic('checkout.store.svc.cluster.local:80')));
    try {
      await port.until(() => true, 'the first WatchPort message');
      await route.until(() => true, 'the first Watch message');
      const before = { port: serverJson(port.last!), route: outboundJson(route.last!), counts: [port.received.length, route.received.length] };
      const since = events.seen.length;
      await writeFile(join(dir, 'broken.yaml'), brokenYaml);

      const rejected = (name: string) => events.seen.slice(since).find((e) => e.subject === subjects.policyRejected && e.data.name === name)?.data;
      const expected: [string, string, RegExp][] = [
        ['AuthorizationPolicy', 'dangling', /MeshTLSAuthentication library\/nobody/],
        ['AuthorizationPolicy', 'via-bad-office', /NetworkAuthentication library\/bad-office/],
        ['HTTPRoute', 'orphan', /Server library\/no-such-server/],
        ['Server', 'catalog-http-again', /port 8080 of workload library\/catalog-1 .*catalog-http/],
      ];
      for (const [kind, name, reason] of expected) {
        const event = await waitFor(() => rejected(name), { what: `policy.rejected for ${kind} ${name}` });
        expect(event).toMatchObject({ file: 'broken.yaml', kind, namespace: 'library', name });
        expect(event.reason).toMatch(reason);
      }
      expect(rejected('catalog-http-again')?.code).toBe('Conflict');
      // The network with host bits set is refused when the file is read: destination announces the manifest problem,
      // and the policy service gives the resource a status and a policy.rejected of its own.
      const badCidr = await waitFor(
        () => events.seen.slice(since).find((e) => e.subject === subjects.manifestRejected && String(e.data.reason).includes('spec.networks[0].cidr'))?.data,
        { what: 'manifest.rejected for the bad CIDR' },
      );
      expect(badCidr).toMatchObject({ file: 'broken.yaml', kind: 'NetworkAuthentication', namespace: 'library', name: 'bad-office' });
      const badCidrRejected = await waitFor(() => rejected('bad-office'), { what: 'policy.rejected for the bad CIDR' });
      expect(badCidrRejected).toMatchObject({ file: 'broken.yaml', kind: 'NetworkAuthentication', code: 'InvalidResource' });
      expect(badCidrRejected.reason).toContain('spec.networks[0].cidr');

      // The status of each resource, as `meshbus policy check` reads it.
      const status = async (kind: string, name: string) => (await lastState(nc, subjects.policyStatus('library', kind, name)))?.data;
      for (const [kind, name, reason] of [
        ['AuthorizationPolicy', 'dangling', 'UnknownReference'],
        ['AuthorizationPolicy', 'via-bad-office', 'UnknownReference'],
        ['HTTPRoute', 'orphan', 'UnresolvedParent'],
        ['NetworkAuthentication', 'bad-office', 'InvalidResource'],
      ] as const) {
        const s = await waitFor(() => status(kind, name), { what: `policy-status of ${kind} ${name}` });
        expect(s).toMatchObject({ kind, namespace: 'library', name, file: 'broken.yaml', accepted: false, affects: 0 });
        expect(s.conditions).toContainEqual(expect.objectContaining({ type: 'Accepted', status: 'False', reason }));
      }
      const conflicted = await waitFor(() => status('Server', 'catalog-http-again'), { what: 'policy-status of the second Server' });
      expect(conflicted).toMatchObject({ file: 'broken.yaml', affects: 0 });
      expect(conflicted.conditions).toContainEqual(expect.objectContaining({ type: 'Conflicted', status: 'True' }));
      expect(await status('Server', 'catalog-http')).toMatchObject({ accepted: true, file: 'allow-one-route.yaml' });

      // Nothing a proxy sees changed: no new message on the open streams, and the same answers.
      await new Promise((r) => setTimeout(r, 1000));
      expect([port.received.length, route.received.length]).toEqual(before.counts);
      expect(serverJson(await call<inbound.Server>((cb) => inboundClient.getPort(portSpec('library', 'catalog-1', 8080), cb)))).toEqual(before.port);
      expect(outboundJson(await call<outbound.OutboundPolicy>((cb) => outboundClient.get(traffic('checkout.store.svc.cluster.local:80'), cb)))).toEqual(before.route);
      expect(port.error ?? route.error).toBeUndefined();
    } finally {
      port.cancel();
      route.cancel();
    }
  }, 30_000);

  it("the CLI (policy inbound, policy outbound, authz, policy check) shows this mesh's policy", async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'meshbus-policy-e2e-cli-'));
    mesh.defer(() => rm(cwd, { recursive: true, force: true }));
    // What a running `meshbus dev` leaves for the other commands.
    await mkdir(join(cwd, '.meshbus'));
    await writeFile(join(cwd, '.meshbus', 'dev.json'), JSON.stringify({ natsUrl: nats.url, gateways: [`127.0.0.1:${mesh.gateway.grpcPort}`], admin: {}, pid: process.pid }));
    const { NATS_URL: _unused, ...env } = process.env;
    const cli = async (...args: string[]) => {
      const run = startProcess({ command: process.execPath, args: [cliMain, ...args], cwd, env });
      const { code } = await run.exited;
      return { code, out: run.output() };
    };

    const catalog = await cli('policy', 'inbound', 'library/catalog-1', '8080');
    expect(catalog.code, catalog.out).toBe(0);
    expect(catalog.out).toContain('server:     Server catalog-http (policy.linkerd.io)');
    expect(catalog.out).toContain('authorizations: none for the whole port: only requests a route authorizes are allowed');
    expect(catalog.out).toMatch(/httproute library\/read-books\n\s+hosts: any\n\s+rule 1:\n\s+match: +method GET, path prefix \/books/);
    expect(catalog.out).toMatch(
      /authorizationpolicy library\/frontend-reads-books\n\s+networks: +0\.0\.0\.0\/0, ::\/0\n\s+authentication: mesh TLS, identities frontend\.library\.serviceaccount\.identity\.meshbus\.cluster\.local/,
    );

    const vault = await cli('authz', 'vault/vault-1');
    expect(vault.code, vault.out).toBe(0);
    const rows = vault.out.split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(vault.out).toContain('vault/vault-1: default policy deny');
    expect(rows).toContainEqual(['8080', 'server/vault-http', '*', 'authorizationpolicy/tellers-use-vault', '0.0.0.0/0,::/0', `teller.bank.serviceaccount.${identityDomain}`]);
    expect(rows).toContainEqual(['9990', 'default:deny', 'default:probe', 'default:probe', '0.0.0.0/0,::/0', 'anyone (unauthenticated)']);
    expect(rows).toContainEqual(['*', 'default:deny', '*', 'none: refused', '-', '-']);

    const canary = await cli('policy', 'outbound', 'checkout.store:80');
    expect(canary.code, canary.out).toBe(0);
    expect(canary.out).toContain('policy:   service store/checkout port 80');
    expect(canary.out).toMatch(/weight 90 +service store\/checkout-v1 port 80/);
    expect(canary.out).toMatch(/weight 10 +service store\/checkout-v2 port 80/);
    expect(canary.out).toContain('timeouts: request 2s, response 500ms');
    expect(canary.out).toContain('retry: up to 2 retries');
    expect(canary.out).toContain('on status 502, 503');
    expect(canary.out).toContain('HTTP/1 failure accrual: after 5 consecutive failures');

    // broken.yaml (from the test before) is still there: the check lists it and fails.
    const check = await cli('policy', 'check', '--namespace', 'library');
    expect(check.code, check.out).toBe(1);
    expect(check.out).toMatch(/broken\.yaml +AuthorizationPolicy library\/dangling +UnknownReference/);
    expect(check.out).toMatch(/broken\.yaml +HTTPRoute library\/orphan +UnresolvedParent/);
    await rm(join(dir, 'broken.yaml'));
    const clean = await waitFor(
      async () => {
        const c = await cli('policy', 'check', '--namespace', 'library');
        return c.code === 0 ? c : undefined;
      },
      { what: 'policy check passing once broken.yaml is gone', timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(clean.out).toMatch(/^0 rejected, 4 accepted in namespace library$/m);
  }, 60_000);

  it('the policy leader dying without releasing its lease is absorbed: the standby publishes the next edit', async () => {
    const ids = ['policy-a', 'policy-b'];
    const leaderAt = mesh.policies.findIndex((p) => p.isLeader);
    expect(leaderAt).toBeGreaterThanOrEqual(0);
    const [leaderId, standbyId] = [ids[leaderAt]!, ids[1 - leaderAt]!];
    const standby = mesh.policies[1 - leaderAt]!;
    const route = new StreamRecorder(outboundClient.watch(traffic('checkout.store.svc.cluster.local:80')));
    try {
      await route.until(() => true, 'the first Watch message');
      // Its connection dies, as in a crash: the lease is not released and must run out.
      const diedAt = Date.now();
      await policyConnections[leaderId]!.close();
      await waitFor(() => standby.isLeader, { what: `${standbyId} leads`, timeoutMs: 15_000, intervalMs: 10 });
      timings[`policy leader ${leaderId} gone (lease 1s) -> ${standbyId} leads`] = Date.now() - diedAt;
      const count = route.received.length;
      const editAt = await edit(join(dir, 'canary.yaml'), 'weight: 90', 'weight: 70');
      const update = await route.until((m) => weights(m).includes('checkout-v1*70'), 'the edit after failover on the Watch stream', { from: count, timeoutMs: updateBoundMs * 3 });
      timings['edit after failover -> outbound Watch update'] = update.at - editAt;
      expect(update.at - editAt).toBeLessThan(updateBoundMs);
      expect((await lastState(nc, subjects.outboundPolicy('store', 'checkout', 80)))?.source).toBe(`/meshbus/policy/${standbyId}`);
      const elected = await waitFor(() => events.seen.find((e) => e.subject === subjects.leader('policy') && e.data.holder === standbyId), { what: 'leader.changed' });
      expect(elected.data).toMatchObject({ role: 'policy', holder: standbyId });
      expect(route.error).toBeUndefined();
    } finally {
      route.cancel();
    }
  }, 40_000);
});

/** Mistakes of every kind the policy is checked for, beside the valid examples. */
const brokenYaml = `# An AuthorizationPolicy requiring an authentication that does not exist.
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: { name: dangling, namespace: library }
spec:
  targetRef: { group: policy.linkerd.io, kind: Server, name: catalog-http }
  requiredAuthenticationRefs:
    - { group: policy.linkerd.io, kind: MeshTLSAuthentication, name: nobody }
---
# A network with host bits set, and a policy that requires it.
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: { name: bad-office, namespace: library }
spec:
  networks: [{ cidr: 10.0.0.1/8 }]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: { name: via-bad-office, namespace: library }
spec:
  targetRef: { group: policy.linkerd.io, kind: Server, name: catalog-http }
  requiredAuthenticationRefs:
    - { group: policy.linkerd.io, kind: NetworkAuthentication, name: bad-office }
---
# A second Server on the catalog's port 8080 (catalog-http comes first by name and keeps it).
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: { name: catalog-http-again, namespace: library }
spec:
  podSelector: { matchLabels: { app: catalog } }
  port: 8080
  proxyProtocol: HTTP/2
---
# A route whose parent does not exist.
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orphan, namespace: library }
spec:
  parentRefs: [{ group: policy.linkerd.io, kind: Server, name: no-such-server }]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /admin } }] }]
`;
