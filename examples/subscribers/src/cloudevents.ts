import { gunzipSync } from 'node:zlib';
import type { JsMsg } from 'nats';

/** A CloudEvent read from a JetStream stream (binary mode: attributes in `ce-*` headers). */
export interface ReceivedEvent {
  id: string;
  source: string;
  type: string;
  time: string;
  /** CloudEvents `subject`: the key the event is about, e.g. `shop/web/80`. */
  subject: string;
  /** URI of the JSON Schema of the data (the schema's `$id`). */
  dataschema: string;
  data: unknown;
  natsSubject: string;
  stream: string;
  /** Stream sequence: the position of the message in its stream. */
  seq: number;
}

/** A message that is not a CloudEvent this subscriber can read. */
export class NotAnEventError extends Error {
  override name = 'NotAnEventError';
}

const maxExpanded = 64 * 1024 * 1024;

/** Reads the CloudEvent of a JetStream message; data of 64 KiB or more comes gzip-compressed. */
export function decodeEvent(m: JsMsg): ReceivedEvent {
  const header = (name: string): string => {
    const v = m.headers?.get(name);
    if (!v) throw new NotAnEventError(`missing header ${name}`);
    return v;
  };
  if (header('ce-specversion') !== '1.0') throw new NotAnEventError(`unsupported ce-specversion ${header('ce-specversion')}`);
  const encoding = m.headers?.get('content-encoding') ?? '';
  if (encoding !== '' && encoding !== 'gzip') throw new NotAnEventError(`unsupported content-encoding ${encoding}`);
  const body = encoding === 'gzip' ? gunzipSync(m.data, { maxOutputLength: maxExpanded }) : m.data;
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder().decode(body));
  } catch (err) {
    throw new NotAnEventError(`data is not JSON: ${(err as Error).message}`);
  }
  return {
    id: header('ce-id'),
    source: header('ce-source'),
    type: header('ce-type'),
    time: header('ce-time'),
    subject: m.headers?.get('ce-subject') ?? '',
    dataschema: header('ce-dataschema'),
    data,
    natsSubject: m.subject,
    stream: m.info.stream,
    seq: m.seq,
  };
}
