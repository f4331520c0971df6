import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsRegistrationTransport, WorkloadRegistrar, type WorkloadRegistrationError } from '@meshbus/bus';
import { silentLogger } from '@meshbus/runtime';
import { startFakeKubeApi, waitFor, type FakeKubeApi } from '@meshbus/testing';
import type { DestinationService } from '@meshbus/destination';
import { exampleManifests, startMesh, startNats, type Mesh, type NatsCluster } from './harness.js';

// Cluster mode: registration tokens are service-account tokens, checked with TokenReview
// against a Kubernetes API server (the project's fake, speaking the real wire protocol).

const registration = { namespace: 'shop', name: 'vm-k', address: '127.0.0.70', ports: [{ name: 'http', port: 8080 }] as [{ name: string; port: number }], serviceAccount: 'web', heartbeatIntervalMs: 60_000 };

describe('workload registration with Kubernetes TokenReview', () => {
  let nats: NatsCluster;
  let kube: FakeKubeApi;
  let manifests: Awaited<ReturnType<typeof exampleManifests>>;
  let dir: string;
  let dst: DestinationService;
  let mesh: Mesh;
  let nc: NatsConnection;
  let transport: NatsRegistrationTransport;

  beforeAll(async () => {
    [nats, kube] = await Promise.all([startNats(), startFakeKubeApi()]);
    kube.addServiceAccountToken('web-token', { namespace: 'shop', serviceAccount: 'web', audiences: ['identity.meshbus.io'] });
    kube.addServiceAccountToken('api-server-token', { namespace: 'shop', serviceAccount: 'web' });
    manifests = await exampleManifests();
    dir = await mkdtemp(join(tmpdir(), 'meshbus-registration-kube-'));
    // The fake serves plain HTTP, which the Kubernetes client accepts only with TLS checks off.
    const kubeconfig = JSON.parse(kube.kubeconfig()) as { clusters: { cluster: Record<string, unknown> }[] };
    for (const c of kubeconfig.clusters) c.cluster['insecure-skip-tls-verify'] = true;
    await writeFile(join(dir, 'kubeconfig'), JSON.stringify(kubeconfig));
    mesh = await startMesh({ nats, manifests: manifests.dir, destination: { env: { MESHBUS_TOKEN_VALIDATION: 'kubernetes', KUBECONFIG: join(dir, 'kubeconfig') } } });
    dst = mesh.destination;
    await waitFor(() => dst.isLeader, { what: 'destination leader' });
    nc = await connect({ servers: nats.url });
    transport = new NatsRegistrationTransport({ nc, source: '/meshbus/test/kube' });
  });
  afterAll(async () => {
    await nc?.close();
    await mesh?.[Symbol.asyncDispose]();
    await kube?.stop();
    await manifests?.[Symbol.asyncDispose]();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const refusal = (token: string) =>
    transport.request('workloadRegisterRequest', { token, registration }).then(
      () => undefined,
      (e: unknown) => e as WorkloadRegistrationError,
    );

  it('registers a workload whose service-account token TokenReview confirms', async () => {
    const { heartbeatIntervalMs, ...workload } = registration;
    const registrar = new WorkloadRegistrar({ transport, token: () => 'web-token', registration: workload, intervalMs: heartbeatIntervalMs, logger: silentLogger() });
    expect(await registrar.start()).toMatchObject({ outcome: 'registered' });
    await registrar.stop();
    expect(kube.requests.some((r) => r.method === 'POST' && r.path === '/apis/authentication.k8s.io/v1/tokenreviews')).toBe(true);
  });

  it('refuses unknown tokens and tokens for another audience, and says when TokenReview is unreachable', async () => {
    // Unavailable (an election) is the one answer a client retries; wait until the leader answers.
    await waitFor(async () => (await refusal('nobody-token'))?.code !== 'Unavailable', { what: 'the leader to answer' });
    expect(await refusal('nobody-token')).toMatchObject({ code: 'Unauthenticated', field: '/token', retryable: false });
    expect(await refusal('api-server-token')).toMatchObject({ code: 'Unauthenticated', field: '/token' });
    kube.failRequests(503, /tokenreviews/);
    try {
      expect(await refusal('web-token')).toMatchObject({ code: 'Unavailable', retryable: true, message: expect.stringMatching(/HTTP 503/) });
    } finally {
      kube.failRequests(undefined);
    }
  });
});
