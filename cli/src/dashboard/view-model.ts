/*
 * What `meshbus dashboard` shows, computed from what it read on the bus:
 * the state (endpoint sets, profiles, registered workloads, policies), the
 * last events and the proxies' traffic summaries. Pure: the bus feed puts
 * events in, the server sends the view out.
 */
import type { BusEvent } from '@meshbus/bus';
import type { EndpointSet, InboundPolicy, MetricsSummary, PolicyDefaults, PolicyStatus, ServiceProfileState, WorkloadRegistration } from '@meshbus/bus-schemas';
import { summarizeEvent } from '../event-format.js';
import { authzEntries, defaultPolicyMeaning, namespaceDefault, type AuthzEntry } from '../policy-authz-format.js';
import { statRows, SummaryWindow, type StatGrouping, type StatRow, type WindowedSummary } from '../stat-aggregate.js';

/** Bounds of what the dashboard keeps and shows. */
export interface DashboardLimits {
  /** Events kept for the "last events" list. @default 200 */
  maxEvents: number;
  /** Endpoints shown per service port (the rest are counted). @default 50 */
  maxEndpointsPerPort: number;
  /** Golden metrics are computed over this window. @default 60s */
  metricsWindowMs: number;
  /** Sparklines cover this long. @default 5 minutes */
  historyMs: number;
  /** One sparkline point per this long. @default 10s */
  bucketMs: number;
  /** Rows per metrics table. @default 100 */
  maxMetricRows: number;
}

export const defaultDashboardLimits: DashboardLimits = {
  maxEvents: 200,
  maxEndpointsPerPort: 50,
  metricsWindowMs: 60_000,
  historyMs: 300_000,
  bucketMs: 10_000,
  maxMetricRows: 100,
};

export interface EndpointView {
  readonly address: string;
  readonly port: number;
  readonly zone: string | undefined;
  readonly identity: string | undefined;
  readonly workload: string | undefined;
  /** Endpoints in a published set receive traffic: destination publishes only ready ones. */
  readonly ready: boolean;
}

export interface ServicePortView {
  readonly port: number;
  readonly portName: string | undefined;
  readonly opaque: boolean;
  /** Endpoints in the set, all of them counted. */
  readonly total: number;
  /** At most `maxEndpointsPerPort` of them. */
  readonly endpoints: readonly EndpointView[];
}

export interface ServiceView {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly ServicePortView[];
  /** The distinct TLS identities of its endpoints. */
  readonly identities: readonly string[];
  /** Routes of its service profile, when it has one. */
  readonly routes: readonly string[];
}

export interface WorkloadView {
  readonly namespace: string;
  readonly name: string;
  readonly address: string;
  readonly ports: string;
  readonly serviceAccount: string | undefined;
  readonly zone: string | undefined;
  readonly ready: boolean;
  readonly meshed: boolean;
}

export interface WorkloadPolicyView {
  readonly namespace: string;
  readonly workload: string;
  readonly defaultPolicy: string;
  readonly entries: readonly AuthzEntry[];
}

export interface PoliciesView {
  readonly defaults: { readonly policy: string; readonly meaning: string; readonly namespaces: readonly { namespace: string; policy: string; meaning: string }[] } | undefined;
  readonly workloads: readonly WorkloadPolicyView[];
  /** Policy resources the policy service refused. */
  readonly rejected: readonly { namespace: string; kind: string; name: string; file: string; reason: string }[];
}

export interface EventView {
  readonly seq: number | undefined;
  readonly time: string;
  readonly type: string;
  readonly subject: string;
  readonly summary: string;
}

/** One sparkline point: the metrics of one bucket. */
export interface MetricPoint {
  readonly endMs: number;
  readonly rps: number;
  /** 0..1, undefined without requests. */
  readonly successRate: number | undefined;
  readonly p99: number | null | undefined;
}

export interface MetricRowView {
  readonly name: string;
  readonly requests: number;
  readonly successRate: number | undefined;
  readonly rps: number;
  /** Milliseconds; null when above the highest histogram bound. */
  readonly p50: number | null | undefined;
  readonly p95: number | null | undefined;
  readonly p99: number | null | undefined;
  readonly history: readonly MetricPoint[];
}

export interface MetricsView {
  readonly windowMs: number;
  readonly byWorkload: readonly MetricRowView[];
  readonly byService: readonly MetricRowView[];
  readonly byRoute: readonly MetricRowView[];
}

/** Everything the page shows, as sent to it. */
export interface DashboardView {
  readonly time: string;
  readonly services: readonly ServiceView[];
  readonly workloads: readonly WorkloadView[];
  readonly policies: PoliciesView;
  readonly metrics: MetricsView;
  readonly events: readonly EventView[];
  readonly tap: { readonly available: boolean };
}

