import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import type { Logger } from '@meshbus/runtime';

/** How a process reaches NATS. */
export interface BusConnectionConfig {
  /** NATS URLs; a comma-separated list is accepted. */
  servers: string[];
  /** Connection name shown by the server (service and replica). */
  name: string;
  user?: string;
  password?: string;
  token?: string;
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
  const nc = await connect(options);
  logger.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'pingTimer') continue;
      const level = s.type === 'disconnect' || s.type === 'error' ? 'warn' : 'info';
      logger[level]({ event: s.type, data: typeof s.data === 'string' ? s.data : undefined }, 'NATS connection status');
    }
  })();
  return nc;
}
