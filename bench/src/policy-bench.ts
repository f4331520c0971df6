import { isDeepStrictEqual } from 'node:util';
import { computePolicies, createPolicyIndex, type PolicyComputation } from '@meshbus/policy';
import { policyChangeKinds, policyChangeTitles, PolicyChanger, type PolicyChangeKind } from './policy-changes.js';
import { policyBenchSettings, policyDataSet, type PolicyDataSetSize } from './policy-dataset.js';
import { median, summarize, type LatencySummary } from './stats.js';
import { fmtMs, table } from './tables.js';

/** Options of {@link runPolicyBench}. */
export interface PolicyBenchOptions {
  /** Measured changes per kind, after {@link POLICY_WARM_UP_ROUNDS} warm-up changes. @default 200 */
  readonly rounds?: number;
  /** Timed full recomputes (after one warm-up). @default 5 */
  readonly fullRuns?: number;
  readonly size?: PolicyDataSetSize;
  readonly progress?: (line: string) => void;
}

/** The incremental path for one kind of change. */
export interface PolicyChangeFigure {
  readonly kind: PolicyChangeKind;
  /** `update(inputs)` after one resource changed, in ms. */
  readonly update: LatencySummary;
  /** `update(inputs)` and then reading `result` (what a publisher does to send the changed policies), in ms. */
  readonly updateAndResult: LatencySummary;
  /** Median inbound policies changed per update (the workloads the change reaches). */
  readonly inboundChanged: number;
  /** Rounds where an expected workload's policy did not change, or another one did. */
  readonly unexpected: number;
  /** full recompute median ÷ incremental update p50 and p99. */
  readonly ratio: { readonly p50: number; readonly p99: number };
}

/** Figures of one {@link runPolicyBench} run. */
export interface PolicyBenchResult {
  readonly size: PolicyDataSetSize;
  /** Resources in the data set, by kind. */
  readonly counts: Readonly<Record<string, number>>;
  readonly inboundPolicies: number;
  readonly outboundPolicies: number;
  readonly rejected: number;
  /** `computePolicies(settings, inputs)`, in ms. */
  readonly full: LatencySummary & { readonly median: number };
  /** The first `update` of a new index (every unit computed and recorded), in ms. */
  readonly initialLoadMs: number;
  readonly rounds: number;
  readonly warmUpRounds: number;
  readonly changes: readonly PolicyChangeFigure[];
  /** After all the changes, the index's result equals a full recompute of the same inputs. */
  readonly matchesFullRecompute: boolean;
  format(): string;
}

/** The incremental path should be at least this many times faster than a full recompute. */
export const POLICY_TARGET_RATIO = 20;
export const POLICY_WARM_UP_ROUNDS = 5;

const elapsed = (t0: number) => performance.now() - t0;

/**
 * Times the policy computation on a large data set: a full recompute
 * (`computePolicies`), and the incremental index's `update` after one
 * resource changed, for each kind of change.
 */
