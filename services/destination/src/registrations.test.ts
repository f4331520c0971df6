import { describe, expect, it } from 'vitest';
import type { WorkloadRegistration } from '@meshbus/bus-schemas';
import { RegistrationTracker } from './registrations.js';

const reg = (name: string, heartbeatIntervalMs = 1000): WorkloadRegistration => ({
  namespace: 'shop',
  name,
  address: '127.0.0.9',
  ports: [{ port: 80 }],
  heartbeatIntervalMs,
});

describe('RegistrationTracker', () => {
  it('keeps a workload live for three heartbeat intervals after it was last heard', () => {
    const t = new RegistrationTracker();
    t.observe('s.a', reg('a'), 0);
    t.observe('s.b', reg('b', 10_000), 0);
    expect(t.live(3000).map((r) => r.name)).toEqual(['a', 'b']);
    expect(t.live(3001).map((r) => r.name)).toEqual(['b']);
    expect(t.expired(3001)).toEqual([{ subject: 's.a', registration: reg('a'), lastSeen: 0 }]);
  });

  it('a heartbeat renews the allowance; a tombstone removes the workload', () => {
    const t = new RegistrationTracker();
    t.observe('s.a', reg('a'), 0);
    t.observe('s.a', reg('a'), 2500);
    expect(t.expired(5000)).toEqual([]);
    t.observe('s.a', undefined, 5000);
    expect(t.live(5000)).toEqual([]);
    expect(t.expired(99_999)).toEqual([]);
  });

  it('refreshAll restarts every allowance', () => {
    const t = new RegistrationTracker();
    t.observe('s.a', reg('a'), 0);
    t.refreshAll(10_000);
    expect(t.expired(12_000)).toEqual([]);
    expect(t.expired(13_001)).toHaveLength(1);
  });
});
