import { cidrContains, formatCidr, parseCidr } from './cidr.js';
import { reportDuplicates, type KindDefinition } from './kind.js';
import { isDns1123Subdomain, isPortName } from './names.js';
import {
  acceptsVersions,
  readLabelSelector,
  readRef,
  policyMeta,
  versionHint,
  type AllowedKind,
  type LabelSelectorDocument,
  type RefDocument,
} from './policy-common.js';
import type {
  AuthorizationPolicy,
  AuthorizedNetwork,
  DefaultInboundPolicy,
  HttpFaultInjection,
  HttpLocalRateLimitPolicy,
  MeshTLSAuthentication,
  NetworkAuthentication,
  ProxyProtocol,
  ResourceRef,
  Server,
} from './policy-resources.js';
import {
  authorizationPolicySchema,
  faultInjectionSchema,
  meshTLSAuthenticationSchema,
  networkAuthenticationSchema,
  rateLimitPolicySchema,
  serverSchema,
} from './policy-schemas.js';

export const policyGroup = 'policy.linkerd.io';
export const gatewayGroup = 'gateway.networking.k8s.io';
export const meshbusPolicyGroup = 'policy.meshbus.io';

const serverVersions = { [policyGroup]: ['v1beta1', 'v1beta2', 'v1beta3'], 'meshbus.io': ['v1alpha1'], [meshbusPolicyGroup]: ['v1alpha1'] };

interface ServerSpecDocument {
  port: number | string;
  podSelector?: LabelSelectorDocument;
  workloadSelector?: LabelSelectorDocument;
  proxyProtocol?: ProxyProtocol;
  accessPolicy?: DefaultInboundPolicy;
}

export const serverKind: KindDefinition = {
  kind: 'Server',
  accepts: acceptsVersions(serverVersions),
  apiVersionHint: versionHint(serverVersions),
  identity: `${policyGroup}/Server`,
  namespaced: true,
  collection: 'servers',
  schema: serverSchema,
  decode(document, meta, issues): Server {
    const spec = document.spec as ServerSpecDocument;
    if (typeof spec.port === 'number' && (spec.port < 1 || spec.port > 65535)) {
      issues.push(`spec.port: ${spec.port} is not a port number (1-65535)`);
    } else if (typeof spec.port === 'string' && !isPortName(spec.port)) {
      issues.push(
        `spec.port: ${JSON.stringify(spec.port)} is neither a port number nor a port name (at most 15 lowercase letters, digits and '-', with at least one letter)`,
      );
    }
    if ((spec.podSelector === undefined) === (spec.workloadSelector === undefined)) {
      issues.push('spec: set exactly one of podSelector and workloadSelector');
    }
    return {
      kind: 'Server',
      ...policyMeta(meta),
      port: spec.port,
      ...(spec.podSelector ? { podSelector: readLabelSelector(spec.podSelector, 'spec.podSelector', issues) } : {}),
      ...(spec.workloadSelector ? { workloadSelector: readLabelSelector(spec.workloadSelector, 'spec.workloadSelector', issues) } : {}),
      proxyProtocol: spec.proxyProtocol ?? 'unknown',
      ...(spec.accessPolicy !== undefined ? { accessPolicy: spec.accessPolicy } : {}),
    };
  },
};

/** The Linkerd group, and meshbus's own (the group of the installed CustomResourceDefinitions). */
const alpha1 = { [policyGroup]: ['v1alpha1'], [meshbusPolicyGroup]: ['v1alpha1'] };

/** What an AuthorizationPolicy may target. */
export const authorizationTargets: readonly AllowedKind[] = [
  { group: policyGroup, kind: 'Server' },
  { group: policyGroup, kind: 'HTTPRoute' },
  { group: gatewayGroup, kind: 'HTTPRoute' },
  { group: gatewayGroup, kind: 'GRPCRoute' },
  { group: '', kind: 'Namespace' },
];

