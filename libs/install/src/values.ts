/*
 * The values an installation is rendered from: what a user may set (in
 * values files, with --set or with flags), their schema, and the defaults
 * that depend on other values (`ha` raises replicas, failure policy and
 * stream replicas).
 */
import { MeshbusError, clusterNameRule, isIpAddress } from '@meshbus/core';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { components, defaultControlNamespace, defaultLeafnodePort, linkCaKey, linkPasswordKey, linkPasswordSecretName, type Component } from './layout.js';

/** CPU and memory of a container, as Kubernetes quantities. */
export interface ResourceValues {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

export interface ComponentValues {
  /** @default 1, 3 with `ha` */
  readonly replicas?: number;
  readonly resources?: ResourceValues;
}

/** What a user may set. Every field is optional; {@link resolveValues} fills in the defaults. */
export interface InstallValues {
  /** The control plane's namespace. @default 'meshbus' */
  readonly namespace?: string;
  /** Three replicas, PodDisruptionBudgets, anti-affinity, failurePolicy Fail, stream replicas 3. @default false */
  readonly ha?: boolean;
  readonly image?: { readonly repository?: string; readonly tag?: string; readonly pullPolicy?: 'Always' | 'IfNotPresent' | 'Never' };
  readonly imagePullSecrets?: readonly string[];
  /** @default 'cluster.local' */
  readonly trustDomain?: string;
  /** @default 'cluster.local' */
  readonly clusterDomain?: string;
  /** @default 'info' */
  readonly logLevel?: string;
  /** How replicas of a component are kept off one node in HA (across zones it is always preferred). @default 'required' */
  readonly nodeAntiAffinity?: 'required' | 'preferred';
  /** JetStream replicas of the meshbus streams. @default 1, 3 with `ha` */
  readonly streamReplicas?: number;
  readonly resources?: ResourceValues;
  readonly components?: { readonly [C in Component]?: ComponentValues };
  readonly identity?: {
    /** `external: true`: the issuer Secret is written by someone else (cert-manager); none is rendered. */
    readonly issuer?: { readonly external?: boolean };
    /** @default 'identity.meshbus.io' */
    readonly tokenAudience?: string;
  };
  readonly nats?: {
    /** An external NATS (comma-separated servers); no NATS cluster is rendered. */
    readonly url?: string;
    readonly image?: string;
    readonly storage?: { readonly size?: string; readonly storageClassName?: string };
    readonly resources?: ResourceValues;
  };
  readonly webhook?: { readonly failurePolicy?: 'Ignore' | 'Fail'; readonly timeoutSeconds?: number };
  readonly injector?: {
    readonly proxyImage?: string;
    readonly proxyVersion?: string;
    readonly proxyInitImage?: string;
    readonly cni?: boolean;
    readonly nativeSidecar?: boolean;
  };
  readonly gateway?: { readonly tls?: boolean };
  readonly policy?: { readonly defaultInboundPolicy?: string };
  readonly multicluster?: MulticlusterValues;
}

/** A cluster this one mirrors: where its leaf node listener is, and the Secret with this cluster's link password there. */
export interface LinkValues {
  /** The linked cluster's name (its `multicluster.clusterName`). */
  readonly cluster: string;
  /** `nats-leaf://host:port` (or `tls://`) of its leaf node listener. Required with the bundled NATS. */
  readonly url?: string;
  /** The Secret (in the control namespace) holding the password of the login `link-<this cluster>` it gave. @default {name: 'meshbus-link-<cluster>', key: 'password'} */
  readonly passwordSecret?: { readonly name?: string; readonly key?: string };
  /** TLS of the leaf node connection to it (docs/kubernetes.md#multicluster). */
  readonly tls?: {
    /** @default true: the connection checks the listener's certificate with the CA of `caSecret` */
    readonly enabled?: boolean;
    /** The Secret holding the CA of its leaf node listener (its `meshbus-nats-leafnode-tls` `ca.crt`). @default {name: the passwordSecret's name, key: 'ca.crt'} */
    readonly caSecret?: { readonly name?: string; readonly key?: string };
  };
}

/** The Service in front of a multicluster listener. */
export interface ExposeValues {
  /** @default 'LoadBalancer' */
  readonly serviceType?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  readonly serviceAnnotations?: Readonly<Record<string, string>>;
  /** Source ranges a LoadBalancer admits. */
  readonly loadBalancerSourceRanges?: readonly string[];
}

/** Linking this cluster's mesh with others (docs/multicluster.md). */
export interface MulticlusterValues {
  /** @default false: nothing multicluster is rendered */
  readonly enabled?: boolean;
  /** This cluster's name, also its NATS JetStream domain. Required when enabled. */
  readonly clusterName?: string;
  /** Clusters whose exports this one mirrors (this cluster's NATS connects to theirs as a leaf node). */
  readonly links?: readonly LinkValues[];
  /** Clusters that mirror this one's exports: each gets the login `link-<name>` to the leaf node listener, which is rendered when the list is not empty. */
  readonly exportTo?: readonly string[];
  /** @default 1, 3 with `ha` */
  readonly replicas?: number;
  readonly resources?: ResourceValues;
  /** @default '2s' */
  readonly heartbeatInterval?: string;
  /** @default '30s' */
  readonly grace?: string;
  readonly gateway?: ExposeValues & {
    /** `<ip>:<port>` (at most 16) where linked clusters reach the gateway; without them this cluster exports nothing. */
    readonly addresses?: readonly string[];
    /** Client identities that may open tunnels (exact, or `*.suffix`). @default every identity of the trust domain */
    readonly allowedIdentities?: readonly string[];
    /** @default 1, 3 with `ha` */
    readonly replicas?: number;
    readonly resources?: ResourceValues;
  };
  readonly leafnode?: ExposeValues & {
    /** @default 7422 */
    readonly port?: number;
    /** TLS of the leaf node listener, with a certificate the installation makes (docs/kubernetes.md#multicluster). */
    readonly tls?: {
      /** @default true */
      readonly enabled?: boolean;
      /** DNS names and IP addresses (at most 16) linked clusters reach the listener at: the certificate names them, besides the Service's in-cluster names. */
      readonly hosts?: readonly string[];
    };
  };
}

/** A value that does not fit the schema; `key` is its dotted path. */
export class InstallValuesError extends MeshbusError {
  override readonly name = 'InstallValuesError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('InvalidInstallValue', key === '' ? message : `${key}: ${message}`);
  }
}

