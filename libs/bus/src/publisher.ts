import { ErrorCode, NatsError, type JetStreamClient, type MsgHdrs } from 'nats';
import type { BusValidator, EventDataMap, EventKind } from '@meshbus/bus-schemas';
import { Counter, MeshbusError, type Registry } from '@meshbus/runtime';
import { compressEvent, compressionThreshold, encodeEvent } from './cloudevents.js';

/** An event that, even compressed, is larger than the NATS server accepts. */
export class EventTooLargeError extends MeshbusError {
  override name = 'EventTooLargeError';
  constructor(
    readonly natsSubject: string,
    readonly bytes: number,
    readonly jsonBytes: number,
  ) {
    super(
      'EventTooLarge',
      `event on ${natsSubject} is ${bytes} bytes on the wire (${jsonBytes} bytes of JSON data) and exceeds the NATS server's max_payload: ` +
        'raise max_payload in the nats-server configuration (meshbus dev uses 8 MiB) or make the state smaller',
    );
  }
}

/** Publishes validated CloudEvents into JetStream. */
export interface Publisher {
  /**
   * Publishes `data` as an event of `kind` on `natsSubject`, with `key` as the
   * CloudEvents subject; resolves with the stream sequence once stored.
   */
  publish<K extends EventKind>(kind: K, natsSubject: string, key: string, data: EventDataMap[K]): Promise<number>;
}

/** Options of {@link JetStreamPublisher}. */
export interface JetStreamPublisherOptions {
  js: JetStreamClient;
  validator: BusValidator;
  /** CloudEvents `source` of everything this process publishes. */
  source: string;
  registry?: Registry;
  /**
   * Data of at least this many bytes is sent gzip-compressed.
   * @default {@link compressionThreshold} (64 KiB)
   */
  compressAbove?: number;
  /**
   * The publisher's current leader term, for a single-writer role: every
   * event then carries it (`meshbusterm`), and while it returns undefined
   * (not leading) nothing is published. Absent for writers that do not lead.
   */
  term?: () => number | undefined;
}

/** A leader's publisher was asked to publish after it stepped down. */
export class NotLeaderError extends MeshbusError {
  override name = 'NotLeaderError';
  constructor(what: string) {
    super('NotLeader', `not publishing ${what}: this replica no longer holds the lease`);
  }
}

/**
 * {@link Publisher} on JetStream, de-duplicated by event id. Large data is
 * compressed; what is still larger than the server's `max_payload` is refused
 * with {@link EventTooLargeError}.
 */
export class JetStreamPublisher implements Publisher {
  private readonly published?: Counter;

  constructor(private readonly options: JetStreamPublisherOptions) {
    if (options.registry) {
      this.published = new Counter({
        name: 'meshbus_bus_published_total',
        help: 'Events published to the bus, by CloudEvents type.',
        labelNames: ['type'],
        registers: [options.registry],
      });
    }
  }

  async publish<K extends EventKind>(kind: K, natsSubject: string, key: string, data: EventDataMap[K]): Promise<number> {
    let term: number | undefined;
    if (this.options.term) {
      term = this.options.term();
      if (term === undefined) throw new NotLeaderError(natsSubject);
    }
    const attrs = { source: this.options.source, subject: key, ...(term === undefined ? {} : { term }) };
    const encoded = encodeEvent(kind, natsSubject, data, attrs, this.options.validator);
    const { headers, payload } = await compressEvent(encoded, this.options.compressAbove ?? compressionThreshold);
    const id = encoded.id;
    let ack;
    try {
      ack = await this.options.js.publish(natsSubject, payload, { headers, msgID: id, timeout: 5000 });
    } catch (err) {
      if (err instanceof NatsError && err.code === ErrorCode.MaxPayloadExceeded) {
        throw new EventTooLargeError(natsSubject, payload.length + headerBytes(headers), encoded.payload.length);
      }
      throw err;
    }
    this.published?.inc({ type: headers.get('ce-type') });
    return ack.seq;
  }
}

/** Size of the headers block as NATS sends it (`NATS/1.0`, one `key: value` line each, blank line). */
function headerBytes(h: MsgHdrs): number {
  let n = 'NATS/1.0\r\n\r\n'.length;
  for (const [k, vs] of h) for (const v of vs) n += Buffer.byteLength(`${k}: ${v}\r\n`);
  return n;
}
