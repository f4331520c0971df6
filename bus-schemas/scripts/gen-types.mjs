// Generates src/generated/*.ts from schemas/*.schema.json (the source of truth).
// `--check` fails when the committed output is stale instead of writing it.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { compile } from 'json-schema-to-typescript';

const root = new URL('..', import.meta.url);
const check = process.argv.includes('--check');
const files = (await readdir(new URL('schemas/', root))).filter((f) => f.endsWith('.schema.json')).sort();
let stale = [];
for (const file of files) {
  const schema = JSON.parse(await readFile(new URL(`schemas/${file}`, root), 'utf8'));
  const ts = await compile(schema, schema.title, {
    bannerComment: `/* Generated from bus-schemas/schemas/${file} by scripts/gen-types.mjs. Do not edit. */`,
    additionalProperties: false,
    format: true,
    // Bounded arrays stay plain arrays (ajv enforces the bounds), not unions of tuples.
    maxItems: -1,
    style: { singleQuote: true, printWidth: 120 },
  });
  const out = new URL(`src/generated/${file.replace('.schema.json', '.ts')}`, root);
  let current = '';
  try {
    current = await readFile(out, 'utf8');
  } catch {}
  if (current !== ts) {
    if (check) stale.push(file);
    else await writeFile(out, ts);
  }
}
if (stale.length) {
  console.error(`generated types are stale for: ${stale.join(', ')}; run npm run gen --workspace=@meshbus/bus-schemas`);
  process.exit(1);
}
