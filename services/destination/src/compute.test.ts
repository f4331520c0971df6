import { busValidator, type BusValidator, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { emptyMeshResources, type MeshResources, type Service, type ServiceProfile, type Workload } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { computeDestinationState } from './compute.js';
import type { DestinationOptions } from './options.js';

const validator: BusValidator = busValidator();
const options: DestinationOptions = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };

function service(name: string, fields: Partial<Service> = {}): Service {
  return {
    kind: 'Service',
    namespace: 'shop',
    name,
    labels: {},
    annotations: {},
    selector: { app: name },
    ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    opaquePorts: [],
    clusterIPs: [],
    traffic: {},
    ...fields,
  };
}

function workload(name: string, address: string, fields: Partial<Workload> = {}): Workload {
  return {
    kind: 'Workload',
    namespace: 'shop',
    name,
    labels: { app: 'web' },
    annotations: {},
    address,
    ports: [{ name: 'http', port: 8080 }],
    serviceAccount: 'web',
    ready: true,
    meshed: true,
    weight: 10000,
    opaquePorts: [],
    probes: [],
    ...fields,
  };
}

function profile(name: string, fields: Partial<ServiceProfile> = {}): ServiceProfile {
  const [service = '', namespace = '', , ...domain] = name.split('.');
  return {
    kind: 'ServiceProfile',
    namespace,
    name,
    labels: {},
    annotations: {},
    target: { service, namespace, clusterDomain: domain.join('.') },
    routes: [],
    dstOverrides: [],
    opaquePorts: [],
    ...fields,
  };
}

function resources(fields: Partial<MeshResources>): MeshResources {
  return { ...emptyMeshResources, ...fields };
}

function registration(name: string, address: string, fields: Partial<WorkloadRegistration> = {}): WorkloadRegistration {
  return { namespace: 'shop', name, address, ports: [{ name: 'http', port: 8080 }], labels: { app: 'web' }, heartbeatIntervalMs: 1000, ...fields };
}

/** The endpoints of shop/web:80 as `address:port hint`. */
function webEndpoints(input: MeshResources, registered: WorkloadRegistration[] = [], opts = options): string[] {
  const set = computeDestinationState(input, registered, opts).endpointSets.get('meshbus.v1.state.endpoints.shop.web.80');
  if (!set) throw new Error('no endpoint set for shop/web:80');
  return set.endpoints.map((e) => `${e.address}:${e.port} ${e.protocolHint ?? ''}`);
}

