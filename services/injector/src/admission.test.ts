import { describe, expect, it } from 'vitest';
import { reviewAdmission } from './admission.js';
import { testConfig } from './testdata/config.js';

const namespaces = { get: async (name: string) => ({ name, annotations: { 'meshbus.io/inject': 'enabled' } }) };
const review = (request: Record<string, unknown>) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const pod = { metadata: { generateName: 'web-', ownerReferences: [{ kind: 'Deployment', name: 'x' }, { kind: 'ReplicaSet', name: 'web-1', controller: true }] }, spec: { containers: [{ name: 'web', image: 'w:1' }] } };

describe('reviewAdmission', () => {
  it('writes the injected answer as the JSON of its body, and says which pod and request it was about', async () => {
    const answer = await reviewAdmission(review({ uid: 'u-"1"', kind: { kind: 'Pod', group: '' }, operation: 'CREATE', namespace: 'shop', dryRun: true, object: pod }), namespaces, testConfig);
    expect(answer.result?.kind).toBe('injected');
    expect(JSON.parse(answer.text!)).toEqual(answer.body);
    expect(answer.pod).toEqual({ namespace: 'shop', name: 'web-*', generateName: 'web-', owner: { kind: 'ReplicaSet', name: 'web-1' } });
    expect(answer.request).toEqual({ uid: 'u-"1"', dryRun: true });
  });

  it('gives no decision for what is not a pod creation', async () => {
    const update = await reviewAdmission(review({ uid: 'u', kind: { kind: 'Pod', group: '' }, operation: 'UPDATE', object: pod }), namespaces, testConfig);
    expect(update).toEqual({ status: 200, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } } });
  });
});