const quantity = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$' } as const;
const resources = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requests: { type: 'object', additionalProperties: false, properties: { cpu: quantity, memory: quantity } },
    limits: { type: 'object', additionalProperties: false, properties: { cpu: quantity, memory: quantity } },
  },
} as const;
const dnsLabel = { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' } as const;
const dnsName = { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
const clusterName = { type: 'string', maxLength: 32, pattern: '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$' } as const;
const duration = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' } as const;
const expose = {
  serviceType: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
  serviceAnnotations: { type: 'object', additionalProperties: { type: 'string' } },
  loadBalancerSourceRanges: { type: 'array', items: { type: 'string', pattern: '^[0-9a-fA-F.:]+/[0-9]{1,3}$' } },
} as const;
const secretKeyRef = { type: 'object', additionalProperties: false, properties: { name: dnsName, key: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' } } } as const;
const multicluster = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    clusterName,
    links: {
      type: 'array',
      maxItems: 32,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['cluster'],
        properties: {
          cluster: clusterName,
          url: { type: 'string', pattern: '^(nats-leaf|nats|tls)://[^\\s@/,]+(:[0-9]{1,5})?$' },
          passwordSecret: secretKeyRef,
          tls: { type: 'object', additionalProperties: false, properties: { enabled: { type: 'boolean' }, caSecret: secretKeyRef } },
        },
      },
    },
    exportTo: { type: 'array', maxItems: 32, items: clusterName },
    replicas: { type: 'integer', minimum: 0, maximum: 100 },
    resources,
    heartbeatInterval: duration,
    grace: duration,
    gateway: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...expose,
        addresses: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1 } },
        allowedIdentities: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' } },
        replicas: { type: 'integer', minimum: 0, maximum: 100 },
        resources,
      },
    },
    leafnode: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...expose,
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        tls: {
          type: 'object',
          additionalProperties: false,
          properties: { enabled: { type: 'boolean' }, hosts: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 253 } } },
        },
      },
    },
  },
} as const;
const componentValues = {
  type: 'object',
  additionalProperties: false,
  properties: { replicas: { type: 'integer', minimum: 0, maximum: 100 }, resources },
} as const;

