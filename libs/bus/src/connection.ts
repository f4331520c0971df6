import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { ConfigError, envString, natsInboxPrefix, type ConnectionFactory, type Env, type HostConnection, type Logger } from '@meshbus/runtime';

/** How a process reaches NATS. */
export interface BusConnectionConfig {
  /** NATS URLs; a comma-separated list is accepted. */
  servers: string[];
  /** Connection name shown by the server (service and replica). */
  name: string;
  user?: string;
  password?: string;
  token?: string;
  /**
   * Prefix of the connection's reply inboxes and push-consumer deliveries;
   * with the generated NATS users it must be the role's (`_INBOX_<role>`).
   * @default `_INBOX`
   */
  inboxPrefix?: string;
}

/**
 * Connects to NATS and reconnects forever: a control-plane process never gives
 * up on the bus, it reports not-ready instead.
 */
export async function connectBus(config: BusConnectionConfig, logger: Logger): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    servers: config.servers.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean),
    name: config.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    pingInterval: 10_000,
    waitOnFirstConnect: true,
    timeout: 5_000,
  };
  if (config.user) options.user = config.user;
  if (config.password) options.pass = config.password;
  if (config.token) options.token = config.token;
  if (config.inboxPrefix) options.inboxPrefix = config.inboxPrefix;
  const nc = await connect(options);
  logger.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'pingTimer') continue;
      // Attempts repeat every few hundred milliseconds while the server is away; the disconnect and the reconnect say enough.
      const level = s.type === 'disconnect' || s.type === 'error' ? 'warn' : s.type === 'reconnecting' ? 'debug' : 'info';
      logger[level]({ event: s.type, data: typeof s.data === 'string' ? s.data : undefined }, 'NATS connection status');
    }
  })();
  return nc;
}

/**
 * Reads the NATS settings every service shares: `NATS_URL` (comma-separated),
 * `NATS_USER`/`NATS_PASSWORD` or `NATS_TOKEN`, and `NATS_INBOX_PREFIX`
 * (default: the private prefix of the service's `role`, `_INBOX_<role>`).
 */
export function busConfigFromEnv(env: Env, connectionName: string, role: string): BusConnectionConfig {
  const servers = envString(env, 'NATS_URL', 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new ConfigError('NATS_URL must name at least one server');
  for (const s of servers) {
    if (!/^(nats|tls|wss?):\/\/[^\s/]+$|^[^\s/:]+:\d+$/.test(s)) throw new ConfigError(`NATS_URL: ${JSON.stringify(s)} is not a NATS server URL (e.g. nats://127.0.0.1:4222)`);
  }
  const inboxPrefix = envString(env, 'NATS_INBOX_PREFIX', natsInboxPrefix(role));
  // One token: replies are recognised by their first token (see the certify response in the catalogue).
  if (!/^[A-Za-z0-9_-]+$/.test(inboxPrefix)) throw new ConfigError(`NATS_INBOX_PREFIX: ${JSON.stringify(inboxPrefix)} must be one NATS subject token (letters, digits, '_', '-'), e.g. _INBOX_${role}`);
  const config: BusConnectionConfig = { servers, name: connectionName, inboxPrefix };
  const user = envString(env, 'NATS_USER');
  const password = envString(env, 'NATS_PASSWORD');
  const token = envString(env, 'NATS_TOKEN');
  if (user) config.user = user;
  if (password) config.password = password;
  if (token) config.token = token;
  return config;
}

/** Whether a connection is currently up, followed from its status events. */
export class ConnectionHealth {
  private up = true;
  private readonly reconnectListeners: (() => void)[] = [];

  constructor(nc: NatsConnection, onReconnect?: () => void) {
    if (onReconnect) this.reconnectListeners.push(onReconnect);
    void nc.closed().then(() => {
      this.up = false;
    });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.up = false;
        else if (s.type === 'reconnect') {
          this.up = true;
          for (const listener of this.reconnectListeners) listener();
        }
      }
    })();
  }

  get connected(): boolean {
    return this.up;
  }

  /** Calls `listener` after each reconnection. */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }
}

/**
 * The NATS connection of a service host: opens one from `config` (released by
 * drain, then close), or follows `given`, which stays open for whoever passed it.
 */
export function natsConnectionFactory(config: BusConnectionConfig, given?: NatsConnection): ConnectionFactory<NatsConnection> {
  return async (logger: Logger): Promise<HostConnection<NatsConnection>> => {
    const nc = given ?? (await connectBus(config, logger));
    const health = new ConnectionHealth(nc);
    return {
      client: nc,
      get connected() {
        return health.connected;
      },
      onReconnect: (listener) => health.onReconnect(listener),
      // drain() of a connection that is reconnecting resolves at once but leaves it
      // reconnecting, which keeps the process alive: close it then.
      release: given ? async () => undefined : () => nc.drain().finally(() => nc.close()),
    };
  };
}
