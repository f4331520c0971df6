// Validates an AsyncAPI document (default: asyncapi.yaml) with the AsyncAPI parser.
// Prints one line per error or warning and exits 1 when there is any.
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2] ?? new URL('../asyncapi.yaml', import.meta.url).pathname;
const { document, diagnostics } = await new Parser().parse(await readFile(file, 'utf8'));
// Spectral severities: 0 error, 1 warning, 2 information, 3 hint.
const problems = diagnostics.filter((d) => d.severity <= 1);
for (const d of problems) console.error(`${file}: ${d.severity === 0 ? 'error' : 'warning'} at /${d.path.join('/')}: ${d.message}`);
if (problems.length > 0 || !document) process.exit(1);
console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.allMessages().length} messages, ${document.allChannels().length} channels`);
