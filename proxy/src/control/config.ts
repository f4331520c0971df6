import { ConfigError, identityName, isDnsLabel, isDnsSubdomain, isIpAddress, errorMessage } from '@meshbus/core';
import { envDuration, envString, isLogLevel, logLevels, parseHostPort, type Env } from '@meshbus/runtime';
import { parseAllowedIdentities, type IdentityAllowList } from '../gateway/allow-list.js';
import { DEFAULT_TAP_HEADERS, tapHeaderAllowlist } from '../tap/sessions.js';

/** How the proxy connects to the gateways. */
export type GatewayTransport =
  /**
   * TLS, verifying the gateway against `caFile`, or `caPem` given in the environment, or the system
   * trust store, with an optional server name.
   */
  | { readonly kind: 'tls'; readonly caFile: string | undefined; readonly caPem?: string; readonly serverName: string | undefined }
  /** Plain HTTP/2: local development only (`npm run dev` runs the gateway without TLS). */
  | { readonly kind: 'plaintext' };

/**
 * Where the trust anchors come from: `MESHBUS_PROXY_TRUST_ANCHORS` (a file, read at start) or
 * `MESHBUS_PROXY_TRUST_ANCHORS_PEM` (the PEM itself, as the injector sets it, so that a pod needs
 * no ConfigMap).
 */
export type TrustAnchorsSource = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'pem'; readonly pem: string };

/** Where the proof of identity sent to Identity.Certify comes from. */
export type TokenSource =
  /** A file read again before every request (Kubernetes rotates projected tokens). */
  | { readonly kind: 'file'; readonly path: string }
  /** The token itself, given in the environment. */
  | { readonly kind: 'env'; readonly token: string };

/** A local port of explicit mode that forwards TCP to a service port. */
export interface PortMapping {
  readonly localPort: number;
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
  /** The Destination path, `<svc>.<ns>.svc.<cluster-domain>:<port>`. */
  readonly authority: string;
}

/** The access log's format, `off` by default. */
export type AccessLogFormat = 'off' | 'apache' | 'json';

/**
 * How the workload's traffic reaches the proxy (docs/proxy-transparent.md):
 * - `explicit`: the workload uses the outbound listener as its HTTP proxy (or the port mappings);
 * - `transparent`: iptables rules (proxy-init) redirect the pod's TCP to the listeners, and the
 *   proxy carries each connection to its original destination by that address's policy;
 * - `ingress`: transparent, but HTTP is routed by `l5d-dst-override` (or the Host) instead of the
 *   original destination, for ingress controllers;
 * - `gateway`: the multicluster gateway: no workload, a mesh TLS listener that relays CONNECT
 *   tunnels of linked clusters' proxies to this cluster's services (docs/proxy.md#gateway-mode).
 */
export type ProxyMode = 'explicit' | 'transparent' | 'ingress' | 'gateway';

export const proxyModes: readonly ProxyMode[] = ['explicit', 'transparent', 'ingress', 'gateway'];

/** The multicluster gateway's settings (gateway mode only). */
export interface MulticlusterGatewayConfig {
  /** `MESHBUS_PROXY_GATEWAY_ADDR`. @default 0.0.0.0:4180 */
  readonly listener: { readonly host: string; readonly port: number };
  /** `MESHBUS_PROXY_GATEWAY_ALLOWED_IDENTITIES`; undefined admits every identity of the trust domain. */
  readonly allowedIdentities: IdentityAllowList | undefined;
}

