import type { Pool } from 'pg';
import type { ReceivedEvent } from './cloudevents.js';

/** A subject filter of one stream whose events the audit log keeps. */
export interface Feed {
  stream: string;
  filter: string;
  category: 'certificate' | 'policy';
}

/** Certificates issued, and every change of policy: the policies proxies enforce, their status, and rejected resources. */
export const feeds: readonly Feed[] = [
  { stream: 'MESHBUS_EVENTS', filter: 'meshbus.v1.events.identity.certificate-issued', category: 'certificate' },
  { stream: 'MESHBUS_EVENTS', filter: 'meshbus.v1.events.policy.rejected', category: 'policy' },
  { stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.inbound-policy.>', category: 'policy' },
  { stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.outbound-policy.>', category: 'policy' },
  { stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.policy-defaults.>', category: 'policy' },
  { stream: 'MESHBUS_STATE', filter: 'meshbus.v1.state.policy-status.>', category: 'policy' },
];

/**
 * One row per message, keyed by its stream and sequence, so that reading a
 * message again changes nothing. The view lists the certificates alone.
 */
const ddl = `
CREATE TABLE IF NOT EXISTS meshbus_audit (
  stream       text        NOT NULL,
  seq          bigint      NOT NULL CHECK (seq > 0),
  feed         text        NOT NULL,
  category     text        NOT NULL CHECK (category IN ('certificate', 'policy')),
  event_id     text        NOT NULL,
  type         text        NOT NULL,
  source       text        NOT NULL,
  time         timestamptz NOT NULL,
  subject      text        NOT NULL,
  nats_subject text        NOT NULL,
  data         jsonb       NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, seq)
);
CREATE INDEX IF NOT EXISTS meshbus_audit_feed_seq ON meshbus_audit (feed, seq);
CREATE OR REPLACE VIEW meshbus_certificates_issued AS
  SELECT time, data->>'identity' AS identity, data->>'serial' AS serial, (data->>'notAfter')::timestamptz AS not_after,
         data->>'replica' AS replica, data->>'issuerSerial' AS issuer_serial, stream, seq
  FROM meshbus_audit WHERE type = 'io.meshbus.v1.identity.certificate-issued';
`;

/** The audit log in PostgreSQL. */
export class AuditStore {
  constructor(private readonly db: Pool) {}

  /** Creates the table, index and view when they are missing. */
  async prepare(): Promise<void> {
    const client = await this.db.connect();
    try {
      // Two audit loggers starting at once must not both create the table.
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('meshbus_audit'))");
      await client.query(ddl);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  /** The last sequence stored of each feed: reading resumes after it. */
  async positions(): Promise<Map<string, number>> {
    const { rows } = await this.db.query<{ feed: string; seq: string }>('SELECT feed, max(seq) AS seq FROM meshbus_audit GROUP BY feed');
    return new Map(rows.map((r) => [r.feed, Number(r.seq)]));
  }

  /** Stores an event; false when its stream and sequence were stored already. */
  async record(feed: Feed, event: ReceivedEvent): Promise<boolean> {
    const result = await this.db.query(
      `INSERT INTO meshbus_audit (stream, seq, feed, category, event_id, type, source, time, subject, nats_subject, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (stream, seq) DO NOTHING`,
      [event.stream, event.seq, feed.filter, feed.category, event.id, event.type, event.source, event.time, event.subject, event.natsSubject, JSON.stringify(event.data)],
    );
    return result.rowCount === 1;
  }
}
