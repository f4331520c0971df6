import { formatIp, isIpAddress, parseIp } from '@meshbus/core';
import { reportDuplicates, type KindDefinition } from './kind.js';
import { isPortName } from './names.js';
import { readOpaquePorts } from './opaque-ports.js';
import { readDuration, readRetryTimeoutAnnotations } from './policy-common.js';
import type { ServiceTrafficSettings } from './policy-resources.js';
import type { ServicePort, StringMap } from './resources.js';
import { serviceSchema } from './schemas.js';

interface ServicePortDocument {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
}

interface ServiceSpecDocument {
  selector?: StringMap | null;
  ports?: ServicePortDocument[];
  clusterIP?: string;
  clusterIPs?: string[];
}

export const serviceKind: KindDefinition = {
  kind: 'Service',
  accepts: (apiVersion) => apiVersion === 'v1',
  apiVersionHint: 'v1',
  identity: 'Service',
  namespaced: true,
  collection: 'services',
  schema: serviceSchema,
  decode(document, meta, issues) {
    const spec = document.spec as ServiceSpecDocument;
    const portDocs = spec.ports ?? [];
    if (portDocs.length > 1) {
      portDocs.forEach((p, i) => {
        if (p.name === undefined) issues.push(`spec.ports[${i}].name: is required when a Service has more than one port`);
      });
    }
    reportDuplicates(
      portDocs.map((p) => p.name),
      (name, first, again) => `spec.ports[${again}].name: ${JSON.stringify(name)} is already used by spec.ports[${first}]`,
      issues,
    );
    reportDuplicates(
      portDocs.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`),
      (key, first, again) => `spec.ports[${again}].port: ${key} is already used by spec.ports[${first}]`,
      issues,
    );
    portDocs.forEach((p, i) => {
      const target = p.targetPort;
      if (typeof target === 'number' && (target < 1 || target > 65535)) {
        issues.push(`spec.ports[${i}].targetPort: ${target} is not a port number (1-65535)`);
      } else if (typeof target === 'string' && !isPortName(target)) {
        issues.push(
          `spec.ports[${i}].targetPort: ${JSON.stringify(target)} is neither a port number nor a port name ` +
            "(at most 15 lowercase letters, digits and '-', with at least one letter)",
        );
      }
    });
    const ports: ServicePort[] = portDocs
      .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
      .map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
      }));
    const selector = spec.selector && Object.keys(spec.selector).length > 0 ? spec.selector : undefined;
    return {
      kind: 'Service',
      namespace: meta.namespace,
      name: meta.name,
      labels: meta.labels,
      annotations: meta.annotations,
      ...(selector ? { selector } : {}),
      ports,
      opaquePorts: readOpaquePorts(meta.annotations, issues),
      clusterIPs: readClusterIps(spec, issues),
      traffic: readTraffic(meta.annotations, issues),
    };
  },
};

/**
 * `spec.clusterIP` and `spec.clusterIPs`, canonical and without duplicates.
 * `None` (headless) gives none; so does an empty or missing field.
 */
function readClusterIps(spec: ServiceSpecDocument, issues: string[]): string[] {
  const written: [string, string][] = [];
  if (spec.clusterIP !== undefined) written.push(['spec.clusterIP', spec.clusterIP]);
  (spec.clusterIPs ?? []).forEach((ip, i) => written.push([`spec.clusterIPs[${i}]`, ip]));
  if (written.some(([, ip]) => ip === 'None')) {
    const other = written.find(([, ip]) => ip !== 'None' && ip !== '');
    if (other) issues.push(`${other[0]}: a headless Service (clusterIP None) has no other cluster IP, yet ${JSON.stringify(other[1])} is given`);
    return [];
  }
  if (spec.clusterIP && spec.clusterIPs?.[0] !== undefined && spec.clusterIPs[0] !== spec.clusterIP) {
    issues.push(`spec.clusterIPs[0]: ${JSON.stringify(spec.clusterIPs[0])} must be the same as spec.clusterIP ${JSON.stringify(spec.clusterIP)}`);
  }
  if ((spec.clusterIPs ?? []).length > 2) issues.push('spec.clusterIPs: at most two addresses, one IPv4 and one IPv6');
  const ips: string[] = [];
  const families = new Set<number>();
  for (const [path, ip] of written) {
    if (ip === '') continue;
    if (!isIpAddress(ip)) {
      issues.push(`${path}: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address (or None, for a headless Service)`);
      continue;
    }
    const parsed = parseIp(ip);
    const canonical = formatIp(parsed);
    if (ips.includes(canonical)) continue;
    if (families.has(parsed.family)) issues.push(`${path}: a Service has at most one IPv${parsed.family} cluster IP`);
    families.add(parsed.family);
    ips.push(canonical);
  }
  return ips;
}

export const failureAccrualAnnotation = 'balancer.linkerd.io/failure-accrual';
const accrualParameter = (name: string) => `${failureAccrualAnnotation}-consecutive-${name}`;
const annotationPath = (name: string) => `metadata.annotations["${name}"]`;

/** Defaults of consecutive failure accrual. */
export const failureAccrualDefaults = { maxFailures: 7, minPenaltyMs: 1_000, maxPenaltyMs: 60_000, jitterRatio: 0.5 } as const;

/** Circuit breaking, retries and timeouts of the Service's default route, from its annotations. */
function readTraffic(annotations: StringMap, issues: string[]): ServiceTrafficSettings {
  const { retry, timeouts } = readRetryTimeoutAnnotations(annotations, { http: true, grpc: true }, issues);
  const accrual = annotations[failureAccrualAnnotation];
  let failureAccrual: ServiceTrafficSettings['failureAccrual'];
  if (accrual !== undefined) {
    if (accrual !== 'consecutive') {
      issues.push(`${annotationPath(failureAccrualAnnotation)}: ${JSON.stringify(accrual)} is not a failure accrual kind; the only one is consecutive`);
    }
    const maxFailuresText = annotations[accrualParameter('max-failures')];
    let maxFailures: number = failureAccrualDefaults.maxFailures;
    if (maxFailuresText !== undefined) {
      if (/^\d{1,9}$/.test(maxFailuresText.trim()) && Number(maxFailuresText) >= 1) maxFailures = Number(maxFailuresText);
      else issues.push(`${annotationPath(accrualParameter('max-failures'))}: ${JSON.stringify(maxFailuresText)} is not a whole number of failures, at least 1`);
    }
    const penalty = (name: string, fallback: number) => {
      const text = annotations[accrualParameter(name)];
      return text === undefined ? fallback : (readDuration(text, annotationPath(accrualParameter(name)), issues) ?? fallback);
    };
    const minPenaltyMs = penalty('min-penalty', failureAccrualDefaults.minPenaltyMs);
    const maxPenaltyMs = penalty('max-penalty', failureAccrualDefaults.maxPenaltyMs);
    if (maxPenaltyMs === 0) issues.push(`${annotationPath(accrualParameter('max-penalty'))}: must be more than 0`);
    else if (minPenaltyMs > maxPenaltyMs) {
      issues.push(`${annotationPath(accrualParameter('min-penalty'))}: ${minPenaltyMs}ms is longer than the max-penalty ${maxPenaltyMs}ms`);
    }
    const jitterText = annotations[accrualParameter('jitter-ratio')];
    let jitterRatio: number = failureAccrualDefaults.jitterRatio;
    if (jitterText !== undefined) {
      const value = Number(jitterText);
      if (jitterText.trim() !== '' && Number.isFinite(value) && value >= 0 && value <= 1) jitterRatio = value;
      else issues.push(`${annotationPath(accrualParameter('jitter-ratio'))}: ${JSON.stringify(jitterText)} is not a number from 0 to 1`);
    }
    failureAccrual = { kind: 'consecutive', maxFailures, minPenaltyMs, maxPenaltyMs, jitterRatio };
  }
  return { ...(failureAccrual ? { failureAccrual } : {}), ...(retry ? { retry } : {}), ...(timeouts ? { timeouts } : {}) };
}