/** The proxy's typed configuration, as {@link proxyConfigFromEnv} reads it. */
export interface ProxyConfig {
  /** How traffic reaches the proxy. @default explicit */
  readonly mode: ProxyMode;
  readonly gateways: readonly string[];
  readonly gatewayTransport: GatewayTransport;
  readonly workload: {
    readonly namespace: string;
    readonly name: string;
    readonly serviceAccount: string;
    /** The TLS identity asked for: `<sa>.<ns>.serviceaccount.identity.<control-ns>.<cluster-domain>`. */
    readonly identity: string;
    /** The workload string of policy requests: `{"ns":"<ns>","name":"<name>"}`. */
    readonly workloadRef: string;
  };
  readonly clusterDomain: string;
  readonly controlNamespace: string;
  /** The trust anchors peers' certificates are checked against: a PEM file, or the PEM itself. */
  readonly trustAnchors: TrustAnchorsSource;
  readonly token: TokenSource;
  readonly listeners: {
    readonly outbound: { readonly host: string; readonly port: number };
    readonly inbound: { readonly host: string; readonly port: number };
    readonly admin: { readonly host: string; readonly port: number };
  };
  /** Ports the workload serves on; their inbound policies are watched before the proxy is ready. */
  readonly inboundPorts: readonly number[];
  /** The address the workload listens on, where inbound traffic is forwarded. */
  readonly workloadAddress: string;
  readonly portMappings: readonly PortMapping[];
  /**
   * `MESHBUS_PROXY_SKIP_PORTS`, parsed for compatibility; the data path does not read it. Skipping is
   * done by the iptables rules (`proxy-init --skip-inbound-ports/--skip-outbound-ports`).
   */
  readonly skipPorts: readonly number[];
  readonly log: { readonly level: string; readonly format: 'json' | 'plain' };
  readonly shutdownGraceMs: number;
  readonly streams: StreamLimits;
  readonly accessLog: AccessLogFormat;
  /** How often a traffic summary goes to the gateway (`MESHBUS_PROXY_TELEMETRY_INTERVAL`); 0 sends none. @default 10s */
  readonly telemetryIntervalMs?: number;
  /** `meshbus tap` on this proxy (`MESHBUS_PROXY_TAP`, `MESHBUS_PROXY_TAP_HEADERS`). @default on, the default header allowlist */
  readonly tap?: TapConfig;
  /** Gateway mode: the tunnel listener and who may use it; undefined in the other modes. */
  readonly multiclusterGateway?: MulticlusterGatewayConfig;
}

/** Whether the proxy answers tap sessions, and which headers its records may carry. */
export interface TapConfig {
  /** `MESHBUS_PROXY_TAP=off` opens no Tap/Watch stream: the proxy is never tapped. */
  readonly enabled: boolean;
  /** Lower-case header names, a subset of {@link DEFAULT_TAP_HEADERS}. */
  readonly headers: readonly string[];
}

/** Limits of every watch stream to the gateway. */
export interface StreamLimits {
  /** A stream that received nothing for this long is closed and reopened. @default 5m */
  readonly idleTimeoutMs: number;
  /** A stream is closed and reopened after this long, whatever happens on it. @default 1h */
  readonly maxLifetimeMs: number;
  /** Up to this fraction of the lifetime is taken off at random, per stream. @default 0.2 */
  readonly lifetimeJitter: number;
  /** A new stream that sends nothing for this long is given up for the next gateway. @default 3s */
  readonly initialTimeoutMs: number;
}

/** Defaults of {@link ProxyConfig}, named as in the docs. */
export const PROXY_DEFAULTS = {
  outboundPort: 4140,
  inboundPort: 4143,
  adminPort: 4191,
  gatewayPort: 4180,
  adminHost: '127.0.0.1',
  listenHost: '0.0.0.0',
  workloadAddress: '127.0.0.1',
  clusterDomain: 'cluster.local',
  controlNamespace: 'meshbus',
  shutdownGraceMs: 30_000,
  idleTimeoutMs: 5 * 60_000,
  maxLifetimeMs: 60 * 60_000,
  lifetimeJitter: 0.2,
  initialTimeoutMs: 3_000,
  telemetryIntervalMs: 10_000,
} as const;

const P = 'MESHBUS_PROXY_';

