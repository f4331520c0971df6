import { describe, expect, it } from 'vitest';
import { humanAge, readJsonPath, tableOf, wantsTable } from './fake-kube-table.js';
import { BUILT_IN_RESOURCES, crdResourceTypes } from './fake-kube-resources.js';

describe('Tables for kubectl get', () => {
  it('recognises the Accept header kubectl sends', () => {
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe(true);
    expect(wantsTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io')).toBe(false);
    expect(wantsTable('application/json, */*')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
  });

  it('reads simple JSONPaths', () => {
    const o = { spec: { x: 3, list: [{ type: 'Ready' }] }, metadata: { labels: { 'app.kubernetes.io/name': 'web' } } };
    expect(readJsonPath(o, '.spec.x')).toBe(3);
    expect(readJsonPath(o, '{.spec.list[0].type}')).toBe('Ready');
    expect(readJsonPath(o, ".metadata.labels['app.kubernetes.io/name']")).toBe('web');
    expect(readJsonPath(o, '.status.phase')).toBeUndefined();
    expect(() => readJsonPath(o, 'spec.x')).toThrow(/must start with/);
    expect(() => readJsonPath(o, '.spec[*]')).toThrow(/unsupported JSONPath/);
  });

  it('shows ages as kubectl does', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    expect(humanAge('2026-01-09T23:59:15Z', now)).toBe('45s');
    expect(humanAge('2026-01-09T23:56:48Z', now)).toBe('3m12s');
    expect(humanAge('2026-01-09T19:00:00Z', now)).toBe('5h');
    expect(humanAge('2025-12-29T00:00:00Z', now)).toBe('12d');
    expect(humanAge(undefined, now)).toBe('<unknown>');
  });

  it('has NAME and AGE for built-in kinds, and a CRD\'s printer columns', () => {
    const pod = BUILT_IN_RESOURCES.find((t) => t.kind === 'Pod')!;
    const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', creationTimestamp: new Date().toISOString() } };
    const t = tableOf(pod, [object], { resourceVersion: '5' });
    expect((t.columnDefinitions as { name: string }[]).map((c) => c.name)).toEqual(['Name', 'Age']);
    expect(t.rows).toEqual([{ cells: ['p', expect.stringMatching(/^\d+s$/)], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata } }]);

    const [widget] = crdResourceTypes({
      spec: {
        group: 'example.com',
        scope: 'Cluster',
        names: { plural: 'widgets', kind: 'Widget' },
        versions: [{ name: 'v1', additionalPrinterColumns: [{ name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' }, { name: 'Ready', type: 'boolean', jsonPath: '.status.ready' }] }],
      },
    });
    const w = tableOf(widget!, [{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { replicas: 2 } }], { resourceVersion: '1', includeObject: 'None' });
    expect(w.rows).toEqual([{ cells: ['w', 2, null] }]);
  });
});
