import { isLogLevel, logLevels, parseDuration } from '@meshbus/runtime';
import { MeshbusError, parseCidr } from '@meshbus/core';
import { defaultInboundPolicies } from '@meshbus/manifests';

/** `enabled` or `disabled`, on a pod or its namespace. */
export const injectAnnotation = 'meshbus.io/inject';
/** Set on an injected pod: the proxy's version. */
export const proxyVersionAnnotation = 'meshbus.io/proxy-version';
/** Set on an injected pod: SHA-256 of the trust anchors PEM the proxy checks peers against. */
export const trustRootAnnotation = 'meshbus.io/trust-root-sha256';
/** Set on an injected pod: what injected it (`meshbus-injector` or `meshbus-cli`) and its version. */
export const injectedByAnnotation = 'meshbus.io/injected-by';
/** Label of an injected pod: the control plane's namespace. */
export const controlNamespaceLabel = 'meshbus.io/control-namespace';
/** Label of an injected pod: the proxy's version (label-safe). */
export const proxyVersionLabel = 'meshbus.io/proxy-version';

/** Prefix of the configuration annotations. */
export const configPrefix = 'config.meshbus.io/';

/** The proxy's settings a pod (or its namespace) may change, after validation. */
export interface PodOverrides {
  proxyImage?: string;
  proxyVersion?: string;
  logLevel?: string;
  logFormat?: 'json' | 'plain';
  cpuRequest?: string;
  cpuLimit?: string;
  memoryRequest?: string;
  memoryLimit?: string;
  skipInboundPorts?: number[];
  skipOutboundPorts?: number[];
  skipSubnets?: string[];
  opaquePorts?: string;
  defaultInboundPolicy?: string;
  shutdownGracePeriod?: string;
  accessLog?: 'off' | 'apache' | 'json';
  nativeSidecar?: boolean;
}

/** A configuration annotation that cannot be used; the message names it and what is allowed. */
export class AnnotationError extends MeshbusError {
  override readonly name = 'AnnotationError';
  constructor(
    readonly annotation: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super('InvalidAnnotation', `annotation ${annotation}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`);
  }
}

type Setter = (value: string, out: PodOverrides) => void;

interface AnnotationSpec {
  readonly allowed: string;
  readonly set: Setter;
}

const portRe = /^\d{1,5}$/;

