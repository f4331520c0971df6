import { computePolicies, createPolicyIndex, inboundKey } from '@meshbus/policy';
import { describe, expect, it } from 'vitest';
import { policyChangeKinds, PolicyChanger } from './policy-changes.js';
import { indexOfResource, policyBenchSettings, policyBenchSize, policyDataSet, replaced, watchedWorkloads, type PolicyDataSetSize } from './policy-dataset.js';

const small: PolicyDataSetSize = { namespaces: 4, services: 20, workloadsPerService: 3, httpRoutes: 40, authorizationPolicies: 30 };

const keyOf = (r: { namespace?: string; name: string }) => `${r.namespace ?? ''}/${r.name}`;

describe('policyDataSet', () => {
  it('has the sizes of issue 7 by default', () => {
    const { resources } = policyDataSet().inputs;
    expect(policyBenchSize).toEqual({ namespaces: 50, services: 1000, workloadsPerService: 5, httpRoutes: 2000, authorizationPolicies: 1000 });
    expect(resources.servers).toHaveLength(1000);
    expect(resources.authorizationPolicies).toHaveLength(1000);
    expect(resources.httpRoutes).toHaveLength(2000);
    expect(resources.workloads).toHaveLength(5000);
    expect(resources.services).toHaveLength(1000);
    expect(resources.meshTLSAuthentications).toHaveLength(1000);
    expect(resources.networkAuthentications).toHaveLength(50);
    expect(resources.namespaces).toHaveLength(50);
  });

  it('makes the counts it is asked for, with inbound and outbound routes and grants on Servers, routes and Namespaces', () => {
    const data = policyDataSet(small);
    const r = data.inputs.resources;
    expect(r.workloads).toHaveLength(60);
    expect(r.httpRoutes).toHaveLength(40);
    expect(r.authorizationPolicies).toHaveLength(30);
    expect(r.httpRoutes.filter((x) => x.parentRefs[0]!.kind === 'Server')).toHaveLength(data.inboundRoutes.length);
    expect(data.inboundRoutes).toHaveLength(30);
    expect(r.httpRoutes.filter((x) => x.parentRefs[0]!.kind === 'Service')).toHaveLength(10);
    const targets = r.authorizationPolicies.map((a) => a.targetRef.kind);
    expect(targets.filter((k) => k === 'Namespace')).toHaveLength(4);
    expect(targets.filter((k) => k === 'HTTPRoute').length).toBeGreaterThan(0);
    expect(targets.filter((k) => k === 'Server')).toHaveLength(data.serverAuthorizations.length);
  });

  it('gives the same resources on every call', () => {
    expect(policyDataSet(small)).toEqual(policyDataSet(small));
  });

  it('lists every kind sorted by namespace and name, without duplicates', () => {
    const r = policyDataSet(small).inputs.resources;
    for (const list of [r.namespaces, r.services, r.workloads, r.servers, r.authorizationPolicies, r.httpRoutes, r.meshTLSAuthentications, r.networkAuthentications]) {
      const keys = list.map(keyOf);
      expect(keys).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it('is valid: the policy index rejects nothing, and every workload gets its Server with routes and grants', () => {
    const data = policyDataSet(small);
    const result = computePolicies(policyBenchSettings, data.inputs);
    expect(result.rejected).toEqual([]);
    expect(result.inbound.size).toBe(60);
    expect(result.outbound.size).toBe(20);
    const policy = result.inbound.get(inboundKey('ns-01', 'svc-0001-0'))!;
    const port = JSON.stringify(policy.ports.find((p) => p.port === 8080));
    expect(port).toContain('svc-0001-http');
    expect(port).toContain('/api/v1');
    expect(port).toContain('svc-0005.ns-01.serviceaccount.identity.meshbus.cluster.local');
  });

  it('refuses sizes it cannot lay out', () => {
    expect(() => policyDataSet({ ...small, httpRoutes: 61 })).toThrow(/httpRoutes \(61\) must be at most 3 per service \(60\)/);
    expect(() => policyDataSet({ ...small, services: 2 })).toThrow(/services \(2\) must be at least namespaces \(4\)/);
    expect(() => policyDataSet({ ...small, workloadsPerService: 0 })).toThrow(/workloadsPerService must be a whole number of at least 1/);
    expect(() => policyDataSet({ ...small, authorizationPolicies: 1.5 })).toThrow(/authorizationPolicies must be a whole number/);
  });
});

describe('indexOfResource and replaced', () => {
  it('finds a resource by namespace and name, and replaces it in a copy', () => {
    const list = policyDataSet(small).inputs.resources.servers;
    const at = indexOfResource(list, 'ns-02', 'svc-0006-http');
    expect(keyOf(list[at]!)).toBe('ns-02/svc-0006-http');
    expect(() => indexOfResource(list, 'ns-02', 'svc-0007-http')).toThrow(/no resource ns-02\/svc-0007-http/);
    const copy = replaced(list, at, list[0]!);
    expect(copy[at]).toBe(list[0]);
    expect(list[at]!.name).toBe('svc-0006-http');
  });
});

describe('watchedWorkloads', () => {
  it('takes every workload of the first services, in order', () => {
    const data = policyDataSet(small);
    expect(watchedWorkloads(data, 7)).toEqual({
      keys: ['ns-00/svc-0000-0', 'ns-00/svc-0000-1', 'ns-00/svc-0000-2', 'ns-01/svc-0001-0', 'ns-01/svc-0001-1', 'ns-01/svc-0001-2', 'ns-02/svc-0002-0'],
      services: [0, 1, 2],
    });
    const all = watchedWorkloads(data, 60);
    expect(all.keys.sort()).toEqual(data.inputs.resources.workloads.map(keyOf).sort());
  });

  it('gives 1,000 streams on the first 200 services of the default data set', () => {
    const { keys, services } = watchedWorkloads(policyDataSet(), 1000);
    expect(new Set(keys).size).toBe(1000);
    expect(services).toHaveLength(200);
  });

  it('refuses more streams than the data set has workloads', () => {
    expect(() => watchedWorkloads(policyDataSet(small), 61)).toThrow(/61 streams need 21 services of 3 workloads; the data set has 20/);
  });
});

describe('PolicyChanger', () => {
  it.each(policyChangeKinds)('a %s change updates exactly the workloads it names, as a full recompute would', (kind) => {
    const data = policyDataSet(small);
    const index = createPolicyIndex(policyBenchSettings);
    index.update(data.inputs);
    const changer = new PolicyChanger(data);
    for (let round = 0; round < 6; round++) {
      const change = changer.next(kind, round);
      expect(change.affected.length).toBeGreaterThan(0);
      const changes = index.update(change.inputs);
      expect([...changes.inbound].sort()).toEqual([...change.affected].sort());
    }
    expect(index.result.inbound).toEqual(computePolicies(policyBenchSettings, changer.inputs).inbound);
  });

  it('keeps every unchanged resource list as the same array', () => {
    const data = policyDataSet(small);
    const change = new PolicyChanger(data).next('server', 0);
    expect(change.inputs.resources.servers).not.toBe(data.inputs.resources.servers);
    expect(change.inputs.resources.workloads).toBe(data.inputs.resources.workloads);
    expect(change.inputs.resources.httpRoutes).toBe(data.inputs.resources.httpRoutes);
  });

  it('changes only the services it is given', () => {
    const data = policyDataSet(small);
    const changer = new PolicyChanger(data, [1, 2]);
    for (const kind of policyChangeKinds) {
      for (let round = 0; round < 4; round++) {
        for (const key of changer.next(kind, round).affected) expect(key).toMatch(/^ns-0[12]\/svc-000[12]-\d$/);
      }
    }
  });
});
