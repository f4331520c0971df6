import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { busValidator, streams, subjects } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import type { BusEvent } from './cloudevents.js';
import { JetStreamPublisher } from './publisher.js';
import { StreamReader } from './stream-reader.js';
import { ensureStreams } from './streams.js';
import { WorkloadRegistrar } from './workload-registrar.js';

const logger = silentLogger();
const validator = busValidator();

describe('WorkloadRegistrar on a real nats-server', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    await ensureStreams(await nc.jetstreamManager());
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('heartbeats into the state stream and leaves a tombstone as the last value', async () => {
    const seen: BusEvent[] = [];
    const subject = subjects.workload('shop', 'api-7');
    const reader = new StreamReader({ nc, stream: streams.state.name, filter: subject, validator, logger, onEvent: (e) => seen.push(e) });
    await reader.start();

    const publisher = new JetStreamPublisher({ js: nc.jetstream(), validator, source: '/meshbus/test/registrar' });
    const registrar = new WorkloadRegistrar({
      publisher,
      registration: { namespace: 'shop', name: 'api-7', address: '127.0.0.27', ports: [{ port: 9090 }], labels: { app: 'api' }, serviceAccount: 'api' },
      intervalMs: 150,
      logger,
    });
    await registrar.start();
    await waitFor(() => seen.length >= 3, { what: 'three announcements' });
    await registrar.stop();
    await waitFor(() => seen.at(-1)?.kind === 'workloadDeregistered', { what: 'the tombstone' });
    await reader.stop();

    expect(seen.slice(0, -1).every((e) => e.kind === 'workloadRegistered' && e.subject === 'shop/api-7')).toBe(true);
    expect(seen[0]!.data).toMatchObject({ address: '127.0.0.27', heartbeatIntervalMs: 150, ports: [{ port: 9090 }] });
    const jsm = await nc.jetstreamManager();
    const last = await jsm.streams.getMessage(streams.state.name, { last_by_subj: subject });
    expect(last.header.get('ce-type')).toBe('io.meshbus.v1.workload.deregistered');
  });
});
