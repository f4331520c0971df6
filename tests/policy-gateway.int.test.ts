import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, subjects, type InboundPolicy, type InboundServer, type OutboundPolicy, type PolicyDefaults } from '@meshbus/bus-schemas';
import { inbound, outbound, tap } from '@meshbus/proxy-api';
import { httpGet, waitFor } from '@meshbus/testing';
import type { Gateway } from '@meshbus/gateway';
import { startMesh, type Mesh } from './harness.js';

// A policy service that is not there: the test publishes the state it would publish.

const require = createRequire(import.meta.url);
const healthProto = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto');
const reflectionProto = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

const meshTlsServer = (name: string): InboundServer => ({
  metadata: { group: 'policy.meshbus.io', kind: 'Server', namespace: 'shop', name },
  protocol: 'http1',
  labels: { name },
  authorizations: [
    {
      metadata: { group: 'policy.meshbus.io', kind: 'AuthorizationPolicy', namespace: 'shop', name: 'allow-frontend' },
      networks: [{ net: '0.0.0.0/0' }],
      authentication: { kind: 'meshTls', identities: ['frontend.shop.serviceaccount.identity.meshbus.cluster.local'] },
    },
  ],
  httpRoutes: [
    {
      metadata: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'shop', name: 'api' },
      authorizations: [],
      rules: [{ matches: [{ path: { prefix: '/api' }, method: 'GET' }] }],
    },
  ],
});

const webPolicy = (portServer: InboundServer): InboundPolicy => ({
  namespace: 'shop',
  workload: 'web-1',
  defaultPolicy: 'all-unauthenticated',
  ports: [{ port: 8080, server: portServer }],
  defaultServer: {
    metadata: { default: 'all-unauthenticated' },
    protocol: 'detect',
    detectTimeoutMs: 10_000,
    labels: { kind: 'default', name: 'all-unauthenticated' },
    authorizations: [{ metadata: { default: 'all-unauthenticated' }, networks: [{ net: '0.0.0.0/0' }, { net: '::/0' }], authentication: { kind: 'unauthenticated' } }],
  },
});

const defaults = (cluster: PolicyDefaults['defaultPolicy']): PolicyDefaults => ({
  defaultPolicy: cluster,
  clusterNetworks: ['10.0.0.0/8'],
  probeNetworks: ['0.0.0.0/0'],
  detectTimeoutMs: 5_000,
  identityDomain: 'identity.meshbus.cluster.local',
  namespaces: [{ namespace: 'locked', defaultPolicy: 'deny' }],
});

const backend = (name: string, weight: number) => ({
  metadata: { group: 'core', kind: 'Service', namespace: 'shop', name, port: 80 },
  weight,
  service: { namespace: 'shop', name, port: 80, authority: `${name}.shop.svc.cluster.local:80` },
});

const routeTo = (name: string, backends: ReturnType<typeof backend>[]) => ({
  httpRoutes: [{ metadata: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'shop', name }, rules: [{ matches: [{ path: { prefix: '/' } }], backends }] }],
  grpcRoutes: [],
});

const webOutbound = (addresses: string[]): OutboundPolicy => ({
  namespace: 'shop',
  service: 'web',
  port: 80,
  metadata: { group: 'core', kind: 'Service', namespace: 'shop', name: 'web', port: 80 },
  authority: 'web.shop.svc.cluster.local:80',
  addresses,
  protocol: 'detect',
  detectTimeoutMs: 10_000,
  routes: routeTo('web-default', [backend('web', 1)]),
  consumerRoutes: [{ namespace: 'canary', routes: routeTo('web-canary', [backend('web', 90), backend('web-v2', 10)]) }],
});

