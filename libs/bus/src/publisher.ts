import type { JetStreamClient } from 'nats';
import type { BusValidator, EventDataMap, EventKind } from '@meshbus/bus-schemas';
import { Counter, MeshbusError, type Registry } from '@meshbus/runtime';
import { encodeEvent } from './cloudevents.js';

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

/** {@link Publisher} on JetStream, de-duplicated by event id. */
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
    const { headers, payload, id } = encodeEvent(kind, natsSubject, data, attrs, this.options.validator);
    const ack = await this.options.js.publish(natsSubject, payload, { headers, msgID: id, timeout: 5000 });
    this.published?.inc({ type: headers.get('ce-type') });
    return ack.seq;
  }
}