/** The JSON Schema (2020-12) of {@link InstallValues}; unknown keys are refused, which catches typos. */
export const valuesSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  properties: {
    namespace: dnsLabel,
    ha: { type: 'boolean' },
    image: {
      type: 'object',
      additionalProperties: false,
      properties: { repository: nonEmpty, tag: nonEmpty, pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } },
    },
    imagePullSecrets: { type: 'array', items: dnsName },
    trustDomain: dnsName,
    clusterDomain: dnsName,
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    nodeAntiAffinity: { enum: ['required', 'preferred'] },
    streamReplicas: { type: 'integer', minimum: 1, maximum: 5 },
    resources,
    components: { type: 'object', additionalProperties: false, properties: Object.fromEntries(components.map((c) => [c, componentValues])) },
    identity: {
      type: 'object',
      additionalProperties: false,
      properties: {
        issuer: { type: 'object', additionalProperties: false, properties: { external: { type: 'boolean' } } },
        tokenAudience: nonEmpty,
      },
    },
    nats: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^(nats|tls)://[^,\\s]+(,(nats|tls)://[^,\\s]+)*$' },
        image: nonEmpty,
        storage: { type: 'object', additionalProperties: false, properties: { size: quantity, storageClassName: dnsName } },
        resources,
      },
    },
    webhook: {
      type: 'object',
      additionalProperties: false,
      properties: { failurePolicy: { enum: ['Ignore', 'Fail'] }, timeoutSeconds: { type: 'integer', minimum: 1, maximum: 30 } },
    },
    injector: {
      type: 'object',
      additionalProperties: false,
      properties: { proxyImage: nonEmpty, proxyVersion: nonEmpty, proxyInitImage: nonEmpty, cni: { type: 'boolean' }, nativeSidecar: { type: 'boolean' } },
    },
    gateway: { type: 'object', additionalProperties: false, properties: { tls: { type: 'boolean' } } },
    policy: {
      type: 'object',
      additionalProperties: false,
      properties: { defaultInboundPolicy: { enum: ['all-unauthenticated', 'all-authenticated', 'cluster-unauthenticated', 'cluster-authenticated', 'deny', 'audit'] } },
    },
    multicluster,
  },
} as const;

let validator: ValidateFunction | undefined;

/** Checks values against {@link valuesSchema}; the error names the first bad key. */
export function validateValues(value: unknown, source = 'values'): InstallValues {
  validator ??= new Ajv2020({ allErrors: true, strict: true }).compile(valuesSchema);
  if (validator(value)) {
    checkMulticluster(value as InstallValues, source);
    return value as InstallValues;
  }
  const [first, ...rest] = (validator.errors ?? []).map(describe);
  const more = rest.length > 0 ? ` (and ${rest.length} more)` : '';
  throw new InstallValuesError(first?.key ?? '', `${first?.message ?? 'is invalid'}${more} (in ${source})`);
}

/** What the schema cannot say: the rules between multicluster values. */
function checkMulticluster(values: InstallValues, source: string): void {
  const mc = values.multicluster;
  if (!mc) return;
  const fail = (key: string, message: string): never => {
    throw new InstallValuesError(`multicluster.${key}`, `${message} (in ${source})`);
  };
  const name = mc.clusterName;
  if (mc.enabled === true && name === undefined) fail('clusterName', `is required when multicluster.enabled is true: this cluster's name (${clusterNameRule}), also its JetStream domain`);
  const linked = new Set<string>();
  (mc.links ?? []).forEach((link, i) => {
    if (link.cluster === name) fail(`links.${i}.cluster`, `${link.cluster} is this cluster (multicluster.clusterName)`);
    if (linked.has(link.cluster)) fail(`links.${i}.cluster`, `${link.cluster} is listed twice`);
    linked.add(link.cluster);
    if (mc.enabled === true && link.url === undefined && (values.nats?.url ?? '') === '') {
      fail(`links.${i}.url`, `is required with the bundled NATS: the leaf node listener of ${link.cluster}, e.g. tls://nats.${link.cluster}.example:7422`);
    }
    if (link.tls?.enabled !== false && link.url?.startsWith('nats://')) {
      fail(`links.${i}.url`, `${link.url}: a TLS link uses tls://<host>:<port> (or nats-leaf://); set links.${i}.tls.enabled to false for a link in clear`);
    }
  });
  const exported = new Set<string>();
  (mc.exportTo ?? []).forEach((cluster, i) => {
    if (cluster === name) fail(`exportTo.${i}`, `${cluster} is this cluster (multicluster.clusterName)`);
    if (exported.has(cluster)) fail(`exportTo.${i}`, `${cluster} is listed twice`);
    exported.add(cluster);
  });
  (mc.leafnode?.tls?.hosts ?? []).forEach((host, i) => {
    if (!isIpAddress(host) && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(host)) {
      fail(`leafnode.tls.hosts.${i}`, `${JSON.stringify(host)} must be a DNS name (lower case) or an IP address: a host linked clusters connect to`);
    }
  });
  (mc.gateway?.addresses ?? []).forEach((item, i) => {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]{1,5})$/.exec(item);
    const host = m?.[1] ?? m?.[2];
    const port = Number(m?.[3]);
    if (!m || host === undefined || !isIpAddress(host) || port < 1 || port > 65535) {
      fail(`gateway.addresses.${i}`, `${JSON.stringify(item)} must be <ip>:<port> (linked clusters connect to an address, not a name), e.g. 203.0.113.7:4180`);
    }
  });
  const interval = mc.heartbeatInterval === undefined ? 2000 : durationMs(mc.heartbeatInterval);
  if (interval < 500 || interval > 60_000) fail('heartbeatInterval', `must be between 500ms and 60s, got ${mc.heartbeatInterval}`);
  if (mc.grace !== undefined && durationMs(mc.grace) < 3 * interval) fail('grace', `must be at least three heartbeat intervals (${3 * interval}ms), got ${mc.grace}`);
}