const call = <T>(f: (cb: (err: ServiceError | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));
const callError = async (p: Promise<unknown>): Promise<ServiceError> => {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('the call succeeded');
};

/** A watch stream that keeps what it received. */
class Watch<T> {
  readonly received: T[] = [];
  error: ServiceError | undefined;
  constructor(readonly stream: ClientReadableStream<T>) {
    stream.on('data', (m: T) => this.received.push(m));
    stream.on('error', (e: ServiceError) => (this.error = e));
  }
  get last(): T | undefined {
    return this.received.at(-1);
  }
  async next(count: number, what: string): Promise<T> {
    await waitFor(() => this.received.length >= count || this.error, { what, timeoutMs: 5_000 });
    if (this.error && this.received.length < count) throw this.error;
    return this.received[count - 1]!;
  }
  cancel(): void {
    this.stream.cancel();
  }
}

const resourceName = (m: { kind?: { $case: string; resource?: { name: string }; default?: string } } | undefined) =>
  m?.kind?.$case === 'resource' ? m.kind.resource!.name : m?.kind?.$case === 'default' ? `default:${m.kind.default}` : undefined;

/** Names of the backends of the first rule of the first HTTP route, with weights. */
function httpBackends(p: outbound.OutboundPolicy): string[] {
  const kind = p.protocol?.kind;
  if (kind?.$case !== 'detect') throw new Error(`protocol ${kind?.$case}`);
  const dist = kind.detect.http1!.routes[0]!.rules[0]!.backends!.kind!;
  if (dist.$case === 'firstAvailable') return dist.firstAvailable.backends.map((b) => `${resourceName(b.backend!.metadata)}`);
  if (dist.$case === 'randomAvailable') return dist.randomAvailable.backends.map((b) => `${resourceName(b.backend!.backend!.metadata)}*${b.weight}`);
  return [];
}

describe('policy APIs of the gateway, served from policy state on the bus', () => {
  let mesh: Mesh;
  let gw: Gateway;
  let publisher: JetStreamPublisher;
  let inboundClient: inbound.InboundServerPoliciesClient;
  let outboundClient: outbound.OutboundPoliciesClient;
  const clients: Client[] = [];

  beforeAll(async () => {
    mesh = await startMesh({ gateway: true });
    gw = mesh.gateway;
    const nc = await mesh.connect();
    publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/test/policy' });
    const address = `127.0.0.1:${gw.grpcPort}`;
    inboundClient = new inbound.InboundServerPoliciesClient(address, credentials.createInsecure());
    outboundClient = new outbound.OutboundPoliciesClient(address, credentials.createInsecure());
    clients.push(inboundClient, outboundClient);
    await waitFor(async () => (await httpGet(`${gw.adminUrl}/ready`)).status === 200, { what: 'gateway ready' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await mesh?.[Symbol.asyncDispose]();
  });

  const getPort = (workload: string, port: number) => call<inbound.Server>((cb) => inboundClient.getPort({ workload, port }, cb));
  const getOutbound = (spec: outbound.TrafficSpec) => call<outbound.OutboundPolicy>((cb) => outboundClient.get(spec, cb));
  const authority = (a: string, sourceWorkload = ''): outbound.TrafficSpec => ({ sourceWorkload, target: { $case: 'authority', authority: a } });
  const addr = (ip: number, port: number, sourceWorkload = ''): outbound.TrafficSpec => ({ sourceWorkload, target: { $case: 'addr', addr: { ip: { ip: { $case: 'ipv4', ipv4: ip } }, port } } });
  const ipv4 = (text: string) => text.split('.').reduce((n, o) => n * 256 + Number(o), 0);

  describe('InboundServerPolicies', () => {
    it('answers GetPort with the server of the port, or the default server of the workload for other ports', async () => {
      await publisher.publish('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), 'shop/web-1', webPolicy(meshTlsServer('web-http')));
      await waitFor(async () => (await getPort('{"ns":"shop","pod":"web-1"}', 8080)).protocol?.kind?.$case === 'http1', { what: 'the published server' });

      const server = await getPort('{"ns":"shop","pod":"web-1"}', 8080);
      expect(server.labels).toEqual({ name: 'web-http' });
      const http1 = server.protocol?.kind?.$case === 'http1' ? server.protocol.kind.http1 : undefined;
      expect(http1?.routes.map((r) => resourceName(r.metadata))).toEqual(['api']);
      expect(http1?.routes[0]!.rules[0]!.matches[0]!.path).toEqual({ kind: { $case: 'prefix', prefix: '/api' } });
      const authn = server.authorizations[0]!.authentication!.permit;
      expect(authn?.$case === 'meshTLS' && authn.meshTLS.clients?.$case === 'identities' ? authn.meshTLS.clients.identities.identities : undefined).toEqual([
        { name: 'frontend.shop.serviceaccount.identity.meshbus.cluster.local' },
      ]);
      expect(server.authorizations[0]!.networks).toEqual([{ net: { ip: { ip: { $case: 'ipv4', ipv4: 0 } }, prefixLen: 0 }, except: [] }]);

      // The local form names the same workload; another port gets the default server.
      const other = await getPort('shop:web-1', 9999);
      expect(other.protocol?.kind?.$case).toBe('detect');
      expect(other.labels).toEqual({ kind: 'default', name: 'all-unauthenticated' });
      expect((await getPort('{"ns":"shop","name":"web-1"}', 8080)).labels).toEqual({ name: 'web-http' });
    });

    it('streams the full server on WatchPort, then a new one within a second of a change', async () => {
      const w = new Watch(inboundClient.watchPort({ workload: '{"ns":"shop","pod":"web-1"}', port: 8080 }));
      try {
        expect((await w.next(1, 'the first server')).labels).toEqual({ name: 'web-http' });
        const changedAt = Date.now();
        await publisher.publish('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), 'shop/web-1', webPolicy(meshTlsServer('web-http-v2')));
        expect((await w.next(2, 'the changed server')).labels).toEqual({ name: 'web-http-v2' });
        expect(Date.now() - changedAt).toBeLessThan(1000);
        // The same policy published again changes nothing the proxy sees: no message.
        await publisher.publish('inboundPolicy', subjects.inboundPolicy('shop', 'web-1'), 'shop/web-1', webPolicy(meshTlsServer('web-http-v2')));
        await new Promise((r) => setTimeout(r, 300));
        expect(w.received).toHaveLength(2);
        expect(w.error).toBeUndefined();
        const metrics = (await httpGet(`${gw.adminUrl}/metrics`)).body;
        expect(metrics).toMatch(/meshbus_gateway_policy_streams\{[^}]*api="inbound"[^}]*\} 1/);
        expect(metrics).toMatch(/meshbus_gateway_policy_updates_total\{[^}]*api="inbound"[^}]*\} [2-9]/);
      } finally {
        w.cancel();
      }
    });

    it('gives an unknown workload the default of its namespace, and follows changes of the defaults', async () => {
      // Before any defaults are published: all-unauthenticated.
      const before = await getPort('shop:nobody', 80);
      expect(before.authorizations.map((a) => resourceName(a.metadata))).toEqual(['default:all-unauthenticated']);

      const w = new Watch(inboundClient.watchPort({ workload: 'shop:nobody', port: 80 }));
      try {
        await w.next(1, 'the built-in default');
        await publisher.publish('policyDefaults', subjects.policyDefaults, 'cluster', defaults('cluster-authenticated'));
        const changed = await w.next(2, 'the published default');
        expect(changed.labels).toEqual({ group: '', kind: 'default', name: 'cluster-authenticated' });
        expect(changed.authorizations[0]!.networks).toEqual([{ net: { ip: { ip: { $case: 'ipv4', ipv4: 0x0a000000 } }, prefixLen: 8 }, except: [] }]);
        expect(changed.authorizations[0]!.authentication!.permit).toEqual({ $case: 'meshTLS', meshTLS: { clients: { $case: 'identities', identities: { identities: [], suffixes: [{ parts: [] }] } } } });
      } finally {
        w.cancel();
      }
      // A namespace of its own: deny, no authorization at all.
      const locked = await getPort('{"ns":"locked","pod":"anything"}', 80);
      expect(locked.authorizations).toEqual([]);
      expect(locked.labels.name).toBe('deny');
    });

    it('refuses a bad workload or port with INVALID_ARGUMENT and a reason, on GetPort and WatchPort', async () => {
      for (const [workload, port, words] of [
        ['web-1', 80, 'names no namespace'],
        ['{"ns":"shop"}', 80, '"pod" or "name"'],
        ['{"ns":"shop","pod":"web-1"', 80, 'not valid JSON'],
        ['Shop:web-1', 80, 'not a DNS label'],
        ['shop:web-1', 0, 'not a port'],
        ['shop:web-1', 70000, 'not a port'],
      ] as const) {
        const err = await callError(getPort(workload, port));
        expect(err.code, workload).toBe(status.INVALID_ARGUMENT);
        expect(err.details).toContain(words);
      }
      const w = new Watch(inboundClient.watchPort({ workload: 'web-1', port: 80 }));
      await waitFor(() => w.error, { what: 'the refusal' });
      expect(w.error!.code).toBe(status.INVALID_ARGUMENT);
      expect(w.error!.details).toContain('{"ns":"<namespace>","pod":"<pod>"}');
    });
  });

  describe('OutboundPolicies', () => {
    beforeAll(async () => {
      await publisher.publish('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), 'shop/web/80', webOutbound(['10.96.0.10']));
      await waitFor(async () => (await getOutbound(authority('web.shop.svc.cluster.local:80')).catch(() => undefined)) !== undefined, { what: 'the published policy' });
    });

    it('answers by authority, also in the short forms a proxy may send', async () => {
      for (const a of ['web.shop.svc.cluster.local:80', 'web.shop.svc:80', 'web.shop:80', 'WEB.shop.svc.cluster.local.:80', 'web.shop']) {
        const p = await getOutbound(authority(a));
        expect(resourceName(p.metadata), a).toBe('web');
        expect(httpBackends(p), a).toEqual(['web']);
      }
      const p = await getOutbound(authority('web.shop:80'));
      const detect = p.protocol?.kind?.$case === 'detect' ? p.protocol.kind.detect : undefined;
      const route = detect!.http1!.routes[0]!.rules[0]!.backends!.kind;
      const balancer = route?.$case === 'firstAvailable' ? route.firstAvailable.backends[0]!.backend!.kind : undefined;
      expect(balancer?.$case === 'balancer' ? balancer.balancer.discovery : undefined).toEqual({ kind: { $case: 'dst', dst: { path: 'web.shop.svc.cluster.local:80' } } });
    });

    it('answers by IP and port with the service whose cluster IP it is', async () => {
      const p = await getOutbound(addr(ipv4('10.96.0.10'), 80));
      expect(resourceName(p.metadata)).toBe('web');
      expect(httpBackends(p)).toEqual(['web']);
    });

    it("gives a caller its namespace's consumer routes, and everyone else the producer routes", async () => {
      expect(httpBackends(await getOutbound(authority('web.shop:80', '{"ns":"canary","pod":"client-1"}')))).toEqual(['web*90', 'web-v2*10']);
      expect(httpBackends(await getOutbound(addr(ipv4('10.96.0.10'), 80, 'canary:client-1')))).toEqual(['web*90', 'web-v2*10']);
      expect(httpBackends(await getOutbound(authority('web.shop:80', 'shop:client-1')))).toEqual(['web']);
      const err = await callError(getOutbound(authority('web.shop:80', 'not a workload')));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toContain('source_workload');
    });

    it('answers NOT_FOUND for a name that is no service with policy, and forwards an unknown address as it is', async () => {
      for (const a of ['nothing.shop.svc.cluster.local:80', 'web.shop:81', 'example.com:443']) {
        const err = await callError(getOutbound(authority(a)));
        expect(err.code, a).toBe(status.NOT_FOUND);
      }
      expect((await callError(getOutbound(authority('web.shop:99999')))).code).toBe(status.INVALID_ARGUMENT);
      expect((await callError(getOutbound({ sourceWorkload: '', target: undefined }))).code).toBe(status.INVALID_ARGUMENT);

      const p = await getOutbound(addr(ipv4('192.0.2.7'), 5432));
      expect(resourceName(p.metadata)).toBe('default:forward');
      const detect = p.protocol?.kind?.$case === 'detect' ? p.protocol.kind.detect : undefined;
      const opaque = detect!.opaque!.routes[0]!.rules[0]!.backends!.kind;
      const forward = opaque?.$case === 'firstAvailable' ? opaque.firstAvailable.backends[0]!.backend!.kind : undefined;
      expect(forward?.$case === 'forward' ? forward.forward.addr : undefined).toEqual({ ip: { ip: { $case: 'ipv4', ipv4: ipv4('192.0.2.7') } }, port: 5432 });
    });

    it('streams by address: the forward policy, then the service once it claims the address; by authority until the policy goes', async () => {
      const byAddr = new Watch(outboundClient.watch(addr(ipv4('10.96.0.11'), 80)));
      const byName = new Watch(outboundClient.watch(authority('web.shop:80', 'canary:client-1')));
      try {
        expect(resourceName((await byAddr.next(1, 'forward policy')).metadata)).toBe('default:forward');
        expect(httpBackends(await byName.next(1, 'consumer routes'))).toEqual(['web*90', 'web-v2*10']);
        const changedAt = Date.now();
        await publisher.publish('outboundPolicy', subjects.outboundPolicy('shop', 'web', 80), 'shop/web/80', webOutbound(['10.96.0.10', '10.96.0.11']));
        expect(resourceName((await byAddr.next(2, 'the service policy')).metadata)).toBe('web');
        expect(Date.now() - changedAt).toBeLessThan(1000);

        await publisher.publish('outboundPolicyDeleted', subjects.outboundPolicy('shop', 'web', 80), 'shop/web/80', { reason: 'service removed' });
        expect(resourceName((await byAddr.next(3, 'forward policy again')).metadata)).toBe('default:forward');
        await waitFor(() => byName.error, { what: 'the authority stream to end' });
        expect(byName.error!.code).toBe(status.NOT_FOUND);
      } finally {
        byAddr.cancel();
        byName.cancel();
      }
    });
  });

  describe('health and reflection', () => {
    const healthPackage = loadPackageDefinition(loadSync(healthProto, { keepCase: true, enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client & Record<string, (...args: unknown[]) => unknown> } } };
    };
    const reflectionPackage = loadPackageDefinition(loadSync(reflectionProto, { keepCase: true, enums: String, oneofs: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client & Record<string, (...args: unknown[]) => unknown> } } };
    };

    it('says SERVING for the whole server and each API once ready, and NOT_FOUND for a service it does not have', async () => {
      const health = new healthPackage.grpc.health.v1.Health(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
      clients.push(health);
      const check = (service: string) => call<{ status: string }>((cb) => health.Check!({ service }, cb));
      for (const service of ['', 'io.linkerd.proxy.destination.Destination', 'io.linkerd.proxy.identity.Identity', 'io.linkerd.proxy.inbound.InboundServerPolicies', 'io.linkerd.proxy.outbound.OutboundPolicies']) {
        expect((await check(service)).status, service).toBe('SERVING');
      }
      expect((await callError(check('no.such.Service'))).code).toBe(status.NOT_FOUND);

      const w = new Watch(health.Watch!({ service: 'io.linkerd.proxy.inbound.InboundServerPolicies' }) as ClientReadableStream<{ status: string }>);
      try {
        expect((await w.next(1, 'the current status')).status).toBe('SERVING');
      } finally {
        w.cancel();
      }
    });

    it('serves Tap/Watch, refusing a hello it cannot check while the bus has no trust bundle', async () => {
      const client = new tap.TapClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
      clients.push(client);
      const watch = client.watch();
      const ended = new Promise<ServiceError>((resolve) => watch.on('error', resolve));
      const claim = Buffer.from(tap.HelloClaim.encode({ signedAtMs: BigInt(Date.now()), instance: 'x' }).finish());
      watch.write({ kind: { $case: 'hello', hello: { claim, certificateChain: [Buffer.from('not a certificate')], signature: Buffer.from('sig') } } });
      const error = await ended;
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toMatch(/trust bundle/);
    });

    it('lists the services and describes them through server reflection', async () => {
      const reflection = new reflectionPackage.grpc.reflection.v1.ServerReflection(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
      clients.push(reflection);
      const ask = (request: object) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const stream = reflection.ServerReflectionInfo!() as NodeJS.ReadWriteStream & { end(): void; write(m: object): void };
          stream.on('data', (m: Record<string, unknown>) => {
            resolve(m);
            stream.end();
          });
          stream.on('error', reject);
          stream.write(request);
        });
      const listed = (await ask({ list_services: '' })) as { list_services_response: { service: { name: string }[] } };
      expect(listed.list_services_response.service.map((s) => s.name)).toEqual(
        expect.arrayContaining(['io.linkerd.proxy.destination.Destination', 'io.linkerd.proxy.identity.Identity', 'io.linkerd.proxy.inbound.InboundServerPolicies', 'io.linkerd.proxy.outbound.OutboundPolicies', 'meshbus.telemetry.v1.Telemetry', 'meshbus.tap.v1.Tap', 'grpc.health.v1.Health']),
      );
      const described = (await ask({ file_containing_symbol: 'io.linkerd.proxy.outbound.OutboundPolicies' })) as { file_descriptor_response?: { file_descriptor_proto: Buffer[] } };
      const files = described.file_descriptor_response?.file_descriptor_proto.map((b) => Buffer.from(b).toString('latin1')) ?? [];
      expect(files.some((f) => f.includes('io.linkerd.proxy.outbound') && f.includes('OutboundPolicies'))).toBe(true);
    });
  });
});

