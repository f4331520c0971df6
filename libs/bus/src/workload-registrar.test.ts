import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventDataMap, EventKind } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import type { Publisher } from './publisher.js';
import { WorkloadRegistrar, WorkloadRegistrarStateError, type HeartbeatResult } from './workload-registrar.js';

interface Published {
  kind: EventKind;
  subject: string;
  key: string;
  data: unknown;
}

/** Records what is published; fails while `failing` is set. */
class RecordingPublisher implements Publisher {
  readonly published: Published[] = [];
  failing = false;

  async publish<K extends EventKind>(kind: K, subject: string, key: string, data: EventDataMap[K]): Promise<number> {
    if (this.failing) throw new Error('no responders');
    this.published.push({ kind, subject, key, data });
    return this.published.length;
  }
}

const registration = { namespace: 'shop', name: 'web-9', address: '127.0.0.19', ports: [{ name: 'http', port: 8080 }] as [{ name: string; port: number }] };

describe('WorkloadRegistrar', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('announces at start and every interval, with the interval in the data', async () => {
    const publisher = new RecordingPublisher();
    const registrar = new WorkloadRegistrar({ publisher, registration, intervalMs: 1000, logger: silentLogger() });
    await registrar.start();
    expect(publisher.published).toEqual([
      { kind: 'workloadRegistered', subject: 'meshbus.v1.state.workloads.shop.web-9', key: 'shop/web-9', data: { ...registration, heartbeatIntervalMs: 1000 } },
    ]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(publisher.published).toHaveLength(4);
    await registrar.stop();
  });

  it('keeps beating after a failed heartbeat', async () => {
    const publisher = new RecordingPublisher();
    const results: HeartbeatResult[] = [];
    const registrar = new WorkloadRegistrar({ publisher, registration, intervalMs: 1000, logger: silentLogger(), onHeartbeat: (r) => results.push(r) });
    await registrar.start();
    publisher.failing = true;
    await vi.advanceTimersByTimeAsync(1000);
    publisher.failing = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(results.map((r) => r.ok)).toEqual([false, true]);
    await registrar.stop();
  });

  it('publishes a tombstone on stop, once, and nothing after it', async () => {
    const publisher = new RecordingPublisher();
    const registrar = new WorkloadRegistrar({ publisher, registration, intervalMs: 1000, logger: silentLogger() });
    await registrar.start();
    await registrar.stop('host shut down');
    await registrar.stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(publisher.published.map((p) => p.kind)).toEqual(['workloadRegistered', 'workloadDeregistered']);
    expect(publisher.published[1]!.data).toEqual({ reason: 'host shut down' });
  });

  it('fails start when the first announcement is not stored, and cannot be restarted', async () => {
    const publisher = new RecordingPublisher();
    publisher.failing = true;
    const registrar = new WorkloadRegistrar({ publisher, registration, logger: silentLogger() });
    await expect(registrar.start()).rejects.toThrow(/no responders/);
    await expect(registrar.start()).rejects.toBeInstanceOf(WorkloadRegistrarStateError);
    await registrar.stop();
    expect(publisher.published).toEqual([]);
  });

  it('refuses a name that cannot be a subject token', () => {
    expect(() => new WorkloadRegistrar({ publisher: new RecordingPublisher(), registration: { ...registration, name: 'a.b' }, logger: silentLogger() })).toThrow(
      /cannot be a subject token/,
    );
  });
});
