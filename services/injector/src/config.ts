import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { busConfigFromEnv, type BusConnectionConfig } from '@meshbus/bus';
import { isDnsLabel, isDnsSubdomain, meshbusVersion } from '@meshbus/core';
import { resourceSourceEnv, type ResourceSourceMode } from '@meshbus/install';
import { ConfigError, envBool, envDuration, envInt, envLogLevel, envRequired, envString, isLogLevel, logLevels, parseDuration, parseHostPort, type Env } from '@meshbus/runtime';
import type { InjectionConfig } from './inject.js';
import { trustMaterialOf, TrustMaterialError, type TrustMaterial } from './trust-material.js';

/** Typed configuration of the injector service. */
export interface InjectorConfig {
  /** Where the HTTPS webhook listens. @default 0.0.0.0:8443 */
  readonly webhook: { readonly host: string; readonly port: number };
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  /** Where /live, /ready and /metrics are served. @default 0.0.0.0:9998 */
  readonly admin: { readonly host: string; readonly port: number };
  readonly logLevel: string;
  readonly replicaId: string;
  /** Where namespaces (and their annotations) come from. */
  readonly namespaces: NamespaceSourceConfig;
  /** The trust anchors PEM file, given to every injected proxy and hashed into its trust-root annotation; read again when it changes. */
  readonly trustAnchorsFile: string;
  /** PEM file of the CA of the gateways' certificates, given to every injected proxy. */
  readonly gatewayCaFile?: string;
  /** How often the trust files are read again. @default 5s */
  readonly trustReloadMs: number;
  /** Pod-injection events on the bus. */
  readonly events: EventsConfig;
  /** The injection settings, with the trust material as read when the configuration was built. */
  readonly injection: InjectionConfig;
}

/** `MESHBUS_RESOURCE_SOURCE`: a manifests folder, or the Kubernetes API. */
export type NamespaceSourceConfig =
  | { readonly kind: 'manifests'; readonly manifestsDir: string }
  /** `kubeconfig`: the `KUBECONFIG` file; in-cluster service account when absent. */
  | { readonly kind: 'kubernetes'; readonly kubeconfig?: string };

/** Where and how pod-injection events are published. */
export interface EventsConfig {
  /** `MESHBUS_INJECTOR_EVENTS`. @default true */
  readonly enabled: boolean;
  readonly bus: BusConnectionConfig;
  /** Events held while NATS is away (`MESHBUS_INJECTOR_EVENT_BUFFER`). @default 1000 */
  readonly capacity: number;
}

const version = meshbusVersion;

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const v = envString(env, name, fallback);
  const found = values.find((x) => x === v);
  if (found === undefined) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  return found;
}