describe('a gateway that has not read the bus state yet', () => {
  it('is NOT_SERVING, answers GetPort with UNAVAILABLE, holds WatchPort open, and serves both once the state is there', async () => {
    // The gateway may not create the streams; until a writer does, it has nothing to serve.
    await using mesh = await startMesh({ gateway: { env: { MESHBUS_ENSURE_STREAMS: 'false' } } });
    const gw = mesh.gateway;
    const address = `127.0.0.1:${gw.grpcPort}`;
    const client = new inbound.InboundServerPoliciesClient(address, credentials.createInsecure());
    const healthPackage = loadPackageDefinition(loadSync(healthProto, { keepCase: true, enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client & Record<string, (...args: unknown[]) => unknown> } } };
    };
    const health = new healthPackage.grpc.health.v1.Health(address, credentials.createInsecure());
    mesh.defer(() => {
      client.close();
      health.close();
    });
    const check = () => call<{ status: string }>((cb) => health.Check!({ service: 'io.linkerd.proxy.inbound.InboundServerPolicies' }, cb));

    expect((await check()).status).toBe('NOT_SERVING');
    expect((await httpGet(`${gw.adminUrl}/ready`)).body).toContain('policy state not synced');
    const err = await callError(call<inbound.Server>((cb) => client.getPort({ workload: 'shop:web-1', port: 80 }, cb)));
    expect(err.code).toBe(status.UNAVAILABLE);
    const w = new Watch(client.watchPort({ workload: 'shop:web-1', port: 80 }));
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(w.received).toEqual([]);
      expect(w.error).toBeUndefined();

      const nc = await mesh.connect();
      await ensureStreams(await nc.jetstreamManager());
      const first = await w.next(1, 'the first server once synced');
      expect(first.labels.name).toBe('all-unauthenticated');
      await waitFor(async () => (await check()).status === 'SERVING', { what: 'SERVING' });
    } finally {
      w.cancel();
    }
  });
});