describe('computeDestinationState endpoint sets', () => {
  it('publishes every TCP port of every Service, with its metadata', () => {
    const state = computeDestinationState(
      resources({ services: [service('web', { ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'admin', port: 9990, targetPort: 9990 }] })], workloads: [workload('web-1', '10.0.0.1', { zone: 'zone-a' })] }),
      [],
      options,
    );
    expect([...state.endpointSets.keys()]).toEqual(['meshbus.v1.state.endpoints.shop.web.80', 'meshbus.v1.state.endpoints.shop.web.9990']);
    const set = state.endpointSets.get('meshbus.v1.state.endpoints.shop.web.80');
    expect(set).toEqual({
      namespace: 'shop',
      service: 'web',
      port: 80,
      portName: 'http',
      opaque: false,
      labels: { namespace: 'shop', service: 'web' },
      endpoints: [
        {
          address: '10.0.0.1',
          port: 8080,
          weight: 10000,
          labels: { serviceaccount: 'web', workload: 'web-1', zone: 'zone-a' },
          identity: 'web.shop.serviceaccount.identity.meshbus.cluster.local',
          protocolHint: 'h2',
          zone: 'zone-a',
          workload: { kind: 'Workload', namespace: 'shop', name: 'web-1' },
        },
      ],
    });
    for (const s of state.endpointSets.values()) validator.check('endpointSet', s);
    expect(state.endpointSets.get('meshbus.v1.state.endpoints.shop.web.9990')?.endpoints.map((e) => e.port)).toEqual([9990]);
  });

  it.each<[string, MeshResources, string[]]>([
    ['selects by every label of the selector', resources({ services: [service('web', { selector: { app: 'web', tier: 'front' } })], workloads: [workload('a', '10.0.0.1', { labels: { app: 'web', tier: 'front', extra: 'x' } }), workload('b', '10.0.0.2')] }), ['10.0.0.1:8080 h2']],
    ['selects only in the Service namespace', resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1', { namespace: 'other' })] }), []],
    ['skips workloads that are not ready', resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1', { ready: false }), workload('b', '10.0.0.2')] }), ['10.0.0.2:8080 h2']],
    ['has no endpoints without a selector', resources({ services: [service('web', { selector: undefined })], workloads: [workload('a', '10.0.0.1')] }), []],
    ['skips workloads without the named target port', resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1', { ports: [{ name: 'grpc', port: 8080 }] }), workload('b', '10.0.0.2', { ports: [{ name: 'http', port: 9000 }] })] }), ['10.0.0.2:9000 h2']],
    ['uses a numeric target port as is', resources({ services: [service('web', { ports: [{ port: 80, targetPort: 8081 }] })], workloads: [workload('a', '10.0.0.1', { ports: [] })] }), ['10.0.0.1:8081 h2']],
    ['hints unknown for workloads outside the mesh', resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1', { meshed: false })] }), ['10.0.0.1:8080 unknown']],
    ['hints opaque for an opaque service port', resources({ services: [service('web', { opaquePorts: [{ min: 80, max: 80 }] })], workloads: [workload('a', '10.0.0.1'), workload('b', '10.0.0.2', { meshed: false })] }), ['10.0.0.1:8080 opaque', '10.0.0.2:8080 unknown']],
    ['hints opaque for an opaque workload target port', resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1', { opaquePorts: [{ min: 8000, max: 8999 }] }), workload('b', '10.0.0.2')] }), ['10.0.0.1:8080 opaque', '10.0.0.2:8080 h2']],
    ['hints opaque for a port the ServiceProfile lists', resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1')], serviceProfiles: [profile('web.shop.svc.cluster.local', { opaquePorts: [80] })] }), ['10.0.0.1:8080 opaque']],
    ['ignores an opaque service annotation for other ports', resources({ services: [service('web', { opaquePorts: [{ min: 8080, max: 8080 }] })], workloads: [workload('a', '10.0.0.1')] }), ['10.0.0.1:8080 h2']],
    [
      'sorts endpoints by address value, IPv4 first, then port',
      resources({
        services: [service('web', { ports: [{ port: 80, targetPort: 8080 }] })],
        workloads: [workload('a', 'fd00::10'), workload('b', '10.0.0.10'), workload('c', 'fd00::9'), workload('d', '10.0.0.9'), workload('e', '::ffff:10.0.0.1'), workload('f', '10.0.0.9', { name: 'f' })],
      }),
      ['10.0.0.9:8080 h2', '10.0.0.9:8080 h2', '10.0.0.10:8080 h2', '::ffff:10.0.0.1:8080 h2', 'fd00::9:8080 h2', 'fd00::10:8080 h2'],
    ],
  ])('%s', (_title, input, expected) => {
    expect(webEndpoints(input)).toEqual(expected);
  });

  it('sets the opaque transport port of opaque endpoints only', () => {
    const input = resources({ services: [service('web', { opaquePorts: [{ min: 80, max: 80 }] })], workloads: [workload('a', '10.0.0.1'), workload('b', '10.0.0.2', { meshed: false })] });
    const set = computeDestinationState(input, [], { ...options, inboundProxyPort: 4999 }).endpointSets.get('meshbus.v1.state.endpoints.shop.web.80')!;
    expect(set.opaque).toBe(true);
    expect(set.endpoints[0]).toMatchObject({ protocolHint: 'opaque', opaqueTransportPort: 4999, identity: expect.any(String) });
    expect(set.endpoints[1]).not.toHaveProperty('opaqueTransportPort');
    expect(set.endpoints[1]).not.toHaveProperty('identity');
    const defaults = computeDestinationState(input, [], options).endpointSets.get('meshbus.v1.state.endpoints.shop.web.80')!;
    expect(defaults.endpoints[0]?.opaqueTransportPort).toBe(4143);
  });

  it('uses the workload weight, service account and zone', () => {
    const input = resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1', { weight: 0, serviceAccount: 'front', namespace: 'shop' })] });
    const [endpoint] = computeDestinationState(input, [], { controlNamespace: 'mesh', trustDomain: 'example.org' }).endpointSets.get('meshbus.v1.state.endpoints.shop.web.80')!.endpoints;
    expect(endpoint).toMatchObject({ weight: 0, identity: 'front.shop.serviceaccount.identity.mesh.example.org', labels: { serviceaccount: 'front', workload: 'a' } });
    expect(endpoint).not.toHaveProperty('zone');
    expect(endpoint?.labels).not.toHaveProperty('zone');
  });

  it('marks the sets of a Service exported to linked clusters, and only with the value "true"', () => {
    const sets = (labels: Record<string, string>) =>
      computeDestinationState(resources({ services: [service('web', { labels })], workloads: [workload('a', '10.0.0.1')] }), [], options).endpointSets.get('meshbus.v1.state.endpoints.shop.web.80')!;
    const exported = sets({ app: 'web', 'mirror.meshbus.io/exported': 'true' });
    validator.check('endpointSet', exported);
    expect(exported.labels).toEqual({ namespace: 'shop', service: 'web', 'mirror.meshbus.io/exported': 'true' });
    // The Service's other labels stay out of the set's, as before.
    expect(sets({ app: 'web' }).labels).toEqual({ namespace: 'shop', service: 'web' });
    expect(sets({ 'mirror.meshbus.io/exported': 'yes' }).labels).toEqual({ namespace: 'shop', service: 'web' });
  });

  it('publishes an empty set for a Service without ready endpoints, and none for a Service without TCP ports', () => {
    const state = computeDestinationState(resources({ services: [service('web'), service('headless', { ports: [] })] }), [], options);
    expect([...state.endpointSets.keys()]).toEqual(['meshbus.v1.state.endpoints.shop.web.80']);
    expect(state.endpointSets.get('meshbus.v1.state.endpoints.shop.web.80')?.endpoints).toEqual([]);
    expect([...state.profiles.keys()]).toEqual(['meshbus.v1.state.profiles.shop.headless', 'meshbus.v1.state.profiles.shop.web']);
  });

  describe('registered workloads', () => {
    it('are endpoints like declared ones, with the same defaults', () => {
      const endpoints = webEndpoints(resources({ services: [service('web')], workloads: [workload('a', '10.0.0.1')] }), [
        registration('vm-1', '10.0.1.1'),
        registration('vm-2', '10.0.1.2', { meshed: false }),
        registration('vm-3', '10.0.1.3', { ready: false }),
        registration('vm-4', '10.0.1.4', { opaquePorts: [8080] }),
        registration('vm-5', '10.0.1.5', { labels: { app: 'other' } }),
      ]);
      expect(endpoints).toEqual(['10.0.0.1:8080 h2', '10.0.1.1:8080 h2', '10.0.1.2:8080 unknown', '10.0.1.4:8080 opaque']);

      const set = computeDestinationState(resources({ services: [service('web')] }), [registration('vm-1', '10.0.1.1', { zone: 'z', weight: 5 })], options).endpointSets.get(
        'meshbus.v1.state.endpoints.shop.web.80',
      )!;
      expect(set.endpoints[0]).toMatchObject({
        weight: 5,
        zone: 'z',
        identity: 'default.shop.serviceaccount.identity.meshbus.cluster.local',
        labels: { serviceaccount: 'default', workload: 'vm-1', zone: 'z' },
        workload: { kind: 'Workload', namespace: 'shop', name: 'vm-1' },
      });
    });

    it('do not replace a declared workload of the same name', () => {
      const endpoints = webEndpoints(resources({ services: [service('web')], workloads: [workload('web-1', '10.0.0.1')] }), [registration('web-1', '10.9.9.9')]);
      expect(endpoints).toEqual(['10.0.0.1:8080 h2']);
    });
  });

  it('gives byte-equal output for equal input in any order', () => {
    const workloads = [workload('a', '10.0.0.2', { zone: 'z' }), workload('b', '10.0.0.1'), workload('c', 'fd00::1')];
    const services = [service('web'), service('api', { selector: { app: 'web' } })];
    const a = computeDestinationState(resources({ services, workloads }), [registration('r', '10.0.0.3')], options);
    const b = computeDestinationState(resources({ services: [...services].reverse(), workloads: [...workloads].reverse() }), [registration('r', '10.0.0.3')], options);
    expect(JSON.stringify([...b.endpointSets])).toBe(JSON.stringify([...a.endpointSets]));
    expect(JSON.stringify([...b.profiles])).toBe(JSON.stringify([...a.profiles]));
  });
});

describe('computeDestinationState profiles', () => {
  it('gives every Service an empty profile with its opaque ports', () => {
    const state = computeDestinationState(
      resources({ services: [service('db', { ports: [{ port: 5432, targetPort: 5432 }, { port: 9187, name: 'metrics', targetPort: 9187 }], opaquePorts: [{ min: 5000, max: 6000 }, { min: 3306, max: 3306 }] })] }),
      [],
      options,
    );
    const profile = state.profiles.get('meshbus.v1.state.profiles.shop.db');
    expect(profile).toEqual({ namespace: 'shop', service: 'db', routes: [], dstOverrides: [], opaquePorts: [5432] });
    validator.check('serviceProfile', profile);
  });

  it('translates the ServiceProfile named after the Service', () => {
    const state = computeDestinationState(
      resources({
        services: [service('api', { ports: [{ port: 8080, targetPort: 8080 }] })],
        serviceProfiles: [
          profile('api.shop.svc.cluster.local', {
            routes: [
              {
                name: 'list',
                condition: { method: 'POST', pathRegex: '/List' },
                responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }],
                isRetryable: true,
                timeoutMs: 300,
              },
              {
                name: 'rest',
                condition: { any: [{ method: 'GET' }, { not: { pathRegex: '/x' } }] },
                responseClasses: [{ condition: { status: { min: 400 }, not: { status: { min: 404, max: 404 } } }, isFailure: false }],
                isRetryable: false,
              },
            ],
            retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 },
            dstOverrides: [
              { authority: 'api.shop.svc.cluster.local:8080', weight: 900 },
              { authority: 'api-v2.shop.svc.cluster.local:8080', weight: 100 },
            ],
            opaquePorts: [9000],
          }),
        ],
      }),
      [],
      options,
    );
    const translated = state.profiles.get('meshbus.v1.state.profiles.shop.api');
    expect(translated).toEqual({
      namespace: 'shop',
      service: 'api',
      routes: [
        {
          name: 'list',
          condition: { all: [{ method: 'POST' }, { pathRegex: '/List' }] },
          responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }],
          isRetryable: true,
          timeoutMs: 300,
        },
        {
          name: 'rest',
          condition: { any: [{ method: 'GET' }, { not: { pathRegex: '/x' } }] },
          responseClasses: [{ condition: { all: [{ status: { min: 400 } }, { not: { status: { min: 404, max: 404 } } }] }, isFailure: false }],
          isRetryable: false,
        },
      ],
      retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10000 },
      dstOverrides: [
        { authority: 'api.shop.svc.cluster.local:8080', weight: 900 },
        { authority: 'api-v2.shop.svc.cluster.local:8080', weight: 100 },
      ],
      opaquePorts: [9000],
    });
    validator.check('serviceProfile', translated);
  });

  it('publishes a ServiceProfile without a Service, and ignores one for another cluster domain', () => {
    const state = computeDestinationState(
      resources({ serviceProfiles: [profile('ghost.shop.svc.cluster.local', { opaquePorts: [1] }), profile('api.shop.svc.example.org')] }),
      [],
      options,
    );
    expect([...state.profiles.keys()]).toEqual(['meshbus.v1.state.profiles.shop.ghost']);
    expect(state.profiles.get('meshbus.v1.state.profiles.shop.ghost')).toMatchObject({ service: 'ghost', opaquePorts: [1] });

    const other = computeDestinationState(resources({ serviceProfiles: [profile('api.shop.svc.example.org')] }), [], { ...options, clusterDomain: 'example.org' });
    expect([...other.profiles.keys()]).toEqual(['meshbus.v1.state.profiles.shop.api']);
  });
});
