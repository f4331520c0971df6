import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isDnsLabel, isDnsSubdomain } from '@meshbus/core';
import { ConfigError, envBool, envInt, envLogLevel, envRequired, envString, isLogLevel, logLevels, parseDuration, parseHostPort, type Env } from '@meshbus/runtime';
import type { InjectionConfig } from './inject.js';

/** Typed configuration of the injector service. */
export interface InjectorConfig {
  /** Where the HTTPS webhook listens. @default 0.0.0.0:8443 */
  readonly webhook: { readonly host: string; readonly port: number };
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  /** Where /live, /ready and /metrics are served. @default 0.0.0.0:9995 */
  readonly admin: { readonly host: string; readonly port: number };
  readonly logLevel: string;
  readonly replicaId: string;
  /** Folder of mesh manifests, where Namespace annotations are read (local mode). */
  readonly manifestsDir: string;
  /** The trust anchors PEM file, hashed into the injected pods' trust-root annotation. */
  readonly trustAnchorsFile: string;
  readonly injection: InjectionConfig;
}

const version = '0.1.0';

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
  let anchors: Buffer;
  try {
    anchors = readFileSync(trustAnchorsFile);
  } catch (err) {
    throw new ConfigError(`MESHBUS_INJECTOR_TRUST_ANCHORS: cannot read ${trustAnchorsFile}: ${(err as Error).message}`);
  }
  if (!anchors.toString('utf8').includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`MESHBUS_INJECTOR_TRUST_ANCHORS: ${trustAnchorsFile} holds no PEM certificate`);
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `injector-${hostname()}-${process.pid}`);
  return {
    webhook: parseHostPort(envString(env, 'MESHBUS_INJECTOR_ADDR', '0.0.0.0:8443'), 'MESHBUS_INJECTOR_ADDR'),
    tlsCertFile: envRequired(env, 'MESHBUS_INJECTOR_TLS_CERT'),
    tlsKeyFile: envRequired(env, 'MESHBUS_INJECTOR_TLS_KEY'),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9995'), 'MESHBUS_ADMIN_ADDR'),
    logLevel: envLogLevel(env),
    replicaId,
    manifestsDir: envRequired(env, 'MESHBUS_MANIFESTS_DIR'),
    trustAnchorsFile,
    injection: {
      proxyImage: envString(env, 'MESHBUS_INJECTOR_PROXY_IMAGE', 'ghcr.io/meshbus/proxy'),
      proxyVersion: envString(env, 'MESHBUS_INJECTOR_PROXY_VERSION', version),
      ...(env.MESHBUS_INJECTOR_PROXY_INIT_IMAGE ? { proxyInitImage: env.MESHBUS_INJECTOR_PROXY_INIT_IMAGE } : {}),
      gateways,
      ...(gatewayTlsName !== undefined ? { gatewayTlsName } : {}),
      controlNamespace,
      clusterDomain,
      identityAudience: envString(env, 'MESHBUS_TOKEN_AUDIENCE', 'identity.meshbus.io').split(',')[0]!.trim(),
      tokenExpirationSeconds: envInt(env, 'MESHBUS_INJECTOR_TOKEN_EXPIRATION_SECONDS', 86_400, { min: 600, max: 7 * 86_400 }),
      trustAnchorsConfigMap: envString(env, 'MESHBUS_INJECTOR_TRUST_ANCHORS_CONFIGMAP', 'meshbus-trust-anchors'),
      trustRootSha256: createHash('sha256').update(anchors).digest('hex'),
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
