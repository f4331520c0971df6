/*
 * Turns a manifest JSON Schema (2020-12, as libs/manifests validates local
 * files with) into a Kubernetes structural OpenAPI v3 schema, the form a
 * CustomResourceDefinition's `openAPIV3Schema` must have: every node typed,
 * no references, no type unions, unknown fields kept only where the local
 * schema accepts them. A keyword this converter does not know is an error,
 * so a change to the manifest schemas cannot silently fall out of the CRDs.
 */
import { MeshbusError } from '@meshbus/core';
import { formatDescriptions, type FormatName } from '@meshbus/manifests';

/** A node of a Kubernetes structural schema (apiextensions.k8s.io/v1 JSONSchemaProps). */
export type StructuralSchema = { [keyword: string]: unknown };

/** A manifest schema this converter cannot express as a structural schema; `path` names the node. */
export class StructuralSchemaError extends MeshbusError {
  override readonly name = 'StructuralSchemaError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super('NoStructuralSchema', `${path || '(root)'}: ${message}`);
  }
}

export interface StructuralSchemaOptions {
  /**
   * How many times one `$defs` entry may nest inside itself before the rest
   * is accepted as is (Kubernetes schemas cannot be recursive); the deeper
   * levels are still checked by meshbus when it reads the resource.
   * @default 2
   */
  readonly maxRecursion?: number;
}

const dns1123Label = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const dns1035Label = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
const dns1123Subdomain = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/**
 * The manifest formats as Kubernetes value validations. The patterns are
 * RE2 and ECMAScript alike. An IP address is left to meshbus (Kubernetes
 * formats know IPv4 or IPv6, not either).
 */
const formatValidations: Readonly<Record<FormatName, StructuralSchema>> = {
  'dns-1123-label': { maxLength: 63, pattern: dns1123Label },
  'dns-1035-label': { maxLength: 63, pattern: dns1035Label },
  'dns-1123-subdomain': { maxLength: 253, pattern: dns1123Subdomain },
  'port-name': { maxLength: 15, pattern: dns1123Label, allOf: [{ pattern: '[a-z]' }, { not: { pattern: '--' } }] },
  'ip-address': {},
};

/** Keywords copied as they are. */
const copied = new Set(['description', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'required']);
/** Keywords read by the conversion of their node. */
const handled = new Set(['type', 'enum', 'const', 'format', 'properties', 'additionalProperties', 'items', '$ref', '$defs']);

type JsonSchema = Readonly<Record<string, unknown>>;

interface Walk {
  readonly defs: Readonly<Record<string, JsonSchema>>;
  readonly maxRecursion: number;
  /** The `$defs` entries being expanded, outermost first. */
  readonly expanding: readonly string[];
}

/** Converts `schema` (with its own `$defs`) to a structural schema. */
export function structuralSchema(schema: object, options: StructuralSchemaOptions = {}): StructuralSchema {
  const root = schema as JsonSchema;
  const defs = (root.$defs ?? {}) as Record<string, JsonSchema>;
  return convert(root, '', { defs, maxRecursion: options.maxRecursion ?? 2, expanding: [] });
}

function convert(node: JsonSchema, path: string, walk: Walk): StructuralSchema {
  if (typeof node.$ref === 'string') return expandRef(node, path, walk);
  for (const keyword of Object.keys(node)) {
    if (!copied.has(keyword) && !handled.has(keyword)) throw new StructuralSchemaError(path, `the keyword ${JSON.stringify(keyword)} has no structural form`);
  }
  const out: StructuralSchema = {};
  Object.assign(out, typeOf(node, path));
  for (const keyword of copied) if (node[keyword] !== undefined) out[keyword] = node[keyword];
  if (node.const !== undefined) out.enum = [node.const];
  if (Array.isArray(node.enum)) out.enum = [...(node.enum as unknown[])];
  if (typeof node.format === 'string') {
    const validation = formatValidations[node.format as FormatName] as StructuralSchema | undefined;
    if (!validation) throw new StructuralSchemaError(path, `the format ${JSON.stringify(node.format)} has no structural form`);
    Object.assign(out, validation);
    const description = formatDescriptions[node.format as FormatName];
    out.description ??= `Must be ${description}.`;
  }
  if (out.type === 'object') Object.assign(out, objectParts(node, path, walk));
  if (out.type === 'array') {
    if (node.items === undefined || typeof node.items !== 'object') throw new StructuralSchemaError(path, 'a list needs one item schema');
    out.items = convert(node.items as JsonSchema, `${path}[]`, walk);
  }
  return out;
}

function expandRef(node: JsonSchema, path: string, walk: Walk): StructuralSchema {
  const ref = node.$ref as string;
  const name = /^#\/\$defs\/([^/]+)$/.exec(ref)?.[1];
  const target = name === undefined ? undefined : walk.defs[name];
  if (name === undefined || target === undefined) throw new StructuralSchemaError(path, `the reference ${JSON.stringify(ref)} does not name an entry of $defs`);
  if (Object.keys(node).length > 1) throw new StructuralSchemaError(path, 'a reference must stand alone');
  if (walk.expanding.filter((n) => n === name).length >= walk.maxRecursion) {
    return {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
      description: `A ${name} nested deeper than this schema spells out; meshbus checks it when it reads the resource.`,
    };
  }
  return convert(target, path, { ...walk, expanding: [...walk.expanding, name] });
}

/** The structural type of a node: one type, int-or-string, nullable, or anything. */
function typeOf(node: JsonSchema, path: string): StructuralSchema {
  const declared = node.type;
  if (typeof declared === 'string') return { type: declared };
  if (Array.isArray(declared)) {
    const types = new Set(declared as string[]);
    if (types.size === 2 && types.has('integer') && types.has('string')) return { 'x-kubernetes-int-or-string': true };
    if (types.size === 2 && types.has('null')) {
      const [other] = [...types].filter((t) => t !== 'null');
      return { type: other, nullable: true };
    }
    // A union Kubernetes cannot type (a duration as a string or a number): the API server keeps
    // the value as it is, and meshbus checks it when it reads the resource.
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
  const values = (node.enum ?? (node.const !== undefined ? [node.const] : undefined)) as unknown[] | undefined;
  if (values !== undefined && values.length > 0) {
    if (values.every((v) => typeof v === 'string')) return { type: 'string' };
    if (values.every((v) => Number.isInteger(v))) return { type: 'integer' };
    if (values.every((v) => typeof v === 'number')) return { type: 'number' };
    if (values.every((v) => typeof v === 'boolean')) return { type: 'boolean' };
    throw new StructuralSchemaError(path, 'an enum mixes types');
  }
  throw new StructuralSchemaError(path, 'a node needs a type');
}

function objectParts(node: JsonSchema, path: string, walk: Walk): StructuralSchema {
  const out: StructuralSchema = {};
  const properties = node.properties as Record<string, JsonSchema> | undefined;
  const additional = node.additionalProperties;
  if (properties !== undefined) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, convert(value, path === '' ? key : `${path}.${key}`, walk)]));
  }
  if (additional !== undefined && typeof additional === 'object') {
    if (properties !== undefined) throw new StructuralSchemaError(path, 'a mapping cannot have both properties and additionalProperties');
    out.additionalProperties = convert(additional as JsonSchema, `${path}.*`, walk);
  } else if (additional === undefined || additional === true) {
    // The local schema accepts fields it does not name: so does the cluster.
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  // `additionalProperties: false` has no structural form: the API server prunes unknown fields
  // (and refuses them with strict field validation); meshbus reports them when it reads the resource.
  return out;
}
