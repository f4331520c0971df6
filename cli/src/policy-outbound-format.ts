import type { outbound } from '@meshbus/proxy-api';
import { formatTcpAddress } from './endpoint-set.js';
import { durationText, filterText, grpcMatchText, hostMatchText, hostsText, httpMatchText, indent, metadataText } from './policy-text.js';

/** Any route rule's backends, in the shape every route kind shares. */
interface DistributionLike {
  kind?:
    | { $case: 'empty' }
    | { $case: 'firstAvailable'; firstAvailable: { backends: RouteBackendLike[] } }
    | { $case: 'randomAvailable'; randomAvailable: { backends: { backend?: RouteBackendLike; weight: number }[] } };
}

interface RouteBackendLike {
  backend?: outbound.Backend;
  filters: { kind?: { $case: string } & Record<string, unknown> }[];
  requestTimeout?: outbound.HttpRoute_RouteBackend['requestTimeout'];
}

/**
 * The newer parts of failure accrual and backoff in the proxy API (unified
 * accrual, the ejection floor, the Retry-After hint), read structurally so the
 * text does not depend on which generation of the messages is compiled in.
 */
interface UnifiedAccrualView {
  successRateThreshold: number;
  decay?: outbound.ExponentialBackoff['minBackoff'];
  minRequests: number;
  maxConsecutiveFailures: number;
  backoff?: outbound.ExponentialBackoff;
}

function backoffText(b: outbound.ExponentialBackoff | undefined): string {
  if (!b) return 'no backoff';
  const retryAfter = (b as { respectRetryAfterHint?: boolean }).respectRetryAfterHint ? ', honouring Retry-After' : '';
  return `backoff ${durationText(b.minBackoff)} to ${durationText(b.maxBackoff)}, jitter ${b.jitterRatio}${retryAfter}`;
}

/** `after 7 consecutive failures, backoff 1s to 1m, jitter 0.5`; `none` when unset. */
export function failureAccrualText(f: outbound.FailureAccrual | undefined): string {
  const kind = f?.kind as ({ $case: string } & Record<string, unknown>) | undefined;
  const floor = (f as { ejection?: { minReadyEndpoints: number } } | undefined)?.ejection;
  const ejection = floor ? `; keeps at least ${floor.minReadyEndpoints} endpoints in the pool` : '';
  if (!kind) return floor ? `none${ejection}` : 'none';
  if (kind.$case === 'consecutiveFailures') {
    const c = kind.consecutiveFailures as outbound.FailureAccrual_ConsecutiveFailures;
    return `after ${c.maxFailures} consecutive failures, ${backoffText(c.backoff)}${ejection}`;
  }
  if (kind.$case === 'unified') {
    const u = kind.unified as UnifiedAccrualView;
    const trips: string[] = [];
    if (u.successRateThreshold > 0) trips.push(`success rate below ${u.successRateThreshold} over ${durationText(u.decay)} (from ${u.minRequests} requests)`);
    if (u.maxConsecutiveFailures > 0) trips.push(`${u.maxConsecutiveFailures} consecutive failures`);
    return `after ${trips.length ? trips.join(' or ') : 'never (both checks off)'}, ${backoffText(u.backoff)}${ejection}`;
  }
  return `${kind.$case}${ejection}`;
}

/** Where a backend sends traffic: `dst web-v1.shop.svc.cluster.local:80 (p2c, peak EWMA)` or `forward 10.0.0.7:8080`. */
export function backendText(b: outbound.Backend | undefined): string {
  if (!b) return '(no backend)';
  const parts = [metadataText(b.metadata)];
  const kind = b.kind;
  if (kind?.$case === 'forward') parts.push(`-> forward ${formatTcpAddress(kind.forward.addr)}`);
  else if (kind?.$case === 'balancer') {
    const d = kind.balancer.discovery?.kind;
    const target = d?.$case === 'dst' ? `dst ${d.dst.path}` : 'no discovery';
    const load = kind.balancer.load;
    const ewma = load?.$case === 'peakEwma' ? `, peak EWMA rtt ${durationText(load.peakEwma.defaultRtt)} decay ${durationText(load.peakEwma.decay)}` : '';
    parts.push(`-> ${target} (p2c${ewma})`);
  } else parts.push('-> nowhere');
  if (b.queue) parts.push(`queue ${b.queue.capacity}, fail fast after ${durationText(b.queue.failfastTimeout)}`);
  return parts.join(' ');
}

