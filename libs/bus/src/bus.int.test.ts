import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, DiscardPolicy, headers, nanos, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import { busValidator, streams, subjects, type EndpointSet } from '@meshbus/bus-schemas';
import { createMetricsRegistry, silentLogger } from '@meshbus/runtime';
import { startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { JetStreamPublisher } from './publisher.js';
import { ensureStreams, StreamStorageError } from './streams.js';
import { StateView } from './state-view.js';
import { StreamReader } from './stream-reader.js';
import type { BusEvent } from './cloudevents.js';

const logger = silentLogger();
const validator = busValidator();

function endpointSet(port: number, addresses: string[]): EndpointSet {
  return { namespace: 'shop', service: 'web', port, endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10000 })) };
}

describe('bus on a real nats-server', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    await ensureStreams(await nc.jetstreamManager());
    await ensureStreams(await nc.jetstreamManager()); // idempotent
    publisher = new JetStreamPublisher({ js: nc.jetstream(), validator, source: '/meshbus/test/r1' });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('publishes CloudEvents in binary mode with every ce- header', async () => {
    const subject = subjects.endpoints('shop', 'web', 80);
    const seq = await publisher.publish('endpointSet', subject, 'shop/web/80', endpointSet(80, ['10.0.0.1']));
    const jsm = await nc.jetstreamManager();
    const stored = await jsm.streams.getMessage(streams.state.name, { seq });
    expect(stored.header.get('ce-specversion')).toBe('1.0');
    expect(stored.header.get('ce-type')).toBe('io.meshbus.v1.endpoints.snapshot');
    expect(stored.header.get('ce-source')).toBe('/meshbus/test/r1');
    expect(stored.header.get('ce-subject')).toBe('shop/web/80');
    expect(stored.header.get('ce-dataschema')).toBe('https://meshbus.io/schemas/v1/endpoint-set.schema.json');
    expect(stored.header.get('content-type')).toBe('application/json');
    expect(Date.parse(stored.header.get('ce-time'))).toBeGreaterThan(Date.now() - 60_000);
    expect(stored.header.get('ce-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(new TextDecoder().decode(stored.data))).toEqual(endpointSet(80, ['10.0.0.1']));
  });

  it('refuses to publish data that does not match its schema or subject', async () => {
    await expect(
      publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 81), 'k', { ...endpointSet(81, []), port: 0 }),
    ).rejects.toThrow(/schema/);
    await expect(publisher.publish('endpointSet', 'meshbus.v1.state.profiles.shop.web', 'k', endpointSet(81, []))).rejects.toThrow(/does not match/);
  });

  it('keeps the newest value per key, so a late view rebuilds the state; tombstones delete', async () => {
    await publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 90), 'shop/web/90', endpointSet(90, ['10.0.0.1']));
    await publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 90), 'shop/web/90', endpointSet(90, ['10.0.0.2']));
    await publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 91), 'shop/web/91', endpointSet(91, ['10.0.0.3']));
    await publisher.publish('endpointSetDeleted', subjects.endpoints('shop', 'web', 91), 'shop/web/91', { reason: 'service removed' });
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(streams.state.name);
    // One message per subject: ports 80, 90, 91 (the tombstone).
    expect(info.state.messages).toBe(3);

    const view = new StateView({ nc, filter: subjects.allEndpoints, validator, logger });
    await view.start();
    expect(view.ready).toBe(true);
    expect((view.get(subjects.endpoints('shop', 'web', 90))?.data as EndpointSet).endpoints[0]?.address).toBe('10.0.0.2');
    expect(view.get(subjects.endpoints('shop', 'web', 91))).toBeUndefined();
    expect(view.size).toBe(2);
    await view.stop();
  });

  it('drops malformed messages with a metric, keeping the previous value and going on', async () => {
    const registry = createMetricsRegistry('test', { processMetrics: false });
    const changes: string[] = [];
    const view = new StateView({ nc, filter: subjects.allEndpoints, validator, logger, registry, onChange: (s) => changes.push(s) });
    await view.start();
    const key = subjects.endpoints('shop', 'web', 90);
    const before = view.get(key);
    const js = nc.jetstream();
    // No CloudEvents headers at all.
    await js.publish(key, new TextEncoder().encode('{"junk":true}'));
    // Each on its own key: the stream keeps one message per subject, so a second write to the same
    // key could replace the first before the view reads it.
    // Headers fine, data not JSON.
    const h = headers();
    for (const [k, v] of [['ce-specversion', '1.0'], ['ce-id', 'x'], ['ce-source', 's'], ['ce-type', 'io.meshbus.v1.endpoints.snapshot'], ['ce-time', new Date().toISOString()]] as const) h.set(k, v);
    await js.publish(subjects.endpoints('shop', 'web', 93), new TextEncoder().encode('not json'), { headers: h });
    // Unknown type.
    h.set('ce-type', 'io.example.other');
    await js.publish(subjects.endpoints('shop', 'web', 94), new TextEncoder().encode('{}'), { headers: h });
    // A valid one afterwards is still applied.
    await publisher.publish('endpointSet', subjects.endpoints('shop', 'web', 92), 'shop/web/92', endpointSet(92, ['10.0.0.9']));
    await waitFor(() => view.get(subjects.endpoints('shop', 'web', 92)));
    expect(view.get(key)).toEqual(before);
    expect(view.get(subjects.endpoints('shop', 'web', 93))).toBeUndefined();
    expect(view.get(subjects.endpoints('shop', 'web', 94))).toBeUndefined();
    const text = await registry.metrics();
    expect(text).toMatch(/meshbus_bus_rejected_messages_total\{reason="missing-header",stream="MESHBUS_STATE",service="test"\} 1/);
    expect(text).toMatch(/reason="json"[^}]*\} 1/);
    expect(text).toMatch(/reason="unknown-type"[^}]*\} 1/);
    await view.stop();
  });

  it('reads events from a position and follows live ones', async () => {
    const seen: BusEvent[] = [];
    await publisher.publish('leaderChanged', subjects.leader('destination'), 'destination', { role: 'destination', holder: 'a', term: 1 });
    const reader = new StreamReader({ nc, stream: streams.events.name, filter: subjects.allEvents, from: 'new', validator, logger, onEvent: (e) => seen.push(e) });
    await reader.start();
    await publisher.publish('leaderChanged', subjects.leader('destination'), 'destination', { role: 'destination', holder: 'b', term: 2 });
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.data).toEqual({ role: 'destination', holder: 'b', term: 2 });
    expect(seen[0]!.kind).toBe('leaderChanged');
    await reader.stop();

    const all: BusEvent[] = [];
    const replay = new StreamReader({ nc, stream: streams.events.name, filter: subjects.allEvents, from: 'all', validator, logger, onEvent: (e) => all.push(e) });
    await replay.start();
    expect(all.map((e) => (e.data as { holder: string }).holder)).toEqual(['a', 'b']);
    await replay.stop();
  });
});

