import { hostname } from 'node:os';
import { ConfigError, envBool, envInt, envLogLevel, envString, parseHostPort, type Env } from '@meshbus/runtime';
import { busConfigFromEnv, type BusConnectionConfig } from '@meshbus/bus';

/** Typed configuration of the gateway. */
export interface GatewayConfig {
  bus: BusConnectionConfig;
  streamReplicas: number;
  /**
   * Create or update the meshbus streams at start. Off when the gateway's NATS
   * user may only read them: it then waits until a writer created them.
   * @default true
   */
  ensureStreams: boolean;
  admin: { host: string; port: number };
  /** Where proxies connect (gRPC). */
  grpc: { host: string; port: number };
  /** PEM files for the gRPC listener; plaintext when absent (local development only). */
  tls?: { certFile: string; keyFile: string };
  clusterDomain: string;
  logLevel: string;
  replicaId: string;
  /** How long open streams get to end at shutdown. @default 5000 */
  drainMs: number;
}

/** Builds the configuration from environment variables; throws ConfigError naming the bad variable. */
export function envToConfig(env: Env): GatewayConfig {
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `gateway-${hostname()}-${process.pid}`);
  const certFile = envString(env, 'MESHBUS_TLS_CERT');
  const keyFile = envString(env, 'MESHBUS_TLS_KEY');
  if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError('MESHBUS_TLS_CERT and MESHBUS_TLS_KEY must be set together');
  const config: GatewayConfig = {
    bus: busConfigFromEnv(env, `meshbus-gateway/${replicaId}`, 'gateway'),
    streamReplicas: envInt(env, 'MESHBUS_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    ensureStreams: envBool(env, 'MESHBUS_ENSURE_STREAMS', true),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9995'), 'MESHBUS_ADMIN_ADDR'),
    grpc: parseHostPort(envString(env, 'MESHBUS_GRPC_ADDR', '0.0.0.0:8086'), 'MESHBUS_GRPC_ADDR'),
    clusterDomain: envString(env, 'MESHBUS_CLUSTER_DOMAIN', 'cluster.local'),
    logLevel: envLogLevel(env),
    replicaId,
    drainMs: envInt(env, 'MESHBUS_DRAIN_MS', 5000, { min: 0, max: 120_000 }),
  };
  if (certFile && keyFile) config.tls = { certFile, keyFile };
  return config;
}
