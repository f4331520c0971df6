import type { CheckResult, CheckStatus } from './model.js';

const marks: Readonly<Record<CheckStatus, string>> = { pass: '√', fail: '×', warn: '‼', skip: '-' };

/**
 * Prints results as they come, a category heading whenever the category
 * changes, and under a check that did not pass its hint (or skip reason),
 * indented.
 */
export class CheckTextWriter {
  private category: string | undefined;

  constructor(private readonly write: (text: string) => void) {}

  result(result: CheckResult): void {
    if (result.category !== this.category) {
      if (this.category !== undefined) this.write('\n');
      this.write(`${result.category}\n`);
      this.category = result.category;
    }
    const { outcome } = result;
    this.write(`${marks[outcome.status]} ${result.name}\n`);
    const note = outcome.status === 'pass' ? outcome.detail : outcome.status === 'skip' ? outcome.reason : outcome.hint;
    if (note !== undefined) for (const line of note.split('\n')) this.write(`    ${line}\n`);
  }

  summary(results: readonly CheckResult[]): void {
    this.write(`\n${summaryLine(results)}\n`);
  }
}

function count(results: readonly CheckResult[], status: CheckStatus): number {
  return results.filter((r) => r.outcome.status === status).length;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `Status check results are √`, or how many checks failed and warned. */
export function summaryLine(results: readonly CheckResult[]): string {
  const failed = count(results, 'fail');
  const warned = count(results, 'warn');
  const skipped = count(results, 'skip');
  if (failed === 0 && warned === 0 && skipped === 0) return `Status check results are ${marks.pass}`;
  const parts = [`${plural(failed, 'check')} failed`];
  if (warned > 0) parts.push(`${plural(warned, 'warning')}`);
  if (skipped > 0) parts.push(`${skipped} skipped`);
  return `Status check results are ${failed > 0 ? marks.fail : marks.warn}: ${parts.join(', ')}`;
}

/** The JSON document of `meshbus check -o json`. */
export interface CheckReport {
  readonly success: boolean;
  readonly summary: Readonly<Record<CheckStatus, number>>;
  readonly categories: readonly {
    readonly name: string;
    readonly checks: readonly {
      readonly id: string;
      readonly name: string;
      readonly result: CheckStatus;
      readonly hint?: string;
      readonly reason?: string;
      readonly detail?: string;
    }[];
  }[];
}

/** The results as one JSON document, grouped by category in the order they ran. */
export function checkReport(results: readonly CheckResult[]): CheckReport {
  const categories: { name: string; checks: CheckReport['categories'][number]['checks'][number][] }[] = [];
  for (const r of results) {
    let category = categories.find((c) => c.name === r.category);
    if (!category) categories.push((category = { name: r.category, checks: [] }));
    const o = r.outcome;
    category.checks.push({
      id: r.id,
      name: r.name,
      result: o.status,
      ...(o.status === 'fail' || o.status === 'warn' ? { hint: o.hint } : {}),
      ...(o.status === 'skip' ? { reason: o.reason } : {}),
      ...(o.status === 'pass' && o.detail !== undefined ? { detail: o.detail } : {}),
    });
  }
  return {
    success: count(results, 'fail') === 0,
    summary: { pass: count(results, 'pass'), fail: count(results, 'fail'), warn: count(results, 'warn'), skip: count(results, 'skip') },
    categories,
  };
}
