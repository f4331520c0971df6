import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { MeshbusError } from '@meshbus/runtime';
import {
  catalog,
  extensionAttributes,
  kindOfType,
  schemaUri,
  SchemaValidationError,
  type BusValidator,
  type EventDataMap,
  type EventKind,
} from '@meshbus/bus-schemas';

/** A decoded, validated CloudEvent from the bus. */
export interface BusEvent<K extends EventKind = EventKind> {
  kind: K;
  /** CloudEvents `id`. */
  id: string;
  /** CloudEvents `source`. */
  source: string;
  /** CloudEvents `type`. */
  type: string;
  /** CloudEvents `time` (RFC 3339). */
  time: string;
  /** CloudEvents `subject`: the key the event is about. */
  subject: string;
  data: EventDataMap[K];
  /** NATS subject the event was published on. */
  natsSubject: string;
  /** JetStream stream sequence, when read from a stream. */
  seq?: number;
  /** The writer's leader term (`meshbusterm` extension), when it set one. */
  term?: number;
}

/**
 * Why a message was refused. Used as the `reason` label of the rejection metric. `attribute` is
 * only given by {@link encodeEvent}, for an attribute a NATS header cannot carry unchanged.
 */
export type RejectReason = 'missing-header' | 'specversion' | 'unknown-type' | 'content-type' | 'content-encoding' | 'json' | 'schema' | 'subject' | 'term' | 'attribute';

/** A bus message that is not a valid meshbus CloudEvent. */
export class MalformedEventError extends MeshbusError {
  override name = 'MalformedEventError';
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super('MalformedEvent', message);
  }
}