function portOf(text: string): number | undefined {
  if (!portRe.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** `3306,5000-5002` → every port; undefined when malformed. Ranges are bounded to keep lists short. */
function portList(text: string): number[] | undefined {
  const out: number[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const range = /^(\d{1,5})-(\d{1,5})$/.exec(item);
    if (range) {
      const lo = portOf(range[1]!);
      const hi = portOf(range[2]!);
      if (lo === undefined || hi === undefined || lo > hi || hi - lo > 1024) return undefined;
      for (let p = lo; p <= hi; p++) out.push(p);
      continue;
    }
    const p = portOf(item);
    if (p === undefined) return undefined;
    out.push(p);
  }
  return [...new Set(out)];
}

// Kubernetes quantities: a decimal number with an optional SI or binary suffix.
const quantityRe = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const imageRe = /^[a-z0-9]+([._/-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const tagRe = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function choice<T extends string>(values: readonly T[], set: (v: T, out: PodOverrides) => void): AnnotationSpec {
  return {
    allowed: `one of ${values.join(', ')}`,
    set: (value, out) => {
      const v = values.find((x) => x === value);
      if (v === undefined) throw new Error('bad');
      set(v, out);
    },
  };
}

function matching(re: RegExp, allowed: string, set: (v: string, out: PodOverrides) => void): AnnotationSpec {
  return {
    allowed,
    set: (value, out) => {
      if (!re.test(value)) throw new Error('bad');
      set(value, out);
    },
  };
}

function ports(allowed: string, set: (v: number[], out: PodOverrides) => void): AnnotationSpec {
  return {
    allowed,
    set: (value, out) => {
      const list = portList(value);
      if (list === undefined) throw new Error('bad');
      set(list, out);
    },
  };
}

const quantity = 'a Kubernetes quantity such as 100m, 0.5, 64Mi or 1Gi';

/** Every configuration annotation, by name, with what it accepts. */
export const configAnnotations: Readonly<Record<string, AnnotationSpec>> = {
  [`${configPrefix}proxy-image`]: matching(imageRe, 'an image repository without tag, such as ghcr.io/meshbus/meshbus', (v, o) => (o.proxyImage = v)),
  [`${configPrefix}proxy-version`]: matching(tagRe, 'an image tag such as 0.1.0', (v, o) => (o.proxyVersion = v)),
  [`${configPrefix}proxy-log-level`]: {
    allowed: `one of ${logLevels.join(', ')}`,
    set: (v, o) => {
      if (!isLogLevel(v)) throw new Error('bad');
      o.logLevel = v;
    },
  },
  [`${configPrefix}proxy-log-format`]: choice(['json', 'plain'] as const, (v, o) => (o.logFormat = v)),
  [`${configPrefix}proxy-cpu-request`]: matching(quantityRe, quantity, (v, o) => (o.cpuRequest = v)),
  [`${configPrefix}proxy-cpu-limit`]: matching(quantityRe, quantity, (v, o) => (o.cpuLimit = v)),
  [`${configPrefix}proxy-memory-request`]: matching(quantityRe, quantity, (v, o) => (o.memoryRequest = v)),
  [`${configPrefix}proxy-memory-limit`]: matching(quantityRe, quantity, (v, o) => (o.memoryLimit = v)),
  [`${configPrefix}skip-inbound-ports`]: ports('ports (1-65535) and ranges separated by commas, such as 25,8000-8010', (v, o) => (o.skipInboundPorts = v)),
  [`${configPrefix}skip-outbound-ports`]: ports('ports (1-65535) and ranges separated by commas, such as 25,8000-8010', (v, o) => (o.skipOutboundPorts = v)),
  [`${configPrefix}skip-subnets`]: {
    allowed: 'IPv4 or IPv6 networks separated by commas, such as 10.96.0.0/12,fd00::/8',
    set: (value, out) => {
      const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
      for (const item of items) if ('error' in parseCidr(item)) throw new Error('bad');
      out.skipSubnets = items;
    },
  },
  [`${configPrefix}opaque-ports`]: {
    allowed: 'ports (1-65535) and ranges separated by commas, such as 3306,5000-5002',
    set: (value, out) => {
      if (portList(value) === undefined) throw new Error('bad');
      out.opaquePorts = value;
    },
  },
  [`${configPrefix}default-inbound-policy`]: choice(defaultInboundPolicies, (v, o) => (o.defaultInboundPolicy = v)),
  [`${configPrefix}shutdown-grace-period`]: {
    allowed: 'a duration such as 500ms, 30s or 2m',
    set: (value, out) => {
      parseDuration(value);
      out.shutdownGracePeriod = value;
    },
  },
  [`${configPrefix}access-log`]: choice(['off', 'apache', 'json'] as const, (v, o) => (o.accessLog = v)),
  [`${configPrefix}native-sidecar`]: choice(['true', 'false'] as const, (v, o) => (o.nativeSidecar = v === 'true')),
};

/** The configuration annotations that apply to a pod: the namespace's, then the pod's over them. */
export function effectiveConfigAnnotations(pod: Readonly<Record<string, string>>, namespace: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const source of [namespace, pod]) {
    for (const [key, value] of Object.entries(source)) if (key.startsWith(configPrefix)) out[key] = value;
  }
  return out;
}

/**
 * Reads the configuration annotations. An unknown `config.meshbus.io/` annotation or a value
 * it does not accept throws {@link AnnotationError}.
 */
export function parseConfigAnnotations(annotations: Readonly<Record<string, string>>): PodOverrides {
  const out: PodOverrides = {};
  for (const key of Object.keys(annotations).sort()) {
    const value = annotations[key]!;
    const spec = configAnnotations[key];
    if (spec === undefined) {
      throw new AnnotationError(key, value, `a known configuration annotation: ${Object.keys(configAnnotations).join(', ')}`);
    }
    try {
      spec.set(value.trim(), out);
    } catch {
      throw new AnnotationError(key, value, spec.allowed);
    }
  }
  return out;
}
