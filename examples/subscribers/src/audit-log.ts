// Keeps an audit log of issued certificates and policy changes in PostgreSQL.
// Creates its table on start, resumes after the last stored sequence of each
// feed, and stores each message once (stream and sequence are the key).
// A stock NATS client, the published JSON Schemas and `pg`; nothing else.
//
//   DATABASE_URL=postgres://audit@db/audit NATS_URL=nats://127.0.0.1:4222 NATS_USER=reader NATS_PASSWORD=... node dist/audit-log.js
// Without DATABASE_URL, pg reads PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD.
// AUDIT_FROM=start reads everything the streams keep again (after restoring a
// backup, say); what is stored already is left as it is.
import { connect, consumerOpts, type NatsConnection } from 'nats';
import pg from 'pg';
import { AuditStore, feeds, type Feed } from './audit-store.js';
import { busConfig, ConfigError } from './config.js';
import { decodeEvent, NotAnEventError } from './cloudevents.js';
import { SchemaSet } from './schemas.js';

async function follow(nc: NatsConnection, feed: Feed, after: number | undefined, store: AuditStore, schemas: SchemaSet): Promise<void> {
  const opts = consumerOpts().orderedConsumer();
  if (after === undefined) opts.deliverAll();
  else opts.startSequence(after + 1);
  const sub = await nc.jetstream().subscribe(feed.filter, opts);
  console.error(`following ${feed.filter} (${feed.stream}) ${after === undefined ? 'from the start' : `after sequence ${after}`}`);
  let caughtUp = false;
  // One message at a time: a feed's rows are stored in stream order, so its
  // largest stored sequence is where to resume.
  for await (const m of sub) {
    try {
      const event = decodeEvent(m);
      const problems = schemas.problems(event.dataschema, event.data);
      if (problems.length > 0) {
        console.error(`skipped ${event.natsSubject} (${event.stream} seq ${event.seq}): does not match ${event.dataschema}: ${problems.join('; ')}`);
      } else {
        const stored = await store.record(feed, event);
        console.log(`${stored ? 'recorded' : 'already recorded'} ${event.stream}:${event.seq} ${event.type} ${event.subject}`);
      }
    } catch (err) {
      if (!(err instanceof NotAnEventError)) throw err;
      console.error(`skipped ${m.subject} (seq ${m.seq}): ${err.message}`);
    }
    if (!caughtUp && m.info.pending === 0) {
      caughtUp = true;
      console.error(`caught up with ${feed.filter}`);
    }
  }
}

async function main(): Promise<void> {
  const config = busConfig(process.env);
  const schemas = new SchemaSet(config.schemaDir);
  const from = process.env.AUDIT_FROM ?? 'last';
  if (from !== 'last' && from !== 'start') throw new ConfigError('AUDIT_FROM', `must be last (resume after the last stored sequence) or start (read all the streams keep again), got ${JSON.stringify(from)}`);
  // A few connections: the feeds store their events side by side.
  const db = new pg.Pool({ ...(process.env.DATABASE_URL ? { connectionString: process.env.DATABASE_URL } : {}), max: 4 });
  const store = new AuditStore(db);
  await store.prepare();
  const positions = from === 'start' ? new Map<string, number>() : await store.positions();
  const nc = await connect({ servers: config.servers, user: config.user, pass: config.password, inboxPrefix: config.inboxPrefix, name: 'audit-log' });
  const stop = () => void nc.drain().finally(() => db.end());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await Promise.all(feeds.map((feed) => follow(nc, feed, positions.get(feed.filter), store, schemas)));
}

main().catch((err: unknown) => {
  console.error(`audit-log: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
