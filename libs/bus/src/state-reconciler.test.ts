import { subjects, type EventDataMap, type EventKind } from '@meshbus/bus-schemas';
import { createMetricsRegistry, silentLogger } from '@meshbus/runtime';
import { describe, expect, it } from 'vitest';
import { NotLeaderError, type Publisher } from './publisher.js';
import { planStatePublications, type StateKindNames } from './state-plan.js';
import { StateReconciler } from './state-reconciler.js';

type Value = Record<string, unknown>;

/** A publisher that stores what it is given and refuses the subjects in `refused`. */
class RecordingPublisher implements Publisher {
  readonly published: { kind: EventKind; subject: string; data: unknown }[] = [];
  readonly refused = new Set<string>();
  leader = true;
  async publish<K extends EventKind>(kind: K, natsSubject: string, _key: string, data: EventDataMap[K]): Promise<number> {
    if (!this.leader) throw new NotLeaderError(natsSubject);
    if (this.refused.has(natsSubject)) throw new Error('MAX_PAYLOAD_EXCEEDED');
    this.published.push({ kind, subject: natsSubject, data });
    return this.published.length;
  }
  take(): string[] {
    return this.published.splice(0).map((p) => `${p.kind} ${p.subject}`);
  }
}

/** Keyed values, as the desired state or the bus. */
class Values {
  readonly map = new Map<string, Value>();
  get(subject: string) {
    return this.map.get(subject);
  }
  subjects() {
    return this.map.keys();
  }
}

const names: StateKindNames = { snapshot: 'endpointSet', deleted: 'endpointSetDeleted', reason: 'service removed' };
const web = subjects.endpoints('shop', 'web', 80);
const api = subjects.endpoints('shop', 'api', 80);

/** An announcement of the test's own, as a service would make. */
interface Note {
  readonly type: 'note';
  readonly file: string;
}

function setup(options: { sliceSize?: number } = {}) {
  const publisher = new RecordingPublisher();
  const desired = new Values();
  const bus = new Values();
  const notes: Note[] = [];
  const requeued: string[] = [];
  let changed: string[] = [];
  let now = 1_000_000;
  const reconciler = new StateReconciler<Value, Note>({
    desired,
    bus,
    refresh: () => changed.splice(0),
    plan: (slice) => {
      const state = planStatePublications({ ...slice, kindOf: () => names });
      return { ...state, publications: [...(slice.first ? notes.splice(0) : []), ...state.publications] };
    },
    own: {
      publish: async (p, note) => {
        await p.publish('manifestRejected', subjects.manifestRejected, note.file, { file: note.file, reason: 'bad' });
        return 'manifestRejected';
      },
      retry: (note) => ({ kind: 'manifestRejected', requeue: (error) => requeued.push(`${note.file}: ${error}`) }),
    },
    publisher: () => publisher,
    mayPublish: () => publisher.leader,
    logger: silentLogger(),
    registry: createMetricsRegistry('test', { processMetrics: false }),
    metrics: { prefix: 'meshbus_test', publishedHelp: 'Published, by kind.' },
    publishedMessage: 'published test changes',
    now: () => now,
    ...options,
  });
  const change = (subject: string, value: Value | undefined) => {
    if (value === undefined) desired.map.delete(subject);
    else desired.map.set(subject, value);
    changed.push(subject);
    reconciler.schedule();
  };
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { publisher, desired, bus, notes, requeued, reconciler, change, settle, advance: (ms: number) => (now += ms), reset: () => (changed = []) };
}

describe('StateReconciler', () => {
  it('once elected writes what differs from the bus and deletes what nothing desires; then only the keys that change', async () => {
    const t = setup();
    t.desired.map.set(web, { v: 1 });
    t.desired.map.set(api, { v: 1 });
    t.bus.map.set(api, { v: 1 });
    t.bus.map.set(subjects.endpoints('shop', 'gone', 80), { v: 1 });
    t.reconciler.elected();
    await t.settle();
    expect(t.publisher.take()).toEqual([`endpointSetDeleted ${subjects.endpoints('shop', 'gone', 80)}`, `endpointSet ${web}`]);

    t.change(api, { v: 2 });
    await t.settle();
    expect(t.publisher.take()).toEqual([`endpointSet ${api}`]);
    await t.reconciler.stop();
  });

  it('counts its own writes as on the bus until the bus shows them, and writes a fenced key again', async () => {
    const t = setup();
    t.desired.map.set(web, { v: 1 });
    t.reconciler.elected();
    await t.settle();
    t.publisher.take();
    // Not yet seen on the bus: a pass for another reason does not write it again.
    t.change(api, undefined);
    await t.settle();
    expect(t.publisher.take()).toEqual([]);
    // A deposed leader's late write was refused by the view, which keeps the value it had.
    t.bus.map.set(web, { v: 1 });
    t.reconciler.busChanged(web);
    t.reconciler.fenced(web);
    await t.settle();
    expect(t.publisher.take()).toEqual([`endpointSet ${web}`]);
    await t.reconciler.stop();
  });

  it('retries a refused key with backoff, announces it once in publish.failed, and keeps publishing the others', async () => {
    const t = setup({ sliceSize: 1 });
    t.publisher.refused.add(web);
    t.desired.map.set(web, { v: 1 });
    t.desired.map.set(api, { v: 1 });
    t.reconciler.elected();
    await t.settle();
    expect(t.publisher.take()).toEqual([`endpointSet ${api}`, `publishFailed ${subjects.publishFailed}`]);
    expect([...t.reconciler.failing]).toEqual([[web, expect.objectContaining({ attempts: 1, nextAttemptAt: 1_000_250, error: 'MAX_PAYLOAD_EXCEEDED' })]]);

    // Before the backoff is over the key waits; a second failure with the same error is not announced again.
    t.change(api, { v: 2 });
    await t.settle();
    expect(t.publisher.take()).toEqual([`endpointSet ${api}`]);
    t.advance(250);
    t.reconciler.schedule();
    await t.settle();
    expect(t.publisher.take()).toEqual([]);
    expect(t.reconciler.failing.get(web)).toMatchObject({ attempts: 2, since: 1_000_000 });

    t.publisher.refused.clear();
    t.advance(500);
    t.reconciler.schedule();
    await t.settle();
    expect(t.publisher.take()).toEqual([`endpointSet ${web}`]);
    expect(t.reconciler.failing.size).toBe(0);
    await t.reconciler.stop();
  });

  it('puts a failed announcement back and makes it in a later pass', async () => {
    const t = setup();
    t.publisher.refused.add(subjects.manifestRejected);
    t.notes.push({ type: 'note', file: 'a.yaml' });
    t.reconciler.elected();
    await t.settle();
    expect(t.requeued).toEqual(['a.yaml: MAX_PAYLOAD_EXCEEDED']);
    expect(t.reconciler.failing.size).toBe(0);
    t.publisher.refused.clear();
    t.notes.push({ type: 'note', file: 'a.yaml' });
    t.reconciler.schedule();
    await t.settle();
    expect(t.publisher.take()).toEqual([`manifestRejected ${subjects.manifestRejected}`]);
    await t.reconciler.stop();
  });

  it('a write refused because the lease was lost is no failure of the key, and a standby publishes nothing', async () => {
    const t = setup();
    t.desired.map.set(web, { v: 1 });
    t.reconciler.elected();
    t.publisher.leader = false;
    await t.settle();
    expect(t.reconciler.failing.size).toBe(0);
    expect(t.publisher.published).toEqual([]);
    await t.reconciler.stop();
  });
});
