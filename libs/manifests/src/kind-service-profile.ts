import { reportDuplicates, type KindDefinition } from './kind.js';
import { isDns1035Label, isDns1123Label } from './names.js';
import { readDuration } from './policy-common.js';
import { quantityToMilli } from './quantity.js';
import type {
  DstOverride,
  ProfileRouteSpec,
  RequestCondition,
  ResponseClassSpec,
  ResponseCondition,
  RetryBudgetSpec,
  ServiceFqdn,
} from './resources.js';
import { serviceProfileSchema } from './schemas.js';

interface RequestMatchDocument {
  method?: string;
  pathRegex?: string;
  all?: RequestMatchDocument[];
  any?: RequestMatchDocument[];
  not?: RequestMatchDocument;
}

interface ResponseMatchDocument {
  status?: { min?: number; max?: number };
  all?: ResponseMatchDocument[];
  any?: ResponseMatchDocument[];
  not?: ResponseMatchDocument;
}

interface RouteDocument {
  name: string;
  condition: RequestMatchDocument;
  responseClasses?: { condition: ResponseMatchDocument; isFailure?: boolean }[];
  isRetryable?: boolean;
  timeout?: string | number;
}

interface ServiceProfileSpecDocument {
  routes?: RouteDocument[];
  retryBudget?: { retryRatio: number; minRetriesPerSecond: number; ttl: string | number };
  dstOverrides?: { authority: string; weight: number | string }[];
  opaquePorts?: number[];
}

/** Largest traffic-split weight, in milli-units: the proxy API carries weights as uint32. */
const maxWeightMilli = 4_294_967_295;

/**
 * Splits a service FQDN `<service>.<namespace>.svc.<cluster-domain>`;
 * undefined when `name` is not one.
 */
export function parseServiceFqdn(name: string): ServiceFqdn | undefined {
  const labels = name.split('.');
  const [service, namespace, svc, ...domain] = labels;
  if (service === undefined || namespace === undefined || svc !== 'svc' || domain.length === 0) return undefined;
  if (!isDns1035Label(service) || !isDns1123Label(namespace) || !domain.every(isDns1123Label) || name.length > 253) return undefined;
  return { service, namespace, clusterDomain: domain.join('.') };
}

export const serviceProfileKind: KindDefinition = {
  kind: 'ServiceProfile',
  accepts: (apiVersion) => apiVersion === 'linkerd.io/v1alpha2' || apiVersion === 'meshbus.io/v1alpha1',
  apiVersionHint: 'linkerd.io/v1alpha2 or meshbus.io/v1alpha1',
  identity: 'ServiceProfile',
  namespaced: true,
  collection: 'serviceProfiles',
  schema: serviceProfileSchema,
  decode(document, meta, issues) {
    const spec = (document.spec ?? {}) as ServiceProfileSpecDocument;
    const target = parseServiceFqdn(meta.name);
    if (!target) {
      issues.push(
        `metadata.name: ${JSON.stringify(meta.name)} is not a service FQDN <service>.<namespace>.svc.<cluster-domain>, e.g. api.shop.svc.cluster.local`,
      );
    } else if (target.namespace !== meta.namespace) {
      issues.push(
        `metadata.namespace: the profile names a service in namespace ${JSON.stringify(target.namespace)} but is in namespace ` +
          `${JSON.stringify(meta.namespace)}; a profile must be in its service's namespace (set metadata.namespace: ${target.namespace})`,
      );
    }
    const routeDocs = spec.routes ?? [];
    reportDuplicates(
      routeDocs.map((r) => r.name),
      (name, first, again) => `spec.routes[${again}].name: ${JSON.stringify(name)} is already used by spec.routes[${first}]`,
      issues,
    );
    return {
      kind: 'ServiceProfile',
      namespace: meta.namespace,
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      target: target ?? { service: '', namespace: '', clusterDomain: '' },
      routes: routeDocs.map((r, i) => readRoute(r, `spec.routes[${i}]`, issues)),
      ...(spec.retryBudget ? { retryBudget: readRetryBudget(spec.retryBudget, issues) } : {}),
      dstOverrides: (spec.dstOverrides ?? []).map((d, i) => readDstOverride(d, `spec.dstOverrides[${i}]`, issues)),
      opaquePorts: [...new Set(spec.opaquePorts ?? [])].sort((a, b) => a - b),
    };
  },
};

