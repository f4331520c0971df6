import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { busConfigFromEnv, metricsRetentionFromEnv, type BusConnectionConfig, type MetricsRetention } from '@meshbus/bus';
import { ConfigError, envDuration, envInt, envLogLevel, envString, parseHostPort, type Env } from '@meshbus/runtime';
import { isDnsLabel, isDnsSubdomain } from '@meshbus/core';
import type { IssuerFiles } from './issuer-source-file.js';
import type { ObjectRef, TrustAnchorsLocation } from './issuer-source-kubernetes.js';
import { TrustMaterialFile } from '@meshbus/trust';

/** Local mode: trust material in files, workload tokens signed by the control plane. */
export interface LocalModeConfig {
  readonly kind: 'local';
  /** The trust anchors, issuer certificate and issuer key files. */
  readonly files: IssuerFiles;
  /** PEM public key that verifies workload tokens. */
  readonly tokenPublicKeyFile: string;
  /** @default 'identity.meshbus.io' */
  readonly tokenAudience: string;
}

/** Cluster mode: the issuer in a Kubernetes Secret, tokens checked with TokenReview. */
export interface KubernetesModeConfig {
  readonly kind: 'kubernetes';
  /** @default `<control-namespace>/meshbus-identity-issuer` */
  readonly issuerSecret: ObjectRef;
  /** @default the `ca.crt` key of the issuer Secret */
  readonly trustAnchors?: TrustAnchorsLocation;
  /** Audiences a service-account token must be for. @default ['identity.meshbus.io'] */
  readonly tokenAudiences: readonly string[];
  /** A kubeconfig file; without one the in-cluster service account is used. */
  readonly kubeconfig?: string;
}

/** Typed configuration of the identity service. */
export interface IdentityConfig {
  readonly replicaId: string;
  readonly bus: BusConnectionConfig;
  /** Where /live, /ready and /metrics are served. @default 0.0.0.0:9990 */
  readonly admin: { readonly host: string; readonly port: number };
  /** @default 'info' */
  readonly logLevel: string;
  /** JetStream replicas of the meshbus streams. @default 1 */
  readonly streamReplicas: number;
  /** Retention of the events stream. @default 7 days */
  readonly eventsMaxAgeMs: number;
  /** Limits of the traffic-summary stream. @default 1 hour, 1 GiB */
  readonly metricsRetention: MetricsRetention;
  /** @default 'meshbus' */
  readonly controlNamespace: string;
  /** @default 'cluster.local' */
  readonly trustDomain: string;
  /** Lifetime of leaf certificates. @default 24 hours */
  readonly certificateLifetimeMs: number;
  /** Allowance for clock differences on both ends of a leaf's validity. @default 20 seconds */
  readonly clockSkewMs: number;
  /** The issuer source is re-read this often even without a change notification. @default 30 seconds */
  readonly issuerRecheckIntervalMs: number;
  readonly mode: LocalModeConfig | KubernetesModeConfig;
}

/** What {@link envToConfig} needs to know about the host. */
export interface HostFacts {
  readonly hostname: string;
  readonly pid: number;
}

function objectRef(value: string, name: string): ObjectRef {
  const [namespace = '', objectName = '', ...rest] = value.split('/');
  if (rest.length > 0 || !isDnsLabel(namespace) || !isDnsSubdomain(objectName)) {
    throw new ConfigError(`${name} must be <namespace>/<name>, got ${JSON.stringify(value)}`);
  }
  return { namespace, name: objectName };
}

/**
 * `configmap:<ns>/<name>[/<key>]` (key default `ca-bundle.crt`), `secret:<ns>/<name>[/<key>]`
 * (key default `ca.crt`), `file:<path>` or an absolute path.
 */
function trustAnchorsLocation(value: string, name: string): TrustAnchorsLocation {
  const colon = value.indexOf(':');
  const scheme = colon < 0 ? '' : value.slice(0, colon);
  const rest = value.slice(colon + 1);
  if (scheme === 'file' || (colon < 0 && isAbsolute(value))) {
    const path = scheme === 'file' ? rest : value;
    if (!isAbsolute(path)) throw new ConfigError(`${name}: file path must be absolute, got ${JSON.stringify(path)}`);
    return { kind: 'file', path };
  }
  if (scheme === 'configmap' || scheme === 'secret') {
    const parts = rest.split('/');
    if (parts.length < 2 || parts.length > 3) {
      throw new ConfigError(`${name} must be ${scheme}:<namespace>/<name>[/<key>], got ${JSON.stringify(value)}`);
    }
    const { namespace, name: objectName } = objectRef(`${parts[0]}/${parts[1]}`, name);
    const key = parts[2] ?? (scheme === 'configmap' ? 'ca-bundle.crt' : 'ca.crt');
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new ConfigError(`${name}: ${JSON.stringify(key)} is not a valid data key`);
    return { kind: scheme, namespace, name: objectName, key };
  }
  throw new ConfigError(`${name} must be configmap:<ns>/<name>[/<key>], secret:<ns>/<name>[/<key>] or file:<absolute path>, got ${JSON.stringify(value)}`);
}

function positiveDuration(env: Env, name: string, fallbackMs: number, minMs: number): number {
  const ms = envDuration(env, name, fallbackMs);
  if (ms < minMs) throw new ConfigError(`${name} must be at least ${minMs} ms, got ${JSON.stringify(env[name])}`);
  return ms;
}

function filePath(env: Env, name: string, dir: string | undefined, fileName: string, dirName: string): string {
  const explicit = envString(env, name);
  if (explicit !== undefined) return explicit;
  if (dir === undefined) throw new ConfigError(`${name} or ${dirName} is required in local mode`);
  return join(dir, fileName);
}