const byName = <T extends { namespace: string; name: string }>(a: T, b: T) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

function isKind<K extends BusEvent['kind']>(event: BusEvent, kind: K): event is BusEvent<K> {
  return event.kind === kind;
}

/** The services of the endpoint sets and profiles in `state`, sorted, each port's endpoints capped. */
export function servicesView(state: Iterable<BusEvent>, limits: Pick<DashboardLimits, 'maxEndpointsPerPort'>): ServiceView[] {
  const services = new Map<string, { namespace: string; name: string; sets: EndpointSet[]; profile?: ServiceProfileState }>();
  const entry = (namespace: string, name: string) => {
    const key = `${namespace}/${name}`;
    let s = services.get(key);
    if (!s) services.set(key, (s = { namespace, name, sets: [] }));
    return s;
  };
  for (const event of state) {
    if (isKind(event, 'endpointSet')) entry(event.data.namespace, event.data.service).sets.push(event.data);
    else if (isKind(event, 'serviceProfile')) entry(event.data.namespace, event.data.service).profile = event.data;
  }
  return [...services.values()]
    .map((s) => {
      const identities = new Set<string>();
      const ports = s.sets
        .sort((a, b) => a.port - b.port)
        .map((set): ServicePortView => {
          for (const e of set.endpoints) if (e.identity) identities.add(e.identity);
          const endpoints = [...set.endpoints]
            .sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port)
            .slice(0, limits.maxEndpointsPerPort)
            .map((e) => ({
              address: e.address,
              port: e.port,
              zone: e.zone,
              identity: e.identity,
              workload: e.workload ? `${e.workload.kind}/${e.workload.name}` : undefined,
              ready: true,
            }));
          return { port: set.port, portName: set.portName, opaque: set.opaque ?? false, total: set.endpoints.length, endpoints };
        });
      const routes = (s.profile?.routes ?? []).map((r) => r.name);
      return { namespace: s.namespace, name: s.name, ports, identities: [...identities].sort(), routes };
    })
    .sort(byName);
}

/** The workloads registered over the bus (hosts outside Kubernetes), ready or not. */
export function workloadsView(state: Iterable<BusEvent>): WorkloadView[] {
  const out: WorkloadView[] = [];
  for (const event of state) {
    if (!isKind(event, 'workloadRegistered')) continue;
    const w: WorkloadRegistration = event.data;
    out.push({
      namespace: w.namespace,
      name: w.name,
      address: w.address,
      ports: w.ports.map((p) => (p.name ? `${p.name}=${p.port}` : String(p.port))).join(','),
      serviceAccount: w.serviceAccount,
      zone: w.zone,
      ready: w.ready !== false,
      meshed: w.meshed !== false,
    });
  }
  return out.sort(byName);
}

/** Who may call whom: each workload's inbound policy as `meshbus authz` reads it, the defaults, the refused resources. */
export function policiesView(state: Iterable<BusEvent>): PoliciesView {
  const workloads: WorkloadPolicyView[] = [];
  const rejected: PoliciesView['rejected'][number][] = [];
  let defaults: PolicyDefaults | undefined;
  for (const event of state) {
    if (isKind(event, 'inboundPolicy')) {
      const p: InboundPolicy = event.data;
      workloads.push({ namespace: p.namespace, workload: p.workload, defaultPolicy: p.defaultPolicy, entries: authzEntries(p) });
    } else if (isKind(event, 'policyDefaults')) {
      defaults = event.data;
    } else if (isKind(event, 'policyStatus')) {
      const s: PolicyStatus = event.data;
      if (!s.accepted) rejected.push({ namespace: s.namespace, kind: s.kind, name: s.name, file: s.file, reason: s.conditions.find((c) => c.status === 'False')?.message ?? 'not accepted' });
    }
  }
  const nsDefaults = defaults
    ? [...new Set(defaults.namespaces.map((n) => n.namespace))].sort().map((namespace) => {
        const policy = namespaceDefault(defaults, namespace).policy;
        return { namespace, policy, meaning: defaultPolicyMeaning(policy, defaults.clusterNetworks) };
      })
    : [];
  return {
    defaults: defaults ? { policy: defaults.defaultPolicy, meaning: defaultPolicyMeaning(defaults.defaultPolicy, defaults.clusterNetworks), namespaces: nsDefaults } : undefined,
    workloads: workloads.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.workload.localeCompare(b.workload)),
    rejected: rejected.sort(byName),
  };
}

/** One line of the "last events" list. */
export function eventView(event: BusEvent): EventView {
  return { seq: event.seq, time: event.time, type: event.type, subject: event.subject, summary: summarizeEvent(event) };
}

