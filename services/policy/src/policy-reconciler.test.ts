import { NotLeaderError, type Publisher } from '@meshbus/bus';
import { subjects, type EventDataMap, type EventKind } from '@meshbus/bus-schemas';
import { emptyMeshResources, type MeshResources, type Server, type Service, type Workload } from '@meshbus/manifests';
import type { PolicySettings } from '@meshbus/policy';
import { createMetricsRegistry, silentLogger, type Registry } from '@meshbus/runtime';
import { describe, expect, it } from 'vitest';
import type { PolicyStateData } from './policy-state.js';
import { PolicyReconciler } from './policy-reconciler.js';
import { TestPolicyComputation } from './test-computation.js';

const settings: PolicySettings = {
  clusterDomain: 'cluster.local',
  identityDomain: 'identity.meshbus.cluster.local',
  defaultPolicy: 'all-unauthenticated',
  clusterNetworks: ['10.0.0.0/8'],
  probeNetworks: ['0.0.0.0/0'],
  detectTimeoutMs: 10_000,
};

/** A publisher that stores what it is given, and refuses the subjects in `refused`. */
class RecordingPublisher implements Publisher {
  readonly published: { kind: EventKind; subject: string; data: unknown }[] = [];
  readonly refused = new Set<string>();
  leader = true;
  async publish<K extends EventKind>(kind: K, natsSubject: string, _key: string, data: EventDataMap[K]): Promise<number> {
    if (!this.leader) throw new NotLeaderError(natsSubject);
    if (this.refused.has(natsSubject)) throw new Error('MAX_PAYLOAD_EXCEEDED');
    this.published.push({ kind, subject: natsSubject, data });
    return this.published.length;
  }
  take(): { kind: EventKind; subject: string }[] {
    return this.published.splice(0).map(({ kind, subject }) => ({ kind, subject }));
  }
}

/** The bus as a map the test writes: what the state view would hold. */
class BusState {
  readonly values = new Map<string, PolicyStateData>();
  get(subject: string) {
    return this.values.get(subject);
  }
  subjects() {
    return this.values.keys();
  }
  /** Stores what was published, as the view would confirm it. */
  confirm(publisher: RecordingPublisher): void {
    for (const p of publisher.published) {
      if (p.kind.endsWith('Deleted')) this.values.delete(p.subject);
      else if (p.subject.startsWith('meshbus.v1.state.')) this.values.set(p.subject, p.data as PolicyStateData);
    }
  }
}

const workload = (name: string, port = 8080): Workload => ({
  kind: 'Workload',
  namespace: 'shop',
  name,
  labels: { app: name },
  annotations: {},
  address: '10.0.0.1',
  ports: [{ port }],
  serviceAccount: 'default',
  ready: true,
  meshed: true,
  weight: 10000,
  opaquePorts: [],
  probes: [],
});
const service = (name: string): Service =>
  ({ kind: 'Service', namespace: 'shop', name, labels: {}, annotations: {}, selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }], opaquePorts: [], clusterIPs: [] }) as unknown as Service;
const server = (name: string, port: number | string): Server => ({
  kind: 'Server',
  namespace: 'shop',
  name,
  labels: {},
  annotations: {},
  apiVersion: 'policy.linkerd.io/v1beta3',
  file: 'servers.yaml',
  port,
  podSelector: { matchLabels: {}, matchExpressions: [] },
  proxyProtocol: 'unknown',
});
const resources = (over: Partial<MeshResources>): MeshResources => ({ ...emptyMeshResources, ...over });

async function settle(r: PolicyReconciler): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  await r.stop();
}

function setup(options: { leader?: boolean } = {}) {
  const publisher = new RecordingPublisher();
  const bus = new BusState();
  const computation = new TestPolicyComputation(settings);
  let leader = options.leader ?? true;
  let registry: Registry = createMetricsRegistry('test', { processMetrics: false });
  const make = () =>
    new PolicyReconciler({
      computation,
      publisher: () => publisher,
      bus,
      isLeader: () => leader,
      mayPublish: () => leader,
      logger: silentLogger(),
      registry: (registry = createMetricsRegistry('test', { processMetrics: false })),
      now: () => 1_000_000,
    });
  return {
    publisher,
    bus,
    computation,
    make,
    registry: () => registry,
    setLeader: (v: boolean) => {
      leader = v;
      publisher.leader = v;
    },
  };
}

