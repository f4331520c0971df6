import type { EndpointSet, WorkloadRegistration } from '@meshbus/bus-schemas';
import { describe, expect, it } from 'vitest';
import { attemptDue, recordFailure, type PublishFailure } from '@meshbus/bus';
import { planReconcile, type ReconcileInput, type StateData } from './reconcile.js';

const ep = (service: string, addresses: string[]): EndpointSet => ({
  namespace: 'shop',
  service,
  port: 80,
  opaque: false,
  labels: { namespace: 'shop', service },
  endpoints: addresses.map((address) => ({ address, port: 8080, weight: 10000, labels: {} })),
});
const subject = (service: string) => `meshbus.v1.state.endpoints.shop.${service}.80`;

function input(fields: Partial<ReconcileInput> & { desired?: Map<string, StateData>; bus?: Map<string, StateData> }): ReconcileInput {
  const desired = fields.desired ?? new Map();
  const bus = fields.bus ?? new Map();
  return {
    keys: [...new Set([...desired.keys(), ...bus.keys()])],
    expired: [],
    problems: [],
    failures: new Map(),
    now: 1_000_000,
    ...fields,
    desired,
    bus,
  };
}

describe('planReconcile', () => {
  it('upserts what differs, tombstones what is gone, and leaves equal values alone (whatever their key order)', () => {
    const same = ep('same', ['10.0.0.1']);
    const reordered = JSON.parse(JSON.stringify({ ...same, labels: { service: 'same', namespace: 'shop' } })) as EndpointSet;
    const plan = planReconcile(
      input({
        desired: new Map([[subject('same'), same], [subject('new'), ep('new', ['10.0.0.2'])], [subject('moved'), ep('moved', ['10.0.0.4'])]]),
        bus: new Map([[subject('same'), reordered], [subject('moved'), ep('moved', ['10.0.0.3'])], [subject('gone'), ep('gone', [])]]),
      }),
    );
    expect(plan.publications.map((p) => [p.type, 'subject' in p ? p.subject : ''])).toEqual([
      ['tombstone', subject('gone')],
      ['upsert', subject('moved')],
      ['upsert', subject('new')],
    ]);
    expect(plan.publications[0]).toMatchObject({ kind: 'endpointSetDeleted', key: 'shop/gone/80' });
    expect(plan).toMatchObject({ postponed: [], retryAt: undefined, settled: [] });
  });

  it('looks only at the keys it is given', () => {
    const plan = planReconcile({ ...input({ desired: new Map([[subject('a'), ep('a', [])], [subject('b'), ep('b', [])]]) }), keys: [subject('b')] });
    expect(plan.publications.map((p) => ('subject' in p ? p.subject : ''))).toEqual([subject('b')]);
  });

  it('puts refused manifests first, then expiries, then state', () => {
    const registration: WorkloadRegistration = { namespace: 'shop', name: 'vm-1', address: '10.0.0.9', ports: [{ port: 80 }], heartbeatIntervalMs: 1000 };
    const plan = planReconcile(
      input({
        desired: new Map([[subject('a'), ep('a', [])]]),
        problems: [{ file: 'a.yaml', reason: 'invalid YAML' }],
        expired: [{ subject: 'meshbus.v1.state.workloads.shop.vm-1', registration, lastSeen: 0 }],
      }),
    );
    expect(plan.publications.map((p) => p.type)).toEqual(['manifestRejected', 'expiry', 'upsert']);
    expect(plan.publications[1]).toEqual({ type: 'expiry', subject: 'meshbus.v1.state.workloads.shop.vm-1', namespace: 'shop', name: 'vm-1', lastHeartbeat: '1970-01-01T00:00:00.000Z' });
  });

  it('a failing key waits for its backoff while the others are published; a new value is tried at once', () => {
    const now = 1_000_000;
    const bad = ep('bad', ['10.0.0.1']);
    const failure: PublishFailure = recordFailure(undefined, { error: 'maximum payload exceeded', fingerprint: JSON.stringify(bad), now: now - 100 });
    expect(failure).toMatchObject({ attempts: 1, since: now - 100, nextAttemptAt: now + 150 });
    const desired = new Map<string, StateData>([[subject('bad'), bad], [subject('good'), ep('good', ['10.0.0.2'])]]);
    // The fingerprint is canonical JSON; recompute it the way the planner does.
    const first = planReconcile(input({ desired, failures: new Map() }));
    const fingerprint = (first.publications.find((p) => p.type === 'upsert' && p.subject === subject('bad')) as { fingerprint: string }).fingerprint;
    const failures = new Map([[subject('bad'), { ...failure, fingerprint }]]);

    const waiting = planReconcile(input({ desired, failures, now }));
    expect(waiting.publications.map((p) => ('subject' in p ? p.subject : ''))).toEqual([subject('good')]);
    expect(waiting).toMatchObject({ postponed: [subject('bad')], retryAt: now + 150 });

    const due = planReconcile(input({ desired, failures, now: now + 150 }));
    expect(due.publications.map((p) => ('subject' in p ? p.subject : ''))).toEqual([subject('bad'), subject('good')]);

    const fixed = planReconcile(input({ desired: new Map([[subject('bad'), ep('bad', ['10.0.0.3'])]]), failures, now }));
    expect(fixed.publications.map((p) => p.type)).toEqual(['upsert']);

    const settled = planReconcile(input({ desired: new Map([[subject('bad'), bad]]), bus: new Map([[subject('bad'), bad]]), failures, now }));
    expect(settled).toMatchObject({ publications: [], settled: [subject('bad')] });
  });
});

describe('recordFailure', () => {
  it('doubles the wait from the initial delay up to the cap, and keeps when the run of failures began', () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 1000 };
    let f: PublishFailure | undefined;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const now = 10_000 * (i + 1);
      f = recordFailure(f, { error: 'e', fingerprint: 'x', now }, policy);
      waits.push(f.nextAttemptAt - now);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(f).toMatchObject({ attempts: 7, since: 10_000 });
    expect(attemptDue(f, 'x', f!.nextAttemptAt - 1)).toBe(false);
    expect(attemptDue(f, 'x', f!.nextAttemptAt)).toBe(true);
    expect(attemptDue(f, 'y', 0)).toBe(true);
  });
});
