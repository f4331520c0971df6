import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '@meshbus/bus';
import { busValidator, streams, subjects, type MirroredService } from '@meshbus/bus-schemas';
import { httpGet, waitFor } from '@meshbus/testing';
import { addrText, destinationClient, EndpointWatcher, meshIdentity, startMesh, type Mesh } from './harness.js';

// A mirrored service as the multicluster leader writes it, served by the real destination and gateway.

const gatewayIdentity = meshIdentity('meshbus', 'multicluster-gateway');
const webIdentity = meshIdentity('shop', 'web');
const endpointsSubject = subjects.endpoints('shop', 'web-east', 80);
const mirrorSubject = subjects.mirroredService('shop', 'web-east');

function mirror(ready: boolean): MirroredService {
  return {
    namespace: 'shop',
    service: 'web-east',
    cluster: 'east',
    remoteService: 'web',
    ports: [{ port: 80, name: 'http', ready: ready ? 2 : 0 }],
    gateway: { identity: gatewayIdentity, addresses: [{ address: '10.1.0.9', port: 4180 }] },
    identities: [webIdentity],
    ready,
    ...(ready ? {} : { reason: 'no heartbeat from east for 6.2s' }),
  };
}

/** The CloudEvents type and data of the last message stored on a subject, or undefined. */
async function last(nc: NatsConnection, subject: string): Promise<{ type: string; data: Record<string, unknown> | undefined } | undefined> {
  const jsm = await nc.jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subject });
    return { type: m.header.get('ce-type'), data: m.data.length === 0 ? undefined : (JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>) };
  } catch {
    return undefined;
  }
}

describe('destination serving a service mirrored from a linked cluster', () => {
  let mesh: Mesh;
  let nc: NatsConnection;
  let multicluster: JetStreamPublisher;

  beforeAll(async () => {
    mesh = await startMesh({ destination: true, gateway: true });
    nc = await mesh.connect();
    multicluster = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/multicluster/test' });
    await waitFor(async () => (await httpGet(`${mesh.destination.adminUrl}/metrics`)).body.includes('meshbus_destination_leader{service="destination"} 1'), { what: 'destination leads' });
  });
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
  });

  it('publishes the gateway as the endpoint, empties it when the mirror is not ready, and removes it with the mirror', async () => {
    await multicluster.publish('mirroredService', mirrorSubject, 'shop/web-east', mirror(true));
    const published = await waitFor(async () => (await last(nc, endpointsSubject))?.data, { what: 'the endpoint set of shop/web-east:80' });
    expect(published).toEqual({
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
    expect((await last(nc, subjects.profile('shop', 'web-east')))?.data).toMatchObject({ namespace: 'shop', service: 'web-east', routes: [] });

    // A proxy asking the gateway for the mirror gets the linked cluster's gateway, with the remote workload's identity.
    const client = destinationClient(mesh.gateway.grpcPort);
    mesh.defer(() => client.close());
    const watcher = new EndpointWatcher(client, 'web-east.shop.svc.cluster.local:80');
    mesh.defer(() => watcher.cancel());
    await waitFor(() => watcher.endpoints.size > 0, { what: 'the gateway address over Destination.Get' });
    const [addr] = [...watcher.endpoints.values()];
    expect(addrText(addr!.addr!)).toBe('10.1.0.9:4180');
    expect(addr!.tlsIdentity?.strategy).toEqual({ $case: 'dnsLikeIdentity', dnsLikeIdentity: { name: webIdentity } });

    await multicluster.publish('mirroredService', mirrorSubject, 'shop/web-east', mirror(false));
    await waitFor(async () => ((await last(nc, endpointsSubject))?.data?.endpoints as unknown[] | undefined)?.length === 0, { what: 'an empty endpoint set' });
    await waitFor(() => watcher.endpoints.size === 0, { what: 'no endpoints over Destination.Get' });
    expect(watcher.exists).toBe(true);

    await multicluster.publish('mirroredServiceDeleted', mirrorSubject, 'shop/web-east', { reason: 'the export was withdrawn' });
    const tombstone = await waitFor(async () => {
      const m = await last(nc, endpointsSubject);
      return m?.type === 'io.meshbus.v1.endpoints.deleted' && m;
    }, { what: 'the endpoint set tombstone' });
    expect(tombstone.data).toMatchObject({ reason: 'service removed' });
    expect((await last(nc, subjects.profile('shop', 'web-east')))?.type).toBe('io.meshbus.v1.profile.deleted');
  });

  it('converges when the mirrors changed while no destination ran: the next one publishes the new and removes the gone', async () => {
    const apiSubject = subjects.endpoints('shop', 'api-west', 8080);
    await multicluster.publish('mirroredService', mirrorSubject, 'shop/web-east', mirror(true));
    await waitFor(async () => ((await last(nc, endpointsSubject))?.data?.endpoints as unknown[] | undefined)?.length === 1, { what: 'web-east served again' });

    await mesh.destination[Symbol.asyncDispose]();
    await multicluster.publish('mirroredServiceDeleted', mirrorSubject, 'shop/web-east', { reason: 'the export was withdrawn' });
    await multicluster.publish('mirroredService', subjects.mirroredService('shop', 'api-west'), 'shop/api-west', {
      ...mirror(true),
      service: 'api-west',
      cluster: 'west',
      remoteService: 'api',
      ports: [{ port: 8080, ready: 1 }],
      identities: [meshIdentity('shop', 'api')],
    });
    expect((await last(nc, endpointsSubject))?.type).toBe('io.meshbus.v1.endpoints.snapshot');
    expect(await last(nc, apiSubject)).toBeUndefined();

    await mesh.add('destination');
    const api = await waitFor(async () => (await last(nc, apiSubject))?.data, { what: 'the endpoint set of shop/api-west:8080' });
    expect(api.endpoints).toEqual([expect.objectContaining({ identity: meshIdentity('shop', 'api'), gateway: { cluster: 'west', identity: gatewayIdentity, authority: 'api.shop.svc.cluster.local:8080', identities: [meshIdentity('shop', 'api')] } })]);
    await waitFor(async () => (await last(nc, endpointsSubject))?.type === 'io.meshbus.v1.endpoints.deleted', { what: 'the stale endpoint set of web-east removed' });
  });
});