describe('the metrics stream', () => {
  it('is created beside an existing events stream with the configured limits, which a service without them leaves alone', async () => {
    await using nats = await startNats();
    const nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    // An events stream from before MESHBUS_METRICS existed, with a traffic summary on its old subject.
    await jsm.streams.add({ name: streams.events.name, subjects: [...streams.events.subjects], max_age: nanos(2 * 86_400_000), storage: StorageType.File });
    await nc.jetstream().publish('meshbus.v1.events.metrics.shop.web', new Uint8Array([1]));

    await ensureStreams(jsm, { metrics: { maxAgeMs: 600_000, maxBytes: 8 * 2 ** 20 } });
    const metrics = (await jsm.streams.info(streams.metrics.name)).config;
    expect(metrics).toMatchObject({
      subjects: ['meshbus.v1.metrics.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(600_000),
      max_bytes: 8 * 2 ** 20,
      num_replicas: 1,
    });
    const events = await jsm.streams.info(streams.events.name);
    expect(events.config.subjects).toEqual(['meshbus.v1.events.>']);
    expect(events.config.max_age).toBe(nanos(2 * 86_400_000));
    expect(events.state.messages).toBe(1);

    // The gateway ensures the streams without limits: nothing changes.
    await ensureStreams(jsm);
    expect((await jsm.streams.info(streams.metrics.name)).config).toMatchObject({ max_age: nanos(600_000), max_bytes: 8 * 2 ** 20 });
    // A writer with other limits brings them in.
    await ensureStreams(jsm, { metrics: { maxAgeMs: 7_200_000, maxBytes: 2 ** 30 } });
    expect((await jsm.streams.info(streams.metrics.name)).config).toMatchObject({ max_age: nanos(7_200_000), max_bytes: 2 ** 30 });

    const summary = await nc.jetstream().publish(subjects.metricsSummary('shop', 'web'), new Uint8Array([2]));
    expect(summary.stream).toBe(streams.metrics.name);
    expect((await jsm.streams.info(streams.events.name)).state.messages).toBe(1);
    await nc.close();
  });

  it('says which setting to change when JetStream cannot reserve its size', async () => {
    await using nats = await startNats();
    const nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    // The test servers have 4GB of file storage.
    const failure = ensureStreams(jsm, { metrics: { maxAgeMs: 3_600_000, maxBytes: 64 * 2 ** 30 } });
    await expect(failure).rejects.toThrow(StreamStorageError);
    await expect(ensureStreams(jsm, { metrics: { maxAgeMs: 3_600_000, maxBytes: 64 * 2 ** 30 } })).rejects.toThrow(
      /JetStream cannot reserve storage for stream MESHBUS_METRICS \(max_bytes 68719476736\): .*insufficient storage.*; raise max_file_store of the NATS servers \(MESHBUS_METRICS reserves MESHBUS_METRICS_MAX_BYTES up front\) or lower MESHBUS_METRICS_MAX_BYTES/,
    );
    await nc.close();
  });

  it('gets one hour and 1 GiB when nobody sets its limits', async () => {
    await using nats = await startNats();
    const nc = await connect({ servers: nats.url });
    const jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, { eventsMaxAgeMs: 86_400_000 });
    expect((await jsm.streams.info(streams.metrics.name)).config).toMatchObject({ max_age: nanos(3_600_000), max_bytes: 2 ** 30 });
    await nc.close();
  });
});

