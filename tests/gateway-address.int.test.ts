import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { destination, net, outbound } from '@meshbus/proxy-api';
import { waitFor } from '@meshbus/testing';
import { destinationClient, EndpointWatcher, policyClients, StreamRecorder, startMesh, type Mesh } from './harness.js';

// A transparent proxy knows only the address a connection was sent to. The
// gateway answers for addresses from what the destination and policy services
// publish: a Service's cluster IP, a workload's address, or nothing known.

const identity = (sa: string) => `${sa}.shop.serviceaccount.identity.meshbus.cluster.local`;

const namespaceYaml = `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: web, namespace: shop }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: web-v2, namespace: shop }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: db, namespace: shop }
`;

const workload = (name: string, address: string, serviceAccount: string, app = 'web', port = 8080) => `
---
apiVersion: meshbus.io/v1alpha1
kind: Workload
metadata:
  name: ${name}
  namespace: shop
  labels: { app: ${app} }
spec:
  address: "${address}"
  ports: [{ name: main, port: ${port} }]
  serviceAccount: ${serviceAccount}
`;

const webYaml = (workloads: string) => `
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIPs: [10.96.0.10, "fd00:10::a"]
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
${workloads}`;

const dbYaml = `
apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: shop
  annotations:
    config.meshbus.io/opaque-ports: "5432"
spec:
  clusterIP: 10.96.0.20
  selector: { app: db }
  ports: [{ name: postgres, port: 5432 }]
${workload('db-1', '10.1.0.9', 'db', 'db', 5432)}`;

const v4 = (text: string): net.IPAddress => ({ ip: { $case: 'ipv4', ipv4: text.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) } });
const addrSpec = (ip: string, port: number): outbound.TrafficSpec => ({ sourceWorkload: 'shop:web-1', target: { $case: 'addr', addr: { ip: v4(ip), port } } });

const idOf = (a: destination.WeightedAddr | undefined) => (a?.tlsIdentity?.strategy?.$case === 'dnsLikeIdentity' ? a.tlsIdentity.strategy.dnsLikeIdentity.name : undefined);

/** The forward backend of the policy's opaque route, and the protocol. */
function forwardOf(p: outbound.OutboundPolicy) {
  const kind = p.protocol?.kind;
  const opaque = kind?.$case === 'detect' ? kind.detect.opaque : kind?.$case === 'opaque' ? kind.opaque : undefined;
  const dist = opaque?.routes[0]?.rules[0]?.backends?.kind;
  const backend = dist?.$case === 'firstAvailable' ? dist.firstAvailable.backends[0]?.backend?.kind : undefined;
  return { protocol: kind?.$case, forward: backend?.$case === 'forward' ? backend.forward : undefined, balancer: backend?.$case === 'balancer' ? backend.balancer : undefined };
}

const unary = <T>(f: (cb: (err: ServiceError | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err) : resolve(value))));

/** The first message of a stream, or its error; the stream is cancelled then. */
function first<T>(call: ClientReadableStream<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    call.once('data', (m: T) => {
      resolve(m);
      call.cancel();
    });
    call.once('error', (e: ServiceError) => reject(e));
  });
}

