import { subjects, type FailoverChanged, type InboundPolicy, type PolicyRejected } from '@meshbus/bus-schemas';
import { describe, expect, it } from 'vitest';
import type { PolicyStateData } from './policy-state.js';
import { failoverFingerprint, newRejections, planPublications, type FailoverPublication, type PublishPlanInput } from './publish-plan.js';
import { recordFailure } from '@meshbus/bus';

const inbound = (workload: string, port = 8080): InboundPolicy => ({
  namespace: 'shop',
  workload,
  defaultPolicy: 'deny',
  ports: [{ port, server: { metadata: { default: 'deny' }, protocol: 'detect', labels: {}, authorizations: [] } }],
  defaultServer: { metadata: { default: 'deny' }, protocol: 'detect', labels: {}, authorizations: [] },
});
const lookup = (entries: Record<string, PolicyStateData>) => ({ get: (s: string) => entries[s] });
const web = subjects.inboundPolicy('shop', 'web');
const api = subjects.inboundPolicy('shop', 'api');
const status = subjects.policyStatus('shop', 'Server', 'web-http');

const plan = (input: Partial<PublishPlanInput>) =>
  planPublications({ desired: lookup({}), bus: lookup({}), keys: [], rejections: [], failures: new Map(), now: 1000, ...input });

describe('planPublications', () => {
  it('publishes only the keys whose desired value differs from the bus, in subject order', () => {
    const p = plan({
      desired: lookup({ [web]: inbound('web'), [api]: inbound('api', 9090) }),
      bus: lookup({ [web]: inbound('web'), [api]: inbound('api', 8080) }),
      keys: [web, api],
    });
    expect(p.publications).toEqual([{ type: 'upsert', subject: api, key: 'shop/api', kind: 'inboundPolicy', data: inbound('api', 9090), fingerprint: expect.any(String) }]);
  });

  it('writes a tombstone of the kind of the subject, never deletes the defaults, and leaves subjects of other writers alone', () => {
    const p = plan({ bus: lookup({ [status]: { kind: 'Server', namespace: 'shop', name: 'web-http', file: 'a.yaml', accepted: true, conditions: [] } }), keys: [status, api] });
    expect(p.publications).toEqual([{ type: 'tombstone', subject: status, key: 'shop/Server/web-http', kind: 'policyStatusDeleted', reason: 'resource removed', fingerprint: 'tombstone' }]);
    const out = subjects.outboundPolicy('shop', 'web', 80);
    expect(plan({ bus: lookup({ [out]: {} as PolicyStateData }), keys: [out] }).publications[0]).toMatchObject({ kind: 'outboundPolicyDeleted', key: 'shop/web/80' });
    expect(plan({ bus: lookup({ [subjects.policyDefaults]: {} as PolicyStateData }), keys: [subjects.policyDefaults, subjects.endpoints('shop', 'web', 80)] }).publications).toEqual([]);
  });

  it('postpones a failing key until its backoff is over', () => {
    const desired = lookup({ [web]: inbound('web') });
    const fingerprint = (plan({ desired, keys: [web] }).publications[0] as { fingerprint: string }).fingerprint;
    const failures = new Map([[web, recordFailure(undefined, { error: 'boom', fingerprint, now: 1000 })]]);
    expect(plan({ desired, keys: [web], failures, now: 1100 })).toMatchObject({ publications: [], postponed: [web], retryAt: 1250 });
  });

  it('puts rejections first', () => {
    const r: PolicyRejected = { file: 'a.yaml', kind: 'Server', namespace: 'shop', name: 'x', reason: 'bad' };
    expect(plan({ desired: lookup({ [web]: inbound('web') }), keys: [web], rejections: [r] }).publications.map((p) => p.type)).toEqual(['rejected', 'upsert']);
  });
});

describe('planPublications: failover changes', () => {
  const change = (route: string, failedOver: boolean): FailoverPublication => ({
    type: 'failover',
    subject: subjects.policyFailoverChanged('shop', route),
    change: { namespace: 'shop', kind: 'HTTPRoute', route, rule: 1, serviceNamespace: 'shop', service: 'web', port: 80, primary: 'web', failedOver, backends: [] } satisfies FailoverChanged,
  });
  const split = change('web-split', true);
  const back = change('web-split', false);
  const other = change('api-split', true);

  it('publishes the waiting changes after the rejections and before the state, oldest first', () => {
    const r: PolicyRejected = { file: 'a.yaml', kind: 'Server', namespace: 'shop', name: 'x', reason: 'bad' };
    const p = plan({ desired: lookup({ [web]: inbound('web') }), keys: [web], rejections: [r], failovers: [split, back, other] });
    expect(p.publications.map((x) => x.type)).toEqual(['rejected', 'failover', 'failover', 'failover', 'upsert']);
    expect(p.publications.slice(1, 4)).toEqual([split, back, other]);
  });

  it('holds back the changes of a route that waits out its backoff, with the time to try again; other routes go on', () => {
    const failures = new Map([[split.subject, recordFailure(recordFailure(undefined, { error: 'no stream', fingerprint: failoverFingerprint, now: 1000 }), { error: 'no stream', fingerprint: failoverFingerprint, now: 1250 })]]);
    expect(plan({ failovers: [split, back, other], failures, now: 1300 })).toMatchObject({ publications: [other], retryAt: 1750 });
    expect(plan({ failovers: [split, back, other], failures, now: 1750 }).publications).toEqual([split, back, other]);
  });

  it('settles the failure of a route with nothing left to announce, and of no other subject', () => {
    const failed = recordFailure(undefined, { error: 'no stream', fingerprint: failoverFingerprint, now: 1000 });
    const failures = new Map([[split.subject, failed], [web, failed]]);
    expect(plan({ failovers: [other], failures, now: 1100 }).settled).toEqual([split.subject]);
    expect(plan({ failovers: [back], failures, now: 1100 }).settled).toEqual([]);
  });
});

describe('newRejections', () => {
  const r = (name: string, reason = 'bad'): PolicyRejected => ({ file: 'a.yaml', kind: 'Server', namespace: 'shop', name, reason });

  it('announces each distinct rejection once, again when its reason changes or after it went away', () => {
    const one = newRejections(new Set(), [r('a'), r('a')]);
    expect(one.fresh).toEqual([r('a')]);
    const same = newRejections(one.known, [r('a')]);
    expect(same.fresh).toEqual([]);
    const other = newRejections(same.known, [r('a', 'worse'), r('b')]);
    expect(other.fresh).toEqual([r('a', 'worse'), r('b')]);
    const gone = newRejections(other.known, []);
    expect(newRejections(gone.known, [r('b')]).fresh).toEqual([r('b')]);
  });
});