function durationMs(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function dotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describe(e: ErrorObject): { key: string; message: string } {
  const at = dotted(e.instancePath);
  const join = (child: string) => (at === '' ? child : `${at}.${child}`);
  switch (e.keyword) {
    case 'additionalProperties':
      return { key: join(String(e.params.additionalProperty)), message: 'is not a known value' };
    case 'enum':
      return { key: at, message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { key: at, message: `must be ${e.params.type === 'object' ? 'a mapping' : e.params.type === 'array' ? 'a list' : `a ${String(e.params.type)}`}` };
    case 'pattern':
      return { key: at, message: `does not have the right form (${String(e.params.pattern)})` };
    default:
      return { key: at, message: e.message ?? 'is invalid' };
  }
}

type Mutable = Record<string, unknown>;

function isMapping(value: unknown): value is Mutable {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: mappings merge key by key, anything else replaces; `null` removes a key. */
export function mergeValues(base: InstallValues, ...overrides: readonly InstallValues[]): InstallValues {
  let out: Mutable = structuredClone(base) as Mutable;
  for (const override of overrides) out = mergeInto(out, override as Mutable);
  return out as InstallValues;
}

function mergeInto(base: Mutable, override: Mutable): Mutable {
  const out: Mutable = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null || value === undefined) delete out[key];
    else if (isMapping(value) && isMapping(out[key])) out[key] = mergeInto(out[key], value);
    else out[key] = structuredClone(value);
  }
  return out;
}

/** Parses a values file; `source` (the file name) is named in errors. */
export function parseValuesYaml(text: string, source: string): InstallValues {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new InstallValuesError('', `${source} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) throw new InstallValuesError('', `${source} must hold a mapping of values`);
  return validateValues(value, source);
}

/** The schema node at a dotted path, or undefined when the path names no value. */
function schemaAt(path: readonly string[]): Record<string, unknown> | undefined {
  let node: Record<string, unknown> = valuesSchema;
  for (const segment of path) {
    const properties = node.properties as Record<string, Record<string, unknown>> | undefined;
    const next = properties?.[segment];
    if (!next) return undefined;
    node = next;
  }
  return node;
}

/** Splits `a=1,b={x,y}` at the commas outside braces, and a key at its unescaped dots. */
function splitOutside(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += text[i + 1] === separator ? separator : ch + text[i + 1]!;
      i++;
      continue;
    }
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === separator && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

function typedValue(raw: string, schema: Record<string, unknown>, key: string): unknown {
  if (raw === 'null') return null;
  const type = schema.type ?? (Array.isArray(schema.enum) ? typeof schema.enum[0] : undefined);
  if (type === 'array') {
    const inner = raw.startsWith('{') && raw.endsWith('}') ? raw.slice(1, -1) : raw;
    return inner === '' ? [] : inner.split(',').map((item) => typedValue(item.trim(), (schema.items ?? {}) as Record<string, unknown>, key));
  }
  if (type === 'integer' || type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new InstallValuesError(key, `must be a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (type === 'boolean') {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw new InstallValuesError(key, `must be true or false, got ${JSON.stringify(raw)}`);
  }
  if (type === 'object') throw new InstallValuesError(key, 'is a mapping: set its keys one by one (key.child=value)');
  return raw;
}

/**
 * Reads `--set` assignments: `a.b=c`, several separated by commas, lists as
 * `{x,y}`, `\.` for a dot inside a key. Values are typed by the schema (a
 * string value stays a string, `3` for a number is 3, `true` a boolean);
 * `null` removes the value.
 */
export function parseSetValues(assignment: string): InstallValues {
  const out: Mutable = {};
  for (const part of splitOutside(assignment, ',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InstallValuesError('', `--set ${JSON.stringify(part)} must be key=value`);
    const path = splitOutside(part.slice(0, eq).trim(), '.');
    const key = path.join('.');
    if (path.some((s) => s === '')) throw new InstallValuesError(key, 'has an empty key segment');
    const schema = schemaAt(path);
    if (!schema) throw new InstallValuesError(key, 'is not a known value');
    let node = out;
    for (const segment of path.slice(0, -1)) {
      if (!isMapping(node[segment])) node[segment] = {};
      node = node[segment] as Mutable;
    }
    node[path[path.length - 1]!] = typedValue(part.slice(eq + 1), schema, key);
  }
  return out as InstallValues;
}

/** Every value with its default, as the renderer reads them. */
export interface ResolvedValues {
  readonly namespace: string;
  readonly ha: boolean;
  readonly image: { readonly repository: string; readonly tag: string; readonly pullPolicy: 'Always' | 'IfNotPresent' | 'Never' };
  readonly imagePullSecrets: readonly string[];
  readonly trustDomain: string;
  readonly clusterDomain: string;
  readonly logLevel: string;
  readonly nodeAntiAffinity: 'required' | 'preferred';
  readonly streamReplicas: number;
  readonly components: Readonly<Record<Component, { readonly replicas: number; readonly resources: ResourceValues }>>;
  readonly identity: { readonly externalIssuer: boolean; readonly tokenAudience: string };
  /** Absent: the bundled NATS cluster. */
  readonly externalNatsUrl?: string;
  readonly nats: { readonly image: string; readonly storageSize: string; readonly storageClassName?: string; readonly resources: ResourceValues };
  readonly webhook: { readonly failurePolicy: 'Ignore' | 'Fail'; readonly timeoutSeconds: number };
  readonly injector: { readonly proxyImage: string; readonly proxyVersion: string; readonly proxyInitImage?: string; readonly cni: boolean; readonly nativeSidecar: boolean };
  readonly gatewayTls: boolean;
  readonly defaultInboundPolicy: string;
  /** Absent unless `multicluster.enabled`. */
  readonly multicluster?: ResolvedMulticluster;
}

export interface ResolvedExpose {
  readonly serviceType: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  readonly serviceAnnotations: Readonly<Record<string, string>>;
  readonly loadBalancerSourceRanges: readonly string[];
}

export interface ResolvedMulticluster {
  readonly clusterName: string;
  readonly links: readonly {
    readonly cluster: string;
    readonly url?: string;
    readonly passwordSecret: { readonly name: string; readonly key: string };
    /** Absent: the link is in clear. */
    readonly tls?: { readonly caSecret: { readonly name: string; readonly key: string } };
  }[];
  readonly exportTo: readonly string[];
  readonly replicas: number;
  readonly resources: ResourceValues;
  readonly heartbeatInterval: string;
  readonly grace: string;
  readonly gateway: ResolvedExpose & { readonly addresses: readonly string[]; readonly allowedIdentities?: readonly string[]; readonly replicas: number; readonly resources: ResourceValues };
  /** `tls` absent: the listener is in clear. */
  readonly leafnode: ResolvedExpose & { readonly port: number; readonly tls?: { readonly hosts: readonly string[] } };
}

function resolveExpose(e: ExposeValues | undefined): ResolvedExpose {
  return { serviceType: e?.serviceType ?? 'LoadBalancer', serviceAnnotations: e?.serviceAnnotations ?? {}, loadBalancerSourceRanges: e?.loadBalancerSourceRanges ?? [] };
}

function resolveMulticluster(mc: MulticlusterValues | undefined, replicas: number, resources: ResourceValues): ResolvedMulticluster | undefined {
  if (mc?.enabled !== true) return undefined;
  if (mc.clusterName === undefined) throw new InstallValuesError('multicluster.clusterName', 'is required when multicluster.enabled is true');
  return {
    clusterName: mc.clusterName,
    links: (mc.links ?? []).map((l) => {
      const passwordSecret = { name: l.passwordSecret?.name ?? linkPasswordSecretName(l.cluster), key: l.passwordSecret?.key ?? linkPasswordKey };
      return {
        cluster: l.cluster,
        ...(l.url !== undefined ? { url: l.url } : {}),
        passwordSecret,
        ...(l.tls?.enabled !== false ? { tls: { caSecret: { name: l.tls?.caSecret?.name ?? passwordSecret.name, key: l.tls?.caSecret?.key ?? linkCaKey } } } : {}),
      };
    }),
    exportTo: mc.exportTo ?? [],
    replicas: mc.replicas ?? replicas,
    resources: mc.resources ?? resources,
    heartbeatInterval: mc.heartbeatInterval ?? '2s',
    grace: mc.grace ?? '30s',
    gateway: {
      ...resolveExpose(mc.gateway),
      addresses: mc.gateway?.addresses ?? [],
      ...(mc.gateway?.allowedIdentities !== undefined ? { allowedIdentities: mc.gateway.allowedIdentities } : {}),
      replicas: mc.gateway?.replicas ?? replicas,
      resources: mc.gateway?.resources ?? resources,
    },
    leafnode: {
      ...resolveExpose(mc.leafnode),
      port: mc.leafnode?.port ?? defaultLeafnodePort,
      ...(mc.leafnode?.tls?.enabled !== false ? { tls: { hosts: mc.leafnode?.tls?.hosts ?? [] } } : {}),
    },
  };
}

const defaultResources: ResourceValues = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } };
const defaultNatsResources: ResourceValues = { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } };

