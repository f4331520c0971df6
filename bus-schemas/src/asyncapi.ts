import { stringify } from 'yaml';
import { catalog, extensionAttributes, isStream, schemaUri, streams, subjectPrefix, type EventKind, type SchemaName } from './catalog.js';
import { eventExamples } from './examples.js';
import { loadSchema } from './validation.js';

/** The request kinds answered on the requester's inbox, and the kind of their answer. */
export const replies = {
  certifyRequest: 'certifyResponse',
  workloadRegisterRequest: 'workloadRegistrationReply',
  workloadHeartbeatRequest: 'workloadRegistrationReply',
  workloadDeregisterRequest: 'workloadRegistrationReply',
} as const satisfies Partial<Record<EventKind, EventKind>>;

type Json = Record<string, unknown>;

const inboxSubject = '{inbox}.>';
const placeholder = /\{([a-zA-Z]+)\}/g;

const parameterText: Record<string, string> = {
  namespace: 'Kubernetes namespace (DNS-1123 label).',
  service: 'Service name (DNS-1035 label).',
  port: 'Service port number, 1 to 65535.',
  name: 'Workload or resource name.',
  workload: 'Workload name (DNS-1123 label).',
  kind: 'Resource kind, e.g. Server, HTTPRoute, AuthorizationPolicy.',
  role: 'Replicated single-writer role: destination or policy.',
  result: 'Outcome of the admission: injected, skipped or refused.',
};

function kinds(): EventKind[] {
  return Object.keys(catalog) as EventKind[];
}

/** Channel id of a subject pattern: the catalogue kind of its first entry. */
function channelOf(kind: EventKind): string {
  const entry = catalog[kind];
  if (entry.subject === inboxSubject) return `${kind}Inbox`;
  return kinds().find((k) => catalog[k].subject === entry.subject)!;
}

/** A schema as a component of the document: `$schema`/`$id` dropped, local refs pointed at its new place. */
function schemaComponent(name: SchemaName): Json {
  const { $schema: _dialect, $id: _id, ...schema } = loadSchema(name);
  const text = JSON.stringify(schema).replaceAll('"#/$defs/', `"#/components/schemas/${name}/$defs/`);
  return JSON.parse(text) as Json;
}