function routeBackendLines(rb: RouteBackendLike | undefined, weight?: number): string[] {
  const head = `${weight === undefined ? '' : `weight ${weight}  `}${backendText(rb?.backend)}`;
  const extra = [
    ...(rb?.filters ?? []).map((f) => `filter: ${filterText(f.kind)}`),
    ...(rb?.requestTimeout ? [`request timeout: ${durationText(rb.requestTimeout)}`] : []),
  ];
  return [head, ...indent(extra)];
}

/** The backends of a rule: `backends: none` or a list, weighted when random. */
export function distributionLines(d: DistributionLike | undefined): string[] {
  const kind = d?.kind;
  if (!kind || kind.$case === 'empty') return ['backends: none (requests fail)'];
  if (kind.$case === 'firstAvailable') return ['backends (first available):', ...indent(kind.firstAvailable.backends.flatMap((b) => routeBackendLines(b)))];
  const backends = kind.randomAvailable.backends;
  const total = backends.reduce((sum, b) => sum + b.weight, 0);
  return [`backends (random, by weight, total ${total}):`, ...indent(backends.flatMap((b) => routeBackendLines(b.backend, b.weight)))];
}

function timeoutsLines(rule: { timeouts?: outbound.HttpRoute_Rule['timeouts']; requestTimeout?: outbound.HttpRoute_Rule['requestTimeout'] }): string[] {
  const t = rule.timeouts;
  const parts: string[] = [];
  if (t?.request) parts.push(`request ${durationText(t.request)}`);
  if (t?.response) parts.push(`response ${durationText(t.response)}`);
  if (t?.idle) parts.push(`idle ${durationText(t.idle)}`);
  if (rule.requestTimeout) parts.push(`request (older field) ${durationText(rule.requestTimeout)}`);
  return parts.length ? [`timeouts: ${parts.join(', ')}`] : [];
}

function retryCommon(r: { maxRetries: number; maxRequestBytes: number; timeout?: outbound.HttpRoute_Retry['timeout']; backoff?: outbound.ExponentialBackoff }): string {
  const parts = [`up to ${r.maxRetries} ${r.maxRetries === 1 ? 'retry' : 'retries'}`];
  if (r.maxRequestBytes) parts.push(`bodies up to ${r.maxRequestBytes} bytes`);
  if (r.timeout) parts.push(`each try ${durationText(r.timeout)}`);
  parts.push(backoffText(r.backoff));
  return parts.join(', ');
}

function httpRetryLines(r: outbound.HttpRoute_Retry | undefined): string[] {
  if (!r) return [];
  const ranges = (r.conditions?.statusRanges ?? []).map((s) => (s.start === s.end ? `${s.start}` : `${s.start}-${s.end}`));
  return [`retry: ${retryCommon(r)}; on status ${ranges.length ? ranges.join(', ') : '(none)'}`];
}

function grpcRetryLines(r: outbound.GrpcRoute_Retry | undefined): string[] {
  if (!r) return [];
  const c = r.conditions;
  const on = c ? Object.entries({ cancelled: c.cancelled, 'deadline-exceeded': c.deadineExceeded, 'resource-exhausted': c.resourceExhausted, internal: c.internal, unavailable: c.unavailable }).filter(([, v]) => v).map(([k]) => k) : [];
  return [`retry: ${retryCommon(r)}; on ${on.length ? on.join(', ') : '(no status)'}`];
}

function ruleBlock(i: number, lines: string[]): string[] {
  return [`rule ${i + 1}:`, ...indent(lines)];
}

function httpRouteLines(route: outbound.HttpRoute): string[] {
  return [
    metadataText(route.metadata),
    ...indent([
      `hosts: ${hostsText(route.hosts)}`,
      ...route.rules.flatMap((r, i) =>
        ruleBlock(i, [
          ...(r.matches.length ? r.matches.map((m) => `match:  ${httpMatchText(m)}`) : ['match:  any request']),
          ...r.filters.map((f) => `filter: ${filterText(f.kind)}`),
          ...distributionLines(r.backends as DistributionLike | undefined),
          ...timeoutsLines(r),
          ...httpRetryLines(r.retry),
        ]),
      ),
    ]),
  ];
}