/** `MESHBUS_PROXY_TAP` (on or off) and `MESHBUS_PROXY_TAP_HEADERS` (names of the default allowlist, comma separated; empty for none). */
export function tapConfigFromEnv(env: Env): TapConfig {
  const raw = envString(env, `${P}TAP`, 'on').trim().toLowerCase();
  if (raw !== 'on' && raw !== 'off') throw new ConfigError(`${P}TAP must be on or off, got ${JSON.stringify(env[`${P}TAP`])}`);
  const { allowed, rejected } = tapHeaderAllowlist(env[`${P}TAP_HEADERS`]);
  if (rejected.length > 0) {
    throw new ConfigError(
      `${P}TAP_HEADERS: ${rejected.map((n) => JSON.stringify(n)).join(', ')} cannot be tapped; the setting can only narrow the default list (${DEFAULT_TAP_HEADERS.join(', ')})`,
    );
  }
  return { enabled: raw === 'on', headers: [...allowed] };
}

const pemCertificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** Exactly one of `MESHBUS_PROXY_TRUST_ANCHORS` (a file) and `MESHBUS_PROXY_TRUST_ANCHORS_PEM` (the PEM). */
function trustAnchorsFromEnv(env: Env): TrustAnchorsSource {
  const path = envString(env, `${P}TRUST_ANCHORS`);
  const pem = envString(env, `${P}TRUST_ANCHORS_PEM`);
  if (path !== undefined && pem !== undefined) throw new ConfigError(`${P}TRUST_ANCHORS and ${P}TRUST_ANCHORS_PEM are both set; give one`);
  if (pem !== undefined) {
    if (!pemCertificate.test(pem)) throw new ConfigError(`${P}TRUST_ANCHORS_PEM holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)`);
    return { kind: 'pem', pem };
  }
  if (path === undefined) throw new ConfigError(`${P}TRUST_ANCHORS (the PEM file of the trust anchors, ca.crt) or ${P}TRUST_ANCHORS_PEM (the PEM itself) is required`);
  return { kind: 'file', path };
}

function port(value: string, name: string): number {
  if (!/^\d{1,5}$/.test(value.trim())) throw new ConfigError(`${name}: ${JSON.stringify(value)} is not a port (1-65535)`);
  const n = Number(value);
  if (n < 1 || n > 65535) throw new ConfigError(`${name}: ${JSON.stringify(value)} is not a port (1-65535)`);
  return n;
}

function list(env: Env, name: string): string[] {
  const raw = envString(env, name);
  if (raw === undefined) return [];
  return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function portList(env: Env, name: string): number[] {
  const ports = list(env, name).map((p) => port(p, name));
  const duplicate = ports.find((p, i) => ports.indexOf(p) !== i);
  if (duplicate !== undefined) throw new ConfigError(`${name}: port ${duplicate} is listed twice`);
  return ports;
}

function listener(env: Env, name: string, host: string, fallbackPort: number): { host: string; port: number } {
  const raw = envString(env, name);
  if (raw === undefined) return { host, port: fallbackPort };
  if (/^\d+$/.test(raw.trim())) return { host, port: port(raw, name) };
  const parsed = parseHostPort(raw, name);
  return { host: parsed.host, port: parsed.port };
}

function required(env: Env, name: string, what: string): string {
  const v = envString(env, name);
  if (v === undefined) throw new ConfigError(`${name} is required: ${what}`);
  return v;
}

function label(env: Env, name: string, what: string): string {
  const v = required(env, name, what);
  if (!isDnsLabel(v)) throw new ConfigError(`${name}: ${JSON.stringify(v)} is not a DNS label (lower-case letters, digits and '-', at most 63)`);
  return v;
}

/** Parses one `<localPort>=<svc>.<ns>:<port>` entry of MESHBUS_PROXY_PORT_MAPPINGS. */
export function parsePortMapping(text: string, clusterDomain: string, name = `${P}PORT_MAPPINGS`): PortMapping {
  const m = /^(\d{1,5})=([a-z0-9-]+)\.([a-z0-9-]+):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new ConfigError(`${name}: ${JSON.stringify(text)} is not <localPort>=<service>.<namespace>:<port>`);
  const [, local, service, namespace, target] = m as unknown as [string, string, string, string, string];
  if (!isDnsLabel(service)) throw new ConfigError(`${name}: ${JSON.stringify(text)}: service ${JSON.stringify(service)} is not a DNS label`);
  if (!isDnsLabel(namespace)) throw new ConfigError(`${name}: ${JSON.stringify(text)}: namespace ${JSON.stringify(namespace)} is not a DNS label`);
  const localPort = port(local, `${name} (${text})`);
  const servicePort = port(target, `${name} (${text})`);
  return { localPort, service, namespace, port: servicePort, authority: `${service}.${namespace}.svc.${clusterDomain}:${servicePort}` };
}

function fraction(env: Env, name: string, fallback: number): number {
  const raw = envString(env, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw.trim()) || !(v >= 0 && v < 1)) throw new ConfigError(`${name} must be a fraction in [0, 1), got ${JSON.stringify(raw)}`);
  return v;
}

