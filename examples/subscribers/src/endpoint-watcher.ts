// Prints every change of the mesh's endpoints, validating each message against
// its published JSON Schema. A stock NATS client and the schemas; nothing else.
//
//   NATS_URL=nats://127.0.0.1:4222 NATS_USER=reader NATS_PASSWORD=... node dist/endpoint-watcher.js
import { connect, consumerOpts } from 'nats';
import { busConfig, ConfigError } from './config.js';
import { decodeEvent, NotAnEventError } from './cloudevents.js';
import { EndpointView, type EndpointSetData } from './endpoint-view.js';
import { SchemaSet } from './schemas.js';

const endpointsSubject = 'meshbus.v1.state.endpoints.>';
const snapshotType = 'io.meshbus.v1.endpoints.snapshot';
const deletedType = 'io.meshbus.v1.endpoints.deleted';

async function main(): Promise<void> {
  const config = busConfig(process.env);
  const schemas = new SchemaSet(config.schemaDir);
  const nc = await connect({ servers: config.servers, user: config.user, pass: config.password, inboxPrefix: config.inboxPrefix, name: 'endpoint-watcher' });
  // An ordered push consumer: the stream keeps the last snapshot of every key,
  // so reading it from the start gives the current endpoints, then every change.
  const opts = consumerOpts().orderedConsumer().deliverAll();
  const sub = await nc.jetstream().subscribe(endpointsSubject, opts);
  const stop = () => void sub.drain().then(() => nc.close());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  console.error(`following ${endpointsSubject} on ${config.servers.join(',')}`);
  const view = new EndpointView();
  let caughtUp = false;
  for await (const m of sub) {
    try {
      const event = decodeEvent(m);
      const problems = schemas.problems(event.dataschema, event.data);
      if (problems.length > 0) {
        console.error(`skipped ${event.natsSubject} (seq ${event.seq}): ${event.type} does not match ${event.dataschema}: ${problems.join('; ')}`);
      } else if (event.type === snapshotType) {
        console.log(view.snapshot(event.subject, event.data as EndpointSetData));
      } else if (event.type === deletedType) {
        console.log(view.deleted(event.subject, (event.data as { reason: string }).reason));
      }
      // Other types are ignored: within v1 new ones may appear.
    } catch (err) {
      if (!(err instanceof NotAnEventError)) throw err;
      console.error(`skipped ${m.subject} (seq ${m.seq}): ${err.message}`);
    }
    if (!caughtUp && m.info.pending === 0) {
      caughtUp = true;
      console.error('caught up with the current endpoints; following changes');
    }
  }
}

main().catch((err: unknown) => {
  console.error(`endpoint-watcher: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
