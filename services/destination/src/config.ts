import { hostname } from 'node:os';
import { ConfigError, envDuration, envInt, envLogLevel, envString, parseHostPort, type Env } from '@meshbus/runtime';
import { busConfigFromEnv, metricsRetentionFromEnv, type BusConnectionConfig, type MetricsRetention } from '@meshbus/bus';
import { resourceSourceFromEnv, type ResourceSourceConfig } from '@meshbus/kube';
import type { RegistrationAuthConfig } from './registration-auth.js';

/** Typed configuration of the destination service. */
export interface DestinationConfig {
  bus: BusConnectionConfig;
  /** JetStream replicas of the meshbus streams. @default 1 */
  streamReplicas: number;
  /** Retention of the events stream. @default 7 days */
  eventsMaxAgeMs: number;
  /** Limits of the traffic-summary stream. @default 1 hour, 1 GiB */
  metricsRetention: MetricsRetention;
  admin: { host: string; port: number };
  logLevel: string;
  replicaId: string;
  /** Where mesh resources are read from (`MESHBUS_RESOURCE_SOURCE`). @default the manifests folder */
  resourceSource: ResourceSourceConfig;
  /** Folder of mesh manifests (manifests mode only). */
  manifestsDir: string | undefined;
  /** A manifest file is read once it has not changed for this long. @default 250ms */
  manifestsQuietMs: number;
  controlNamespace: string;
  trustDomain: string;
  clusterDomain: string;
  inboundProxyPort: number;
  /** Leader lease: a standby takes over after this long without renewal. @default 1.5s */
  leaseMs: number;
  /** How workload registration requests are authenticated. @default local with MESHBUS_TOKEN_PUBLIC_KEY, else disabled */
  registrationAuth: RegistrationAuthConfig;
}

/**
 * `MESHBUS_TOKEN_VALIDATION` local (default) or kubernetes. Local mode uses the identity service's
 * settings: `MESHBUS_TOKEN_PUBLIC_KEY` (without it registration is disabled) and
 * `MESHBUS_TOKEN_AUDIENCE`; kubernetes mode asks TokenReview for `MESHBUS_TOKEN_AUDIENCE`
 * (comma separated), with `KUBECONFIG` or the in-cluster service account.
 */
export function registrationAuthFromEnv(env: Env): RegistrationAuthConfig {
  const mode = envString(env, 'MESHBUS_TOKEN_VALIDATION', 'local');
  const audience = envString(env, 'MESHBUS_TOKEN_AUDIENCE', 'identity.meshbus.io');
  if (mode === 'local') {
    const tokenPublicKeyFile = envString(env, 'MESHBUS_TOKEN_PUBLIC_KEY');
    return tokenPublicKeyFile === undefined ? { kind: 'disabled' } : { kind: 'local', tokenPublicKeyFile, tokenAudience: audience };
  }
  if (mode === 'kubernetes') {
    const tokenAudiences = audience.split(',').map((a) => a.trim()).filter(Boolean);
    if (tokenAudiences.length === 0) throw new ConfigError('MESHBUS_TOKEN_AUDIENCE must name at least one audience');
    const kubeconfig = envString(env, 'KUBECONFIG');
    return { kind: 'kubernetes', tokenAudiences, ...(kubeconfig === undefined ? {} : { kubeconfig: kubeconfig.split(':')[0]! }) };
  }
  throw new ConfigError(`MESHBUS_TOKEN_VALIDATION must be local or kubernetes, got ${JSON.stringify(mode)}`);
}

/** Builds the configuration from environment variables; throws ConfigError naming the bad variable. */
export function envToConfig(env: Env): DestinationConfig {
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `destination-${hostname()}-${process.pid}`);
  const resourceSource = resourceSourceFromEnv(env);
  return {
    bus: busConfigFromEnv(env, `meshbus-destination/${replicaId}`, 'destination'),
    streamReplicas: envInt(env, 'MESHBUS_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    eventsMaxAgeMs: envDuration(env, 'MESHBUS_EVENTS_MAX_AGE', 7 * 86_400_000),
    metricsRetention: metricsRetentionFromEnv(env),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9996'), 'MESHBUS_ADMIN_ADDR'),
    logLevel: envLogLevel(env),
    replicaId,
    resourceSource,
    manifestsDir: resourceSource.kind === 'manifests' ? resourceSource.directory : undefined,
    manifestsQuietMs: envDuration(env, 'MESHBUS_MANIFESTS_QUIET_PERIOD', 250),
    controlNamespace: envString(env, 'MESHBUS_CONTROL_NAMESPACE', 'meshbus'),
    trustDomain: envString(env, 'MESHBUS_TRUST_DOMAIN', 'cluster.local'),
    clusterDomain: envString(env, 'MESHBUS_CLUSTER_DOMAIN', 'cluster.local'),
    inboundProxyPort: envInt(env, 'MESHBUS_INBOUND_PROXY_PORT', 4143, { min: 1, max: 65535 }),
    leaseMs: envDuration(env, 'MESHBUS_LEASE_DURATION', 1500),
    registrationAuth: registrationAuthFromEnv(env),
  };
}
