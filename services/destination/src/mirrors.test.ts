import { busValidator, type BusValidator, type MirroredService } from '@meshbus/bus-schemas';
import { emptyMeshResources, type MeshResources, type Service, type ServiceProfile } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { computeDestinationState } from './compute.js';
import { DesiredStateIndex } from './desired-state.js';
import { mirrorEndpointSets } from './mirrors.js';
import { resolveDestinationOptions, type DestinationOptions } from './options.js';

const options: DestinationOptions = { controlNamespace: 'meshbus', trustDomain: 'cluster.local' };
const resolved = resolveDestinationOptions(options);
const validator: BusValidator = busValidator();
const gatewayIdentity = 'multicluster-gateway.meshbus.serviceaccount.identity.meshbus.cluster.local';
const webIdentity = 'web.shop.serviceaccount.identity.meshbus.cluster.local';
const subject80 = 'meshbus.v1.state.endpoints.shop.web-east.80';

function mirror(fields: Partial<MirroredService> = {}): MirroredService {
  return {
    namespace: 'shop',
    service: 'web-east',
    cluster: 'east',
    remoteService: 'web',
    ports: [
      { port: 80, name: 'http', ready: 2 },
      { port: 5432, opaque: true, ready: 1 },
    ],
    gateway: { identity: gatewayIdentity, addresses: [{ address: '10.1.0.9', port: 4180 }] },
    identities: [webIdentity],
    ready: true,
    ...fields,
  };
}

function service(name: string): Service {
  return { kind: 'Service', namespace: 'shop', name, labels: {}, annotations: {}, selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }], opaquePorts: [], clusterIPs: [], traffic: {} };
}

function resources(fields: Partial<MeshResources>): MeshResources {
  return { ...emptyMeshResources, ...fields };
}

describe('mirrorEndpointSets', () => {
  it('gives each port one endpoint per gateway address, with the remote identity and the gateway to tunnel through', () => {
    const sets = mirrorEndpointSets(mirror(), resolved);
    expect([...sets.keys()]).toEqual([subject80, 'meshbus.v1.state.endpoints.shop.web-east.5432']);
    for (const set of sets.values()) validator.check('endpointSet', set);
    expect(sets.get(subject80)).toEqual({
      namespace: 'shop',
      service: 'web-east',
      port: 80,
      portName: 'http',
      opaque: false,
      labels: { namespace: 'shop', service: 'web-east', 'mirror.meshbus.io/cluster': 'east' },
      endpoints: [
        {
          address: '10.1.0.9',
          port: 4180,
          weight: 10000,
          labels: { 'mirror.meshbus.io/cluster': 'east' },
          identity: webIdentity,
          protocolHint: 'h2',
          gateway: { cluster: 'east', identity: gatewayIdentity, authority: 'web.shop.svc.cluster.local:80', identities: [webIdentity] },
        },
      ],
    });
    const opaque = sets.get('meshbus.v1.state.endpoints.shop.web-east.5432')!;
    expect(opaque.opaque).toBe(true);
    expect(opaque.endpoints[0]).toMatchObject({ protocolHint: 'opaque', gateway: { authority: 'web.shop.svc.cluster.local:5432' } });
  });

  it('names the remote service in the cluster domain of the options', () => {
    const set = mirrorEndpointSets(mirror(), resolveDestinationOptions({ ...options, clusterDomain: 'mesh.example' })).get(subject80)!;
    expect(set.endpoints[0]!.gateway!.authority).toBe('web.shop.svc.mesh.example:80');
  });

  it('lists each gateway address once, with every remote identity for the gateway to choose among', () => {
    const other = 'web-canary.shop.serviceaccount.identity.meshbus.cluster.local';
    const set = mirrorEndpointSets(
      mirror({ identities: [webIdentity, other], gateway: { identity: gatewayIdentity, addresses: [{ address: '10.1.0.10', port: 4180 }, { address: '10.1.0.9', port: 4180 }] } }),
      resolved,
    ).get(subject80)!;
    validator.check('endpointSet', set);
    // One endpoint per address: the Destination API removes endpoints by address.
    expect(set.endpoints.map((e) => `${e.address}:${e.port} ${e.identity}`)).toEqual([`10.1.0.9:4180 ${other}`, `10.1.0.10:4180 ${other}`]);
    for (const e of set.endpoints) expect(e.gateway?.identities).toEqual([other, webIdentity]);
  });

  it('has empty sets when the remote endpoints present no identity: no mesh TLS could run in the tunnel', () => {
    const sets = mirrorEndpointSets(mirror({ identities: [] }), resolved);
    expect([...sets.values()].map((s) => s.endpoints.length)).toEqual([0, 0]);
    for (const set of sets.values()) validator.check('endpointSet', set);
  });

  it('has empty sets for a mirror that is not ready, and for a port without ready endpoints', () => {
    const notReady = mirrorEndpointSets(mirror({ ready: false, reason: 'no heartbeat from east for 6.2s' }), resolved);
    expect([...notReady.values()].map((s) => s.endpoints.length)).toEqual([0, 0]);
    for (const set of notReady.values()) validator.check('endpointSet', set);
    const portDown = mirrorEndpointSets(mirror({ ports: [{ port: 80, ready: 0 }, { port: 5432, ready: 1 }] }), resolved);
    expect([...portDown.values()].map((s) => s.endpoints.length)).toEqual([0, 1]);
  });
});

