import type { Publisher } from '@meshbus/bus';
import type { EventDataMap, EventKind } from '@meshbus/bus-schemas';
import { createMetricsRegistry, silentLogger } from '@meshbus/runtime';
import { emptyMeshResources, type Service, type Workload } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { Reconciler } from './reconciler.js';
import { RegistrationTracker } from './registrations.js';

/** A publisher that stores what it is given and refuses the subjects in `refused`. */
class FakePublisher implements Publisher {
  readonly published: { kind: EventKind; subject: string; data: unknown }[] = [];
  readonly refused = new Set<string>();
  async publish<K extends EventKind>(kind: K, natsSubject: string, _key: string, data: EventDataMap[K]): Promise<number> {
    if (this.refused.has(natsSubject)) throw new Error('MAX_PAYLOAD_EXCEEDED');
    this.published.push({ kind, subject: natsSubject, data });
    return this.published.length;
  }
}

const service = (name: string): Service => ({ kind: 'Service', namespace: 'shop', name, labels: {}, annotations: {}, selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }], opaquePorts: [], clusterIPs: [], traffic: {} });
const workload = (app: string, address: string): Workload => ({
  kind: 'Workload',
  namespace: 'shop',
  name: `${app}-1`,
  labels: { app },
  annotations: {},
  address,
  ports: [],
  serviceAccount: 'default',
  ready: true,
  meshed: true,
  weight: 10000,
  opaquePorts: [],
  probes: [],
});

const settle = async (r: Reconciler) => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  await r.stop();
};

describe('Reconciler', () => {
  it('publishes every key but the refused one, records its failure with backoff, and announces it once', async () => {
    const publisher = new FakePublisher();
    publisher.refused.add('meshbus.v1.state.endpoints.shop.big.80');
    const now = 1_000_000;
    const reconciler = new Reconciler({
      destination: { controlNamespace: 'meshbus', trustDomain: 'cluster.local' },
      publisher: () => publisher,
      bus: { get: () => undefined, subjects: () => [] },
      tracker: new RegistrationTracker(),
      mayPublish: () => true,
      logger: silentLogger(),
      registry: createMetricsRegistry('test', { processMetrics: false }),
      now: () => now,
    });
    reconciler.elected();
    reconciler.resourcesChanged({ ...emptyMeshResources, services: [service('big'), service('web')], workloads: [workload('big', '10.0.0.1'), workload('web', '10.0.0.2')] }, [], true);
    await settle(reconciler);

    expect(publisher.published.map((p) => p.subject).sort()).toEqual([
      'meshbus.v1.events.publish.failed',
      'meshbus.v1.state.endpoints.shop.web.80',
      'meshbus.v1.state.profiles.shop.big',
      'meshbus.v1.state.profiles.shop.web',
    ]);
    expect(publisher.published.find((p) => p.kind === 'publishFailed')?.data).toMatchObject({
      subject: 'meshbus.v1.state.endpoints.shop.big.80',
      kind: 'endpointSet',
      reason: 'MAX_PAYLOAD_EXCEEDED',
      attempts: 1,
      since: new Date(now).toISOString(),
    });
    expect([...reconciler.failing]).toEqual([
      ['meshbus.v1.state.endpoints.shop.big.80', expect.objectContaining({ attempts: 1, nextAttemptAt: now + 250, error: 'MAX_PAYLOAD_EXCEEDED' })],
    ]);
  });
});
