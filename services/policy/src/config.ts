import { hostname } from 'node:os';
import { busConfigFromEnv, metricsRetentionFromEnv, type BusConnectionConfig, type MetricsRetention } from '@meshbus/bus';
import { isDnsLabel, isDnsSubdomain } from '@meshbus/core';
import type { DefaultInboundPolicy } from '@meshbus/manifests';
import type { PolicySettings } from '@meshbus/policy';
import { ConfigError, envDuration, envInt, envLogLevel, envString, parseHostPort, type Env } from '@meshbus/runtime';
import { resourceSourceFromEnv, type ResourceSourceConfig } from '@meshbus/kube';
import { canonicalCidr, NetworkError } from './networks.js';

/** Typed configuration of the policy service. */
export interface PolicyConfig {
  readonly bus: BusConnectionConfig;
  /** JetStream replicas of the meshbus streams and of the lease bucket. @default 1 */
  readonly streamReplicas: number;
  /** Retention of the events stream. @default 7 days */
  readonly eventsMaxAgeMs: number;
  /** Limits of the traffic-summary stream. @default 1 hour, 1 GiB */
  readonly metricsRetention: MetricsRetention;
  /** Where /live, /ready and /metrics are served. @default 0.0.0.0:9997 */
  readonly admin: { readonly host: string; readonly port: number };
  readonly logLevel: string;
  readonly replicaId: string;
  /** Where mesh resources are read from (`MESHBUS_RESOURCE_SOURCE`). @default the manifests folder */
  readonly resourceSource: ResourceSourceConfig;
  /** Folder of mesh manifests (manifests mode only). */
  readonly manifestsDir: string | undefined;
  /** A manifest file is read once it has not changed for this long. @default 250ms */
  readonly manifestsQuietMs: number;
  /** Leader lease: a standby takes over after this long without renewal. @default 1.5s */
  readonly leaseMs: number;
  /** What the policy is computed with. */
  readonly settings: PolicySettings;
}

/** The default inbound policies, as the resources and `MESHBUS_DEFAULT_INBOUND_POLICY` name them. */
export const defaultInboundPolicies: readonly DefaultInboundPolicy[] = ['all-unauthenticated', 'all-authenticated', 'cluster-unauthenticated', 'cluster-authenticated', 'deny', 'audit'];

/** Private, carrier-grade NAT and unique-local networks, and loopback, where local workloads live. */
const defaultClusterNetworks = '10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,fd00::/8,::1/128';
const defaultProbeNetworks = '0.0.0.0/0,::/0';

function envNetworks(env: Env, name: string, fallback: string): string[] {
  const items = envString(env, name, fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new ConfigError(`${name} must name at least one network`);
  if (items.length > 64) throw new ConfigError(`${name} names ${items.length} networks; at most 64 are allowed`);
  const out: string[] = [];
  for (const item of items) {
    try {
      const cidr = canonicalCidr(item);
      if (!out.includes(cidr)) out.push(cidr);
    } catch (err) {
      if (err instanceof NetworkError) throw new ConfigError(`${name}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

function envDefaultPolicy(env: Env): DefaultInboundPolicy {
  const value = envString(env, 'MESHBUS_DEFAULT_INBOUND_POLICY', 'all-unauthenticated');
  const policy = defaultInboundPolicies.find((p) => p === value);
  if (!policy) throw new ConfigError(`MESHBUS_DEFAULT_INBOUND_POLICY must be one of ${defaultInboundPolicies.join(', ')}, got ${JSON.stringify(value)}`);
  return policy;
}

function envDomain(env: Env, name: string, fallback: string, check: (s: string) => boolean, what: string): string {
  const value = envString(env, name, fallback);
  if (!check(value)) throw new ConfigError(`${name} must be ${what}, got ${JSON.stringify(value)}`);
  return value;
}

/** Builds the configuration from environment variables; throws ConfigError naming the bad variable. */
export function envToConfig(env: Env): PolicyConfig {
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `policy-${hostname()}-${process.pid}`);
  const controlNamespace = envDomain(env, 'MESHBUS_CONTROL_NAMESPACE', 'meshbus', isDnsLabel, 'a DNS label (e.g. meshbus)');
  const trustDomain = envDomain(env, 'MESHBUS_TRUST_DOMAIN', 'cluster.local', isDnsSubdomain, 'a DNS name (e.g. cluster.local)');
  const detectTimeoutMs = envDuration(env, 'MESHBUS_DETECT_TIMEOUT', 10_000);
  if (detectTimeoutMs <= 0) throw new ConfigError('MESHBUS_DETECT_TIMEOUT must be longer than 0ms');
  const leaseMs = envDuration(env, 'MESHBUS_LEASE_DURATION', 1500);
  if (leaseMs < 100) throw new ConfigError(`MESHBUS_LEASE_DURATION must be at least 100ms, got ${leaseMs}ms`);
  const resourceSource = resourceSourceFromEnv(env);
  return {
    bus: busConfigFromEnv(env, `meshbus-policy/${replicaId}`, 'policy'),
    streamReplicas: envInt(env, 'MESHBUS_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    eventsMaxAgeMs: envDuration(env, 'MESHBUS_EVENTS_MAX_AGE', 7 * 86_400_000),
    metricsRetention: metricsRetentionFromEnv(env),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9997'), 'MESHBUS_ADMIN_ADDR'),
    logLevel: envLogLevel(env),
    replicaId,
    resourceSource,
    manifestsDir: resourceSource.kind === 'manifests' ? resourceSource.directory : undefined,
    manifestsQuietMs: envDuration(env, 'MESHBUS_MANIFESTS_QUIET_PERIOD', 250),
    leaseMs,
    settings: {
      clusterDomain: envDomain(env, 'MESHBUS_CLUSTER_DOMAIN', 'cluster.local', isDnsSubdomain, 'a DNS name (e.g. cluster.local)'),
      identityDomain: `identity.${controlNamespace}.${trustDomain}`,
      defaultPolicy: envDefaultPolicy(env),
      clusterNetworks: envNetworks(env, 'MESHBUS_CLUSTER_NETWORKS', defaultClusterNetworks),
      probeNetworks: envNetworks(env, 'MESHBUS_PROBE_NETWORKS', defaultProbeNetworks),
      detectTimeoutMs,
    },
  };
}