export const authenticationKinds: readonly AllowedKind[] = [
  { group: policyGroup, kind: 'MeshTLSAuthentication' },
  { group: policyGroup, kind: 'NetworkAuthentication' },
  { group: '', kind: 'ServiceAccount' },
];

/** Refs a policy may make to the kinds of its own namespace only. */
function checkSameNamespace(ref: ResourceRef | undefined, namespace: string, path: string, issues: string[]): void {
  if (ref?.namespace !== undefined && ref.namespace !== namespace) {
    issues.push(`${path}.namespace: ${JSON.stringify(ref.namespace)} is another namespace; a policy applies to resources of its own namespace (${namespace})`);
  }
}

function refKey(ref: ResourceRef | undefined): string | undefined {
  return ref && `${ref.group}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

function reportDuplicateRefs(refs: readonly (ResourceRef | undefined)[], path: string, issues: string[]): void {
  reportDuplicates(refs.map(refKey), (_key, first, again) => `${path}[${again}]: refers to the same resource as ${path}[${first}]`, issues);
}

/** A failed reference becomes a placeholder so the decoder can go on; the resource is refused anyway. */
const missing: ResourceRef = { group: '', kind: '', name: '' };

export const authorizationPolicyKind: KindDefinition = {
  kind: 'AuthorizationPolicy',
  accepts: acceptsVersions(alpha1),
  apiVersionHint: versionHint(alpha1),
  identity: `${policyGroup}/AuthorizationPolicy`,
  namespaced: true,
  collection: 'authorizationPolicies',
  schema: authorizationPolicySchema,
  decode(document, meta, issues): AuthorizationPolicy {
    const spec = document.spec as { targetRef: RefDocument; requiredAuthenticationRefs: RefDocument[] };
    const targetRef = readRef(spec.targetRef, 'spec.targetRef', authorizationTargets, issues);
    checkSameNamespace(targetRef, meta.namespace, 'spec.targetRef', issues);
    if (targetRef?.kind === 'Namespace' && targetRef.name !== meta.namespace) {
      issues.push(`spec.targetRef.name: a policy may target only its own namespace (${meta.namespace}), not ${JSON.stringify(targetRef.name)}`);
    }
    const authRefs = spec.requiredAuthenticationRefs.map((r, i) => readRef(r, `spec.requiredAuthenticationRefs[${i}]`, authenticationKinds, issues));
    reportDuplicateRefs(authRefs, 'spec.requiredAuthenticationRefs', issues);
    return {
      kind: 'AuthorizationPolicy',
      ...policyMeta(meta),
      targetRef: targetRef ?? missing,
      requiredAuthenticationRefs: authRefs.map((r) => r ?? missing),
    };
  },
};

export const identityRefKinds: readonly AllowedKind[] = [
  { group: '', kind: 'ServiceAccount' },
  { group: '', kind: 'Namespace' },
];

/** A full identity (a DNS name), `*`, `*.<suffix>`, or a SPIFFE id. */
function isIdentity(text: string): boolean {
  if (text === '*') return true;
  if (text.startsWith('*.')) return isDns1123Subdomain(text.slice(2));
  if (text.startsWith('spiffe://')) return /^spiffe:\/\/[a-z0-9.\-_]+(\/[A-Za-z0-9.\-_]+)*$/.test(text);
  return isDns1123Subdomain(text);
}

export const meshTLSAuthenticationKind: KindDefinition = {
  kind: 'MeshTLSAuthentication',
  accepts: acceptsVersions(alpha1),
  apiVersionHint: versionHint(alpha1),
  identity: `${policyGroup}/MeshTLSAuthentication`,
  namespaced: true,
  collection: 'meshTLSAuthentications',
  schema: meshTLSAuthenticationSchema,
  decode(document, meta, issues): MeshTLSAuthentication {
    const spec = document.spec as { identities?: string[]; identityRefs?: RefDocument[] };
    const identities = spec.identities ?? [];
    if (identities.length === 0 && (spec.identityRefs ?? []).length === 0) {
      issues.push('spec: set identities, identityRefs or both; at least one identity is needed');
    }
    identities.forEach((id, i) => {
      if (!isIdentity(id)) {
        issues.push(
          `spec.identities[${i}]: ${JSON.stringify(id)} is not an identity; write a full identity (web.shop.serviceaccount.identity.meshbus.cluster.local), ` +
            "'*' (any meshed client), '*.<suffix>' (e.g. *.shop.serviceaccount.identity.meshbus.cluster.local) or a spiffe:// id",
        );
      }
    });
    reportDuplicates(identities, (id, first, again) => `spec.identities[${again}]: ${JSON.stringify(id)} is already given by spec.identities[${first}]`, issues);
    const refs = (spec.identityRefs ?? []).map((r, i) => readRef(r, `spec.identityRefs[${i}]`, identityRefKinds, issues));
    reportDuplicateRefs(refs, 'spec.identityRefs', issues);
    return { kind: 'MeshTLSAuthentication', ...policyMeta(meta), identities, identityRefs: refs.map((r) => r ?? missing) };
  },
};

export const networkAuthenticationKind: KindDefinition = {
  kind: 'NetworkAuthentication',
  accepts: acceptsVersions(alpha1),
  apiVersionHint: versionHint(alpha1),
  identity: `${policyGroup}/NetworkAuthentication`,
  namespaced: true,
  collection: 'networkAuthentications',
  schema: networkAuthenticationSchema,
  decode(document, meta, issues): NetworkAuthentication {
    const spec = document.spec as { networks: { cidr: string; except?: string[] }[] };
    const networks = spec.networks.map((n, i): AuthorizedNetwork => {
      const at = `spec.networks[${i}]`;
      const cidr = parseCidr(n.cidr);
      if ('error' in cidr) issues.push(`${at}.cidr: ${cidr.error}`);
      const except = (n.except ?? []).map((text, j) => {
        const inner = parseCidr(text);
        if ('error' in inner) {
          issues.push(`${at}.except[${j}]: ${inner.error}`);
          return text;
        }
        if (!('error' in cidr) && !cidrContains(cidr, inner)) {
          issues.push(`${at}.except[${j}]: ${JSON.stringify(text)} is not inside ${at}.cidr ${formatCidr(cidr)}`);
        }
        return formatCidr(inner);
      });
      return { cidr: 'error' in cidr ? n.cidr : formatCidr(cidr), except };
    });
    return { kind: 'NetworkAuthentication', ...policyMeta(meta), networks };
  },
};

const serverTarget: readonly AllowedKind[] = [{ group: policyGroup, kind: 'Server' }];
const serviceAccountKind: readonly AllowedKind[] = [{ group: '', kind: 'ServiceAccount' }];

interface RateLimitSpecDocument {
  targetRef: RefDocument;
  total?: { requestsPerSecond: number };
  identity?: { requestsPerSecond: number };
  overrides?: { requestsPerSecond: number; clientRefs: RefDocument[] }[];
}

export const rateLimitPolicyKind: KindDefinition = {
  kind: 'HTTPLocalRateLimitPolicy',
  accepts: acceptsVersions(alpha1),
  apiVersionHint: versionHint(alpha1),
  identity: `${policyGroup}/HTTPLocalRateLimitPolicy`,
  namespaced: true,
  collection: 'rateLimitPolicies',
  schema: rateLimitPolicySchema,
  decode(document, meta, issues): HttpLocalRateLimitPolicy {
    const spec = document.spec as RateLimitSpecDocument;
    const targetRef = readRef(spec.targetRef, 'spec.targetRef', serverTarget, issues, policyGroup);
    checkSameNamespace(targetRef, meta.namespace, 'spec.targetRef', issues);
    const total = spec.total?.requestsPerSecond;
    if (total !== undefined && spec.identity && spec.identity.requestsPerSecond > total) {
      issues.push(`spec.identity.requestsPerSecond: ${spec.identity.requestsPerSecond} is more than spec.total.requestsPerSecond (${total})`);
    }
    const overrides = (spec.overrides ?? []).map((o, i) => {
      const at = `spec.overrides[${i}]`;
      if (total !== undefined && o.requestsPerSecond > total) {
        issues.push(`${at}.requestsPerSecond: ${o.requestsPerSecond} is more than spec.total.requestsPerSecond (${total})`);
      }
      const clientRefs = o.clientRefs.map((r, j) => readRef(r, `${at}.clientRefs[${j}]`, serviceAccountKind, issues) ?? missing);
      return { requestsPerSecond: o.requestsPerSecond, clientRefs };
    });
    return {
      kind: 'HTTPLocalRateLimitPolicy',
      ...policyMeta(meta),
      targetRef: targetRef ?? missing,
      ...(spec.total ? { total: { requestsPerSecond: spec.total.requestsPerSecond } } : {}),
      ...(spec.identity ? { identity: { requestsPerSecond: spec.identity.requestsPerSecond } } : {}),
      overrides,
    };
  },
};

const faultVersions = { [meshbusPolicyGroup]: ['v1alpha1'] };

/** Decimals a percentage may have: 0.000001% is the finest share. */
const maxPercentageDecimals = 6;

interface FaultInjectionSpecDocument {
  abort: { httpStatus?: number; grpcStatus?: number; message?: string };
  percentage?: number;
  ratio?: { numerator: number; denominator: number };
}

export const faultInjectionKind: KindDefinition = {
  kind: 'HTTPFaultInjection',
  accepts: acceptsVersions(faultVersions),
  apiVersionHint: versionHint(faultVersions),
  identity: `${meshbusPolicyGroup}/HTTPFaultInjection`,
  namespaced: true,
  collection: 'faultInjections',
  schema: faultInjectionSchema,
  decode(document, meta, issues): HttpFaultInjection {
    const spec = document.spec as FaultInjectionSpecDocument;
    const { httpStatus, grpcStatus } = spec.abort;
    if ((httpStatus === undefined) === (grpcStatus === undefined)) issues.push('spec.abort: set exactly one of httpStatus and grpcStatus');
    let ratio = { numerator: 0, denominator: 100 };
    if ((spec.percentage === undefined) === (spec.ratio === undefined)) {
      issues.push('spec: set exactly one of percentage (0 to 100) and ratio {numerator, denominator}');
    } else if (spec.percentage !== undefined) {
      const decimals = decimalPlaces(spec.percentage);
      if (decimals > maxPercentageDecimals) {
        issues.push(`spec.percentage: ${spec.percentage} has more than ${maxPercentageDecimals} decimals`);
      } else {
        const scale = 10 ** decimals;
        ratio = { numerator: Math.round(spec.percentage * scale), denominator: 100 * scale };
      }
    } else if (spec.ratio) {
      if (spec.ratio.numerator > spec.ratio.denominator) {
        issues.push(`spec.ratio: numerator ${spec.ratio.numerator} is more than denominator ${spec.ratio.denominator}`);
      }
      ratio = { numerator: spec.ratio.numerator, denominator: spec.ratio.denominator };
    }
    return {
      kind: 'HTTPFaultInjection',
      ...policyMeta(meta),
      abort: {
        ...(httpStatus !== undefined ? { httpStatus } : {}),
        ...(grpcStatus !== undefined ? { grpcStatus } : {}),
        message: spec.abort.message ?? '',
        ratio,
      },
    };
  },
};

/** Digits after the decimal point of a number as YAML wrote it (`12.5` has 1; `1e-7` has 7). */
function decimalPlaces(value: number): number {
  const text = String(value);
  const exp = /e-(\d+)$/.exec(text);
  if (exp) {
    const mantissa = text.slice(0, exp.index);
    return Number(exp[1]) + (mantissa.split('.')[1]?.length ?? 0);
  }
  return text.split('.')[1]?.length ?? 0;
}