const inbound = (name: string) => subjects.inboundPolicy('shop', name);

describe('PolicyReconciler', () => {
  it('publishes the defaults and every key once elected, then only the keys a change affects', async () => {
    const t = setup();
    let r = t.make();
    r.elected();
    r.resourcesChanged(resources({ workloads: [workload('web'), workload('api')], services: [service('web')] }));
    await settle(r);
    expect(t.publisher.take()).toEqual([
      { kind: 'inboundPolicy', subject: inbound('api') },
      { kind: 'inboundPolicy', subject: inbound('web') },
      { kind: 'outboundPolicy', subject: subjects.outboundPolicy('shop', 'web', 80) },
      { kind: 'policyDefaults', subject: subjects.policyDefaults },
    ]);
    expect(r.hasResources).toBe(true);
    t.bus.confirm(t.publisher);

    r = t.make();
    r.resourcesChanged(resources({ workloads: [workload('web', 9090), workload('api')], services: [service('web')] }));
    await settle(r);
    expect(t.publisher.take()).toEqual([{ kind: 'inboundPolicy', subject: inbound('web') }]);
  });

  it('writes tombstones for keys that went away', async () => {
    const t = setup();
    const r = t.make();
    r.resourcesChanged(resources({ workloads: [workload('web'), workload('api')] }));
    r.elected();
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.bus.confirm(t.publisher);
    t.publisher.take();
    r.resourcesChanged(resources({ workloads: [workload('web')] }));
    await settle(r);
    expect(t.publisher.take()).toEqual([{ kind: 'inboundPolicyDeleted', subject: inbound('api') }]);
  });

  it('a standby computes but publishes nothing; once elected it publishes only what differs from the bus, and deletes what nothing desires', async () => {
    const t = setup({ leader: false });
    const r = t.make();
    // What the previous leader left: web as desired, a stale workload, the defaults.
    const warm = new TestPolicyComputation(settings);
    warm.update({ resources: resources({ workloads: [workload('web')] }), registered: [] });
    t.bus.values.set(inbound('web'), warm.result.inbound.get('shop/web')!);
    t.bus.values.set(inbound('gone'), warm.result.inbound.get('shop/web')!);
    t.bus.values.set(subjects.policyDefaults, warm.result.defaults);

    r.resourcesChanged(resources({ workloads: [workload('web'), workload('new')] }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(t.computation.updates).toBe(1);
    expect(t.publisher.published).toEqual([]);

    t.setLeader(true);
    r.elected();
    await settle(r);
    expect(t.publisher.take()).toEqual([
      { kind: 'inboundPolicyDeleted', subject: inbound('gone') },
      { kind: 'inboundPolicy', subject: inbound('new') },
    ]);
  });

  it('announces each rejected resource once while leading, not on every recompute', async () => {
    const t = setup();
    const r = t.make();
    r.elected();
    r.resourcesChanged(resources({ servers: [server('bad', 'invalid-port')] }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    r.resourcesChanged(resources({ servers: [server('bad', 'invalid-port')], workloads: [workload('web')] }));
    await settle(r);
    const rejected = t.publisher.published.filter((p) => p.kind === 'policyRejected');
    expect(rejected).toEqual([
      { kind: 'policyRejected', subject: subjects.policyRejected, data: { file: 'servers.yaml', kind: 'Server', namespace: 'shop', name: 'bad', reason: 'port invalid-port is not a port of any workload', code: 'InvalidResource' } },
    ]);
    expect(t.publisher.published.map((p) => p.subject)).toContain(subjects.policyStatus('shop', 'Server', 'bad'));
    expect(await t.registry().getSingleMetricAsString('meshbus_policy_rejected_resources')).toMatch(/ 1$/m);
  });
});
