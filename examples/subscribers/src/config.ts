import { fileURLToPath } from 'node:url';

/** A setting in the environment is missing or malformed; names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

/** How a subscriber reaches the bus. */
export interface BusConfig {
  /** NATS servers. */
  servers: string[];
  user?: string;
  password?: string;
  /**
   * Prefix of the client's inboxes. The read-only `reader` login may only
   * subscribe to `_INBOX_reader.>`, so JetStream delivers there.
   */
  inboxPrefix: string;
  /** Folder of the published JSON Schemas (`*.schema.json`). */
  schemaDir: string;
}

const defaultSchemaDir = fileURLToPath(new URL('../../../bus-schemas/schemas/', import.meta.url));

/** Reads NATS_URL, NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX and MESHBUS_SCHEMA_DIR. */
export function busConfig(env: NodeJS.ProcessEnv): BusConfig {
  const servers = (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) throw new ConfigError('NATS_URL', 'names no server');
  for (const s of servers) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+$|^[^\s/:]+:\d+$/.test(s)) throw new ConfigError('NATS_URL', `${JSON.stringify(s)} is not a NATS URL such as nats://127.0.0.1:4222`);
  }
  if (env.NATS_USER && env.NATS_PASSWORD === undefined) throw new ConfigError('NATS_PASSWORD', `is needed with NATS_USER=${env.NATS_USER}`);
  const inboxPrefix = env.NATS_INBOX_PREFIX ?? '_INBOX_reader';
  if (!/^[A-Za-z0-9_-]+$/.test(inboxPrefix)) throw new ConfigError('NATS_INBOX_PREFIX', `${JSON.stringify(inboxPrefix)} must be one subject token`);
  return {
    servers,
    user: env.NATS_USER || undefined,
    password: env.NATS_USER ? env.NATS_PASSWORD : undefined,
    inboxPrefix,
    schemaDir: env.MESHBUS_SCHEMA_DIR ?? defaultSchemaDir,
  };
}
