import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { headers as natsHeaders, type NatsConnection } from 'nats';
import { connectBus, ensureStreams, JetStreamPublisher } from '@meshbus/bus';
import { busValidator, schemaUri, type SchemaName } from '@meshbus/bus-schemas';
import { silentLogger } from '@meshbus/runtime';
import { natsAuthorizationConfig, startNats, startProcess, type NatsCluster, type RunningProcess } from '@meshbus/testing';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const src = fileURLToPath(new URL('../src/', import.meta.url));

/** A NATS server with the read-only `reader` login the examples use, and a writer the test publishes with. */
export interface TestBus {
  nats: NatsCluster;
  nc: NatsConnection;
  publisher: JetStreamPublisher;
  reader: { user: string; password: string };
  close(): Promise<void>;
}

export async function startTestBus(): Promise<TestBus> {
  const reader = { user: 'reader', password: 'reader-secret' };
  const writer = { user: 'writer', password: 'writer-secret' };
  const block = natsAuthorizationConfig([{ ...reader, role: 'reader' }]).replace('users = [\n', `users = [\n    { user: "${writer.user}", password: "${writer.password}" }\n`);
  const nats = await startNats({ authorization: block });
  const nc = await connectBus({ servers: [nats.url], name: 'examples-test', user: writer.user, password: writer.password }, silentLogger());
  await ensureStreams(await nc.jetstreamManager());
  const publisher = new JetStreamPublisher({ js: nc.jetstream(), validator: busValidator(), source: '/meshbus/test/examples' });
  return {
    nats,
    nc,
    publisher,
    reader,
    close: async () => {
      await nc.close();
      await nats.stop();
    },
  };
}

/** Publishes a well-formed CloudEvent whose data does not match its schema (meshbus itself refuses to send one). */
export async function publishInvalid(nc: NatsConnection, subject: string, type: string, schema: SchemaName, data: unknown): Promise<number> {
  const h = natsHeaders();
  h.set('ce-specversion', '1.0');
  h.set('ce-id', crypto.randomUUID());
  h.set('ce-source', '/meshbus/test/examples');
  h.set('ce-type', type);
  h.set('ce-time', new Date().toISOString());
  h.set('ce-subject', 'invalid');
  h.set('ce-dataschema', schemaUri(schema));
  h.set('content-type', 'application/json');
  const ack = await nc.jetstream().publish(subject, new TextEncoder().encode(JSON.stringify(data)), { headers: h });
  return ack.seq;
}

/** Runs a built example (examples/subscribers/dist/<name>.js) as its own process. */
export function runExample(name: 'endpoint-watcher' | 'audit-log', env: Record<string, string>): RunningProcess {
  const main = `${dist}${name}.js`;
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc --build first`);
  return startProcess({ command: process.execPath, args: [main], env: { PATH: process.env.PATH ?? '', ...env } });
}

/** The example sources' import specifiers: a stock NATS client, ajv, pg and Node only. */
export function exampleImports(): string[] {
  return readdirSync(src)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(`${src}${f}`, 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]!));
}
