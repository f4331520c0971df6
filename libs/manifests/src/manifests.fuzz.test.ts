import { stringify } from 'yaml';
import { fc } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { decodeDocument } from './decode.js';
import { ManifestIndex, defaultWorkloadWeight, opaquePortsAnnotation, type ManifestProblem, type MeshResources } from './index.js';

const file = 'shop/web.yaml';
const dns1123 = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const dns1035 = fc.stringMatching(/^[a-z]([-a-z0-9]{0,20}[a-z0-9])?$/);
const portName = fc.stringMatching(/^[a-z0-9]{0,6}[a-z][a-z0-9]{0,6}$/);
const port = fc.integer({ min: 1, max: 65535 });
const stringMap = fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), { maxKeys: 3 });
const annotations = stringMap.map((map) => Object.fromEntries(Object.entries(map).filter(([key]) => key !== opaquePortsAnnotation)));

/** Any value, and values of the wrong type for the fields of the kinds. */
const junk = fc.oneof(fc.anything({ maxDepth: 2 }), fc.constantFrom(null, '', -1, 0, 65536, 1.5, 'TCP', 'UDP', '10.0.0.1', true, [], {}, '__proto__'));
/** `value`, or (now and then) junk in its place or nothing. */
const maybe = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: value, weight: 6 }, { arbitrary: junk, weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
const withoutUndefined = (value: Record<string, unknown>): Record<string, unknown> => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

const shapedMetadata = fc.record({ name: maybe(dns1035), namespace: maybe(dns1123), labels: maybe(stringMap), annotations: maybe(fc.oneof(annotations, fc.record({ [opaquePortsAnnotation]: fc.oneof(fc.string(), fc.constantFrom('80', '1-100', '8080,9000-9100', '0', '70000', '5-1')) }))) });
const shapedServicePort = fc.record({ name: maybe(portName), port: maybe(port), targetPort: maybe(fc.oneof(port, portName)), protocol: maybe(fc.constantFrom('TCP', 'UDP', 'SCTP')), appProtocol: maybe(fc.string()) });
const shapedWorkloadPort = fc.record({ name: maybe(portName), port: maybe(port) });
const shapedRoute = fc.record({ name: maybe(fc.string()), condition: maybe(fc.record({ method: maybe(fc.constantFrom('GET', 'POST')), pathRegex: maybe(fc.constantFrom('/api/.*', '(', '[a-', '.*')) })), isRetryable: maybe(fc.boolean()), timeout: maybe(fc.constantFrom('1s', '100ms', 'x', '5', '-1s')) });

/** Documents shaped like the kinds meshbus reads, with fields missing, mistyped or out of range. */
const shapedDocument = fc.oneof(
  fc.record({ apiVersion: maybe(fc.constant('v1')), kind: maybe(fc.constant('Namespace')), metadata: maybe(shapedMetadata) }),
  fc.record({ apiVersion: maybe(fc.constant('v1')), kind: maybe(fc.constant('ServiceAccount')), metadata: maybe(shapedMetadata) }),
  fc.record({ apiVersion: maybe(fc.constant('v1')), kind: maybe(fc.constant('Service')), metadata: maybe(shapedMetadata), spec: maybe(fc.record({ selector: maybe(stringMap), ports: maybe(fc.array(maybe(shapedServicePort), { maxLength: 3 })) })) }),
  fc.record({
    apiVersion: maybe(fc.constant('meshbus.io/v1alpha1')),
    kind: maybe(fc.constant('Workload')),
    metadata: maybe(shapedMetadata),
    spec: maybe(fc.record({ address: maybe(fc.oneof(fc.ipV4(), fc.ipV6())), ports: maybe(fc.array(maybe(shapedWorkloadPort), { maxLength: 3 })), serviceAccount: maybe(dns1123), ready: maybe(fc.boolean()), meshed: maybe(fc.boolean()), zone: maybe(fc.string()), weight: maybe(fc.nat()) })),
  }),
  fc.record({
    apiVersion: maybe(fc.constantFrom('linkerd.io/v1alpha2', 'linkerd.io/v1alpha1')),
    kind: maybe(fc.constant('ServiceProfile')),
    metadata: maybe(shapedMetadata.map((m) => ({ ...m, name: 'web.shop.svc.cluster.local' }))),
    spec: maybe(fc.record({ routes: maybe(fc.array(maybe(shapedRoute), { maxLength: 2 })), retryBudget: maybe(fc.record({ retryRatio: maybe(fc.double()), minRetriesPerSecond: maybe(fc.nat()), ttl: maybe(fc.constantFrom('10s', 'x')) })), opaquePorts: maybe(fc.array(port, { maxLength: 2 })) })),
  }),
  fc.record({ apiVersion: fc.string({ maxLength: 12 }), kind: fc.string({ maxLength: 12 }), metadata: maybe(shapedMetadata) }),
).map(withoutUndefined);

/** Checks what the index holds after reading any file: problems name the file and say why. */
function checkProblems(problems: readonly ManifestProblem[]): void {
  for (const problem of problems) {
    expect(problem.file).toBe(file);
    expect(problem.reason).toMatch(/\S/);
    for (const field of ['kind', 'namespace', 'name'] as const) if (field in problem) expect(typeof problem[field]).toBe('string');
  }
}

const charEdit = fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 }));
const yamlText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...'abc:-[]{}&*!|>\'"%@`#,? \n\t0123'.split('')), maxLength: 200 }),
  fc.array(shapedDocument, { minLength: 1, maxLength: 3 }).map((documents) => documents.map((d) => stringify(d)).join('---\n')),
  fc.tuple(fc.array(shapedDocument, { minLength: 1, maxLength: 2 }), fc.array(charEdit, { minLength: 1, maxLength: 3 })).map(([documents, edits]) =>
    edits.reduce((text, [at, remove, insert]) => text.slice(0, at % (text.length + 1)) + insert + text.slice((at % (text.length + 1)) + remove), documents.map((d) => stringify(d)).join('---\n')),
  ),
);

