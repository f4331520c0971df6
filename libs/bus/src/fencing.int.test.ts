import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, type NatsConnection } from 'nats';
import { busValidator, streams, subjects, type EndpointSet } from '@meshbus/bus-schemas';
import { createMetricsRegistry, silentLogger } from '@meshbus/runtime';
import { startNats, waitFor, type NatsCluster } from '@meshbus/testing';
import { JetStreamPublisher, NotLeaderError } from './publisher.js';
import { ensureStreams } from './streams.js';
import { StateView, writerRole, type FencedWrite } from './state-view.js';

const logger = silentLogger();
const validator = busValidator();

/** Each test writes under its own namespace, and its views read only that. */
let ns = 'fence';

function endpointSet(port: number, addresses: string[]): EndpointSet {
  return { namespace: ns, service: 'web', port, endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10000 })) };
}

const addresses = (v: StateView, subject: string) => (v.get(subject)?.data as EndpointSet | undefined)?.endpoints.map((e) => e.address);

describe('fencing state writes by leader term, on a real nats-server', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  const views: StateView[] = [];

  const startView = async (namespace: string, fenced: FencedWrite[] = []) => {
    const registry = createMetricsRegistry('test');
    const view = new StateView({ nc, filter: `meshbus.v1.state.endpoints.${namespace}.>`, validator, logger, registry, onFenced: (w) => fenced.push(w) });
    views.push(view);
    await view.start();
    return { view, registry };
  };
  const leader = (replica: string, term: number | undefined) =>
    new JetStreamPublisher({ js: nc.jetstream(), validator, source: `/meshbus/destination/${replica}`, term: () => term });

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    await ensureStreams(await nc.jetstreamManager());
  });
  afterAll(async () => {
    for (const v of views) await v.stop();
    await nc?.close();
    await nats?.stop();
  });

  it('stamps every write with the term as the meshbusterm extension, and publishes nothing without a term', async () => {
    ns = 'fence-stamp';
    const subject = subjects.endpoints(ns, 'web', 70);
    const seq = await leader('d-1', 42).publish('endpointSet', subject, `${ns}/web/70`, endpointSet(70, ['10.0.0.1']));
    const stored = await (await nc.jetstreamManager()).streams.getMessage(streams.state.name, { seq });
    expect(stored.header.get('ce-meshbusterm')).toBe('42');
    await expect(leader('d-1', undefined).publish('endpointSet', subject, `${ns}/web/70`, endpointSet(70, []))).rejects.toBeInstanceOf(NotLeaderError);
  });

  it("ignores the old term's late write, counts and reports it; the new leader's rewrite is what a restarted view replays", async () => {
    ns = 'fence-live';
    const a = subjects.endpoints(ns, 'web', 80);
    const b = subjects.endpoints(ns, 'web', 81);
    const old = leader('d-1', 1);
    const current = leader('d-2', 2);
    const fenced: FencedWrite[] = [];
    const { view, registry } = await startView(ns, fenced);

    await old.publish('endpointSet', a, `${ns}/web/80`, endpointSet(80, ['10.0.0.1']));
    await old.publish('endpointSet', b, `${ns}/web/81`, endpointSet(81, ['10.0.1.1']));
    await current.publish('endpointSet', a, `${ns}/web/80`, endpointSet(80, ['10.0.0.2']));
    await waitFor(() => addresses(view, a)?.join() === '10.0.0.2', { what: 'term 2 write' });
    // The deposed leader's writes that arrive after term 2 was seen: to the key term 2 wrote and to another one.
    await old.publish('endpointSet', a, `${ns}/web/80`, endpointSet(80, ['10.0.0.9']));
    await old.publish('endpointSet', b, `${ns}/web/81`, endpointSet(81, ['10.0.1.9']));
    const marker = await current.publish('endpointSet', subjects.endpoints(ns, 'web', 82), `${ns}/web/82`, endpointSet(82, ['10.0.2.1']));
    await waitFor(() => view.sequence >= marker, { what: 'view read everything' });

    expect(addresses(view, a)).toEqual(['10.0.0.2']);
    expect(addresses(view, b)).toEqual(['10.0.1.1']);
    expect(fenced.map((f) => [f.event.natsSubject, f.term, f.highest, f.role])).toEqual([
      [a, 1, 2, 'destination'],
      [b, 1, 2, 'destination'],
    ]);
    expect(view.termOf('destination')).toBe(2);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/meshbus_bus_fenced_writes_total\{stream="MESHBUS_STATE",role="destination",service="test"\} 2/);

    // The leader of term 2 writes every refused key again (destination does so): a view started
    // afterwards, which reads only the last message of each key, holds term 2's values.
    await current.publish('endpointSet', a, `${ns}/web/80`, endpointSet(80, ['10.0.0.2']));
    await current.publish('endpointSet', b, `${ns}/web/81`, endpointSet(81, ['10.0.1.1']));
    const replayFenced: FencedWrite[] = [];
    const { view: replayed } = await startView(ns, replayFenced);
    expect(addresses(replayed, a)).toEqual(['10.0.0.2']);
    expect(addresses(replayed, b)).toEqual(['10.0.1.1']);
    expect(replayFenced).toEqual([]);
  });

  it('on replay, refuses a late write stored after a newer term, and the new leader writing the key again repairs it', async () => {
    ns = 'fence-replay';
    const a = subjects.endpoints(ns, 'web', 90);
    const b = subjects.endpoints(ns, 'web', 91);
    const old = leader('d-1', 5);
    const current = leader('d-2', 6);
    await old.publish('endpointSet', a, `${ns}/web/90`, endpointSet(90, ['10.1.0.1']));
    await current.publish('endpointSet', b, `${ns}/web/91`, endpointSet(91, ['10.1.1.2'])); // term 6 now in the stream
    await old.publish('endpointSet', a, `${ns}/web/90`, endpointSet(90, ['10.1.0.9'])); // late write of term 5

    const fenced: FencedWrite[] = [];
    const { view } = await startView(ns, fenced);
    expect(addresses(view, b)).toEqual(['10.1.1.2']);
    // The late write is the only message left for a: refused, so a is unknown rather than wrong.
    expect(view.get(a)).toBeUndefined();
    expect(fenced.some((f) => f.event.natsSubject === a && f.term === 5 && f.highest === 6)).toBe(true);

    // The leader of term 6 writes a again (destination does so for every fenced key).
    await current.publish('endpointSet', a, `${ns}/web/90`, endpointSet(90, ['10.1.0.2']));
    await waitFor(() => addresses(view, a)?.join() === '10.1.0.2', { what: 'repaired key' });
    const { view: again } = await startView(ns);
    expect(addresses(again, a)).toEqual(['10.1.0.2']);
  });

  it('does not fence writers without a term, nor other roles', async () => {
    ns = 'fence-roles';
    const a = subjects.endpoints(ns, 'web', 95);
    const { view } = await startView(ns);
    await leader('d-2', 100).publish('endpointSet', a, `${ns}/web/95`, endpointSet(95, ['10.2.0.1']));
    await new JetStreamPublisher({ js: nc.jetstream(), validator, source: '/meshbus/destination/d-3' }).publish('endpointSet', a, `${ns}/web/95`, endpointSet(95, ['10.2.0.2']));
    await waitFor(() => addresses(view, a)?.join() === '10.2.0.2', { what: 'untermed write' });
    await new JetStreamPublisher({ js: nc.jetstream(), validator, source: '/meshbus/other/o-1', term: () => 3 }).publish('endpointSet', a, `${ns}/web/95`, endpointSet(95, ['10.2.0.3']));
    await waitFor(() => addresses(view, a)?.join() === '10.2.0.3', { what: 'other role, own terms' });
    expect(writerRole('/meshbus/destination/d-1')).toBe('destination');
    expect(writerRole('not-meshbus')).toBeUndefined();
  });

  it('drops a message whose meshbusterm is not a positive integer, as malformed', async () => {
    ns = 'fence-bad';
    const a = subjects.endpoints(ns, 'web', 99);
    const registry = createMetricsRegistry('test');
    const view = new StateView({ nc, filter: a, validator, logger, registry });
    views.push(view);
    await view.start();
    const h = headers();
    for (const [k, v] of Object.entries({
      'ce-specversion': '1.0',
      'ce-id': 'x-1',
      'ce-source': '/meshbus/destination/evil',
      'ce-type': 'io.meshbus.v1.endpoints.snapshot',
      'ce-time': new Date().toISOString(),
      'ce-subject': `${ns}/web/99`,
      'ce-meshbusterm': '1e9',
      'content-type': 'application/json',
    })) {
      h.set(k, v);
    }
    const ack = await nc.jetstream().publish(a, new TextEncoder().encode(JSON.stringify(endpointSet(99, ['10.3.0.1']))), { headers: h });
    await waitFor(() => view.sequence >= ack.seq, { what: 'view read it' });
    expect(view.get(a)).toBeUndefined();
    expect(await registry.metrics()).toMatch(/meshbus_bus_rejected_messages_total\{reason="term",stream="MESHBUS_STATE",service="test"\} 1/);
  });
});
