import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { asyncApiDocument, asyncApiYaml, messageReferenceMarkdown, replies, withMessageReference } from './asyncapi.js';
import { catalog, type EventKind } from './catalog.js';
import { eventExamples } from './examples.js';
import { busValidator } from './validation.js';

const validateScript = new URL('../scripts/validate-asyncapi.mjs', import.meta.url).pathname;

/**
 * Runs the AsyncAPI parser (scripts/validate-asyncapi.mjs) on a document, in
 * plain Node: the parser's ES module build does not load under the test
 * runner's export conditions.
 */
async function validate(yaml: string): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbus-asyncapi-'));
  const file = join(dir, 'asyncapi.yaml');
  writeFileSync(file, yaml);
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [validateScript, file]);
    return { ok: true, output: stdout + stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const kinds = Object.keys(catalog) as EventKind[];

/** True when a concrete subject matches a catalogue pattern whose `{x}` placeholders are single tokens. */
function matchesPattern(subject: string, pattern: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  if (p.at(-1) === '>') return s.length >= p.length && p.slice(0, -1).every((t, i) => /^\{\w+\}$/.test(t) || t === s[i]);
  return p.length === s.length && p.every((t, i) => /^\{\w+\}$/.test(t) || t === s[i]);
}

describe('event examples', () => {
  it('has one valid example of every kind, on a subject of its pattern', () => {
    for (const kind of kinds) {
      const example = eventExamples[kind];
      expect(() => busValidator().check(kind, example.data), kind).not.toThrow();
      expect(matchesPattern(example.natsSubject, catalog[kind].subject), `${kind}: ${example.natsSubject}`).toBe(true);
    }
  });
});

describe('the message reference in docs/events.md', () => {
  const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');

  it('is in step with the catalogue, schemas and examples (npm run gen writes it)', () => {
    expect(doc).toBe(withMessageReference(doc));
  });

  it('shows every type with its subject, schema link and an example', () => {
    const reference = messageReferenceMarkdown();
    for (const kind of kinds) {
      const e = catalog[kind];
      expect(reference, kind).toContain(`#### ${e.type}\n`);
      expect(reference, kind).toContain(`(../bus-schemas/schemas/${e.schema}.schema.json)`);
      expect(reference, kind).toContain(`subject: ${eventExamples[kind].natsSubject}\n`);
      expect(reference, kind).toContain(JSON.stringify(eventExamples[kind].data, null, 2));
    }
    expect(() => withMessageReference('# no markers')).toThrow(/lacks the markers/);
  });
});

describe('the AsyncAPI document', () => {
  it('is in step with the catalogue, schemas and examples (npm run gen writes it)', () => {
    expect(readFileSync(new URL('../asyncapi.yaml', import.meta.url), 'utf8')).toBe(asyncApiYaml());
  });

  it('is a valid AsyncAPI 3.0 document, with no error or warning from the AsyncAPI parser', { timeout: 30_000 }, async () => {
    const result = await validate(asyncApiYaml());
    expect(result.output).toMatch(/valid AsyncAPI 3\.0\.0, 39 messages, 31 channels/);
    expect(result.ok).toBe(true);
    // The same check refuses a document whose operation points at no channel.
    const broken = asyncApiYaml().replace('$ref: "#/channels/endpointSet"', '$ref: "#/channels/nowhere"');
    expect(broken).not.toBe(asyncApiYaml());
    const refused = await validate(broken);
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/error at \/operations\/publishEndpointSet\/channel/);
  });

  it('names every type of the catalogue, with its schema, once, and answers every request', () => {
    const doc = asyncApiDocument() as { channels: Record<string, { address: string | null }>; operations: Record<string, { action: string; reply?: unknown }> };
    const addresses = Object.values(doc.channels).map((c) => c.address);
    for (const kind of kinds) if (catalog[kind].subject !== '{inbox}.>') expect(addresses).toContain(catalog[kind].subject);
    const answered = Object.values(doc.operations).filter((o) => o.reply).length;
    expect(answered).toBe(new Set(Object.keys(replies).map((k) => catalog[k as keyof typeof replies].subject)).size);
    const requests = kinds.filter((k) => catalog[k].stream === 'request-reply' && catalog[k].subject !== '{inbox}.>');
    expect(Object.keys(replies).sort()).toEqual(requests.sort());
    const parsed = parse(asyncApiYaml()) as { components: { messages: Record<string, { name: string; payload: { $ref: string } }>; schemas: Record<string, unknown> } };
    const messages = Object.values(parsed.components.messages);
    expect(messages.map((m) => m.name).sort()).toEqual(kinds.map((k) => catalog[k].type).sort());
    for (const kind of kinds) expect(parsed.components.messages[kind]!.payload.$ref).toBe(`#/components/schemas/${catalog[kind].schema}`);
    // Local references of a schema point at its place in the document.
    expect(JSON.stringify(parsed.components.schemas['endpoint-set'])).toContain('"#/components/schemas/endpoint-set/$defs/Endpoint"');
    expect(asyncApiYaml()).not.toContain('"#/$defs/');
  });
});
