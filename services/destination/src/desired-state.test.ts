import type { WorkloadRegistration } from '@meshbus/bus-schemas';
import { ManifestIndex, emptyMeshResources, type MeshResources, type Service, type ServiceProfile, type StringMap, type Workload } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { computeDestinationState } from './compute.js';
import { DesiredStateIndex } from './desired-state.js';
import type { DestinationOptions } from './options.js';

const options: DestinationOptions = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };

/** A small deterministic generator (mulberry32), so that a failing seed can be replayed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  return { int, pick, chance };
}
type Random = ReturnType<typeof random>;

const namespaces = ['shop', 'pay'];
const names = ['web', 'api', 'db', 'cache', 'auth'];

function labels(r: Random): StringMap {
  const out: Record<string, string> = {};
  if (r.chance(0.8)) out.app = r.pick(names);
  if (r.chance(0.5)) out.tier = r.pick(['front', 'back']);
  return out;
}

function randomService(r: Random, namespace: string, name: string): Service {
  const selectorKind = r.int(5);
  const selector = selectorKind === 0 ? undefined : selectorKind === 1 ? {} : labels(r);
  const ports = [{ name: 'http', port: 80, targetPort: r.chance(0.5) ? 'http' : 8080 }];
  if (r.chance(0.4)) ports.push({ name: 'admin', port: 9990, targetPort: 9990 });
  return {
    kind: 'Service',
    namespace,
    name,
    labels: {},
    annotations: {},
    ...(selector ? { selector } : {}),
    ports,
    opaquePorts: r.chance(0.2) ? [{ min: 80, max: 80 }] : [],
    clusterIPs: [],
    traffic: {},
  };
}

function randomWorkload(r: Random, namespace: string, name: string): Workload {
  return {
    kind: 'Workload',
    namespace,
    name,
    labels: labels(r),
    annotations: {},
    address: `10.0.${r.int(4)}.${r.int(250) + 1}`,
    ports: r.chance(0.8) ? [{ name: 'http', port: 8000 + r.int(3) }] : [{ name: 'grpc', port: 9000 }],
    serviceAccount: r.pick(['web', 'default']),
    ready: r.chance(0.85),
    meshed: r.chance(0.8),
    ...(r.chance(0.3) ? { zone: r.pick(['zone-a', 'zone-b']) } : {}),
    weight: r.pick([10000, 5000]),
    opaquePorts: r.chance(0.2) ? [{ min: 8000, max: 8001 }] : [],
    probes: [],
  };
}

function randomProfile(r: Random, namespace: string, target: string): ServiceProfile {
  const clusterDomain = r.chance(0.85) ? 'cluster.local' : 'other.example';
  const name = `${target}.${namespace}.svc.${clusterDomain}`;
  return {
    kind: 'ServiceProfile',
    namespace: r.pick(namespaces),
    name,
    labels: {},
    annotations: {},
    target: { service: target, namespace, clusterDomain },
    routes: r.chance(0.5) ? [{ name: 'get', condition: { method: 'GET' }, responseClasses: [], isRetryable: r.chance(0.5) }] : [],
    dstOverrides: [],
    opaquePorts: r.chance(0.3) ? [80] : [],
  };
}

function randomRegistration(r: Random, namespace: string, name: string): WorkloadRegistration {
  return { namespace, name, address: `10.1.0.${r.int(250) + 1}`, ports: [{ name: 'http', port: 8080 }], labels: labels(r), heartbeatIntervalMs: 1000 };
}

const keyOf = (x: { namespace: string; name: string }) => `${x.namespace}\u0000${x.name}`;
const sorted = <T extends { namespace: string; name: string }>(m: Map<string, T>) => [...m.values()].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));

/**
 * A world of resources changed one random edit at a time; unchanged
 * resources keep their objects, as a ManifestIndex keeps those of unchanged files.
 */
class World {
  services = new Map<string, Service>();
  workloads = new Map<string, Workload>();
  profiles = new Map<string, ServiceProfile>();
  registrations = new Map<string, WorkloadRegistration>();

  constructor(private readonly r: Random) {}

  edit(): void {
    const { r } = this;
    const namespace = r.pick(namespaces);
    const which = r.int(10);
    if (which < 2) this.toggle(this.services, `${namespace}/${r.pick(names)}`, () => randomService(r, namespace, r.pick(names)));
    else if (which < 7) {
      const name = `w${r.int(12)}`;
      this.toggle(this.workloads, `${namespace}/${name}`, () => randomWorkload(r, namespace, name));
    } else if (which < 8) {
      const target = r.pick(names);
      const p = randomProfile(r, namespace, target);
      this.toggle(this.profiles, keyOf(p), () => p);
    } else {
      const name = `w${r.int(12)}`;
      this.toggle(this.registrations, `${namespace}/${name}`, () => randomRegistration(r, namespace, name));
    }
  }

  private toggle<T extends { namespace: string; name: string }>(map: Map<string, T>, key: string, make: () => T): void {
    if (map.has(key) && this.r.chance(0.3)) {
      map.delete(key);
      return;
    }
    const value = make();
    // The key may not match the made value's name (services pick a fresh name): use the value's own.
    map.delete(key);
    map.set(`${value.namespace}/${value.name}`, value);
  }

  resources(): MeshResources {
    return { ...emptyMeshResources, services: sorted(this.services), workloads: sorted(this.workloads), serviceProfiles: sorted(this.profiles) };
  }
}

