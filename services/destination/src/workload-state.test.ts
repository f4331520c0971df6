import { describe, expect, it } from 'vitest';
import type { BusEvent, Publisher } from '@meshbus/bus';
import { subjects, type EventDataMap, type EventKind, type WorkloadRegistration } from '@meshbus/bus-schemas';
import { createMetricsRegistry, silentLogger } from '@meshbus/runtime';
import { RegistrationTracker } from './registrations.js';
import { WorkloadState } from './workload-state.js';

class RecordingPublisher implements Publisher {
  readonly published: { kind: EventKind; subject: string; data: unknown }[] = [];
  async publish<K extends EventKind>(kind: K, subject: string, _key: string, data: EventDataMap[K]): Promise<number> {
    this.published.push({ kind, subject, data });
    return this.published.length;
  }
}

const reg = (name: string, address = '127.0.0.50'): WorkloadRegistration => ({ namespace: 'shop', name, address, ports: [{ port: 80 }], heartbeatIntervalMs: 1000 });
const event = (subject: string, data: WorkloadRegistration): BusEvent =>
  ({ kind: 'workloadRegistered', id: 'x', source: '/s', type: 'io.meshbus.v1.workload.registered', time: '', subject: '', data, natsSubject: subject }) as BusEvent;

function setup(leader: boolean) {
  const tracker = new RecordingTrackerClock();
  const publisher = new RecordingPublisher();
  let isLeader = leader;
  const state = new WorkloadState({ tracker: tracker.tracker, publisher: () => publisher, isLeader: () => isLeader, logger: silentLogger(), registry: createMetricsRegistry('test', { processMetrics: false }), now: () => tracker.now });
  return { state, publisher, tracker: tracker.tracker, elect: () => (isLeader = true) };
}

class RecordingTrackerClock {
  now = 0;
  readonly tracker = new RegistrationTracker();
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('WorkloadState', () => {
  const subject = subjects.workload('shop', 'vm-1');

  it('refuses data naming another workload and keeps the last valid registration', () => {
    const { state, tracker, publisher } = setup(false);
    state.observe(subject, event(subject, reg('vm-1')));
    state.observe(subject, event(subject, reg('other-name', '127.0.0.99')));
    state.observe(subject, event(subject, { ...reg('vm-1'), namespace: 'prod' }));
    state.rejected(subject, 'json', 'data is not JSON');
    expect(tracker.get(subject)).toEqual(reg('vm-1'));
    expect(publisher.published).toEqual([]);
  });

  it('as leader, overwrites a refused message with the registration it holds, or a tombstone', async () => {
    const { state, publisher } = setup(true);
    state.observe(subject, event(subject, reg('vm-1')));
    state.rejected(subject, 'json', 'data is not JSON');
    const other = subjects.workload('shop', 'vm-2');
    state.observe(other, event(other, reg('vm-3')));
    await settle();
    expect(publisher.published).toEqual([
      { kind: 'workloadRegistered', subject, data: reg('vm-1') },
      { kind: 'workloadDeregistered', subject: other, data: { reason: 'refused state message removed' } },
    ]);
  });

  it('restores again when a rogue message lands after its restore but before the restore is acknowledged', async () => {
    const tracker = new RegistrationTracker();
    const published: unknown[] = [];
    const acks: (() => void)[] = [];
    // A publisher whose acknowledgements the test releases, as a slow JetStream would.
    const slow: Publisher = {
      publish: (_kind, _subject, _key, data) => {
        published.push(data);
        return new Promise((resolve) => acks.push(() => resolve(published.length)));
      },
    };
    const state = new WorkloadState({ tracker, publisher: () => slow, isLeader: () => true, logger: silentLogger(), registry: createMetricsRegistry('test', { processMetrics: false }), now: () => 0 });
    state.observe(subject, event(subject, reg('vm-1')));
    state.rejected(subject, 'json', 'data is not JSON');
    await settle();
    expect(published).toHaveLength(1);
    // The view sees the restore, then a second rogue message, before the first publish is acknowledged.
    state.observe(subject, event(subject, reg('vm-1')));
    state.observe(subject, event(subject, reg('other-name', '127.0.0.99')));
    acks.shift()!();
    await settle();
    expect(published).toEqual([reg('vm-1'), reg('vm-1')]);
    acks.shift()!();
  });

  it('restores what was refused while standby once elected', async () => {
    const { state, publisher, elect } = setup(false);
    state.observe(subject, event(subject, reg('vm-1')));
    state.rejected(subject, 'schema', '/weight must be <= 4294967295');
    elect();
    state.restoreRefused();
    await settle();
    expect(publisher.published).toEqual([{ kind: 'workloadRegistered', subject, data: reg('vm-1') }]);
  });

  it('writes a registration only when it changes; heartbeats only renew', async () => {
    const { state, publisher } = setup(true);
    expect(await state.put(reg('vm-1'))).toBe('registered');
    expect(await state.put(reg('vm-1'))).toBe('unchanged');
    expect(state.renew('shop', 'vm-1')).toBe(true);
    expect(await state.put(reg('vm-1', '127.0.0.51'))).toBe('updated');
    expect(state.renew('shop', 'vm-9')).toBe(false);
    expect(await state.remove('shop', 'vm-1', 'bye')).toBe(true);
    expect(await state.remove('shop', 'vm-1', 'bye')).toBe(false);
    expect(publisher.published.map((p) => p.kind)).toEqual(['workloadRegistered', 'workloadRegistered', 'workloadDeregistered']);
  });
});
