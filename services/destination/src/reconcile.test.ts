import type { EndpointSet, WorkloadRegistration } from '@meshbus/bus-schemas';
import { describe, expect, it } from 'vitest';
import { recordFailure, type PublishFailure } from '@meshbus/bus';
import { expiryFingerprint, planReconcile, type ReconcileInput, type StateData } from './reconcile.js';

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

  it('an expiry whose publication failed waits for its backoff while the state is published', () => {
    const now = 1_000_000;
    const registration: WorkloadRegistration = { namespace: 'shop', name: 'vm-1', address: '10.0.0.9', ports: [{ port: 80 }], heartbeatIntervalMs: 1000 };
    const expired = [{ subject: 'meshbus.v1.state.workloads.shop.vm-1', registration, lastSeen: 0 }];
    const failure: PublishFailure = recordFailure(undefined, { error: 'timeout', fingerprint: expiryFingerprint, now: now - 100 });
    const failures = new Map([['meshbus.v1.state.workloads.shop.vm-1', failure]]);
    const desired = new Map<string, StateData>([[subject('good'), ep('good', ['10.0.0.2'])]]);

    const waiting = planReconcile(input({ desired, expired, failures, now }));
    expect(waiting.publications.map((p) => p.type)).toEqual(['upsert']);
    expect(waiting).toMatchObject({ postponed: ['meshbus.v1.state.workloads.shop.vm-1'], retryAt: now + 150 });

    const due = planReconcile(input({ desired, expired, failures, now: now + 150 }));
    expect(due.publications.map((p) => p.type)).toEqual(['expiry', 'upsert']);
  });
});
