import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '@meshbus/manifests';
import { Ajv, type ValidateFunction } from 'ajv';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { crdSchema, customResourceDefinitions, type CustomResourceKind } from './crds.js';
import { crdName, customResources } from './layout.js';
import { StructuralSchemaError, structuralSchema } from './structural-schema.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const crdKinds = new Set<string>(customResources.map((r) => r.kind));

/** An OpenAPI validator that knows the Kubernetes extensions the CRD schemas use. */
function kubernetesAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: (on: boolean, value: unknown) => !on || typeof value === 'string' || Number.isInteger(value),
    errors: false,
  });
  for (const keyword of ['x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys']) ajv.addKeyword({ keyword });
  ajv.addFormat('date-time', true);
  ajv.addFormat('int64', true);
  return ajv;
}

const ajv = kubernetesAjv();
const validators = new Map<string, ValidateFunction>();
function crdValidator(kind: string): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    validate = ajv.compile(crdSchema(kind as CustomResourceKind));
    validators.set(kind, validate);
  }
  return validate;
}

function documentsOf(path: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.yaml'))
    .map((e) => `${e.parentPath}/${e.name}`)
    .sort();
}

/** Whether the local manifest parser accepts one document. */
function locallyValid(document: unknown): { ok: boolean; reason?: string } {
  const parsed = parseManifest(JSON.stringify(document));
  if ('yamlError' in parsed) throw new Error(parsed.yamlError);
  const [decoded] = parsed.documents;
  if (!decoded) throw new Error('no document');
  return decoded.ok ? { ok: true } : { ok: false, reason: decoded.reason };
}

/** Every walked node with a type, or the int-or-string or preserve-unknown escape, as Kubernetes requires. */
function untypedNodes(schema: Record<string, unknown>, path = ''): string[] {
  const found: string[] = [];
  if (schema.type === undefined && schema['x-kubernetes-int-or-string'] !== true && schema['x-kubernetes-preserve-unknown-fields'] !== true) found.push(path || '(root)');
  for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) found.push(...untypedNodes(child, `${path}.${key}`));
  if (schema.items) found.push(...untypedNodes(schema.items as Record<string, unknown>, `${path}[]`));
  if (typeof schema.additionalProperties === 'object') found.push(...untypedNodes(schema.additionalProperties as Record<string, unknown>, `${path}.*`));
  return found;
}

function keywordsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) keywordsIn(v, found);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      found.add(key);
      keywordsIn(child, found);
    }
  }
  return found;
}

