// Writes asyncapi.yaml and the message reference of docs/events.md from the catalogue, schemas
// and examples (built: run `npm run build` first). `--check` fails when either is stale instead.
import { readFile, writeFile } from 'node:fs/promises';
import { asyncApiYaml, withMessageReference } from '../dist/index.js';

const check = process.argv.includes('--check');
const docs = new URL('../../docs/events.md', import.meta.url);
const outputs = [
  { file: new URL('../asyncapi.yaml', import.meta.url), name: 'bus-schemas/asyncapi.yaml', make: () => asyncApiYaml() },
  { file: docs, name: 'the message reference in docs/events.md', make: (current) => withMessageReference(current) },
];
const stale = [];
for (const { file, name, make } of outputs) {
  let current = '';
  try {
    current = await readFile(file, 'utf8');
  } catch {}
  const next = make(current);
  if (current === next) continue;
  if (check) stale.push(name);
  else await writeFile(file, next);
}
if (stale.length) {
  console.error(`${stale.join(' and ')} ${stale.length > 1 ? 'are' : 'is'} stale; run npm run gen --workspace=@meshbus/bus-schemas`);
  process.exit(1);
}
