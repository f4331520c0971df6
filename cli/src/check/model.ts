/**
 * The check model: a check belongs to a category, has a name that says what
 * it expects, and its run gives one of four outcomes. {@link runChecks} runs
 * them in order, each bounded by a timeout; a check whose dependency did not
 * pass is skipped with the reason.
 */

/** What a check found. A warning is reported but does not fail the run. */
export type CheckOutcome =
  | { readonly status: 'pass'; readonly detail?: string }
  | { readonly status: 'fail'; readonly hint: string }
  | { readonly status: 'warn'; readonly hint: string }
  | { readonly status: 'skip'; readonly reason: string };

export type CheckStatus = CheckOutcome['status'];

/** The outcome constructors, so that checks read as sentences. */
export const pass = (detail?: string): CheckOutcome => (detail === undefined ? { status: 'pass' } : { status: 'pass', detail });
export const fail = (hint: string): CheckOutcome => ({ status: 'fail', hint });
export const warn = (hint: string): CheckOutcome => ({ status: 'warn', hint });
export const skip = (reason: string): CheckOutcome => ({ status: 'skip', reason });

/** One check. `C` is what checks share (the cluster, the flags). */
export interface Check<C> {
  /** Stable key, referred to by `dependsOn` and printed in JSON. */
  readonly id: string;
  readonly category: string;
  /** What is expected, as a sentence: `deployment meshbus-policy is ready`. */
  readonly name: string;
  /** Checks that must pass (or warn) before this one means anything. */
  readonly dependsOn?: readonly string[];
  /**
   * Whether the check belongs to what is checked at all (the multicluster checks only when the
   * values enable multicluster). When it answers false the check is left out of the results, and
   * so is every check that depends on it. Asked once the dependencies have passed.
   * @default always
   */
  applies?(context: C, signal: AbortSignal): Promise<boolean>;
  run(context: C, signal: AbortSignal): Promise<CheckOutcome>;
}

/** A check and what it found. */
export interface CheckResult {
  readonly id: string;
  readonly category: string;
  readonly name: string;
  readonly outcome: CheckOutcome;
}

/** Options of {@link runChecks}. */
export interface RunChecksOptions {
  /** Longest a single check may take. */
  readonly timeoutMs: number;
  /** Called with each result as soon as it is known (to print as the run goes). */
  readonly onResult?: (result: CheckResult) => void;
  /** Stops the run: the remaining checks are skipped. */
  readonly signal?: AbortSignal;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function runOne<C>(check: Check<C>, context: C, timeoutMs: number): Promise<CheckOutcome> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
      resolve(fail(`no answer within ${timeoutMs} ms; raise --timeout if the cluster is slow`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([check.run(context, controller.signal).catch((error: unknown) => fail(describeError(error))), timedOut]);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/**
 * Runs the checks in order. An exception becomes a failure with its message;
 * a check that does not finish in time fails with a hint to raise the timeout.
 */
export async function runChecks<C>(checks: readonly Check<C>[], context: C, options: RunChecksOptions): Promise<CheckResult[]> {
  const ids = new Set<string>();
  for (const check of checks) {
    if (ids.has(check.id)) throw new Error(`check ${check.id} is listed twice`);
    for (const dependency of check.dependsOn ?? []) {
      if (!ids.has(dependency)) throw new Error(`check ${check.id} depends on ${dependency}, which does not run before it`);
    }
    ids.add(check.id);
  }
  const results = new Map<string, CheckResult>();
  const omitted = new Set<string>();
  for (const check of checks) {
    if ((check.dependsOn ?? []).some((id) => omitted.has(id))) {
      omitted.add(check.id);
      continue;
    }
    let outcome: CheckOutcome;
    const blocking = (check.dependsOn ?? []).map((id) => results.get(id)!).find((r) => r.outcome.status === 'fail' || r.outcome.status === 'skip');
    if (options.signal?.aborted) outcome = skip('the check was interrupted');
    else if (blocking) outcome = skip(`needs "${blocking.name}", which ${blocking.outcome.status === 'fail' ? 'failed' : 'was skipped'}`);
    else {
      const applies = check.applies;
      let answer: boolean | CheckOutcome = true;
      if (applies) answer = await applies(context, options.signal ?? new AbortController().signal).catch((error: unknown) => fail(describeError(error)));
      if (answer === false) {
        omitted.add(check.id);
        continue;
      }
      outcome = answer === true ? await runOne(check, context, options.timeoutMs) : answer;
    }
    const result: CheckResult = { id: check.id, category: check.category, name: check.name, outcome };
    results.set(check.id, result);
    options.onResult?.(result);
  }
  return [...results.values()];
}

/** Whether a run failed: any check failed. Warnings and skips do not fail it. */
export function anyFailed(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.outcome.status === 'fail');
}