describe('CustomResourceDefinitions', () => {
  const crds = customResourceDefinitions();

  it('defines every kind of the layout, namespaced, served and stored, with printer columns and short names', () => {
    expect(crds.map((c) => c.metadata.name)).toEqual(customResources.map(crdName));
    for (const crd of crds) {
      const spec = crd.spec as { scope: string; names: { shortNames: string[]; categories: string[] }; versions: { served: boolean; storage: boolean; additionalPrinterColumns: { name: string }[] }[] };
      expect(spec.scope).toBe('Namespaced');
      expect(spec.names.shortNames.length).toBeGreaterThan(0);
      expect(spec.names.categories).toEqual(['meshbus']);
      expect(spec.versions).toHaveLength(1);
      expect(spec.versions[0]).toMatchObject({ served: true, storage: true });
      expect(spec.versions[0]?.additionalPrinterColumns.map((c) => c.name)).toContain('Age');
    }
  });

  it('gives the columns the issue asks for', () => {
    const columns = (kind: string) =>
      (crds.find((c) => (c.spec as { names: { kind: string } }).names.kind === kind)?.spec as { versions: { additionalPrinterColumns: { name: string }[] }[] }).versions[0]?.additionalPrinterColumns.map((c) => c.name);
    expect(columns('Server')).toEqual(['Port', 'Protocol', 'Access', 'Age']);
    expect(columns('AuthorizationPolicy')).toContain('Target');
    expect(columns('ServiceProfile')).toContain('Routes');
    expect(columns('Workload')).toEqual(expect.arrayContaining(['Address', 'Ready']));
  });

  it.each(crds.map((c) => [c.metadata.name, c] as const))('%s validates against the Kubernetes CRD schema', (_name, crd) => {
    expect(() => new CustomResourceDefinition(crd as never).validate()).not.toThrow();
  });

  it.each([...crdKinds])('%s is a structural schema: typed everywhere, no references, unions or const', (kind) => {
    const schema = crdSchema(kind as CustomResourceKind);
    expect(untypedNodes(schema)).toEqual([]);
    const keywords = keywordsIn(schema);
    for (const forbidden of ['$ref', '$defs', 'const', 'oneOf', 'anyOf']) expect(keywords.has(forbidden), forbidden).toBe(false);
    const metadata = (schema.properties as Record<string, unknown>).metadata;
    expect(metadata).toEqual({ type: 'object' });
  });

  it('maps int-or-string ports, maps, unknown fields and custom formats', () => {
    const server = crdSchema('Server') as { properties: { spec: { properties: Record<string, Record<string, unknown>> } } };
    expect(server.properties.spec.properties.port).toEqual({ 'x-kubernetes-int-or-string': true });
    expect(server.properties.spec.properties.podSelector?.properties).toMatchObject({ matchLabels: { type: 'object', additionalProperties: { type: 'string' } } });
    const workload = crdSchema('Workload') as { properties: { spec: { properties: Record<string, Record<string, unknown>> } } };
    expect(workload.properties.spec.properties.serviceAccount).toMatchObject({ type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' });
    expect(workload.properties.spec.properties.livenessProbe?.properties).toMatchObject({ exec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } });
    expect(workload.properties.spec.properties.address).toEqual({ type: 'string', description: 'Must be an IPv4 or IPv6 address.' });
  });

  it('spells out recursive conditions to a depth, then keeps the rest', () => {
    const profile = crdSchema('ServiceProfile');
    const text = JSON.stringify(profile);
    expect(text).not.toContain('$ref');
    expect(text).toContain('nested deeper than this schema spells out');
  });

  it('refuses a keyword it has no structural form for, naming the node', () => {
    expect(() => structuralSchema({ type: 'object', properties: { a: { oneOf: [{ type: 'string' }, { type: 'integer' }] } } })).toThrow(new StructuralSchemaError('a', 'the keyword "oneOf" has no structural form'));
    expect(() => structuralSchema({ type: 'object', properties: { a: { $ref: '#/$defs/missing' } } })).toThrow(/a: the reference "#\/\$defs\/missing" does not name an entry of \$defs/);
    expect(structuralSchema({ const: 'x' })).toEqual({ type: 'string', enum: ['x'] });
    expect(structuralSchema({ type: ['object', 'null'], additionalProperties: { type: 'string' } })).toEqual({ type: 'object', nullable: true, additionalProperties: { type: 'string' } });
  });
});

describe('the CRDs cannot drift from the manifest schemas', () => {
  const sources = [`${repo}libs/manifests/src/testdata/valid.yaml`, ...yamlFiles(`${repo}examples`)];
  const documents = sources.flatMap((file) => documentsOf(file).map((document) => ({ file: file.slice(repo.length), document })));
  const ofCrdKinds = documents.filter(({ document }) => crdKinds.has(String(document.kind)));

  it('finds documents of most CRD kinds to compare', () => {
    const seen = new Set(ofCrdKinds.map(({ document }) => String(document.kind)));
    expect(seen.size).toBeGreaterThanOrEqual(6);
  });

  it.each(ofCrdKinds.map(({ file, document }) => [`${file} ${String(document.kind)} ${String((document.metadata as { name?: string }).name)}`, document] as const))(
    '%s is valid locally and against the CRD',
    (_name, document) => {
      expect(locallyValid(document)).toEqual({ ok: true });
      const validate = crdValidator(String(document.kind));
      expect(validate(document) ? [] : validate.errors).toEqual([]);
    },
  );

  const meta = { name: 'web', namespace: 'shop' };
  it.each<[string, Record<string, unknown>]>([
    ['a Server without a port', { apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'Server', metadata: meta, spec: { podSelector: {} } }],
    ['a Server with a port that is not a number or name', { apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'Server', metadata: meta, spec: { port: true } }],
    ['a Server with an unknown protocol', { apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'Server', metadata: meta, spec: { port: 80, proxyProtocol: 'HTTP/3' } }],
    ['a Workload with a port out of range', { apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata: meta, spec: { address: '10.0.0.1', ports: [{ port: 70000 }] } }],
    ['a Workload with a bad service account name', { apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata: meta, spec: { address: '10.0.0.1', serviceAccount: 'Not_A_Label' } }],
    ['a Workload port name with a double dash', { apiVersion: 'meshbus.io/v1alpha1', kind: 'Workload', metadata: meta, spec: { address: '10.0.0.1', ports: [{ name: 'a--b', port: 80 }] } }],
    ['a NetworkAuthentication with no networks', { apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'NetworkAuthentication', metadata: meta, spec: { networks: [] } }],
    ['a rate limit of zero', { apiVersion: 'policy.meshbus.io/v1alpha1', kind: 'HTTPLocalRateLimitPolicy', metadata: meta, spec: { targetRef: { kind: 'Server', name: 'web' }, total: { requestsPerSecond: 0 } } }],
    [
      'a ServiceProfile route with an empty condition',
      { apiVersion: 'meshbus.io/v1alpha1', kind: 'ServiceProfile', metadata: { name: 'web.shop.svc.cluster.local', namespace: 'shop' }, spec: { routes: [{ name: 'r', condition: {} }] } },
    ],
  ])('%s fails both', (_name, document) => {
    expect(locallyValid(document).ok).toBe(false);
    expect(crdValidator(String(document.kind))(document)).toBe(false);
  });
});