/** Fills in the defaults; `version` is the meshbus version, the default image tag and proxy version. */
export function resolveValues(values: InstallValues, version: string): ResolvedValues {
  const ha = values.ha ?? false;
  const replicas = ha ? 3 : 1;
  const resources = values.resources ?? defaultResources;
  const natsUrl = values.nats?.url;
  const multicluster = resolveMulticluster(values.multicluster, replicas, resources);
  return {
    namespace: values.namespace ?? defaultControlNamespace,
    ha,
    image: { repository: values.image?.repository ?? 'ghcr.io/meshbus/meshbus', tag: values.image?.tag ?? version, pullPolicy: values.image?.pullPolicy ?? 'IfNotPresent' },
    imagePullSecrets: values.imagePullSecrets ?? [],
    trustDomain: values.trustDomain ?? 'cluster.local',
    clusterDomain: values.clusterDomain ?? 'cluster.local',
    logLevel: values.logLevel ?? 'info',
    nodeAntiAffinity: values.nodeAntiAffinity ?? 'required',
    streamReplicas: values.streamReplicas ?? (ha ? 3 : 1),
    components: Object.fromEntries(
      components.map((c) => [c, { replicas: values.components?.[c]?.replicas ?? replicas, resources: values.components?.[c]?.resources ?? resources }]),
    ) as ResolvedValues['components'],
    identity: { externalIssuer: values.identity?.issuer?.external ?? false, tokenAudience: values.identity?.tokenAudience ?? 'identity.meshbus.io' },
    ...(natsUrl !== undefined && natsUrl !== '' ? { externalNatsUrl: natsUrl } : {}),
    nats: {
      image: values.nats?.image ?? 'nats:2.10-alpine',
      storageSize: values.nats?.storage?.size ?? '10Gi',
      ...(values.nats?.storage?.storageClassName !== undefined ? { storageClassName: values.nats.storage.storageClassName } : {}),
      resources: values.nats?.resources ?? defaultNatsResources,
    },
    webhook: { failurePolicy: values.webhook?.failurePolicy ?? (ha ? 'Fail' : 'Ignore'), timeoutSeconds: values.webhook?.timeoutSeconds ?? 10 },
    injector: {
      // One image holds the control plane and the proxy: the proxy follows image.repository unless set.
      proxyImage: values.injector?.proxyImage ?? values.image?.repository ?? 'ghcr.io/meshbus/meshbus',
      proxyVersion: values.injector?.proxyVersion ?? version,
      ...(values.injector?.proxyInitImage !== undefined ? { proxyInitImage: values.injector.proxyInitImage } : {}),
      cni: values.injector?.cni ?? false,
      nativeSidecar: values.injector?.nativeSidecar ?? false,
    },
    gatewayTls: values.gateway?.tls ?? true,
    defaultInboundPolicy: values.policy?.defaultInboundPolicy ?? 'all-unauthenticated',
    ...(multicluster ? { multicluster } : {}),
  };
}
