import { appendFileSync } from 'node:fs';
import { fc, test } from '@fast-check/vitest';

/** How many cases a property runs. */
export interface FuzzOptions {
  /**
   * Cases in the short run (the unit tier).
   * @default 100
   */
  readonly runs?: number;
  /**
   * Upper bound on cases when `FUZZ_RUNS` asks for more, for properties whose cases are costly
   * (such as one process each). @default no bound
   */
  readonly maxRuns?: number;
}

// The long run (`npm run fuzz`) sets FUZZ_RUNS; FUZZ_REPORT names a file that collects one JSON
// line per property, which the script prints as a table.
const requestedRuns = parseRuns(process.env.FUZZ_RUNS);
const reportFile = process.env.FUZZ_REPORT;
const longTimeoutMs = 6 * 60 * 60 * 1000;

function parseRuns(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const runs = Number(text);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new RangeError(`FUZZ_RUNS must be a positive integer, got ${JSON.stringify(text)}`);
  return runs;
}

/** The number of cases a property with `options` runs now. */
export function fuzzRuns(options: FuzzOptions = {}): number {
  if (requestedRuns === undefined) return options.runs ?? 100;
  return Math.min(requestedRuns, options.maxRuns ?? Number.POSITIVE_INFINITY);
}

/**
 * Declares a vitest test that checks `predicate` on cases drawn from `arbitraries` (a fast-check
 * property; it fails when the predicate throws or returns false, and reports the shrunk
 * counterexample and the seed). The seed is in the test name; set it again with
 * `fc.configureGlobal({ seed })` to replay a failure.
 */
export function fuzzProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => boolean | void | PromiseLike<boolean | void>,
  options: FuzzOptions = {},
): void {
  let startedAt: number | undefined;
  const numRuns = fuzzRuns(options);
  const parameters: fc.Parameters<Ts> = {
    numRuns,
    reporter(details) {
      if (details.failed) throw new Error(fc.defaultReportMessage(details));
      if (reportFile !== undefined) {
        const ms = startedAt === undefined ? 0 : performance.now() - startedAt;
        appendFileSync(reportFile, `${JSON.stringify({ name, cases: details.numRuns, skipped: details.numSkips, ms: Math.round(ms) })}\n`);
      }
    },
  };
  const timed = (...args: Ts): boolean | void | PromiseLike<boolean | void> => {
    startedAt ??= performance.now();
    return predicate(...args);
  };
  // test.prop's types pick tuple or record form through a conditional type that a generic Ts does
  // not resolve; this function only takes the tuple form.
  const prop = test.prop as unknown as (
    arbitraries: readonly fc.Arbitrary<unknown>[],
    parameters: fc.Parameters<Ts>,
  ) => (name: string, predicate: (...args: Ts) => boolean | void | PromiseLike<boolean | void>, timeout?: number) => void;
  prop(arbitraries as readonly fc.Arbitrary<unknown>[], parameters)(name, timed, requestedRuns === undefined ? undefined : longTimeoutMs);
}