const finite = (v: number | undefined): number | null | undefined => (v === Infinity ? null : v);
const successRate = (r: StatRow) => (r.requests === 0 ? undefined : r.success / r.requests);

/**
 * Golden metrics per workload, service and route over the last
 * `metricsWindowMs`, each row with a history of `historyMs / bucketMs`
 * points (the same aggregation as `meshbus stat`, per bucket).
 */
export function metricsView(items: readonly WindowedSummary[], nowMs: number, limits: Pick<DashboardLimits, 'metricsWindowMs' | 'historyMs' | 'bucketMs' | 'maxMetricRows'>): MetricsView {
  const recent = items.filter((s) => s.endMs > nowMs - limits.metricsWindowMs && s.endMs <= nowMs + limits.bucketMs);
  const buckets = Math.max(1, Math.ceil(limits.historyMs / limits.bucketMs));
  const firstEnd = Math.floor(nowMs / limits.bucketMs) * limits.bucketMs - (buckets - 1) * limits.bucketMs;
  const bucketItems: WindowedSummary[][] = Array.from({ length: buckets }, () => []);
  for (const s of items) {
    const i = Math.ceil((s.endMs - firstEnd) / limits.bucketMs);
    if (i >= 0 && i < buckets) bucketItems[i]!.push(s);
    else if (i >= buckets) bucketItems[buckets - 1]!.push(s);
  }
  const group = (by: StatGrouping): MetricRowView[] => {
    const history = new Map<string, MetricPoint[]>();
    bucketItems.forEach((bucket, i) => {
      const endMs = firstEnd + i * limits.bucketMs;
      for (const r of statRows(bucket, by, limits.bucketMs)) {
        let points = history.get(r.name);
        if (!points) history.set(r.name, (points = []));
        points.push({ endMs, rps: r.requests / (limits.bucketMs / 1000), successRate: successRate(r), p99: finite(r.p99) });
      }
    });
    const filled = (name: string): MetricPoint[] => {
      const known = new Map((history.get(name) ?? []).map((p) => [p.endMs, p]));
      return bucketItems.map((_, i) => {
        const endMs = firstEnd + i * limits.bucketMs;
        return known.get(endMs) ?? { endMs, rps: 0, successRate: undefined, p99: undefined };
      });
    };
    return statRows(recent, by, limits.metricsWindowMs)
      .slice(0, limits.maxMetricRows)
      .map((r) => ({ name: r.name, requests: r.requests, successRate: successRate(r), rps: r.rps, p50: finite(r.p50), p95: finite(r.p95), p99: finite(r.p99), history: filled(r.name) }));
  };
  return { windowMs: limits.metricsWindowMs, byWorkload: group('workload'), byService: group('service'), byRoute: group('route') };
}

/**
 * What the dashboard has read from the bus, bounded: the current state by
 * NATS subject, the last events, the summaries of the sparklines' span.
 */
export class DashboardState {
  private readonly state = new Map<string, BusEvent>();
  private events: EventView[] = [];
  private readonly summaries: SummaryWindow;

  constructor(readonly limits: DashboardLimits = defaultDashboardLimits) {
    this.summaries = new SummaryWindow(Math.max(limits.historyMs, limits.metricsWindowMs));
  }

  /** A state key changed (undefined: deleted). */
  applyState(natsSubject: string, event: BusEvent | undefined): void {
    if (event === undefined) this.state.delete(natsSubject);
    else this.state.set(natsSubject, event);
  }

  /** The whole state again (after the view rebuilt it). */
  resetState(events: Iterable<BusEvent>): void {
    this.state.clear();
    for (const e of events) this.state.set(e.natsSubject, e);
  }

  /** An event of the events or metrics stream; traffic summaries feed the metrics, the others the "last events" list. */
  addEvent(event: BusEvent): void {
    if (isKind(event, 'metricsSummary')) {
      this.addSummary(event.data);
      return;
    }
    this.events.push(eventView(event));
    if (this.events.length > this.limits.maxEvents * 2) this.events = this.events.slice(-this.limits.maxEvents);
  }

  addSummary(summary: MetricsSummary): void {
    this.summaries.add(summary);
  }

  view(nowMs: number, options: { tapAvailable: boolean }): DashboardView {
    const state = [...this.state.values()];
    return {
      time: new Date(nowMs).toISOString(),
      services: servicesView(state, this.limits),
      workloads: workloadsView(state),
      policies: policiesView(state),
      metrics: metricsView(this.summaries.at(nowMs), nowMs, this.limits),
      events: this.events.slice(-this.limits.maxEvents).reverse(),
      tap: { available: options.tapAvailable },
    };
  }
}
