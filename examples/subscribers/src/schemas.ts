import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext its plugin is the `default` property.
const addFormats = addFormatsModule.default;

/** The published JSON Schemas, compiled, looked up by their `$id` (the events' `dataschema`). */
export class SchemaSet {
  private readonly byId = new Map<string, ValidateFunction>();

  /** Compiles every `*.schema.json` of a folder. */
  constructor(dir: string) {
    const ajv = new Ajv2020({ allErrors: true });
    addFormats(ajv);
    const files = readdirSync(dir).filter((f) => f.endsWith('.schema.json'));
    if (files.length === 0) throw new Error(`no *.schema.json in ${dir}`);
    for (const file of files) {
      const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { $id?: string };
      if (!schema.$id) throw new Error(`${file} has no $id`);
      this.byId.set(schema.$id, ajv.compile(schema));
    }
  }

  /** The problems of `data` against the schema `id`, or an empty list when it is valid. */
  problems(id: string, data: unknown): string[] {
    const validate = this.byId.get(id);
    if (!validate) return [`no published schema ${id}`];
    if (validate(data)) return [];
    return (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
  }
}