function headersSchema(kind: EventKind): Json {
  const entry = catalog[kind];
  const stored = isStream(entry.stream);
  return {
    type: 'object',
    description: 'CloudEvents 1.0 attributes in binary mode, as NATS headers.',
    required: ['ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'content-type'],
    properties: {
      'ce-specversion': { type: 'string', const: '1.0' },
      'ce-id': { type: 'string', description: 'Unique id of the event (UUID).' },
      'ce-source': { type: 'string', description: 'The publisher: /meshbus/<service>/<replica-id>.' },
      'ce-type': { type: 'string', const: entry.type },
      'ce-time': { type: 'string', format: 'date-time' },
      'ce-subject': { type: 'string', description: 'The key the event is about.' },
      'ce-dataschema': { type: 'string', const: schemaUri(entry.schema) },
      'content-type': { type: 'string', const: 'application/json' },
      'content-encoding': { type: 'string', enum: ['gzip'], description: 'Present when the data (64 KiB or more) is gzip-compressed.' },
      [extensionAttributes.term.header]: {
        type: 'string',
        pattern: '^[1-9][0-9]*$',
        description: 'Leader term of the writer (decimal); a reader ignores a write with a lower term than the highest it saw for that role.',
      },
      ...(stored ? { 'Nats-Msg-Id': { type: 'string', description: 'Same as ce-id: JetStream de-duplicates on it.' } } : {}),
    },
  };
}

const exampleId = '3f2a8c1e-5b7d-4e9a-9c0f-6d1b2a3c4e5f';

/** The NATS headers of the example message of a kind: stored messages carry `Nats-Msg-Id`, a leader's writes its term. */
function exampleHeaders(kind: EventKind): Record<string, string> {
  const entry = catalog[kind];
  const example = eventExamples[kind];
  const h: Record<string, string> = {
    'ce-specversion': '1.0',
    'ce-id': exampleId,
    'ce-source': example.source,
    'ce-type': entry.type,
    'ce-time': '2026-12-01T10:00:00.000Z',
    'ce-subject': example.subject,
    'ce-dataschema': schemaUri(entry.schema),
    'content-type': 'application/json',
  };
  if (/\bleader\b/.test(entry.publisher) || entry.publisher.startsWith('any replicated writer')) h[extensionAttributes.term.header] = '42';
  if (isStream(entry.stream)) h['Nats-Msg-Id'] = exampleId;
  return h;
}

function messageComponent(kind: EventKind): Json {
  const entry = catalog[kind];
  const example = eventExamples[kind];
  return {
    name: entry.type,
    title: kind,
    summary: entry.description,
    contentType: 'application/json',
    headers: headersSchema(kind),
    payload: { $ref: `#/components/schemas/${entry.schema}` },
    examples: [
      {
        name: kind,
        summary: `On ${example.natsSubject}`,
        headers: exampleHeaders(kind),
        payload: example.data,
      },
    ],
  };
}

function where(kind: EventKind): string {
  const carrier = catalog[kind].stream;
  if (carrier === 'request-reply') return 'Core NATS request/reply, not stored (at most once).';
  if (carrier === 'core') return 'Core NATS publish/subscribe, not stored: only subscribers present receive it, at most once.';
  const s = streams[carrier];
  return `Stored in the JetStream stream ${s.name} (${s.retention}).`;
}

function channels(): Json {
  const out: Json = {};
  for (const kind of kinds()) {
    const id = channelOf(kind);
    const entry = catalog[kind];
    const channel = (out[id] ??= {
      address: entry.subject === inboxSubject ? null : entry.subject,
      title: id,
      description: entry.subject === inboxSubject ? `The requester's reply inbox (_INBOX.… or _INBOX_<role>.…). ${where(kind)}` : where(kind),
      messages: {},
    }) as Json;
    (channel.messages as Json)[kind] = { $ref: `#/components/messages/${kind}` };
    const names = [...entry.subject.matchAll(placeholder)].map((m) => m[1]!).filter((n) => n !== 'inbox');
    if (names.length > 0) {
      channel.parameters = Object.fromEntries(names.map((n) => [n, { description: parameterText[n] ?? n }]));
    }
  }
  return out;
}

function operations(): Json {
  const out: Json = {};
  const channelIds = [...new Set(kinds().map(channelOf))];
  for (const id of channelIds) {
    const members = kinds().filter((k) => channelOf(k) === id);
    const first = members[0]!;
    if (catalog[first].subject === inboxSubject) continue;
    const messages = members.map((k) => ({ $ref: `#/channels/${id}/messages/${k}` }));
    const reply = (replies as Partial<Record<EventKind, EventKind>>)[first];
    if (reply) {
      out[`answer${id[0]!.toUpperCase()}${id.slice(1)}`] = {
        action: 'receive',
        title: `Answer ${members.map((k) => catalog[k].type).join(', ')}`,
        summary: catalog[first].description,
        channel: { $ref: `#/channels/${id}` },
        messages,
        reply: { channel: { $ref: `#/channels/${channelOf(reply)}` }, messages: [{ $ref: `#/channels/${channelOf(reply)}/messages/${reply}` }] },
      };
    } else {
      out[`publish${id[0]!.toUpperCase()}${id.slice(1)}`] = {
        action: 'send',
        title: `Publish ${members.map((k) => catalog[k].type).join(', ')}`,
        summary: catalog[first].description,
        channel: { $ref: `#/channels/${id}` },
        messages,
      };
    }
  }
  return out;
}

/**
 * The AsyncAPI 3.0 document of the bus, built from the catalogue, the
 * schemas and the examples. It describes the meshbus control plane: what it
 * publishes (`send`) and the requests it answers (`receive` with a reply).
 */
export function asyncApiDocument(): Json {
  const schemaNames = [...new Set(kinds().map((k) => catalog[k].schema))].sort();
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'meshbus bus',
      version: subjectPrefix.split('.')[1]!,
      description:
        'Every change and observation of the meshbus control plane, as CloudEvents 1.0 in binary mode over NATS. ' +
        `State (${streams.state.subjects[0]}) is kept in the JetStream stream ${streams.state.name}, the last message per subject; ` +
        `events (${streams.events.subjects[0]}) in ${streams.events.name}, by age; the proxies' traffic summaries ` +
        `(${streams.metrics.subjects[0]}) in ${streams.metrics.name}, by age and size. Requests are core NATS request/reply. ` +
        'Within v1 schemas only grow: ignore fields and types you do not know. See docs/events.md.',
      license: { name: 'Apache-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: '127.0.0.1:4222',
        protocol: 'nats',
        description: 'The NATS server of `meshbus dev`; log in as the read-only user `reader` to subscribe.',
      },
    },
    channels: channels(),
    operations: operations(),
    components: {
      schemas: Object.fromEntries(schemaNames.map((n) => [n, schemaComponent(n)])),
      messages: Object.fromEntries(kinds().map((k) => [k, messageComponent(k)])),
    },
  };
}