function readRoute(route: RouteDocument, path: string, issues: string[]): ProfileRouteSpec {
  const timeoutMs = route.timeout === undefined ? undefined : readDuration(route.timeout, `${path}.timeout`, issues);
  return {
    name: route.name,
    condition: readRequestMatch(route.condition, `${path}.condition`, issues),
    responseClasses: (route.responseClasses ?? []).map(
      (c, i): ResponseClassSpec => ({
        condition: readResponseMatch(c.condition, `${path}.responseClasses[${i}].condition`, issues),
        isFailure: c.isFailure ?? false,
      }),
    ),
    isRetryable: route.isRetryable ?? false,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };
}

function readRequestMatch(match: RequestMatchDocument, path: string, issues: string[]): RequestCondition {
  if (match.pathRegex !== undefined) {
    try {
      new RegExp(match.pathRegex);
    } catch (err) {
      issues.push(`${path}.pathRegex: ${JSON.stringify(match.pathRegex)} is not a valid regular expression (${(err as Error).message})`);
    }
  }
  return {
    ...(match.method !== undefined ? { method: match.method } : {}),
    ...(match.pathRegex !== undefined ? { pathRegex: match.pathRegex } : {}),
    ...(match.all ? { all: match.all.map((m, i) => readRequestMatch(m, `${path}.all[${i}]`, issues)) } : {}),
    ...(match.any ? { any: match.any.map((m, i) => readRequestMatch(m, `${path}.any[${i}]`, issues)) } : {}),
    ...(match.not ? { not: readRequestMatch(match.not, `${path}.not`, issues) } : {}),
  };
}

function readResponseMatch(match: ResponseMatchDocument, path: string, issues: string[]): ResponseCondition {
  const status = match.status;
  if (status?.min !== undefined && status.max !== undefined && status.min > status.max) {
    issues.push(`${path}.status: min ${status.min} is greater than max ${status.max}`);
  }
  return {
    ...(status ? { status: { ...(status.min !== undefined ? { min: status.min } : {}), ...(status.max !== undefined ? { max: status.max } : {}) } } : {}),
    ...(match.all ? { all: match.all.map((m, i) => readResponseMatch(m, `${path}.all[${i}]`, issues)) } : {}),
    ...(match.any ? { any: match.any.map((m, i) => readResponseMatch(m, `${path}.any[${i}]`, issues)) } : {}),
    ...(match.not ? { not: readResponseMatch(match.not, `${path}.not`, issues) } : {}),
  };
}

function readRetryBudget(budget: NonNullable<ServiceProfileSpecDocument['retryBudget']>, issues: string[]): RetryBudgetSpec {
  return {
    retryRatio: budget.retryRatio,
    minRetriesPerSecond: budget.minRetriesPerSecond,
    ttlMs: readDuration(budget.ttl, 'spec.retryBudget.ttl', issues) ?? 0,
  };
}

function readDstOverride(dst: { authority: string; weight: number | string }, path: string, issues: string[]): DstOverride {
  const weight = quantityToMilli(dst.weight);
  if (weight === undefined) {
    issues.push(`${path}.weight: ${JSON.stringify(dst.weight)} is not a number or a Kubernetes quantity (e.g. 1, 0.5, 500m)`);
  } else if (weight < 0) {
    issues.push(`${path}.weight: ${JSON.stringify(dst.weight)} is negative`);
  } else if (weight > maxWeightMilli) {
    issues.push(`${path}.weight: ${JSON.stringify(dst.weight)} is larger than 4294967.295`);
  }
  return { authority: dst.authority, weight: weight ?? 0 };
}