describe('decodeDocument', () => {
  fuzzProperty('decodes or refuses any document shaped like a kind, naming what it can', [fc.oneof(shapedDocument, fc.anything())], (value) => {
    const decoded = decodeDocument(value);
    if (decoded.ok) return;
    expect(decoded.reason).toMatch(/\S/);
    const document = value as { kind?: unknown; metadata?: { name?: unknown } } | null;
    if (typeof document?.kind === 'string') expect(decoded.ref.kind).toBe(document.kind);
    const name = document?.metadata?.name;
    if (decoded.key !== undefined && typeof name === 'string') expect(decoded.ref.name).toBe(name);
  }, { runs: 200, maxRuns: 20_000 });
});

describe('ManifestIndex', () => {
  fuzzProperty('reads any text: problems name the file and give a reason, and a good file read earlier stays in force', [yamlText], (text) => {
    const index = new ManifestIndex();
    index.apply({ file, text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n' });
    index.apply({ file, text });
    checkProblems(index.problems);
    if (!index.resources.namespaces.some((n) => n.name === 'shop')) {
      // The namespace may go only when every document of the new text was identified as another resource.
      for (const problem of index.problems) {
        expect(problem.name, `${problem.reason}, yet the namespace read earlier was dropped`).toBeDefined();
        expect(problem.kind === 'Namespace' && problem.name === 'shop').toBe(false);
      }
    }
  }, { runs: 100, maxRuns: 5_000 });

  const workloadPorts = fc.uniqueArray(fc.record({ name: fc.option(portName, { nil: undefined }), port }), { maxLength: 3, selector: (p) => p.port }).filter((ports) => {
    const names = ports.flatMap((p) => (p.name === undefined ? [] : [p.name]));
    return new Set(names).size === names.length;
  });
  const servicePorts = fc.uniqueArray(fc.record({ port, protocol: fc.constantFrom('TCP', 'UDP'), targetPort: fc.option(fc.oneof(port, portName), { nil: undefined }), appProtocol: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }) }), { maxLength: 3, selector: (p) => p.port });

  const validResource = fc.oneof(
    fc.record({ name: dns1123, labels: stringMap, annotations }).map((m) => ({
      document: { apiVersion: 'v1', kind: 'Namespace', metadata: m },
      collection: 'namespaces' as const,
      expected: { kind: 'Namespace', ...m },
    })),
    fc.record({ name: dns1123, namespace: dns1123, labels: stringMap, annotations }).map((m) => ({
      document: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: m },
      collection: 'serviceAccounts' as const,
      expected: { kind: 'ServiceAccount', ...m },
    })),
    fc.tuple(fc.record({ name: dns1035, namespace: dns1123, labels: stringMap, annotations }), fc.option(stringMap, { nil: undefined }), servicePorts).map(([m, selector, ports]) => {
      const named = ports.map((p, i) => withoutUndefined({ name: `p${i}`, ...p }));
      return {
        document: { apiVersion: 'v1', kind: 'Service', metadata: m, spec: withoutUndefined({ selector, ports: named }) },
        collection: 'services' as const,
        expected: withoutUndefined({
          kind: 'Service',
          ...m,
          ...(selector !== undefined && Object.keys(selector).length > 0 ? { selector } : {}),
          ports: named.filter((p) => p.protocol === 'TCP').map(({ protocol: _protocol, ...p }) => ({ ...p, targetPort: p.targetPort ?? p.port })),
          opaquePorts: [],
        }),
      };
    }),
    fc.record({ metadata: fc.record({ name: dns1123, namespace: dns1123, labels: stringMap, annotations }), address: fc.oneof(fc.ipV4(), fc.ipV6()), ports: workloadPorts, serviceAccount: fc.option(dns1123, { nil: undefined }), ready: fc.option(fc.boolean(), { nil: undefined }), meshed: fc.option(fc.boolean(), { nil: undefined }), zone: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: undefined }), weight: fc.option(fc.nat(), { nil: undefined }) }).map(({ metadata, ...spec }) => ({
      document: withoutUndefined({ apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata, spec }),
      collection: 'workloads' as const,
      expected: withoutUndefined({ kind: 'Workload', ...metadata, ...spec, ports: spec.ports.map((p) => withoutUndefined(p)), serviceAccount: spec.serviceAccount ?? 'default', ready: spec.ready ?? true, meshed: spec.meshed ?? true, weight: spec.weight ?? defaultWorkloadWeight, opaquePorts: [] }),
    })),
  );

  fuzzProperty('reads valid resources written as YAML into the expected resources', [validResource], ({ document, collection, expected }) => {
    const index = new ManifestIndex();
    index.apply({ file, text: stringify(document) });
    expect(index.problems).toEqual([]);
    const resources: MeshResources = index.resources;
    expect(resources[collection]).toEqual([expected]);
  }, { runs: 100, maxRuns: 10_000 });
});
