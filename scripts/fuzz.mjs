#!/usr/bin/env node
// The long run of the property-based tests of parsers: every *.fuzz.test.ts and *.fuzz.int.test.ts
// with FUZZ_RUNS cases per property (default 200000; `npm run fuzz -- 50000` to change it), then a
// table of the cases each property ran and how long it took.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = process.argv[2] ?? process.env.FUZZ_RUNS ?? '200000';
if (!/^[1-9]\d*$/.test(runs)) {
  console.error(`cases per property must be a positive integer, got ${JSON.stringify(runs)}`);
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'meshbus-fuzz-'));
const report = join(dir, 'report.jsonl');
const started = Date.now();
// One project at a time: vitest refuses to run projects with different worker counts together.
let status = 0;
for (const project of ['unit', 'integration']) {
  const vitest = spawnSync('npx', ['vitest', 'run', '--project', project, '.fuzz.'], {
    stdio: 'inherit',
    env: { ...process.env, FUZZ_RUNS: runs, FUZZ_REPORT: report },
  });
  if (vitest.status !== 0) status = vitest.status ?? 1;
}

let rows = [];
try {
  rows = readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
} catch {
  // No property finished.
}
rmSync(dir, { recursive: true, force: true });
rows.sort((a, b) => a.name.localeCompare(b.name));
const width = Math.min(100, Math.max(8, ...rows.map((row) => row.name.length)));
console.log(`\n${'property'.padEnd(width)}  ${'cases'.padStart(9)}  ${'skipped'.padStart(8)}  ${'seconds'.padStart(8)}  ${'cases/s'.padStart(8)}`);
for (const row of rows) {
  const seconds = row.ms / 1000;
  const name = row.name.length > width ? `${row.name.slice(0, width - 1)}…` : row.name;
  console.log(
    `${name.padEnd(width)}  ${String(row.cases).padStart(9)}  ${String(row.skipped).padStart(8)}  ${seconds.toFixed(1).padStart(8)}  ${String(Math.round(row.cases / Math.max(seconds, 0.001))).padStart(8)}`,
  );
}
const total = rows.reduce((sum, row) => sum + row.cases, 0);
console.log(`\n${rows.length} properties passed, ${total} cases, ${((Date.now() - started) / 1000).toFixed(0)} s in all (FUZZ_RUNS=${runs})`);
process.exit(status);