function localMode(env: Env): LocalModeConfig {
  const dir = envString(env, 'MESHBUS_IDENTITY_DIR');
  const anchors = envString(env, 'MESHBUS_TRUST_ANCHORS');
  let trustAnchors: string;
  if (anchors === undefined) {
    trustAnchors = filePath(env, 'MESHBUS_TRUST_ANCHORS', dir, TrustMaterialFile.anchorCertificate, 'MESHBUS_IDENTITY_DIR');
  } else {
    const location = trustAnchorsLocation(anchors, 'MESHBUS_TRUST_ANCHORS');
    if (location.kind !== 'file') throw new ConfigError('MESHBUS_TRUST_ANCHORS must be a file in local mode');
    trustAnchors = location.path;
  }
  const tokenPublicKeyFile = envString(env, 'MESHBUS_TOKEN_PUBLIC_KEY');
  if (tokenPublicKeyFile === undefined) throw new ConfigError('MESHBUS_TOKEN_PUBLIC_KEY is required in local mode (the public key that verifies workload tokens)');
  return {
    kind: 'local',
    files: {
      trustAnchors,
      issuerCertificate: filePath(env, 'MESHBUS_ISSUER_CERT', dir, TrustMaterialFile.issuerCertificate, 'MESHBUS_IDENTITY_DIR'),
      issuerKey: filePath(env, 'MESHBUS_ISSUER_KEY', dir, TrustMaterialFile.issuerKey, 'MESHBUS_IDENTITY_DIR'),
    },
    tokenPublicKeyFile,
    tokenAudience: envString(env, 'MESHBUS_TOKEN_AUDIENCE', 'identity.meshbus.io'),
  };
}

function kubernetesMode(env: Env, controlNamespace: string): KubernetesModeConfig {
  const anchors = envString(env, 'MESHBUS_TRUST_ANCHORS');
  const audiences = envString(env, 'MESHBUS_TOKEN_AUDIENCE', 'identity.meshbus.io')
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if (audiences.length === 0) throw new ConfigError('MESHBUS_TOKEN_AUDIENCE must name at least one audience');
  const kubeconfig = envString(env, 'KUBECONFIG');
  return {
    kind: 'kubernetes',
    issuerSecret: objectRef(envString(env, 'MESHBUS_ISSUER_SECRET', `${controlNamespace}/meshbus-identity-issuer`), 'MESHBUS_ISSUER_SECRET'),
    ...(anchors === undefined ? {} : { trustAnchors: trustAnchorsLocation(anchors, 'MESHBUS_TRUST_ANCHORS') }),
    tokenAudiences: audiences,
    ...(kubeconfig === undefined ? {} : { kubeconfig: kubeconfig.split(':')[0]! }),
  };
}

/**
 * Builds the identity service's configuration from environment variables. Pure: `host` supplies
 * the default replica id. Throws {@link ConfigError} naming the variable at fault.
 */
export function envToConfig(env: Env, host: HostFacts = { hostname: hostname(), pid: process.pid }): IdentityConfig {
  const replicaId = envString(env, 'MESHBUS_REPLICA_ID', `${host.hostname}-${host.pid}`);
  if (/\s/.test(replicaId)) throw new ConfigError(`MESHBUS_REPLICA_ID must not contain spaces, got ${JSON.stringify(replicaId)}`);
  const controlNamespace = envString(env, 'MESHBUS_CONTROL_NAMESPACE', 'meshbus');
  if (!isDnsLabel(controlNamespace)) throw new ConfigError(`MESHBUS_CONTROL_NAMESPACE must be a DNS-1123 label, got ${JSON.stringify(controlNamespace)}`);
  const trustDomain = envString(env, 'MESHBUS_TRUST_DOMAIN', 'cluster.local');
  if (!isDnsSubdomain(trustDomain)) throw new ConfigError(`MESHBUS_TRUST_DOMAIN must be a DNS-1123 subdomain such as cluster.local, got ${JSON.stringify(trustDomain)}`);
  const modeName = envString(env, 'MESHBUS_IDENTITY_MODE', 'local');
  if (modeName !== 'local' && modeName !== 'kubernetes') {
    throw new ConfigError(`MESHBUS_IDENTITY_MODE must be local or kubernetes, got ${JSON.stringify(modeName)}`);
  }
  const logLevel = envLogLevel(env);
  return {
    replicaId,
    bus: busConfigFromEnv(env, `meshbus-identity/${replicaId}`, 'identity'),
    admin: parseHostPort(envString(env, 'MESHBUS_ADMIN_ADDR', '0.0.0.0:9990'), 'MESHBUS_ADMIN_ADDR'),
    logLevel,
    streamReplicas: envInt(env, 'MESHBUS_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    eventsMaxAgeMs: positiveDuration(env, 'MESHBUS_EVENTS_MAX_AGE', 7 * 86_400_000, 1000),
    metricsRetention: metricsRetentionFromEnv(env),
    controlNamespace,
    trustDomain,
    certificateLifetimeMs: positiveDuration(env, 'MESHBUS_CERT_LIFETIME', 24 * 3_600_000, 60_000),
    clockSkewMs: envDuration(env, 'MESHBUS_CLOCK_SKEW', 20_000),
    issuerRecheckIntervalMs: positiveDuration(env, 'MESHBUS_ISSUER_RECHECK_INTERVAL', 30_000, 100),
    mode: modeName === 'local' ? localMode(env) : kubernetesMode(env, controlNamespace),
  };
}