/** Attributes a publisher sets on an event. */
export interface EventAttributes {
  /** CloudEvents `source`, e.g. `/meshbus/destination/<replica>`. */
  source: string;
  /** CloudEvents `subject`: the key the event is about. */
  subject: string;
  id?: string;
  time?: Date;
  /** The publisher's leader term, sent as the `meshbusterm` extension. */
  term?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const subjectPatterns = new Map<EventKind, RegExp>(
  (Object.keys(catalog) as EventKind[]).map((k) => [
    k,
    new RegExp(`^${catalog[k].subject.replaceAll('.', '\\.').replace(/\{[a-z]+\}/g, '[^.]+').replace(/>$/, '.+')}$`),
  ]),
);

/**
 * Encodes an event in CloudEvents binary mode: attributes as `ce-*` NATS
 * headers, JSON data as the payload. The data is validated first.
 */
export function encodeEvent<K extends EventKind>(
  kind: K,
  natsSubject: string,
  data: EventDataMap[K],
  attrs: EventAttributes,
  validator: BusValidator,
): { headers: MsgHdrs; payload: Uint8Array; id: string } {
  validator.check(kind, data);
  if (!subjectPatterns.get(kind)!.test(natsSubject)) {
    throw new MalformedEventError('subject', `subject ${natsSubject} does not match ${catalog[kind].subject} for ${catalog[kind].type}`);
  }
  const id = attrs.id ?? randomUUID();
  checkAttribute('ce-id', id);
  checkAttribute('ce-source', attrs.source);
  checkAttribute('ce-subject', attrs.subject);
  const h = natsHeaders();
  h.set('ce-specversion', '1.0');
  h.set('ce-id', id);
  h.set('ce-source', attrs.source);
  h.set('ce-type', catalog[kind].type);
  h.set('ce-time', (attrs.time ?? new Date()).toISOString());
  h.set('ce-subject', attrs.subject);
  h.set('ce-dataschema', schemaUri(catalog[kind].schema));
  if (attrs.term !== undefined) h.set(extensionAttributes.term.header, String(checkedTerm(attrs.term)));
  h.set('content-type', 'application/json');
  return { headers: h, payload: encoder.encode(JSON.stringify(data)), id };
}

function checkedTerm(term: number): number {
  if (!Number.isSafeInteger(term) || term < 1) throw new MalformedEventError('term', `term must be a positive integer, not ${term}`);
  return term;
}

const termPattern = /^[1-9][0-9]{0,15}$/;

/** The `meshbusterm` extension, if present: a positive decimal integer. */
function termOf(h: MsgHdrs | undefined): number | undefined {
  const raw = h?.get(extensionAttributes.term.header);
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!termPattern.test(raw) || value > extensionAttributes.term.maxValue) {
    throw new MalformedEventError('term', `${extensionAttributes.term.header} must be a positive integer, not ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return value;
}

const gzipAsync = promisify(gzip);

/**
 * Data of this many bytes or more is sent gzip-compressed (`content-encoding:
 * gzip`); smaller data stays plain JSON, readable by any tool.
 */
export const compressionThreshold = 64 * 1024;

/**
 * The most a compressed payload may expand to when read. The largest endpoint
 * set the schema allows (100,000 endpoints) is about 33 MB of JSON.
 */
export const maxDecodedBytes = 64 * 1024 * 1024;

/**
 * Compresses an encoded event's payload when it is at least `threshold`
 * bytes, and marks it with `content-encoding: gzip`. Runs on the libuv pool,
 * not the event loop: an 8 MB endpoint set takes a few hundred milliseconds.
 */
export async function compressEvent(
  encoded: { headers: MsgHdrs; payload: Uint8Array },
  threshold: number = compressionThreshold,
): Promise<{ headers: MsgHdrs; payload: Uint8Array }> {
  if (encoded.payload.length < threshold) return encoded;
  const payload = new Uint8Array(await gzipAsync(encoded.payload));
  encoded.headers.set('content-encoding', 'gzip');
  return { headers: encoded.headers, payload };
}

/** The JSON bytes of a payload, uncompressed as its `content-encoding` says. */
function decodedPayload(h: MsgHdrs | undefined, payload: Uint8Array): Uint8Array {
  const encoding = h?.get('content-encoding');
  if (!encoding || encoding === 'identity') return payload;
  if (encoding !== 'gzip') throw new MalformedEventError('content-encoding', `unsupported content-encoding ${encoding} (only gzip is used on the bus)`);
  try {
    return gunzipSync(payload, { maxOutputLength: maxDecodedBytes });
  } catch (err) {
    const tooBig = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new MalformedEventError('content-encoding', tooBig ? `gzip data expands beyond ${maxDecodedBytes} bytes` : `gzip data cannot be read: ${(err as Error).message}`);
  }
}

// NATS trims header values and cannot carry line breaks: an attribute that would not arrive as
// written (or would arrive empty, which decodeEvent refuses) is refused when encoding.
function checkAttribute(name: string, value: string): void {
  if (value === '' || value.trim() !== value || /[\r\n]/.test(value)) {
    throw new MalformedEventError(
      'attribute',
      `${name} ${JSON.stringify(value)} cannot be sent in a NATS header: it must be non-empty, without line breaks or surrounding whitespace`,
    );
  }
}

function header(h: MsgHdrs | undefined, name: string): string {
  const v = h?.get(name);
  if (!v) throw new MalformedEventError('missing-header', `missing header ${name}`);
  return v;
}

/**
 * Decodes and validates a CloudEvent received from NATS, uncompressing data
 * sent with `content-encoding: gzip`. Throws {@link MalformedEventError} with
 * the reason; never returns unvalidated data.
 */
export function decodeEvent(
  natsSubject: string,
  h: MsgHdrs | undefined,
  payload: Uint8Array,
  validator: BusValidator,
  seq?: number,
): BusEvent {
  const spec = header(h, 'ce-specversion');
  if (spec !== '1.0') throw new MalformedEventError('specversion', `unsupported ce-specversion ${spec}`);
  const type = header(h, 'ce-type');
  const kind = kindOfType(type);
  if (!kind) throw new MalformedEventError('unknown-type', `unknown ce-type ${type}`);
  if (!subjectPatterns.get(kind)!.test(natsSubject)) {
    throw new MalformedEventError('subject', `${type} is not expected on ${natsSubject}`);
  }
  const contentType = h?.get('content-type');
  if (contentType && !contentType.startsWith('application/json')) {
    throw new MalformedEventError('content-type', `unsupported content-type ${contentType}`);
  }
  const json = decodedPayload(h, payload);
  let data: unknown;
  try {
    data = JSON.parse(decoder.decode(json));
  } catch (err) {
    throw new MalformedEventError('json', `data is not JSON: ${(err as Error).message}`);
  }
  try {
    validator.check(kind, data);
  } catch (err) {
    if (err instanceof SchemaValidationError) throw new MalformedEventError('schema', err.message);
    throw err;
  }
  const event: BusEvent = {
    kind,
    id: header(h, 'ce-id'),
    source: header(h, 'ce-source'),
    type,
    time: header(h, 'ce-time'),
    subject: h?.get('ce-subject') ?? '',
    data: data as EventDataMap[EventKind],
    natsSubject,
  };
  if (seq !== undefined) event.seq = seq;
  const term = termOf(h);
  if (term !== undefined) event.term = term;
  return event;
}

/** True when the event is a tombstone (the key it names was deleted). */
export function isTombstone(event: BusEvent): boolean {
  return catalog[event.kind].schema === 'state-deleted';
}
