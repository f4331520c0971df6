import { credentials } from '@grpc/grpc-js';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, ensureStreams, EventTooLargeError, JetStreamPublisher, StateView } from '@meshbus/bus';
import { busValidator, subjects, type EndpointSet } from '@meshbus/bus-schemas';
import { destination } from '@meshbus/proxy-api';
import { natsInboxPrefix, silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, sampleEndpointSet, waitFor, type NatsRole } from '@meshbus/testing';
import { EndpointWatcher, startMesh, startNats, type Mesh, type NatsCluster } from './harness.js';

const roles: NatsRole[] = ['destination', 'gateway', 'identity', 'workload', 'reader'];
const password = (role: NatsRole) => `${role}-pw-0123456789`;
const login = (role: NatsRole) => ({
  servers: [] as string[],
  name: `large-set-${role}`,
  user: role,
  password: password(role),
  inboxPrefix: natsInboxPrefix(role),
});
const authorization = natsAuthorizationConfig(roles.map((role) => ({ user: role, password: password(role), role })));
const count = 25_000;

describe('a service with 25,000 endpoints', () => {
  let nats: NatsCluster;
  let writer: NatsConnection;
  let publisher: JetStreamPublisher;
  let mesh: Mesh | undefined;
  /** Stream sequence of the published set. */
  let seq: number;
  const set = sampleEndpointSet(count) as EndpointSet;
  const subject = subjects.endpoints('shop', 'big', 80);

  beforeAll(async () => {
    nats = await startNats({ authorization });
    writer = await connectBus({ ...login('destination'), servers: [nats.url] }, silentLogger());
    await ensureStreams(await writer.jetstreamManager());
    publisher = new JetStreamPublisher({ js: writer.jetstream(), validator: busValidator(), source: '/meshbus/test/large' });
    seq = await publisher.publish('endpointSet', subject, 'shop/big/80', set);
  }, 30_000);
  afterAll(async () => {
    await mesh?.[Symbol.asyncDispose]();
    await writer?.close();
    await nats?.stop();
  });

  it('is published compressed, well within max_payload, and read back whole by the state view of a gateway login', async () => {
    const json = JSON.stringify(set).length;

    const reader = await connect({ servers: nats.url, user: 'reader', pass: password('reader'), inboxPrefix: natsInboxPrefix('reader') });
    try {
      const stored = await (await reader.jetstreamManager()).streams.getMessage('MESHBUS_STATE', { seq });
      expect(stored.header.get('content-encoding')).toBe('gzip');
      // About 8 MB of JSON travels as about 0.3 MB: under even the nats-server default of 1 MB.
      expect(json).toBeGreaterThan(7_000_000);
      expect(stored.data.length).toBeLessThan(1_000_000);
    } finally {
      await reader.close();
    }

    const gatewayNc = await connectBus({ ...login('gateway'), servers: [nats.url] }, silentLogger());
    const view = new StateView({ nc: gatewayNc, filter: 'meshbus.v1.state.>', validator: busValidator(), logger: silentLogger() });
    try {
      await view.start();
      const got = view.get(subject);
      expect(got?.kind).toBe('endpointSet');
      expect(got?.data).toEqual(set);
    } finally {
      await view.stop();
      await gatewayNc.close();
    }
  }, 60_000);

  it('reaches a proxy with default gRPC limits through a gateway, in several updates', async () => {
    mesh = await startMesh({ nats, gateway: { env: { NATS_USER: 'gateway', NATS_PASSWORD: password('gateway'), MESHBUS_ENSURE_STREAMS: 'false' } } });
    const gw = mesh.gateway;
    const client = new destination.DestinationClient(`127.0.0.1:${gw.grpcPort}`, credentials.createInsecure());
    const w = new EndpointWatcher(client, 'big.shop.svc.cluster.local:80');
    try {
      await waitFor(() => w.endpoints.size === count || w.error, { what: `${count} endpoints`, timeoutMs: 30_000 });
      expect(w.error).toBeUndefined();
      expect(w.endpoints.size).toBe(count);
    } finally {
      w.cancel();
      client.close();
    }
  }, 60_000);

  it('is refused at publish time, naming the subject and the size, when even compressed it exceeds max_payload', async () => {
    await using small = await startNats({ maxPayload: 64 * 1024 });
    const nc = await connectBus({ servers: [small.url], name: 'large-set-small' }, silentLogger());
    try {
      await ensureStreams(await nc.jetstreamManager());
      const pub = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/test/large' });
      const err = await pub.publish('endpointSet', subject, 'shop/big/80', set).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EventTooLargeError);
      expect((err as Error).message).toMatch(
        /^event on meshbus\.v1\.state\.endpoints\.shop\.big\.80 is \d+ bytes on the wire \(\d+ bytes of JSON data\) and exceeds the NATS server's max_payload/,
      );
      expect((err as EventTooLargeError).bytes).toBeGreaterThan(64 * 1024);
      await expect((await nc.jetstreamManager()).streams.getMessage('MESHBUS_STATE', { last_by_subj: subject })).rejects.toThrow(/no message found/);
      // Small data still goes through, as plain JSON.
      const seq = await pub.publish('endpointSet', subject, 'shop/big/80', { ...set, endpoints: set.endpoints.slice(0, 10) });
      const stored = await (await nc.jetstreamManager()).streams.getMessage('MESHBUS_STATE', { seq });
      expect(stored.header?.get('content-encoding') ?? '').toBe('');
      expect(JSON.parse(new TextDecoder().decode(stored.data)).endpoints).toHaveLength(10);
    } finally {
      await nc.close();
    }
  }, 30_000);
});
