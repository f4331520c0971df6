import { subjects } from '@meshbus/bus-schemas';
import { describe, expect, it } from 'vitest';
import { recordFailure } from './publish-retries.js';
import { planStatePublications, type StateKindNames, type StatePlanInput } from './state-plan.js';

type Value = Record<string, unknown>;

const web = subjects.endpoints('shop', 'web', 80);
const api = subjects.endpoints('shop', 'api', 80);
const defaults = subjects.policyDefaults;
const endpoints: StateKindNames = { snapshot: 'endpointSet', deleted: 'endpointSetDeleted', reason: 'service removed' };
const kept: StateKindNames = { snapshot: 'policyDefaults', deleted: undefined, reason: '' };
const kindOf = (subject: string) => (subject === defaults ? kept : subject.startsWith('meshbus.v1.state.endpoints.') ? endpoints : undefined);
const lookup = (entries: Record<string, Value>) => ({ get: (s: string) => entries[s] });

const plan = (input: Partial<StatePlanInput<Value>>) => planStatePublications<Value>({ desired: lookup({}), bus: lookup({}), keys: [], kindOf, failures: new Map(), now: 1000, ...input });

describe('planStatePublications', () => {
  it('writes only the keys whose desired value differs from the bus, in subject order, looking only at the keys given', () => {
    const p = plan({
      desired: lookup({ [web]: { v: 2 }, [api]: { v: 1 }, [subjects.endpoints('shop', 'other', 80)]: { v: 1 } }),
      bus: lookup({ [web]: { v: 1 }, [api]: { v: 1 } }),
      keys: [web, api, web],
    });
    expect(p.publications).toEqual([{ type: 'upsert', subject: web, key: 'shop/web/80', kind: 'endpointSet', data: { v: 2 }, fingerprint: '{"v":2}' }]);
    expect(p).toMatchObject({ postponed: [], retryAt: undefined, settled: [] });
  });

  it('compares values, not objects or key order', () => {
    expect(plan({ desired: lookup({ [web]: { a: 1, b: [1, 2] } }), bus: lookup({ [web]: { b: [1, 2], a: 1 } }), keys: [web] }).publications).toEqual([]);
  });

  it('writes a tombstone for a key the bus holds and nothing desires, and none for a key already gone', () => {
    const p = plan({ bus: lookup({ [web]: { v: 1 } }), keys: [web, api] });
    expect(p.publications).toEqual([{ type: 'tombstone', subject: web, key: 'shop/web/80', kind: 'endpointSetDeleted', reason: 'service removed', fingerprint: 'tombstone' }]);
  });

  it('never deletes a kind without tombstones, and leaves subjects of other writers alone', () => {
    expect(plan({ bus: lookup({ [defaults]: {} }), keys: [defaults, subjects.inboundPolicy('shop', 'web')] }).publications).toEqual([]);
    expect(plan({ desired: lookup({ [defaults]: { v: 1 } }), keys: [defaults] }).publications).toMatchObject([{ type: 'upsert', kind: 'policyDefaults', subject: defaults }]);
  });

  it('writes a key fenced on the bus (a value no desired state equals) again', () => {
    const fenced = {};
    expect(plan({ desired: lookup({ [web]: { v: 1 } }), bus: lookup({ [web]: fenced }), keys: [web] }).publications).toMatchObject([{ type: 'upsert', subject: web }]);
    expect(plan({ bus: lookup({ [web]: fenced }), keys: [web] }).publications).toMatchObject([{ type: 'tombstone', subject: web }]);
  });

  it('postpones a failing key until its backoff is over while the others go out, tries a new value at once, and settles a key no longer needed', () => {
    const desired = lookup({ [web]: { v: 1 }, [api]: { v: 1 } });
    const failures = new Map([[web, recordFailure(undefined, { error: 'boom', fingerprint: '{"v":1}', now: 1000 })]]);
    const waiting = plan({ desired, keys: [web, api], failures, now: 1100 });
    expect(waiting).toMatchObject({ publications: [{ subject: api }], postponed: [web], retryAt: 1250, settled: [] });
    expect(plan({ desired, keys: [web], failures, now: 1250 }).publications).toMatchObject([{ subject: web }]);
    expect(plan({ desired: lookup({ [web]: { v: 2 } }), keys: [web], failures, now: 1100 }).publications).toMatchObject([{ subject: web, data: { v: 2 } }]);
    expect(plan({ desired, bus: desired, keys: [web], failures, now: 1100 })).toMatchObject({ publications: [], settled: [web] });
  });
});