/** Builds the configuration from the environment (and hashes the trust anchors file); ConfigError names the variable at fault. */
export function envToConfig(env: Env): InjectorConfig {
  const controlNamespace = envString(env, 'MESHBUS_CONTROL_NAMESPACE', 'meshbus');
  if (!isDnsLabel(controlNamespace)) throw new ConfigError(`MESHBUS_CONTROL_NAMESPACE must be a DNS label, got ${JSON.stringify(controlNamespace)}`);
  const clusterDomain = envString(env, 'MESHBUS_CLUSTER_DOMAIN', 'cluster.local');
  if (!isDnsSubdomain(clusterDomain)) throw new ConfigError(`MESHBUS_CLUSTER_DOMAIN must be a DNS name, got ${JSON.stringify(clusterDomain)}`);
  const gateways = envString(env, 'MESHBUS_INJECTOR_GATEWAYS', `meshbus-gateway.${controlNamespace}.svc.${clusterDomain}:8086`)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const g of gateways) parseHostPort(g, 'MESHBUS_INJECTOR_GATEWAYS');
  const gatewayTlsName = envString(env, 'MESHBUS_INJECTOR_GATEWAY_TLS_NAME');
  if (gatewayTlsName !== undefined && !isDnsSubdomain(gatewayTlsName)) throw new ConfigError(`MESHBUS_INJECTOR_GATEWAY_TLS_NAME must be a DNS name, got ${JSON.stringify(gatewayTlsName)}`);
  const logLevel = envString(env, 'MESHBUS_INJECTOR_PROXY_LOG_LEVEL', 'info');
  if (!isLogLevel(logLevel)) throw new ConfigError(`MESHBUS_INJECTOR_PROXY_LOG_LEVEL must be one of ${logLevels.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const shutdownGracePeriod = envString(env, 'MESHBUS_INJECTOR_PROXY_SHUTDOWN_GRACE_PERIOD', '30s');
  try {
    parseDuration(shutdownGracePeriod);
  } catch (err) {
    throw new ConfigError(`MESHBUS_INJECTOR_PROXY_SHUTDOWN_GRACE_PERIOD: ${(err as Error).message}`);
  }
  const trustAnchorsFile = envRequired(env, 'MESHBUS_INJECTOR_TRUST_ANCHORS');
  const gatewayCaFile = envString(env, 'MESHBUS_INJECTOR_GATEWAY_CA');
  const trust = readTrustMaterial(trustAnchorsFile, gatewayCaFile);
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `injector-${hostname()}-${process.pid}`);
  const source = envString(env, resourceSourceEnv, 'manifests');
  if (source !== 'manifests' && source !== 'kubernetes') throw new ConfigError(`${resourceSourceEnv} must be manifests or kubernetes, got ${JSON.stringify(source)}`);
  const namespaces: NamespaceSourceConfig = namespaceSource(env, source);
  return {
    webhook: parseHostPort(envString(env, 'MESHBUS_INJECTOR_ADDR', '0.0.0.0:8443'), 'MESHBUS_INJECTOR_ADDR'),
    tlsCertFile: envRequired(env, 'MESHBUS_INJECTOR_TLS_CERT'),
    tlsKeyFile: envRequired(env, 'MESHBUS_INJECTOR_TLS_KEY'),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9998'), 'MESHBUS_ADMIN_ADDR'),
    logLevel: envLogLevel(env),
    replicaId,
    namespaces,
    trustAnchorsFile,
    ...(gatewayCaFile !== undefined ? { gatewayCaFile } : {}),
    trustReloadMs: envDuration(env, 'MESHBUS_INJECTOR_TRUST_RELOAD_INTERVAL', 5000),
    events: {
      enabled: envBool(env, 'MESHBUS_INJECTOR_EVENTS', true),
      bus: busConfigFromEnv(env, `meshbus-injector ${replicaId}`, 'injector'),
      capacity: envInt(env, 'MESHBUS_INJECTOR_EVENT_BUFFER', 1000, { min: 1, max: 1_000_000 }),
    },
    injection: {
      proxyImage: envString(env, 'MESHBUS_INJECTOR_PROXY_IMAGE', 'ghcr.io/meshbus/meshbus'),
      proxyVersion: envString(env, 'MESHBUS_INJECTOR_PROXY_VERSION', version),
      ...(env.MESHBUS_INJECTOR_PROXY_INIT_IMAGE ? { proxyInitImage: env.MESHBUS_INJECTOR_PROXY_INIT_IMAGE } : {}),
      gateways,
      ...(gatewayTlsName !== undefined ? { gatewayTlsName } : {}),
      controlNamespace,
      clusterDomain,
      identityAudience: envString(env, 'MESHBUS_TOKEN_AUDIENCE', 'identity.meshbus.io').split(',')[0]!.trim(),
      tokenExpirationSeconds: envInt(env, 'MESHBUS_INJECTOR_TOKEN_EXPIRATION_SECONDS', 86_400, { min: 600, max: 7 * 86_400 }),
      ...injectionTrust(trust),
      cniMode: envBool(env, 'MESHBUS_INJECTOR_CNI', false),
      nativeSidecar: envBool(env, 'MESHBUS_INJECTOR_NATIVE_SIDECAR', false),
      defaults: {
        logLevel,
        logFormat: oneOf(env, 'MESHBUS_INJECTOR_PROXY_LOG_FORMAT', ['json', 'plain'] as const, 'json'),
        cpuRequest: envString(env, 'MESHBUS_INJECTOR_PROXY_CPU_REQUEST', '100m'),
        ...(env.MESHBUS_INJECTOR_PROXY_CPU_LIMIT ? { cpuLimit: env.MESHBUS_INJECTOR_PROXY_CPU_LIMIT } : {}),
        memoryRequest: envString(env, 'MESHBUS_INJECTOR_PROXY_MEMORY_REQUEST', '64Mi'),
        memoryLimit: envString(env, 'MESHBUS_INJECTOR_PROXY_MEMORY_LIMIT', '256Mi'),
        shutdownGracePeriod,
        accessLog: oneOf(env, 'MESHBUS_INJECTOR_PROXY_ACCESS_LOG', ['off', 'apache', 'json'] as const, 'off'),
      },
      injectedBy: `meshbus-injector/${version}`,
    },
  };
}

function namespaceSource(env: Env, source: ResourceSourceMode): NamespaceSourceConfig {
  if (source === 'manifests') {
    const manifestsDir = envString(env, 'MESHBUS_MANIFESTS_DIR');
    if (manifestsDir === undefined) throw new ConfigError(`MESHBUS_MANIFESTS_DIR is required with ${resourceSourceEnv}=manifests: the folder whose Namespace manifests say which namespaces are meshed`);
    return { kind: 'manifests', manifestsDir };
  }
  const kubeconfig = envString(env, 'KUBECONFIG');
  return { kind: 'kubernetes', ...(kubeconfig !== undefined ? { kubeconfig } : {}) };
}

function readTrustMaterial(anchorsFile: string, gatewayCaFile: string | undefined): TrustMaterial {
  const read = (file: string, variable: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${variable}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const anchors = read(anchorsFile, 'MESHBUS_INJECTOR_TRUST_ANCHORS');
  const gatewayCa = gatewayCaFile === undefined ? undefined : read(gatewayCaFile, 'MESHBUS_INJECTOR_GATEWAY_CA');
  try {
    return trustMaterialOf(anchors, gatewayCa, { anchors: anchorsFile, ...(gatewayCaFile !== undefined ? { gatewayCa: gatewayCaFile } : {}) });
  } catch (err) {
    if (err instanceof TrustMaterialError) throw new ConfigError(err.message);
    throw err;
  }
}

/** The parts of the injection settings that come from the trust files. */
export function injectionTrust(material: TrustMaterial): Pick<InjectionConfig, 'trustAnchors' | 'trustRootSha256' | 'gatewayCaPem'> {
  return {
    trustAnchors: { kind: 'pem', pem: material.anchorsPem },
    trustRootSha256: material.trustRootSha256,
    ...(material.gatewayCaPem !== undefined ? { gatewayCaPem: material.gatewayCaPem } : {}),
  };
}
