import { hostname } from 'node:os';
import { busConfigFromEnv, type BusConnectionConfig } from '@meshbus/bus';
import { canonicalIp, clusterNameRule, identityName, isClusterName, isDnsLabel, isDnsSubdomain, isIpAddress } from '@meshbus/core';
import { resourceSourceFromEnv, type ResourceSourceConfig } from '@meshbus/kube';
import { ConfigError, envDuration, envInt, envLogLevel, envString, parseHostPort, type Env } from '@meshbus/runtime';
import type { GatewayAddress } from './mirror.js';

/** Typed configuration of the multicluster service. */
export interface MulticlusterConfig {
  readonly bus: BusConnectionConfig;
  /** This cluster's name (`MESHBUS_CLUSTER_NAME`), also the JetStream domain of its NATS. */
  readonly cluster: string;
  readonly trustDomain: string;
  /** JetStream replicas of the meshbus streams and of the lease bucket. @default 1 */
  readonly streamReplicas: number;
  /** Retention of the events stream. @default 7 days */
  readonly eventsMaxAgeMs: number;
  /** Where /live, /ready and /metrics are served. @default 0.0.0.0:9994 */
  readonly admin: { readonly host: string; readonly port: number };
  readonly logLevel: string;
  readonly replicaId: string;
  /** Where the Services to export are read from. */
  readonly resourceSource: ResourceSourceConfig;
  readonly manifestsQuietMs: number;
  /** Leader lease. @default 1.5s */
  readonly leaseMs: number;
  /**
   * This cluster's multicluster gateway, as linked clusters reach it. Without
   * addresses the cluster exports nothing (it may still mirror).
   */
  readonly gateway: { readonly addresses: readonly GatewayAddress[]; readonly identity: string };
  /** The clusters whose exports this cluster mirrors. */
  readonly links: readonly string[];
  /** How often the gateway heartbeat is published. @default 2s */
  readonly heartbeatIntervalMs: number;
  /** How long a quiet link keeps its mirrors (not ready) before they are removed. @default 30s */
  readonly graceMs: number;
}

function envClusterName(env: Env, name: string): string | undefined {
  const value = envString(env, name);
  if (value === undefined || value === '') return undefined;
  if (!isClusterName(value)) throw new ConfigError(`${name} must be ${clusterNameRule}, got ${JSON.stringify(value)}`);
  return value;
}

function envGatewayAddresses(env: Env): GatewayAddress[] {
  const name = 'MESHBUS_MULTICLUSTER_GATEWAY_ADDRESSES';
  const items = envString(env, name, '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length > 16) throw new ConfigError(`${name} names ${items.length} addresses; at most 16 are allowed`);
  return items.map((item) => {
    const { host, port } = parseHostPort(item, name);
    const address = host.replace(/^\[(.*)\]$/, '$1');
    if (!isIpAddress(address)) throw new ConfigError(`${name}: ${JSON.stringify(item)} must be <ip>:<port> (linked clusters connect to an address, not a name)`);
    return { address: canonicalIp(address), port };
  });
}

function envLinks(env: Env, cluster: string): string[] {
  const name = 'MESHBUS_MULTICLUSTER_LINKS';
  const links: string[] = [];
  for (const item of envString(env, name, '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!isClusterName(item)) throw new ConfigError(`${name}: ${JSON.stringify(item)} must be a cluster name: ${clusterNameRule}`);
    if (item === cluster) throw new ConfigError(`${name}: ${item} is this cluster (MESHBUS_CLUSTER_NAME)`);
    if (links.includes(item)) throw new ConfigError(`${name}: ${item} is listed twice`);
    links.push(item);
  }
  return links;
}

/** Builds the configuration from environment variables; throws ConfigError naming the bad variable. */
export function envToConfig(env: Env): MulticlusterConfig {
  const cluster = envClusterName(env, 'MESHBUS_CLUSTER_NAME');
  if (cluster === undefined) throw new ConfigError(`MESHBUS_CLUSTER_NAME is required: the name of this cluster (${clusterNameRule})`);
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `multicluster-${hostname()}-${process.pid}`);
  const controlNamespace = envString(env, 'MESHBUS_CONTROL_NAMESPACE', 'meshbus');
  if (!isDnsLabel(controlNamespace)) throw new ConfigError(`MESHBUS_CONTROL_NAMESPACE must be a DNS label (e.g. meshbus), got ${JSON.stringify(controlNamespace)}`);
  const trustDomain = envString(env, 'MESHBUS_TRUST_DOMAIN', 'cluster.local');
  if (!isDnsSubdomain(trustDomain)) throw new ConfigError(`MESHBUS_TRUST_DOMAIN must be a DNS name (e.g. cluster.local), got ${JSON.stringify(trustDomain)}`);
  const gatewayServiceAccount = envString(env, 'MESHBUS_MULTICLUSTER_GATEWAY_SERVICE_ACCOUNT', 'multicluster-gateway');
  if (!isDnsLabel(gatewayServiceAccount)) throw new ConfigError(`MESHBUS_MULTICLUSTER_GATEWAY_SERVICE_ACCOUNT must be a DNS label, got ${JSON.stringify(gatewayServiceAccount)}`);
  const heartbeatIntervalMs = envDuration(env, 'MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL', 2000);
  if (heartbeatIntervalMs < 500 || heartbeatIntervalMs > 60_000) throw new ConfigError(`MESHBUS_MULTICLUSTER_HEARTBEAT_INTERVAL must be between 500ms and 60s, got ${heartbeatIntervalMs}ms`);
  const graceMs = envDuration(env, 'MESHBUS_MULTICLUSTER_GRACE', 30_000);
  if (graceMs < 3 * heartbeatIntervalMs) throw new ConfigError(`MESHBUS_MULTICLUSTER_GRACE (${graceMs}ms) must be at least three heartbeat intervals (${3 * heartbeatIntervalMs}ms)`);
  const leaseMs = envDuration(env, 'MESHBUS_LEASE_DURATION', 1500);
  if (leaseMs < 100) throw new ConfigError(`MESHBUS_LEASE_DURATION must be at least 100ms, got ${leaseMs}ms`);
  return {
    bus: busConfigFromEnv(env, `meshbus-multicluster/${replicaId}`, 'multicluster'),
    cluster,
    trustDomain,
    streamReplicas: envInt(env, 'MESHBUS_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    eventsMaxAgeMs: envDuration(env, 'MESHBUS_EVENTS_MAX_AGE', 7 * 86_400_000),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9994'), 'MESHBUS_ADMIN_ADDR'),
    logLevel: envLogLevel(env),
    replicaId,
    resourceSource: resourceSourceFromEnv(env),
    manifestsQuietMs: envDuration(env, 'MESHBUS_MANIFESTS_QUIET_PERIOD', 250),
    leaseMs,
    gateway: {
      addresses: envGatewayAddresses(env),
      identity: identityName({ serviceAccount: gatewayServiceAccount, namespace: controlNamespace, controlNamespace, trustDomain }),
    },
    links: envLinks(env, cluster),
    heartbeatIntervalMs,
    graceMs,
  };
}