function grpcRouteLines(route: outbound.GrpcRoute): string[] {
  return [
    metadataText(route.metadata),
    ...indent([
      `hosts: ${hostsText(route.hosts)}`,
      ...route.rules.flatMap((r, i) =>
        ruleBlock(i, [
          ...(r.matches.length ? r.matches.map((m) => `match:  ${grpcMatchText(m)}`) : ['match:  any call']),
          ...r.filters.map((f) => `filter: ${filterText(f.kind)}`),
          ...distributionLines(r.backends as DistributionLike | undefined),
          ...timeoutsLines(r),
          ...grpcRetryLines(r.retry),
        ]),
      ),
    ]),
  ];
}

function opaqueRouteLines(route: outbound.OpaqueRoute | outbound.TlsRoute): string[] {
  const snis = 'snis' in route ? [`SNI: ${route.snis.length ? route.snis.map((s) => hostMatchText(s)).join(', ') : 'any'}`] : [];
  return [
    metadataText(route.metadata),
    ...indent([
      ...snis,
      ...route.rules.flatMap((r, i) => ruleBlock(i, [...r.filters.map((f) => `filter: ${filterText(f.kind)}`), ...distributionLines(r.backends as DistributionLike | undefined)])),
    ]),
  ];
}

function routesLines(title: string, routes: string[][]): string[] {
  if (routes.length === 0) return [`${title}: none`];
  return [`${title} (${routes.length}):`, ...indent(routes.flat())];
}

function httpProtocolLines(name: string, p: { routes: outbound.HttpRoute[]; failureAccrual?: outbound.FailureAccrual }): string[] {
  return [...routesLines(`${name} routes`, p.routes.map(httpRouteLines)), `${name} failure accrual: ${failureAccrualText(p.failureAccrual)}`];
}

/** The protocol line: `HTTP/1`, `detect (timeout 10s)`, ... */
export function outboundProtocolText(p: outbound.ProxyProtocol | undefined): string {
  const kind = p?.kind;
  switch (kind?.$case) {
    case undefined:
      return 'unset';
    case 'detect':
      return `detect (HTTP/1, HTTP/2 or opaque; timeout ${durationText(kind.detect.timeout)})`;
    case 'http1':
      return 'HTTP/1';
    case 'http2':
      return 'HTTP/2';
    case 'grpc':
      return 'gRPC';
    case 'opaque':
      return 'opaque (TCP)';
    case 'tls':
      return 'TLS (routed by SNI)';
  }
}

/**
 * What a proxy would do with connections to one target, for people: the
 * protocol, then per protocol its routes (matches, filters, weighted
 * backends, timeouts, retries) and failure accrual.
 */
export function formatOutboundPolicy(policy: outbound.OutboundPolicy): string {
  const lines = [`protocol: ${outboundProtocolText(policy.protocol)}`, `policy:   ${metadataText(policy.metadata)}`];
  const kind = policy.protocol?.kind;
  switch (kind?.$case) {
    case 'detect': {
      const d = kind.detect;
      if (d.http1) lines.push(...httpProtocolLines('HTTP/1', d.http1));
      if (d.http2) lines.push(...httpProtocolLines('HTTP/2', d.http2));
      if (d.opaque) lines.push(...routesLines('opaque routes', d.opaque.routes.map(opaqueRouteLines)));
      break;
    }
    case 'http1':
      lines.push(...httpProtocolLines('HTTP/1', kind.http1));
      break;
    case 'http2':
      lines.push(...httpProtocolLines('HTTP/2', kind.http2));
      break;
    case 'grpc':
      lines.push(...routesLines('gRPC routes', kind.grpc.routes.map(grpcRouteLines)), `gRPC failure accrual: ${failureAccrualText(kind.grpc.failureAccrual)}`);
      break;
    case 'opaque':
      lines.push(...routesLines('opaque routes', kind.opaque.routes.map(opaqueRouteLines)));
      break;
    case 'tls':
      lines.push(...routesLines('TLS routes', kind.tls.routes.map(opaqueRouteLines)));
      break;
    case undefined:
      break;
  }
  return lines.join('\n') + '\n';
}