describe('mirrored services in the desired state', () => {
  it('publishes the endpoint sets and a profile of a mirror, recomputing only that service, and removes them with it', () => {
    const index = new DesiredStateIndex(options);
    const input = resources({ services: [service('api'), service('db')] });
    index.update(input, []);
    index.takeChanged();

    index.setMirror('shop/web-east', mirror());
    expect(index.update(input, [])).toBe(1);
    expect([...index.takeChanged()].sort()).toEqual([
      'meshbus.v1.state.endpoints.shop.web-east.5432',
      subject80,
      'meshbus.v1.state.profiles.shop.web-east',
    ]);
    expect(index.get('meshbus.v1.state.profiles.shop.web-east')).toEqual({ namespace: 'shop', service: 'web-east', routes: [], dstOverrides: [], opaquePorts: [5432] });
    expect(index.snapshot()).toEqual(computeDestinationState(input, [], options, [mirror()]));

    index.setMirror('shop/web-east', mirror({ ready: false }));
    expect(index.update(input, [])).toBe(1);
    expect((index.get(subject80) as { endpoints: unknown[] }).endpoints).toEqual([]);
    index.takeChanged();

    index.setMirror('shop/web-east', undefined);
    expect(index.update(input, [])).toBe(1);
    expect([...index.takeChanged()].sort()).toEqual(['meshbus.v1.state.endpoints.shop.web-east.5432', subject80, 'meshbus.v1.state.profiles.shop.web-east']);
    expect(index.get(subject80)).toBeUndefined();
    expect(index.snapshot()).toEqual(computeDestinationState(input, [], options));
  });

  it('keeps the routes of a ServiceProfile naming the mirror', () => {
    const profile: ServiceProfile = {
      kind: 'ServiceProfile',
      namespace: 'shop',
      name: 'web-east.shop.svc.cluster.local',
      labels: {},
      annotations: {},
      target: { namespace: 'shop', service: 'web-east', clusterDomain: 'cluster.local' },
      routes: [{ name: 'GET /', condition: { method: 'GET' }, responseClasses: [], isRetryable: true }],
      dstOverrides: [],
      opaquePorts: [],
    };
    const index = new DesiredStateIndex(options);
    const input = resources({ serviceProfiles: [profile] });
    index.setMirror('shop/web-east', mirror());
    index.update(input, []);
    expect(index.get('meshbus.v1.state.profiles.shop.web-east')).toMatchObject({ routes: [{ name: 'GET /', isRetryable: true }], opaquePorts: [5432] });
    expect(index.snapshot()).toEqual(computeDestinationState(input, [], options, [mirror()]));
  });

  it('serves a local Service of the same name instead, says so once, and serves the mirror again when it goes', () => {
    const shadowed: string[] = [];
    const index = new DesiredStateIndex(options, { onShadowed: (key, m) => shadowed.push(`${key} ${m.cluster}`) });
    const local = resources({ services: [service('web-east')] });
    index.setMirror('shop/web-east', mirror());
    index.update(local, []);
    expect(shadowed).toEqual(['shop/web-east east']);
    const set = index.get(subject80) as { endpoints: unknown[]; labels: Record<string, string> };
    expect(set.labels).toEqual({ namespace: 'shop', service: 'web-east' });
    expect(index.get('meshbus.v1.state.endpoints.shop.web-east.5432')).toBeUndefined();
    expect(index.snapshot()).toEqual(computeDestinationState(local, [], options, [mirror()]));

    index.setMirror('shop/web-east', mirror({ ready: false }));
    index.update(local, []);
    expect(shadowed).toHaveLength(1);

    index.update(resources({}), []);
    expect((index.get(subject80) as { labels: Record<string, string> }).labels).toMatchObject({ 'mirror.meshbus.io/cluster': 'east' });
  });
});
