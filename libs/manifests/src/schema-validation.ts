import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { formatChecks, formatDescriptions, type FormatName } from './names.js';

let ajv: Ajv2020 | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

function validatorFor(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    ajv ??= createAjv();
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

function createAjv(): Ajv2020 {
  const instance = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  for (const [name, check] of Object.entries(formatChecks)) instance.addFormat(name, { type: 'string', validate: check });
  return instance;
}

/**
 * Checks `value` against `schema` and returns one readable line per problem,
 * e.g. `spec.ports[0].port: must be <= 65535`; empty when it matches.
 */
export function schemaIssues(schema: object, value: unknown): string[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  return [...new Set((validate.errors ?? []).map(describeError))];
}

function describeError(e: ErrorObject): string {
  const path = readablePath(e.instancePath);
  const at = (suffix: string) => (path === '' ? suffix : `${path}.${suffix}`);
  switch (e.keyword) {
    case 'required':
      return `${at(String(e.params.missingProperty))}: is required`;
    case 'additionalProperties':
      return `${at(String(e.params.additionalProperty))}: is not a known field`;
    case 'type':
      return `${path || 'document'}: must be ${typeNames(e.params.type as string | string[])}`;
    case 'enum':
      return `${path}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'format':
      return `${path}: ${JSON.stringify(e.data)} is not ${formatDescriptions[e.params.format as FormatName] ?? e.params.format}`;
    case 'minProperties':
      return `${path}: must not be empty`;
    case 'pattern':
      return `${path}: ${JSON.stringify(e.data)} must match ${String(e.params.pattern)}`;
    default:
      return `${path || 'document'}: ${e.message ?? 'is invalid'}`;
  }
}

const article: Record<string, string> = {
  integer: 'an integer',
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  null: 'empty',
};

function typeNames(type: string | string[]): string {
  const types = Array.isArray(type) ? type : type.split(',');
  return types.map((t) => article[t] ?? t).join(' or ');
}

/** `/spec/ports/0/name` → `spec.ports[0].name`; keys that are not identifiers are quoted. */
function readablePath(pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(segment)) out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
