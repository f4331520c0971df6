/*
 * Pieces shared by the policy and route kinds (and by Service, Namespace and
 * Workload for their annotations): metadata, label selectors, references,
 * durations, and the retry and timeout annotations.
 */
import { goDurationToMs } from './go-duration.js';
import type { DocumentMeta } from './kind.js';
import { isDns1123Subdomain } from './names.js';
import {
  defaultInboundPolicyAnnotation,
  linkerdDefaultInboundPolicyAnnotation,
  type DefaultInboundPolicy,
  type LabelSelector,
  type PolicyResourceMeta,
  type ResourceRef,
  type RetrySpec,
  type TimeoutsSpec,
} from './policy-resources.js';
import { defaultInboundPolicies, grpcStatusNames } from './policy-schemas.js';
import type { StringMap } from './resources.js';

/** The metadata of a policy resource; `file` is set by the index, which knows where the document came from. */
export function policyMeta(meta: DocumentMeta): PolicyResourceMeta {
  return { namespace: meta.namespace, name: meta.name, labels: meta.labels, annotations: meta.annotations, apiVersion: meta.apiVersion, file: '' };
}

/** Whether `apiVersion` is `<group>/<one of versions>`. */
export function acceptsVersions(groups: Readonly<Record<string, readonly string[]>>): (apiVersion: string) => boolean {
  return (apiVersion) => {
    const slash = apiVersion.indexOf('/');
    return slash > 0 && (groups[apiVersion.slice(0, slash)]?.includes(apiVersion.slice(slash + 1)) ?? false);
  };
}

export function versionHint(groups: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(groups)
    .flatMap(([group, versions]) => versions.map((v) => `${group}/${v}`))
    .join(', ');
}

export interface LabelSelectorDocument {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const rest = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix === '' || !isDns1123Subdomain(prefix))) return false;
  return rest.length <= 63 && labelName.test(rest);
}

function isLabelValue(value: string): boolean {
  return value.length <= 63 && labelValue.test(value);
}

const labelKeyRule = "a label key (an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)";
const labelValueRule = "a label value (at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty)";

/** Reads a Kubernetes label selector; every key and value must be a valid label key or value. */
export function readLabelSelector(doc: LabelSelectorDocument, path: string, issues: string[]): LabelSelector {
  for (const [key, value] of Object.entries(doc.matchLabels ?? {})) {
    if (!isLabelKey(key)) issues.push(`${path}.matchLabels: ${JSON.stringify(key)} is not ${labelKeyRule}`);
    else if (!isLabelValue(value)) issues.push(`${path}.matchLabels[${JSON.stringify(key)}]: ${JSON.stringify(value)} is not ${labelValueRule}`);
  }
  const expressions = (doc.matchExpressions ?? []).map((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    if (!isLabelKey(e.key)) issues.push(`${at}.key: ${JSON.stringify(e.key)} is not ${labelKeyRule}`);
    const values = e.values ?? [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) {
      issues.push(`${at}.values: must not be empty with operator ${e.operator}`);
    } else if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) {
      issues.push(`${at}.values: must be empty with operator ${e.operator}`);
    }
    values.forEach((v, j) => {
      if (!isLabelValue(v)) issues.push(`${at}.values[${j}]: ${JSON.stringify(v)} is not ${labelValueRule}`);
    });
    return { key: e.key, operator: e.operator, values };
  });
  return { matchLabels: doc.matchLabels ?? {}, matchExpressions: expressions };
}