function positiveDuration(env: Env, name: string, fallback: number): number {
  const v = envDuration(env, name, fallback);
  if (v <= 0) throw new ConfigError(`${name} must be longer than 0`);
  return v;
}

/**
 * Turns the environment into a {@link ProxyConfig}; a pure function (it reads no file). Every
 * {@link ConfigError} names the variable at fault. The variables and their defaults are listed in
 * docs/proxy-control.md.
 */
export function proxyConfigFromEnv(env: Env): ProxyConfig {
  const mode = envString(env, `${P}MODE`, 'explicit').trim();
  if (!(proxyModes as readonly string[]).includes(mode)) throw new ConfigError(`${P}MODE must be one of ${proxyModes.join(', ')}, got ${JSON.stringify(mode)}`);
  const gateways = list(env, `${P}GATEWAYS`);
  if (gateways.length === 0) throw new ConfigError(`${P}GATEWAYS is required: the gateways' gRPC addresses, host:port separated by commas`);
  for (const g of gateways) {
    if (!/^\S+:\d{1,5}$/.test(g)) throw new ConfigError(`${P}GATEWAYS: ${JSON.stringify(g)} is not host:port`);
    parseHostPort(g, `${P}GATEWAYS`);
  }

  const plaintextRaw = envString(env, `${P}GATEWAY_PLAINTEXT`, 'false').trim().toLowerCase();
  if (!['true', 'false', '1', '0'].includes(plaintextRaw)) throw new ConfigError(`${P}GATEWAY_PLAINTEXT must be true or false, got ${JSON.stringify(plaintextRaw)}`);
  const plaintext = plaintextRaw === 'true' || plaintextRaw === '1';
  const caFile = envString(env, `${P}GATEWAY_CA`);
  const caPem = envString(env, `${P}GATEWAY_CA_PEM`);
  const serverName = envString(env, `${P}GATEWAY_TLS_NAME`);
  if (caFile !== undefined && caPem !== undefined) throw new ConfigError(`${P}GATEWAY_CA and ${P}GATEWAY_CA_PEM are both set; give one`);
  if (plaintext && (caFile !== undefined || caPem !== undefined || serverName !== undefined)) {
    const other = caFile !== undefined ? `${P}GATEWAY_CA` : caPem !== undefined ? `${P}GATEWAY_CA_PEM` : `${P}GATEWAY_TLS_NAME`;
    throw new ConfigError(`${P}GATEWAY_PLAINTEXT=true cannot go with ${other}: plaintext has no TLS to configure`);
  }
  if (caPem !== undefined && !pemCertificate.test(caPem)) throw new ConfigError(`${P}GATEWAY_CA_PEM holds no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)`);
  if (serverName !== undefined && !isDnsSubdomain(serverName)) throw new ConfigError(`${P}GATEWAY_TLS_NAME: ${JSON.stringify(serverName)} is not a DNS name`);
  const gatewayTransport: GatewayTransport = plaintext ? { kind: 'plaintext' } : { kind: 'tls', caFile, ...(caPem !== undefined ? { caPem } : {}), serverName };

  const clusterDomain = envString(env, `${P}CLUSTER_DOMAIN`, PROXY_DEFAULTS.clusterDomain);
  if (!isDnsSubdomain(clusterDomain)) throw new ConfigError(`${P}CLUSTER_DOMAIN: ${JSON.stringify(clusterDomain)} is not a DNS name such as cluster.local`);
  const controlNamespace = envString(env, `${P}CONTROL_NAMESPACE`, PROXY_DEFAULTS.controlNamespace);
  if (!isDnsLabel(controlNamespace)) throw new ConfigError(`${P}CONTROL_NAMESPACE: ${JSON.stringify(controlNamespace)} is not a DNS label`);

  const namespace = label(env, `${P}NAMESPACE`, "the workload's namespace");
  const name = required(env, `${P}WORKLOAD_NAME`, "the workload's name (its pod name in Kubernetes)");
  if (!/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/.test(name)) throw new ConfigError(`${P}WORKLOAD_NAME: ${JSON.stringify(name)} is not a DNS name (lower-case letters, digits, '-' and '.')`);
  const serviceAccount = label(env, `${P}SERVICE_ACCOUNT`, "the workload's service account (its identity)");
  let identity: string;
  try {
    identity = identityName({ serviceAccount, namespace, controlNamespace, trustDomain: clusterDomain });
  } catch (error) {
    throw new ConfigError(`${P}SERVICE_ACCOUNT, ${P}NAMESPACE: ${errorMessage(error)}`);
  }

  const trustAnchors = trustAnchorsFromEnv(env);

  const tokenFile = envString(env, `${P}IDENTITY_TOKEN_FILE`);
  const tokenText = envString(env, `${P}IDENTITY_TOKEN`);
  if (tokenFile !== undefined && tokenText !== undefined) throw new ConfigError(`${P}IDENTITY_TOKEN_FILE and ${P}IDENTITY_TOKEN are both set; give one`);
  if (tokenFile === undefined && tokenText === undefined) throw new ConfigError(`${P}IDENTITY_TOKEN_FILE (or ${P}IDENTITY_TOKEN) is required: the token Identity.Certify checks`);
  const token: TokenSource = tokenFile !== undefined ? { kind: 'file', path: tokenFile } : { kind: 'env', token: tokenText! };

  const listeners = {
    outbound: listener(env, `${P}OUTBOUND_ADDR`, PROXY_DEFAULTS.listenHost, PROXY_DEFAULTS.outboundPort),
    inbound: listener(env, `${P}INBOUND_ADDR`, PROXY_DEFAULTS.listenHost, PROXY_DEFAULTS.inboundPort),
    admin: listener(env, `${P}ADMIN_ADDR`, PROXY_DEFAULTS.adminHost, PROXY_DEFAULTS.adminPort),
  };
  let multiclusterGateway: MulticlusterGatewayConfig | undefined;
  if (mode === 'gateway') {
    const gatewayListener = listener(env, `${P}GATEWAY_ADDR`, PROXY_DEFAULTS.listenHost, PROXY_DEFAULTS.gatewayPort);
    if (gatewayListener.port !== 0 && gatewayListener.port === listeners.admin.port) throw new ConfigError(`${P}GATEWAY_ADDR: port ${gatewayListener.port} is also the admin listener's`);
    const allowed = envString(env, `${P}GATEWAY_ALLOWED_IDENTITIES`);
    multiclusterGateway = { listener: gatewayListener, allowedIdentities: allowed === undefined ? undefined : parseAllowedIdentities(allowed, `${P}GATEWAY_ALLOWED_IDENTITIES`) };
  } else {
    for (const name of [`${P}GATEWAY_ADDR`, `${P}GATEWAY_ALLOWED_IDENTITIES`]) {
      if (envString(env, name) !== undefined) throw new ConfigError(`${name} is for ${P}MODE=gateway only (the mode is ${mode})`);
    }
  }
  const taken = new Map<number, string>();
  for (const [which, l] of Object.entries(listeners)) {
    if (l.port === 0) continue;
    const other = taken.get(l.port);
    if (other !== undefined) throw new ConfigError(`${P}${which.toUpperCase()}_ADDR: port ${l.port} is also the ${other} listener's`);
    taken.set(l.port, which);
  }

  const inboundPorts = portList(env, `${P}INBOUND_PORTS`);
  const workloadAddress = envString(env, `${P}WORKLOAD_ADDR`, PROXY_DEFAULTS.workloadAddress);
  if (!isIpAddress(workloadAddress)) throw new ConfigError(`${P}WORKLOAD_ADDR: ${JSON.stringify(workloadAddress)} is not an IP address`);

  const portMappings = list(env, `${P}PORT_MAPPINGS`).map((m) => parsePortMapping(m, clusterDomain));
  const mappedTwice = portMappings.find((m, i) => portMappings.findIndex((o) => o.localPort === m.localPort) !== i);
  if (mappedTwice) throw new ConfigError(`${P}PORT_MAPPINGS: local port ${mappedTwice.localPort} is mapped twice`);
  const clash = portMappings.find((m) => taken.has(m.localPort));
  if (clash) throw new ConfigError(`${P}PORT_MAPPINGS: local port ${clash.localPort} is the ${taken.get(clash.localPort)} listener's`);
  const skipPorts = portList(env, `${P}SKIP_PORTS`);

  const level = envString(env, `${P}LOG_LEVEL`, 'info');
  if (!isLogLevel(level)) throw new ConfigError(`${P}LOG_LEVEL must be one of ${logLevels.join(', ')}, got ${JSON.stringify(level)}`);
  const format = envString(env, `${P}LOG_FORMAT`, 'json');
  if (format !== 'json' && format !== 'plain') throw new ConfigError(`${P}LOG_FORMAT must be json or plain, got ${JSON.stringify(format)}`);

  const accessLog = envString(env, `${P}ACCESS_LOG`, 'off');
  if (accessLog !== 'off' && accessLog !== 'apache' && accessLog !== 'json') throw new ConfigError(`${P}ACCESS_LOG must be off, apache or json, got ${JSON.stringify(accessLog)}`);

  const shutdownGraceMs = envDuration(env, `${P}SHUTDOWN_GRACE_PERIOD`, PROXY_DEFAULTS.shutdownGraceMs);
  const idleTimeoutMs = positiveDuration(env, `${P}STREAM_IDLE_TIMEOUT`, PROXY_DEFAULTS.idleTimeoutMs);
  const maxLifetimeMs = positiveDuration(env, `${P}STREAM_MAX_LIFETIME`, PROXY_DEFAULTS.maxLifetimeMs);
  const lifetimeJitter = fraction(env, `${P}STREAM_LIFETIME_JITTER`, PROXY_DEFAULTS.lifetimeJitter);
  const initialTimeoutMs = positiveDuration(env, `${P}STREAM_INITIAL_TIMEOUT`, PROXY_DEFAULTS.initialTimeoutMs);
  const tap = tapConfigFromEnv(env);
  const telemetryIntervalMs = envDuration(env, `${P}TELEMETRY_INTERVAL`, PROXY_DEFAULTS.telemetryIntervalMs);
  if (telemetryIntervalMs !== 0 && (telemetryIntervalMs < 1000 || telemetryIntervalMs > 3_600_000)) {
    throw new ConfigError(`${P}TELEMETRY_INTERVAL must be between 1s and 1h, or 0s to send no traffic summaries; got ${env[`${P}TELEMETRY_INTERVAL`]}`);
  }

  return {
    mode: mode as ProxyMode,
    gateways,
    gatewayTransport,
    workload: { namespace, name, serviceAccount, identity, workloadRef: JSON.stringify({ ns: namespace, name }) },
    clusterDomain,
    controlNamespace,
    trustAnchors,
    token,
    listeners,
    inboundPorts,
    workloadAddress,
    portMappings,
    skipPorts,
    log: { level, format },
    shutdownGraceMs,
    streams: { idleTimeoutMs, maxLifetimeMs, lifetimeJitter, initialTimeoutMs },
    accessLog,
    telemetryIntervalMs,
    tap,
    ...(multiclusterGateway ? { multiclusterGateway } : {}),
  };
}