describe('bus across NATS failures', () => {
  it('a view survives a server restart and a recreated stream, converging to the new state', async () => {
    await using nats = await startNats();
    const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    await ensureStreams(await nc.jetstreamManager());
    const pub = new JetStreamPublisher({ js: nc.jetstream(), validator, source: '/t' });
    await pub.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'k', endpointSet(80, ['10.0.0.1']));
    await pub.publish('endpointSet', subjects.endpoints('shop', 'web', 81), 'k', endpointSet(81, ['10.0.0.1']));
    const changes: [string, string | undefined][] = [];
    const view = new StateView({
      nc,
      filter: subjects.allState,
      validator,
      logger,
      onChange: (s, v) => changes.push([s, v ? (v.data as EndpointSet).endpoints[0]?.address : undefined]),
    });
    await view.start();
    expect(view.size).toBe(2);

    await nats.kill(0);
    await nats.restart(0);
    await waitFor(async () => {
      try {
        await pub.publish('endpointSet', subjects.endpoints('shop', 'web', 80), 'k', endpointSet(80, ['10.0.0.2']));
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 15_000, what: 'publish after restart' });
    await waitFor(() => (view.get(subjects.endpoints('shop', 'web', 80))?.data as EndpointSet | undefined)?.endpoints[0]?.address === '10.0.0.2', {
      timeoutMs: 15_000,
      what: 'view to follow after restart',
    });

    // The stream is deleted and recreated with other content (as after a restart without storage).
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(streams.state.name);
    await ensureStreams(jsm);
    await pub.publish('endpointSet', subjects.endpoints('shop', 'web', 82), 'k', endpointSet(82, ['10.0.0.3']));
    await nc.reconnect();
    await waitFor(() => view.get(subjects.endpoints('shop', 'web', 82)) && !view.get(subjects.endpoints('shop', 'web', 81)), {
      timeoutMs: 15_000,
      what: 'view to resync with the recreated stream',
    });
    expect(view.size).toBe(1);
    expect(changes).toContainEqual([subjects.endpoints('shop', 'web', 81), undefined]);
    await view.stop();
    await nc.close();
  });
});
