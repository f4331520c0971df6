import type { ProfileRoute, RequestMatch, ResponseMatch, ServiceProfileState } from '@meshbus/bus-schemas';
import { portInRanges, type RequestCondition, type ResponseCondition, type Service, type ServiceProfile } from '@meshbus/manifests';

/**
 * The profile of a service: its ServiceProfile translated, or an empty one.
 * `opaquePorts` are the service's ports the opaque-ports annotation covers,
 * together with those the ServiceProfile lists.
 */
export function profileState(
  target: { namespace: string; service: string },
  service: Service | undefined,
  profile: ServiceProfile | undefined,
): ServiceProfileState {
  return {
    namespace: target.namespace,
    service: target.service,
    routes: (profile?.routes ?? []).map(
      (r): ProfileRoute => ({
        name: r.name,
        condition: requestMatch(r.condition),
        responseClasses: r.responseClasses.map((c) => ({ condition: responseMatch(c.condition), isFailure: c.isFailure })),
        isRetryable: r.isRetryable,
        ...(r.timeoutMs !== undefined ? { timeoutMs: r.timeoutMs } : {}),
      }),
    ),
    ...(profile?.retryBudget ? { retryBudget: { ...profile.retryBudget } } : {}),
    dstOverrides: (profile?.dstOverrides ?? []).map((d) => ({ authority: d.authority, weight: d.weight })),
    opaquePorts: opaqueServicePorts(service, profile),
  };
}

/** Sorted service port numbers that carry opaque traffic. */
export function opaqueServicePorts(service: Service | undefined, profile: ServiceProfile | undefined): number[] {
  const ports = new Set(profile?.opaquePorts ?? []);
  for (const p of service?.ports ?? []) if (service && portInRanges(service.opaquePorts, p.port)) ports.add(p.port);
  return [...ports].sort((a, b) => a - b);
}

/** A manifest condition sets any number of fields, all of which must match; on the bus each match has exactly one. */
function requestMatch(condition: RequestCondition): RequestMatch {
  const parts: RequestMatch[] = [];
  if (condition.method !== undefined) parts.push({ method: condition.method });
  if (condition.pathRegex !== undefined) parts.push({ pathRegex: condition.pathRegex });
  if (condition.all) parts.push({ all: condition.all.map(requestMatch) });
  if (condition.any) parts.push({ any: condition.any.map(requestMatch) });
  if (condition.not) parts.push({ not: requestMatch(condition.not) });
  return parts.length === 1 ? parts[0]! : { all: parts };
}

function responseMatch(condition: ResponseCondition): ResponseMatch {
  const parts: ResponseMatch[] = [];
  if (condition.status) parts.push({ status: { ...condition.status } });
  if (condition.all) parts.push({ all: condition.all.map(responseMatch) });
  if (condition.any) parts.push({ any: condition.any.map(responseMatch) });
  if (condition.not) parts.push({ not: responseMatch(condition.not) });
  return parts.length === 1 ? parts[0]! : { all: parts };
}
