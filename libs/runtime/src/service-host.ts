import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AdminServer } from './admin-server.js';
import { ResourceStack, type ServiceState } from './lifecycle.js';
import { ReadinessChecks, type Readiness } from './readiness.js';

/**
 * The bus connection a service runs on, as the host sees it. The host knows
 * nothing of the client itself (libs/bus supplies the NATS one); it follows
 * whether it is up, for readiness, and releases it at the end.
 */
export interface HostConnection<C> {
  /** The client the service uses. */
  readonly client: C;
  /** Whether the connection is up now. */
  readonly connected: boolean;
  /** Calls `listener` each time the connection comes back after a loss. */
  onReconnect(listener: () => void): void;
  /** Drains and closes a connection the host opened; leaves one it was given alone. */
  release(): Promise<void>;
}

/** Opens the connection of a service; `logger` is the host's `bus` component logger. */
export type ConnectionFactory<C> = (logger: Logger) => Promise<HostConnection<C>>;

/** The dependencies every meshbus service lets a test replace. */
export interface HostOverrides<C> {
  /** Root logger; its level is what `PUT /log-level` changes. @default a JSON logger on stdout at the configured level */
  logger?: Logger;
  /** @default a new registry with process metrics */
  registry?: Registry;
  /** An open connection to use instead of opening one; the service leaves it open at the end. */
  nc?: C;
  /** The clock of the service's logic. @default () => new Date() */
  now?: () => Date;
}

/** Options of {@link ServiceHost}. */
export interface ServiceHostOptions<C> {
  /** Service name: `destination`, `gateway`, `identity`. */
  service: string;
  replicaId: string;
  /** Where the admin server listens. */
  admin: { host: string; port: number };
  /** Root logger of the process; the host logs through a child with the replica id. */
  logger: Logger;
  registry: Registry;
  connect: ConnectionFactory<C>;
}

/**
 * What every meshbus service runs on: the admin server (/live, /ready,
 * /metrics, /log-level), readiness made of named checks, the metrics registry,
 * the bus connection, the resources released in reverse order at the end, and
 * the lifecycle `initialized → started → destroyed`. A service adds its own
 * work in the body it passes to {@link start}, and its own readiness checks.
 */
export class ServiceHost<C> {
  /** Logger with the replica id; services derive `component` children from it. */
  readonly logger: Logger;
  readonly registry: Registry;
  readonly resources: ResourceStack;
  readonly readiness = new ReadinessChecks();
  private readonly rootLogger: Logger;
  private readonly admin: AdminServer;
  private lifecycle: ServiceState = 'initialized';
  private starting = false;
  private conn: HostConnection<C> | undefined;

  constructor(private readonly options: ServiceHostOptions<C>) {
    this.rootLogger = options.logger;
    this.logger = options.logger.child({ replica: options.replicaId });
    this.registry = options.registry;
    this.resources = new ResourceStack(this.logger);
    this.admin = new AdminServer({
      host: options.admin.host,
      port: options.admin.port,
      registry: options.registry,
      logger: this.logger.child({ component: 'admin' }),
      readiness: () => this.ready(),
      // Children inherit the root's level unless given their own, so one change reaches every component.
      logLevel: { get: () => this.rootLogger.level, set: (level) => (this.rootLogger.level = level) },
    });
    this.readiness.add('lifecycle', () => {
      if (this.lifecycle === 'started') return undefined;
      if (this.lifecycle === 'destroyed') return 'shutting down';
      return this.starting ? 'starting' : 'not started';
    });
    this.readiness.add('bus', () => (this.conn?.connected ? undefined : 'not connected to NATS'));
  }

  get service(): string {
    return this.options.service;
  }

  get replicaId(): string {
    return this.options.replicaId;
  }

  get state(): ServiceState {
    return this.lifecycle;
  }

  /** Base URL of the admin server (after start). */
  get adminUrl(): string {
    return this.admin.url;
  }

  /** The bus connection (from within the start body on). */
  get connection(): C {
    if (!this.conn) throw new Error(`the ${this.options.service} service has no connection before it starts`);
    return this.conn.client;
  }

  /** Whether the bus connection is up. */
  get connected(): boolean {
    return this.conn?.connected ?? false;
  }

  /** Calls `listener` each time the bus connection comes back (from within the start body on). */
  onReconnect(listener: () => void): void {
    if (!this.conn) throw new Error('onReconnect before the connection is open');
    this.conn.onReconnect(listener);
  }

  /** Ready when every named check passes. */
  ready(): Readiness {
    return this.readiness.evaluate();
  }

  /**
   * Starts the admin server, runs `prepare` (what must hold before the bus is
   * worth waiting for, such as reading key files), opens the connection, then
   * runs `body` (the service's own start-up) and marks the service started.
   * Everything acquired goes on {@link resources}; a stop that came during
   * start-up releases it.
   */
  async start(body: (connection: C) => Promise<void>, prepare?: () => Promise<void>): Promise<void> {
    if (this.lifecycle !== 'initialized' || this.starting) throw new Error(`cannot start a ${this.starting ? 'starting' : this.lifecycle} ${this.options.service} service`);
    this.starting = true;
    try {
      await this.admin.start();
      this.resources.use(this.admin);
      await prepare?.();
      if (this.stopping) return;
      const conn = await this.options.connect(this.logger.child({ component: 'bus' }));
      this.conn = conn;
      this.resources.defer(conn, () => conn.release());
      if (!this.stopping) await body(conn.client);
    } finally {
      this.starting = false;
      if (this.stopping) {
        // Stopped while starting: what was acquired after the stop is released here.
        await this.resources.disposeAll();
      }
    }
    if (this.stopping) return;
    this.lifecycle = 'started';
  }

  /** Whether {@link stop} was called. */
  get stopping(): boolean {
    return this.lifecycle === 'destroyed';
  }

  /**
   * Marks the service destroyed, runs `drain` (work in flight finishing while
   * the connection is still open), then releases every resource in reverse order.
   * Only the first call acts.
   */
  async stop(drain?: () => Promise<void>): Promise<void> {
    if (this.lifecycle === 'destroyed') return;
    this.lifecycle = 'destroyed';
    try {
      await drain?.();
    } catch (err) {
      this.logger.warn({ err }, 'draining failed');
    }
    await this.resources.disposeAll();
  }
}
