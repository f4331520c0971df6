import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManifestIndex } from '@meshbus/manifests';
import { describe, expect, it } from 'vitest';
import { outboundKey, readinessKey, type PolicyResult } from './api.js';
import { failedOver, failoverWeights } from './failover.js';
import { computePolicies, createPolicyIndex } from './policy-index.js';
import { settings } from './testdata/builders.js';

const b = (weight: number, ready: boolean) => ({ weight, ready });

// Declared weights and readiness in, effective weights out.
const cases: { name: string; backends: { weight: number; ready: boolean }[]; primary: number; expected: number[] }[] = [
  { name: 'primary ready: declared weights', backends: [b(80, true), b(20, true)], primary: 0, expected: [80, 20] },
  { name: 'primary ready, secondary down: the secondary drops out', backends: [b(80, true), b(20, false)], primary: 0, expected: [80, 0] },
  { name: 'primary ready, secondary declared 0 and down: declared weights', backends: [b(100, true), b(0, false)], primary: 0, expected: [100, 0] },
  { name: 'primary down: secondary takes all', backends: [b(80, false), b(20, true)], primary: 0, expected: [0, 20] },
  { name: 'primary down, secondaries keep their ratio', backends: [b(50, false), b(30, true), b(10, true)], primary: 0, expected: [0, 30, 10] },
  { name: 'primary down, secondaries declared 0: the ready ones share', backends: [b(100, false), b(0, true), b(0, true)], primary: 0, expected: [0, 1, 1] },
  { name: 'primary down, secondaries declared 0, one down', backends: [b(100, false), b(0, true), b(0, false)], primary: 0, expected: [0, 1, 0] },
  { name: 'primary down, down secondaries drop out too', backends: [b(1, false), b(3, false), b(2, true)], primary: 0, expected: [0, 0, 2] },
  { name: 'all down: declared weights', backends: [b(80, false), b(20, false)], primary: 0, expected: [80, 20] },
  { name: 'all down, secondaries declared 0: declared weights', backends: [b(100, false), b(0, false)], primary: 0, expected: [100, 0] },
  { name: 'primary not first', backends: [b(10, true), b(90, false)], primary: 1, expected: [10, 0] },
  { name: 'primary declared 0 and ready, the other down: the primary takes all', backends: [b(0, true), b(5, false)], primary: 0, expected: [1, 0] },
  { name: 'primary alone and down: declared', backends: [b(1, false)], primary: 0, expected: [1] },
  { name: 'primary declared 0 and down: unchanged', backends: [b(0, false), b(5, true)], primary: 0, expected: [0, 5] },
  { name: 'no such primary: declared', backends: [b(1, false), b(1, true)], primary: 5, expected: [1, 1] },
];

describe('failoverWeights', () => {
  for (const c of cases) {
    it(c.name, () => {
      expect(failoverWeights(c.backends, c.primary)).toEqual(c.expected);
    });
  }

  it('reports a failover only when weights differ from the declared ones', () => {
    expect(failedOver([80, 20], [80, 20])).toBe(false);
    expect(failedOver([80, 20], [0, 20])).toBe(true);
    expect(failedOver([0, 5], [0, 5])).toBe(false);
  });
});

describe('failover in the policy index', () => {
  const root = fileURLToPath(new URL('./testdata/golden/failover/input.yaml', import.meta.url));
  const manifests = new ManifestIndex();
  manifests.apply({ file: 'input.yaml', text: readFileSync(root, 'utf8') });
  const resources = manifests.resources;
  const weights = (result: PolicyResult) =>
    result.outbound.get(outboundKey('shop', 'web', 80))!.routes.httpRoutes[0]!.rules[0]!.backends.map((b) => `${b.service?.name}=${b.weight}`);
  const ready = (...keys: string[]) => new Map(keys.map((k) => [k, true]));
  const web = readinessKey('shop', 'web', 80);
  const east = readinessKey('shop', 'web-east', 80);

  it('fails over when the primary has no ready endpoint, and back; only web:80 is computed again', () => {
    expect(manifests.problems).toEqual([]);
    const index = createPolicyIndex(settings);
    const steps: { readiness: ReadonlyMap<string, boolean> | undefined; expected: string[] }[] = [
      { readiness: ready(web, east), expected: ['web=90', 'web-east=10'] },
      { readiness: ready(east), expected: ['web=0', 'web-east=10'] },
      { readiness: ready(), expected: ['web=90', 'web-east=10'] },
      { readiness: ready(east), expected: ['web=0', 'web-east=10'] },
      { readiness: undefined, expected: ['web=90', 'web-east=10'] },
      { readiness: new Map([[web, false], [east, true]]), expected: ['web=0', 'web-east=10'] },
      { readiness: ready(web), expected: ['web=90', 'web-east=0'] },
    ];
    index.update({ resources, registered: [] });
    for (const step of steps) {
      const before = weights(index.result).join(',');
      const changes = index.update({ resources, registered: [], readiness: step.readiness });
      expect(weights(index.result)).toEqual(step.expected);
      expect(index.result.outbound).toEqual(computePolicies(settings, { resources, registered: [], readiness: step.readiness }).outbound);
      const expectedChanges = before === step.expected.join(',') ? [] : [outboundKey('shop', 'web', 80)];
      expect([...changes.outbound]).toEqual(expectedChanges);
    }
  });

  it('rejects a failover annotation that names no backendRef, naming the annotation', () => {
    const result = computePolicies(settings, { resources, registered: [] });
    const rejected = result.rejected.find((r) => r.name === 'api-bad-primary');
    expect(rejected?.reason).toContain('failover.meshbus.io/primary-service');
    expect(result.rejected.map((r) => r.name)).toEqual(['api-bad-primary']);
  });
});