describe('the gateway answers by address (ip:port), as transparent proxies ask', () => {
  let mesh: Mesh;
  let dir: string;
  let dst: destination.DestinationClient;
  let policy: ReturnType<typeof policyClients>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshbus-address-'));
    await writeFile(join(dir, 'namespace.yaml'), namespaceYaml);
    await writeFile(join(dir, 'web.yaml'), webYaml(workload('web-1', '10.1.0.5', 'web') + workload('web-6', 'fd00:1::6', 'web')));
    await writeFile(join(dir, 'db.yaml'), dbYaml);
    mesh = await startMesh({ destination: true, policy: true, gateway: true, manifests: dir });
    mesh.defer(() => rm(dir, { recursive: true, force: true }));
    dst = destinationClient(mesh.gateway.grpcPort);
    policy = policyClients(mesh.gateway.grpcPort);
    mesh.defer(() => {
      dst.close();
      policy[Symbol.dispose]();
    });
    // Both publishers have written: the cluster IP leads to the service, the pod address to its endpoint.
    await waitFor(
      async () => {
        try {
          const byClusterIp = await unary<outbound.OutboundPolicy>((cb) => policy.outbound.get(addrSpec('10.96.0.10', 80), cb));
          const byPod = await unary<outbound.OutboundPolicy>((cb) => policy.outbound.get(addrSpec('10.1.0.9', 5432), cb));
          return forwardOf(byClusterIp).balancer !== undefined && idOf(forwardOf(byPod).forward) !== undefined;
        } catch {
          return false;
        }
      },
      { what: 'policy and endpoints on the gateway', timeoutMs: 20_000 },
    );
  }, 60_000);
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
  });

  it('Destination.Get: a cluster IP streams its service, a pod address that endpoint, an unknown address itself', async () => {
    const byName = new EndpointWatcher(dst, 'web.shop.svc.cluster.local:80');
    const byClusterIp = new EndpointWatcher(dst, '10.96.0.10:80');
    const byClusterIp6 = new EndpointWatcher(dst, '[fd00:10::a]:80');
    const byPod = new EndpointWatcher(dst, '10.1.0.5:8080');
    const byPod6 = new EndpointWatcher(dst, '[FD00:1:0::6]:8080');
    const unknown = new EndpointWatcher(dst, '10.2.0.1:443');
    try {
      await waitFor(() => [byName, byClusterIp, byClusterIp6, byPod, byPod6, unknown].every((w) => w.updates.length > 0), { what: 'first updates' });
      expect(byName.addresses()).toHaveLength(2);
      expect(byClusterIp.addresses()).toEqual(byName.addresses());
      expect(byClusterIp6.addresses()).toEqual(byName.addresses());
      expect(byClusterIp.updates[0]).toEqual(byName.updates[0]);

      expect(byPod.addresses()).toEqual(['10.1.0.5:8080']);
      const pod = byPod.endpoints.get('10.1.0.5:8080')!;
      expect(pod).toEqual(byName.endpoints.get('10.1.0.5:8080'));
      expect(idOf(pod)).toBe(identity('web'));
      expect(pod.tlsIdentity?.serverName?.name).toBe(identity('web'));
      expect(pod.protocolHint?.protocol?.$case).toBe('h2');
      expect(pod.metricLabels).toMatchObject({ workload: 'web-1', serviceaccount: 'web' });
      const add = byPod.updates[0]!.update;
      expect(add?.$case === 'add' && add.add.metricLabels).toEqual({ namespace: 'shop' });

      expect(byPod6.endpoints.size).toBe(1);
      expect(idOf([...byPod6.endpoints.values()][0])).toBe(identity('web'));

      expect(unknown.addresses()).toEqual(['10.2.0.1:443']);
      const plain = unknown.endpoints.get('10.2.0.1:443')!;
      expect(plain.tlsIdentity).toBeUndefined();
      expect(plain.protocolHint).toBeUndefined();
    } finally {
      for (const w of [byName, byClusterIp, byClusterIp6, byPod, byPod6, unknown]) w.cancel();
    }
  });

  it('Destination.Get refuses paths that are neither a name nor an address, saying why', async () => {
    const refusal = (path: string) => first(dst.get({ scheme: 'k8s', path, contextToken: '' })).then(() => undefined, (e: ServiceError) => e);
    const badPort = await refusal('10.1.0.5:70000');
    expect(badPort?.code).toBe(status.INVALID_ARGUMENT);
    expect(badPort?.details).toContain('invalid port "70000"');
    const bare6 = await refusal('fd00::1');
    expect(bare6?.code).toBe(status.INVALID_ARGUMENT);
    expect(bare6?.details).toContain('[fd00::1]:<port>');
    expect((await refusal('10.1.0.300:80'))?.details).toContain('not an IPv4 address');
  });

  it('GetProfile: a cluster IP gets its service profile, a pod address a profile with the endpoint, an unknown address the defaults', async () => {
    const profile = (path: string) => first(dst.getProfile({ scheme: 'k8s', path, contextToken: '' }));
    const web = await profile('10.96.0.10:80');
    expect(web.fullyQualifiedName).toBe('web.shop.svc.cluster.local');
    expect(web.endpoint).toBeUndefined();
    const db = await profile('10.96.0.20:5432');
    expect(db.fullyQualifiedName).toBe('db.shop.svc.cluster.local');
    expect(db.opaqueProtocol).toBe(true);

    const pod = await profile('10.1.0.9:5432');
    expect(pod.fullyQualifiedName).toBe('');
    expect(pod.opaqueProtocol).toBe(true);
    expect(idOf(pod.endpoint)).toBe(identity('db'));
    expect(pod.endpoint?.protocolHint).toEqual({ protocol: { $case: 'opaque', opaque: {} }, opaqueTransport: { inboundPort: 4143 } });

    const unknown = await profile('10.2.0.1:443');
    expect(unknown).toMatchObject({ fullyQualifiedName: '', opaqueProtocol: false, routes: [], dstOverrides: [] });
    expect(unknown.endpoint).toBeUndefined();
  });

  it('OutboundPolicies by a pod address: a forward to that endpoint with its identity and hint', async () => {
    const web = forwardOf(await unary<outbound.OutboundPolicy>((cb) => policy.outbound.get(addrSpec('10.1.0.5', 8080), cb)));
    expect(web.protocol).toBe('detect');
    expect(idOf(web.forward)).toBe(identity('web'));
    expect(web.forward?.protocolHint?.protocol?.$case).toBe('h2');
    const db = forwardOf(await unary<outbound.OutboundPolicy>((cb) => policy.outbound.get(addrSpec('10.1.0.9', 5432), cb)));
    expect(db.protocol).toBe('opaque');
    expect(db.forward?.protocolHint?.opaqueTransport?.inboundPort).toBe(4143);
    const unknown = forwardOf(await unary<outbound.OutboundPolicy>((cb) => policy.outbound.get(addrSpec('10.2.0.1', 443), cb)));
    expect(unknown.protocol).toBe('detect');
    expect(unknown.forward?.tlsIdentity).toBeUndefined();
  });

  it('live watches by pod address follow a manifest edit: a new service account, then the workload removed', async () => {
    const policyWatch = new StreamRecorder<outbound.OutboundPolicy>(policy.outbound.watch(addrSpec('10.1.0.5', 8080)));
    const endpoints = new EndpointWatcher(dst, '10.1.0.5:8080');
    const profiles = new StreamRecorder<destination.DestinationProfile>(dst.getProfile({ scheme: 'k8s', path: '10.1.0.5:8080', contextToken: '' }));
    try {
      await policyWatch.until((p) => idOf(forwardOf(p).forward) === identity('web'), 'policy with the first identity');
      await waitFor(() => idOf(endpoints.endpoints.get('10.1.0.5:8080')) === identity('web'), { what: 'endpoint with the first identity' });
      await profiles.until((p) => idOf(p.endpoint) === identity('web'), 'profile with the first identity');

      await writeFile(join(dir, 'web.yaml'), webYaml(workload('web-1', '10.1.0.5', 'web-v2') + workload('web-6', 'fd00:1::6', 'web')));
      await policyWatch.until((p) => idOf(forwardOf(p).forward) === identity('web-v2'), 'policy with the new identity');
      await waitFor(() => idOf(endpoints.endpoints.get('10.1.0.5:8080')) === identity('web-v2'), { what: 'endpoint with the new identity' });
      await profiles.until((p) => idOf(p.endpoint) === identity('web-v2'), 'profile with the new identity');

      const from = policyWatch.received.length;
      await writeFile(join(dir, 'web.yaml'), webYaml(workload('web-6', 'fd00:1::6', 'web')));
      const plain = await policyWatch.until((p) => forwardOf(p).forward !== undefined && forwardOf(p).forward!.tlsIdentity === undefined, 'plain forward', { from });
      expect(forwardOf(plain.message).forward?.protocolHint).toBeUndefined();
      await waitFor(() => endpoints.endpoints.has('10.1.0.5:8080') && idOf(endpoints.endpoints.get('10.1.0.5:8080')) === undefined, { what: 'endpoint without identity' });
      expect(endpoints.addresses()).toEqual(['10.1.0.5:8080']);
      await profiles.until((p) => p.endpoint === undefined, 'profile without endpoint');
      expect(policyWatch.error).toBeUndefined();
      expect(endpoints.error).toBeUndefined();
    } finally {
      policyWatch.cancel();
      endpoints.cancel();
      profiles.cancel();
    }
  });
});