export async function runPolicyBench(options: PolicyBenchOptions = {}): Promise<PolicyBenchResult> {
  const rounds = options.rounds ?? 200;
  const fullRuns = options.fullRuns ?? 5;
  const progress = options.progress ?? (() => undefined);
  const data = policyDataSet(options.size);
  const r = data.inputs.resources;
  const counts = {
    namespaces: r.namespaces.length,
    services: r.services.length,
    workloads: r.workloads.length,
    servers: r.servers.length,
    authorizationPolicies: r.authorizationPolicies.length,
    httpRoutes: r.httpRoutes.length,
    meshTLSAuthentications: r.meshTLSAuthentications.length,
    networkAuthentications: r.networkAuthentications.length,
  };
  progress(`policy: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);

  // Full recompute: one warm-up, then timed runs.
  const fullTimes: number[] = [];
  let full = computePolicies(policyBenchSettings, data.inputs);
  for (let i = 0; i < fullRuns; i++) {
    const t0 = performance.now();
    full = computePolicies(policyBenchSettings, data.inputs);
    fullTimes.push(elapsed(t0));
    progress(`policy: full recompute ${i + 1}/${fullRuns}: ${fmtMs(fullTimes[i]!)} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const fullSummary = { ...summarize(fullTimes), median: median(fullTimes) };

  const index: PolicyComputation = createPolicyIndex(policyBenchSettings);
  let t0 = performance.now();
  index.update(data.inputs);
  const initialLoadMs = elapsed(t0);
  void index.result;

  const changer = new PolicyChanger(data);
  const figures: PolicyChangeFigure[] = [];
  for (const kind of policyChangeKinds) {
    const update: number[] = [];
    const withResult: number[] = [];
    const changed: number[] = [];
    let unexpected = 0;
    for (let round = 0; round < POLICY_WARM_UP_ROUNDS + rounds; round++) {
      const change = changer.next(kind, round);
      t0 = performance.now();
      const changes = index.update(change.inputs);
      const u = elapsed(t0);
      const result = index.result;
      const ur = elapsed(t0);
      const expected = new Set(change.affected);
      const missed = change.affected.some((key) => !changes.inbound.has(key) || !result.inbound.has(key));
      const extra = [...changes.inbound].some((key) => !expected.has(key));
      if (round < POLICY_WARM_UP_ROUNDS) continue;
      update.push(u);
      withResult.push(ur);
      changed.push(changes.inbound.size);
      if (missed || extra) unexpected++;
    }
    const summary = summarize(update);
    figures.push({
      kind,
      update: summary,
      updateAndResult: summarize(withResult),
      inboundChanged: median(changed),
      unexpected,
      ratio: { p50: fullSummary.median / summary.p50, p99: fullSummary.median / summary.p99 },
    });
    progress(`policy: ${policyChangeTitles[kind]}: p50 ${fmtMs(summary.p50)} ms, p99 ${fmtMs(summary.p99)} ms over ${rounds} changes`);
    await new Promise((resolve) => setImmediate(resolve));
  }

  // The incremental result after all the changes, against a full recompute of the same inputs.
  progress('policy: checking the incremental result against a full recompute');
  const final = computePolicies(policyBenchSettings, changer.inputs);
  const current = index.result;
  const matchesFullRecompute =
    isDeepStrictEqual(current.inbound, final.inbound) &&
    isDeepStrictEqual(current.outbound, final.outbound) &&
    isDeepStrictEqual(current.statuses, final.statuses) &&
    isDeepStrictEqual(current.rejected, final.rejected);

  const result = {
    size: data.size,
    counts,
    inboundPolicies: full.inbound.size,
    outboundPolicies: full.outbound.size,
    rejected: full.rejected.length,
    full: fullSummary,
    initialLoadMs,
    rounds,
    warmUpRounds: POLICY_WARM_UP_ROUNDS,
    changes: figures,
    matchesFullRecompute,
  };
  return { ...result, format: () => formatPolicyBench(result) };
}

function formatPolicyBench(result: Omit<PolicyBenchResult, 'format'>): string {
  const c = result.counts;
  const n = (v: number | undefined) => (v ?? 0).toLocaleString('en-US');
  const lines = [
    `policy: ${n(c['servers'])} Servers, ${n(c['authorizationPolicies'])} AuthorizationPolicies, ${n(c['httpRoutes'])} HTTPRoutes, ${n(c['workloads'])} workloads ` +
      `(${n(c['services'])} Services, ${n(c['meshTLSAuthentications'])} MeshTLSAuthentications, ${n(c['networkAuthentications'])} NetworkAuthentications, ${n(c['namespaces'])} namespaces)`,
    `  computed: ${n(result.inboundPolicies)} inbound policies, ${n(result.outboundPolicies)} outbound policies, ${n(result.rejected)} rejected resources`,
    `  full recompute (computePolicies): median ${fmtMs(result.full.median)} ms, max ${fmtMs(result.full.max)} ms over ${result.full.count} runs; ` +
      `first update of a new index ${fmtMs(result.initialLoadMs)} ms`,
    `  one resource changed -> index.update(inputs), ms over ${result.rounds} changes per kind (after ${result.warmUpRounds} warm-up changes); ratio = full recompute median / incremental`,
    table(
      ['change', 'p50', 'p99', 'max', 'with result p50', 'p99', 'policies changed', 'ratio p50', 'ratio p99'],
      result.changes.map((f) => [
        policyChangeTitles[f.kind],
        fmtMs(f.update.p50),
        fmtMs(f.update.p99),
        fmtMs(f.update.max),
        fmtMs(f.updateAndResult.p50),
        fmtMs(f.updateAndResult.p99),
        String(f.inboundChanged),
        `${f.ratio.p50.toFixed(0)}x`,
        `${f.ratio.p99.toFixed(0)}x`,
      ]),
    ),
    '  "with result": update, then reading index.result (what a publisher reads the changed policies from)',
  ];
  const worst = Math.min(...result.changes.map((f) => f.ratio.p99));
  lines.push(`target: incremental at least ${POLICY_TARGET_RATIO}x faster than the full recompute (worst kind at p99: ${worst.toFixed(0)}x): ${worst >= POLICY_TARGET_RATIO ? 'met' : 'NOT met'}`);
  lines.push(`check: the incremental result after all the changes equals a full recompute of the same inputs: ${result.matchesFullRecompute ? 'yes' : 'NO'}`);
  for (const f of result.changes) {
    if (f.unexpected > 0) lines.push(`warning: ${policyChangeTitles[f.kind]}: ${f.unexpected} changes did not update exactly the workloads they reach`);
  }
  return lines.join('\n');
}
