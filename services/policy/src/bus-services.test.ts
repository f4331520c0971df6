import type { BusEvent } from '@meshbus/bus';
import { subjects, type EndpointSet, type MirroredService } from '@meshbus/bus-schemas';
import { describe, expect, it } from 'vitest';
import { BusServices } from './bus-services.js';

const event = (kind: string, data: unknown) => ({ kind, data }) as unknown as BusEvent;
const mirror = (ready: boolean, portReady: number, service = 'web-east', identities = ['web.shop.serviceaccount.identity.meshbus.cluster.local']): MirroredService => ({
  namespace: 'shop',
  service,
  cluster: 'east',
  remoteService: 'web',
  ports: [{ port: 80, name: 'http', ready: portReady }, { port: 9000, opaque: true, ready: portReady }],
  gateway: { identity: 'gw.meshbus.serviceaccount.identity.meshbus.cluster.local', addresses: [{ address: '10.1.0.9', port: 4180 }] },
  identities,
  ready,
});
const endpoints = (n: number): EndpointSet => ({
  namespace: 'shop',
  service: 'web',
  port: 80,
  endpoints: Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 8080, weight: 1, labels: {} })),
});

describe('BusServices', () => {
  it('turns a mirror into a Service without addresses, and leaves out one published under another name', () => {
    const bus = new BusServices();
    expect(bus.observe(subjects.mirroredService('shop', 'web-east'), event('mirroredService', mirror(true, 2)))).toBe(true);
    expect(bus.services).toMatchObject([
      { kind: 'Service', namespace: 'shop', name: 'web-east', clusterIPs: [], ports: [{ name: 'http', port: 80, targetPort: 80 }, { port: 9000, targetPort: 9000 }], opaquePorts: [{ min: 9000, max: 9000 }] },
    ]);
    expect(bus.observe(subjects.mirroredService('shop', 'api-east'), event('mirroredService', mirror(true, 2)))).toBe(false);
    expect(bus.services).toHaveLength(1);
    expect(bus.observe(subjects.mirroredService('shop', 'web-east'), undefined)).toBe(true);
    expect(bus.services).toEqual([]);
  });

  it('counts a port ready while its endpoint set is not empty, and a mirror port while the mirror is ready with ready endpoints', () => {
    const bus = new BusServices();
    const web = subjects.endpoints('shop', 'web', 80);
    expect(bus.observe(web, event('endpointSet', endpoints(0)))).toBe(false);
    expect(bus.observe(web, event('endpointSet', endpoints(2)))).toBe(true);
    expect(bus.readiness.get('shop/web/80')).toBe(true);
    expect(bus.observe(web, event('endpointSet', endpoints(1)))).toBe(false);
    expect(bus.observe(web, undefined)).toBe(true);
    expect(bus.readiness.get('shop/web/80')).toBeUndefined();

    const east = subjects.mirroredService('shop', 'web-east');
    bus.observe(east, event('mirroredService', mirror(true, 2)));
    expect(bus.readiness.get('shop/web-east/80')).toBe(true);
    bus.observe(east, event('mirroredService', mirror(false, 2)));
    expect(bus.readiness.get('shop/web-east/80')).toBeUndefined();
    bus.observe(east, event('mirroredService', mirror(true, 0)));
    expect(bus.readiness.get('shop/web-east/80')).toBeUndefined();
    // No remote identity: destination publishes no endpoint for it, so it is not ready either.
    bus.observe(east, event('mirroredService', mirror(true, 2, 'web-east', [])));
    expect(bus.readiness.get('shop/web-east/80')).toBeUndefined();
  });
});
