import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { MeshbusError } from '@meshbus/runtime';
import { catalog, type EventDataMap, type EventKind, type SchemaName } from './catalog.js';

/** Event data does not match its schema. */
export class SchemaValidationError extends MeshbusError {
  override name = 'SchemaValidationError';
  constructor(
    readonly schema: string,
    readonly problems: string[],
  ) {
    super('SchemaValidation', `data does not match schema ${schema}: ${problems.join('; ')}`);
  }
}

const schemaDir = new URL('../schemas/', import.meta.url);

/** Reads a schema document from bus-schemas/schemas. */
export function loadSchema(name: SchemaName): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`${name}.schema.json`, schemaDir), 'utf8')) as Record<string, unknown>;
}

// ajv-formats is CommonJS: under NodeNext its plugin function is the `default` property.
const addFormats = addFormatsModule.default;

/** One line per problem, naming the field (and the key, for a bad object key such as a label name). */
function formatProblems(errors: ErrorObject[] | null | undefined): string[] {
  const all = errors ?? [];
  const problems: string[] = [];
  for (const [i, e] of all.entries()) {
    if (e.keyword === 'propertyNames') continue;
    // ajv reports what is wrong with a bad key, then a `propertyNames` error naming the key.
    const owner = all.slice(i + 1).find((n) => n.keyword === 'propertyNames' && n.instancePath === e.instancePath && e.schemaPath.startsWith(n.schemaPath));
    const key = owner && typeof owner.params.propertyName === 'string' ? ` key ${JSON.stringify(owner.params.propertyName)}` : '';
    problems.push(`${e.instancePath || '/'}${key} ${e.message ?? 'is invalid'}`);
    if (problems.length === 5) break;
  }
  return problems;
}

/** Compiled validators for every schema, built once. */
export class BusValidator {
  private readonly validators = new Map<SchemaName, ValidateFunction>();

  constructor() {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    // Only standard formats, so that any stock validator checks the same.
    addFormats(ajv, ['date-time', 'ipv4', 'ipv6']);
    const names = new Set<SchemaName>(Object.values(catalog).map((e) => e.schema));
    for (const name of names) this.validators.set(name, ajv.compile(loadSchema(name)));
  }

  /** Throws {@link SchemaValidationError} unless `data` matches the schema of `kind`. */
  check<K extends EventKind>(kind: K, data: unknown): asserts data is EventDataMap[K] {
    const schema = catalog[kind].schema;
    const validate = this.validators.get(schema)!;
    if (!validate(data)) throw new SchemaValidationError(schema, formatProblems(validate.errors));
  }
}

let shared: BusValidator | undefined;

/** The process-wide validator (schemas compile once). */
export function busValidator(): BusValidator {
  shared ??= new BusValidator();
  return shared;
}