describe('DesiredStateIndex', () => {
  it('equals the full computation after every step of random edits', () => {
    let compared = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const r = random(seed);
      const world = new World(r);
      const index = new DesiredStateIndex(options);
      for (let step = 0; step < 60; step++) {
        world.edit();
        const resources = world.resources();
        const registered = [...world.registrations.values()];
        index.update(resources, registered);
        const full = computeDestinationState(resources, registered, options);
        const incremental = index.snapshot();
        const same = JSON.stringify([...incremental.endpointSets, ...incremental.profiles]) === JSON.stringify([...full.endpointSets, ...full.profiles]);
        if (!same) {
          expect([...incremental.endpointSets], `seed ${seed} step ${step}`).toEqual([...full.endpointSets]);
          expect([...incremental.profiles], `seed ${seed} step ${step}`).toEqual([...full.profiles]);
        }
        compared += full.endpointSets.size + full.profiles.size;
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it('reports exactly the subjects whose value changed or went away, and recomputes only the services a change touches', () => {
    const services: Service[] = [];
    const workloads: Workload[] = [];
    for (let i = 0; i < 200; i++) {
      services.push({ kind: 'Service', namespace: 'shop', name: `s${i}`, labels: {}, annotations: {}, selector: { app: `s${i}` }, ports: [{ port: 80, targetPort: 8080 }], opaquePorts: [], clusterIPs: [], traffic: {} });
      for (let j = 0; j < 5; j++) {
        workloads.push({
          kind: 'Workload',
          namespace: 'shop',
          name: `s${i}-${j}`,
          labels: { app: `s${i}` },
          annotations: {},
          address: `10.0.${i}.${j + 1}`,
          ports: [],
          serviceAccount: 'default',
          ready: true,
          meshed: true,
          weight: 10000,
          opaquePorts: [],
          probes: [],
        });
      }
    }
    const index = new DesiredStateIndex(options);
    expect(index.update({ ...emptyMeshResources, services, workloads }, [])).toBe(200);
    expect(index.takeChanged().size).toBe(400);

    const moved = workloads.map((w) => (w.name === 's7-2' ? { ...w, address: '10.9.9.9' } : w));
    expect(index.update({ ...emptyMeshResources, services, workloads: moved }, [])).toBe(1);
    expect([...index.takeChanged()].sort()).toEqual(['meshbus.v1.state.endpoints.shop.s7.80', 'meshbus.v1.state.profiles.shop.s7']);
    expect(index.get('meshbus.v1.state.endpoints.shop.s7.80')).toMatchObject({ endpoints: expect.arrayContaining([expect.objectContaining({ address: '10.9.9.9' })]) });

    const relabelled = moved.map((w) => (w.name === 's7-2' ? { ...w, labels: { app: 's8' } } : w));
    expect(index.update({ ...emptyMeshResources, services, workloads: relabelled }, [])).toBe(2);

    expect(index.update({ ...emptyMeshResources, services: services.filter((s) => s.name !== 's3'), workloads: relabelled }, [])).toBe(1);
    index.takeChanged();
    expect(index.get('meshbus.v1.state.endpoints.shop.s3.80')).toBeUndefined();
  });

  it('leaves a registration that only repeats itself (a heartbeat) alone', () => {
    const service: Service = { kind: 'Service', namespace: 'shop', name: 'web', labels: {}, annotations: {}, selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], opaquePorts: [], clusterIPs: [], traffic: {} };
    const reg = (): WorkloadRegistration => ({ namespace: 'shop', name: 'vm-1', address: '10.0.0.1', ports: [{ port: 8080 }], labels: { app: 'web' }, heartbeatIntervalMs: 1000 });
    const index = new DesiredStateIndex(options);
    const resources = { ...emptyMeshResources, services: [service] };
    expect(index.update(resources, [reg()])).toBe(1);
    index.takeChanged();
    expect(index.update(resources, [reg()])).toBe(0);
    expect(index.takeChanged().size).toBe(0);
    expect(index.update(resources, [])).toBe(1);
  });

  it('equals the full computation when fed by a ManifestIndex, file change by file change, also when it skips versions', () => {
    const serviceDoc = (r: Random, ns: string, name: string) =>
      `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: { selector: { app: ${r.pick(names)} }, ports: [{ name: http, port: 80, targetPort: 8080 }] }\n`;
    const workloadDoc = (r: Random, ns: string, name: string) =>
      `apiVersion: meshbus.io/v1alpha1\nkind: Workload\nmetadata: { name: ${name}, namespace: ${ns}, labels: { app: ${r.pick(names)} } }\n` +
      `spec: { address: 10.0.${r.int(4)}.${1 + r.int(200)}, ports: [{ name: http, port: 8080 }], serviceAccount: sa }\n`;
    let compared = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = random(seed);
      const manifests = new ManifestIndex();
      const index = new DesiredStateIndex(options);
      for (let step = 0; step < 40; step++) {
        const file = `f${r.int(6)}.yaml`;
        if (r.chance(0.15)) manifests.apply({ file, deleted: true });
        else {
          const docs = Array.from({ length: 1 + r.int(4) }, () => {
            const ns = r.pick(namespaces);
            return r.chance(0.3) ? serviceDoc(r, ns, r.pick(names)) : workloadDoc(r, ns, `w${r.int(10)}`);
          });
          manifests.apply({ file, text: docs.join('---\n') });
        }
        // Now and then the index misses a version and must compare whole lists.
        if (r.chance(0.2)) continue;
        index.update(manifests.resources, []);
        const full = computeDestinationState(manifests.resources, [], options);
        const incremental = index.snapshot();
        expect([...incremental.endpointSets], `seed ${seed} step ${step}`).toEqual([...full.endpointSets]);
        expect([...incremental.profiles], `seed ${seed} step ${step}`).toEqual([...full.profiles]);
        compared += full.endpointSets.size;
      }
    }
    expect(compared).toBeGreaterThan(500);
  });
});
