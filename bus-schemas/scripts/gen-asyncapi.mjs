// Writes asyncapi.yaml from the catalogue, schemas and examples (built: run `npm run build` first).
// `--check` fails when the committed document is stale instead of writing it.
import { readFile, writeFile } from 'node:fs/promises';
import { asyncApiYaml } from '../dist/index.js';

const out = new URL('../asyncapi.yaml', import.meta.url);
const check = process.argv.includes('--check');
const yaml = asyncApiYaml();
let current = '';
try {
  current = await readFile(out, 'utf8');
} catch {}
if (current !== yaml) {
  if (check) {
    console.error('bus-schemas/asyncapi.yaml is stale; run npm run gen --workspace=@meshbus/bus-schemas');
    process.exit(1);
  }
  await writeFile(out, yaml);
}