/** {@link asyncApiDocument} as the YAML committed at bus-schemas/asyncapi.yaml. */
export function asyncApiYaml(): string {
  const banner = '# Generated from the bus catalogue, schemas and examples by scripts/gen-asyncapi.mjs. Do not edit.\n';
  return banner + stringify(asyncApiDocument(), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Markers around the generated part of docs/events.md. */
export const referenceMarkers = {
  begin: '<!-- BEGIN GENERATED: message reference (npm run gen --workspace=@meshbus/bus-schemas) -->',
  end: '<!-- END GENERATED: message reference -->',
} as const;

function carrierText(kind: EventKind): string {
  const carrier = catalog[kind].stream;
  if (carrier === 'request-reply') return 'core NATS request/reply (not stored)';
  if (carrier === 'core') return 'core NATS publish/subscribe (not stored)';
  return `\`${streams[carrier].name}\``;
}

/**
 * The message reference of docs/events.md: every type with its subject,
 * carrier, schema, publisher and an example message, in catalogue order.
 */
export function messageReferenceMarkdown(): string {
  const out: string[] = [referenceMarkers.begin, ''];
  out.push('| type | subject | carrier | schema |', '| --- | --- | --- | --- |');
  for (const kind of kinds()) {
    const e = catalog[kind];
    out.push(`| [\`${e.type}\`](#${e.type.replaceAll('.', '')}) | \`${e.subject}\` | ${carrierText(kind)} | [\`${e.schema}.schema.json\`](../bus-schemas/schemas/${e.schema}.schema.json) |`);
  }
  for (const kind of kinds()) {
    const e = catalog[kind];
    const x = eventExamples[kind];
    out.push('', `#### ${e.type}`, '', `${e.description} Published by ${e.publisher}; subject \`${e.subject}\`, ${carrierText(kind)}, data [\`${e.schema}.schema.json\`](../bus-schemas/schemas/${e.schema}.schema.json).`);
    const headers = Object.entries(exampleHeaders(kind)).map(([k, v]) => `${k}: ${v}`);
    out.push('', '```text', `subject: ${x.natsSubject}`, ...headers, '```', '', '```json', JSON.stringify(x.data, null, 2), '```');
  }
  out.push('', referenceMarkers.end);
  return out.join('\n');
}

/** `doc` with its generated message reference replaced by the current one; throws when the markers are missing. */
export function withMessageReference(doc: string): string {
  const begin = doc.indexOf(referenceMarkers.begin);
  const end = doc.indexOf(referenceMarkers.end);
  if (begin < 0 || end < begin) throw new Error(`docs/events.md lacks the markers ${referenceMarkers.begin} … ${referenceMarkers.end}`);
  return doc.slice(0, begin) + messageReferenceMarkdown() + doc.slice(end + referenceMarkers.end.length);
}