export interface RefDocument {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** A kind a reference may name; group '' is the core group. */
export interface AllowedKind {
  readonly group: string;
  readonly kind: string;
}

/** Normalises the core group: '' and 'core' are the same. */
export function coreGroup(group: string | undefined): string {
  return group === undefined || group === 'core' ? '' : group;
}

function describeKind(k: AllowedKind): string {
  return k.group === '' ? `${k.kind} (core group)` : `${k.kind} (group ${k.group})`;
}

/** Lists the kinds in an error message. */
export function describeKinds(allowed: readonly AllowedKind[]): string {
  return allowed.map(describeKind).join(', ');
}

/**
 * Reads a reference. Without a group, the group is `defaultGroup` when
 * given, else the one group among `allowed` that has the kind. Kinds compare
 * without regard to case and are kept as the allowed list spells them.
 * Returns undefined (with an issue) for a kind not in `allowed`.
 */
export function readRef(doc: RefDocument, path: string, allowed: readonly AllowedKind[], issues: string[], defaultGroup?: string): ResourceRef | undefined {
  const sameKind = allowed.filter((k) => k.kind.toLowerCase() === doc.kind.toLowerCase());
  if (doc.group === undefined && defaultGroup === undefined && sameKind.length > 1) {
    issues.push(`${path}.group: is required for kind ${doc.kind}, which is in groups ${sameKind.map((k) => JSON.stringify(k.group)).join(' and ')}`);
    return undefined;
  }
  const group = coreGroup(doc.group ?? defaultGroup ?? sameKind[0]?.group ?? '');
  const match = sameKind.find((k) => k.group === group);
  if (!match) {
    issues.push(`${path}: ${describeKind({ group, kind: doc.kind })} cannot be referred to here; allowed: ${describeKinds(allowed)}`);
    return undefined;
  }
  checkName(doc.name, `${path}.name`, issues);
  if (doc.namespace !== undefined) checkName(doc.namespace, `${path}.namespace`, issues);
  return { group, kind: match.kind, name: doc.name, ...(doc.namespace !== undefined ? { namespace: doc.namespace } : {}) };
}

function checkName(value: string, path: string, issues: string[]): void {
  if (!isDns1123Subdomain(value)) {
    issues.push(`${path}: ${JSON.stringify(value)} is not a resource name (dot-separated DNS-1123 labels: lowercase letters, digits and '-')`);
  }
}

/** A duration in milliseconds, or undefined with an issue. */
export function readDuration(text: string | number, path: string, issues: string[]): number | undefined {
  const ms = goDurationToMs(String(text));
  if (ms === undefined) {
    issues.push(`${path}: ${JSON.stringify(text)} is not a duration (e.g. 300ms, 1s, 1m30s)`);
  } else if (ms < 0) {
    issues.push(`${path}: ${JSON.stringify(text)} is negative`);
  } else if (!Number.isSafeInteger(ms)) {
    issues.push(`${path}: ${JSON.stringify(text)} is too long`);
  } else {
    return ms;
  }
  return undefined;
}

export const retryAnnotations = {
  http: 'retry.linkerd.io/http',
  grpc: 'retry.linkerd.io/grpc',
  limit: 'retry.linkerd.io/limit',
  timeout: 'retry.linkerd.io/timeout',
} as const;

export const timeoutAnnotations = {
  request: 'timeout.linkerd.io/request',
  response: 'timeout.linkerd.io/response',
  idle: 'timeout.linkerd.io/idle',
} as const;

const annotationPath = (name: string) => `metadata.annotations["${name}"]`;

const httpCodesRule = 'a comma-separated list of status codes (500), ranges (500-504), 4xx, 5xx or gateway-error';

/** Parses `retry.linkerd.io/http`: `5xx`, `gateway-error`, `500`, `500-504`, comma-separated. */
export function parseHttpRetryCodes(text: string): { start: number; end: number }[] | undefined {
  const codes: { start: number; end: number }[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim().toLowerCase();
    let m: RegExpExecArray | null;
    if (item === '5xx') codes.push({ start: 500, end: 599 });
    else if (item === '4xx') codes.push({ start: 400, end: 499 });
    else if (item === 'gateway-error') codes.push({ start: 502, end: 504 });
    else if ((m = /^(\d{3})(?:-(\d{3}))?$/.exec(item))) {
      const start = Number(m[1]);
      const end = m[2] === undefined ? start : Number(m[2]);
      if (start < 100 || end > 599 || start > end) return undefined;
      codes.push({ start, end });
    } else return undefined;
  }
  return codes;
}

/**
 * Reads the retry and timeout annotations. `protocols` says which code
 * annotations apply: a GRPCRoute takes only `retry.linkerd.io/grpc`, an
 * HTTPRoute only `retry.linkerd.io/http`, a Service both.
 */
export function readRetryTimeoutAnnotations(
  annotations: StringMap,
  protocols: { readonly http: boolean; readonly grpc: boolean },
  issues: string[],
): { retry?: RetrySpec; timeouts?: TimeoutsSpec } {
  const http = annotations[retryAnnotations.http];
  const grpc = annotations[retryAnnotations.grpc];
  const limit = annotations[retryAnnotations.limit];
  const perTry = annotations[retryAnnotations.timeout];
  let codes: { start: number; end: number }[] = [];
  let grpcCodes: string[] = [];
  if (http !== undefined) {
    if (!protocols.http) issues.push(`${annotationPath(retryAnnotations.http)}: does not apply to a GRPCRoute; use ${retryAnnotations.grpc}`);
    const parsed = parseHttpRetryCodes(http);
    if (parsed) codes = parsed;
    else issues.push(`${annotationPath(retryAnnotations.http)}: ${JSON.stringify(http)} is not ${httpCodesRule}`);
  }
  if (grpc !== undefined) {
    if (!protocols.grpc) issues.push(`${annotationPath(retryAnnotations.grpc)}: does not apply to an HTTPRoute; use ${retryAnnotations.http}`);
    grpcCodes = grpc.split(',').map((c) => c.trim().toLowerCase());
    const unknown = grpcCodes.filter((c) => !(grpcStatusNames as readonly string[]).includes(c));
    if (unknown.length > 0) {
      issues.push(`${annotationPath(retryAnnotations.grpc)}: ${JSON.stringify(grpc)} is not a comma-separated list of ${grpcStatusNames.join(', ')}`);
    }
  }
  let attempts = 1;
  if (limit !== undefined) {
    if (/^\d{1,4}$/.test(limit.trim())) attempts = Number(limit.trim());
    else issues.push(`${annotationPath(retryAnnotations.limit)}: ${JSON.stringify(limit)} is not a whole number of retries (0 to 9999)`);
  }
  const perTryTimeoutMs = perTry === undefined ? undefined : readDuration(perTry, annotationPath(retryAnnotations.timeout), issues);
  const anyRetry = http !== undefined || grpc !== undefined || limit !== undefined || perTry !== undefined;
  const retry: RetrySpec | undefined = anyRetry
    ? { attempts, codes, grpcCodes: [...new Set(grpcCodes)], ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}) }
    : undefined;

  const timeouts: { requestMs?: number; backendRequestMs?: number; idleMs?: number } = {};
  let anyTimeout = false;
  for (const [field, key] of [
    ['requestMs', timeoutAnnotations.request],
    ['backendRequestMs', timeoutAnnotations.response],
    ['idleMs', timeoutAnnotations.idle],
  ] as const) {
    const value = annotations[key];
    if (value === undefined) continue;
    anyTimeout = true;
    const ms = readDuration(value, annotationPath(key), issues);
    if (ms !== undefined) timeouts[field] = ms;
  }
  return { ...(retry ? { retry } : {}), ...(anyTimeout ? { timeouts } : {}) };
}

/**
 * Reads the default inbound policy annotation of a Namespace or Workload
 * (the meshbus one, else the Linkerd one). A value that is not one of the six
 * policies is an issue, which refuses the resource.
 */
export function readDefaultInboundPolicy(annotations: StringMap, issues: string[]): DefaultInboundPolicy | undefined {
  let found: DefaultInboundPolicy | undefined;
  for (const key of [linkerdDefaultInboundPolicyAnnotation, defaultInboundPolicyAnnotation]) {
    const value = annotations[key];
    if (value === undefined) continue;
    if ((defaultInboundPolicies as readonly string[]).includes(value)) found = value as DefaultInboundPolicy;
    else issues.push(`${annotationPath(key)}: ${JSON.stringify(value)} is not a default inbound policy; use one of ${defaultInboundPolicies.join(', ')}`);
  }
  return found;
}
