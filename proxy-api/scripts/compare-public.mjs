// Compares the wire contract of proxy-api/proto with the public proxy API:
// every message, field (number, label, type, oneof), enum value, reserved
// range and RPC. Prints what the public API has that ours lacks or defines
// differently, then what only ours has (the meshbus extensions). Exits 1 when
// something public is missing or different.
//
// The public side is either a checkout of the public proto folder, or the
// contract file saved from one (public-contract.txt: one fact per line, the
// names, numbers and types of the public wire contract), which CI checks
// without network access.
//
// Usage (from proxy-api/):
//   node scripts/compare-public.mjs <public-proto-dir>
//   node scripts/compare-public.mjs --save <public-proto-dir> <contract-file> [--from <description>]
//   node scripts/compare-public.mjs --contract <contract-file>
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Packages that are not part of the comparison. */
const skippedFiles = new Set(['tap.proto']);

function image(dir, exclude) {
  const out = mkdtempSync(join(tmpdir(), 'proxy-api-compare-'));
  const file = join(out, 'image.json');
  const args = ['buf', 'build', dir, '-o', file, ...exclude.flatMap((p) => ['--exclude-path', join(dir, p)])];
  try {
    execFileSync('npx', args, { stdio: ['ignore', 'inherit', 'inherit'] });
    return JSON.parse(readFileSync(file, 'utf8'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** One line per fact of the wire contract, keyed by the element it describes. */
function facts(img) {
  const lines = new Map();
  const add = (key, value) => lines.set(key, value);
  const message = (scope, m) => {
    const name = `${scope}.${m.name}`;
    add(`message ${name}`, '');
    const oneofs = (m.oneofDecl ?? []).map((o) => o.name);
    for (const f of m.field ?? []) {
      const oneof = f.oneofIndex !== undefined && !f.proto3Optional ? ` oneof ${oneofs[f.oneofIndex]}` : '';
      const optional = f.proto3Optional ? ' optional' : '';
      add(`field ${name}.${f.name}`, `= ${f.number} ${f.label} ${f.type}${f.typeName ? ` ${f.typeName}` : ''}${oneof}${optional}`);
    }
    for (const r of m.reservedRange ?? []) add(`reserved ${name} ${r.start}..${r.end - 1}`, '');
    for (const r of m.reservedName ?? []) add(`reserved ${name} "${r}"`, '');
    for (const e of m.enumType ?? []) enumeration(name, e);
    for (const n of m.nestedType ?? []) message(name, n);
  };
  const enumeration = (scope, e) => {
    const name = `${scope}.${e.name}`;
    add(`enum ${name}`, '');
    for (const v of e.value ?? []) add(`value ${name}.${v.name}`, `= ${v.number}`);
    for (const r of e.reservedRange ?? []) add(`reserved ${name} ${r.start}..${r.end}`, '');
    for (const r of e.reservedName ?? []) add(`reserved ${name} "${r}"`, '');
  };
  for (const file of img.file) {
    if (file.name.startsWith('google/') || skippedFiles.has(file.name)) continue;
    const scope = `.${file.package}`;
    for (const m of file.messageType ?? []) message(scope, m);
    for (const e of file.enumType ?? []) enumeration(scope, e);
    for (const s of file.service ?? []) {
      for (const m of s.method ?? []) {
        add(`rpc ${scope}.${s.name}.${m.name}`, `${m.clientStreaming ? 'stream ' : ''}${m.inputType} -> ${m.serverStreaming ? 'stream ' : ''}${m.outputType}`);
      }
    }
  }
  return lines;
}

const show = (key, value) => `${key}${value ? ` ${value}` : ''}`;
const usage = () => {
  console.error('usage: node scripts/compare-public.mjs <public-proto-dir> | --save <public-proto-dir> <contract-file> [--from <description>] | --contract <contract-file>');
  process.exit(2);
};

/** Reads a saved contract: `#` lines are comments, every other line is `<key>` or `<key> <value>` (keys have two words). */
function readContract(file) {
  const lines = new Map();
  for (const [index, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = /^(\S+ \S+(?: \S+)?)(?: (=.*|stream .*|\S+ -> .*))?$/.exec(line);
    if (!match) {
      console.error(`${file}:${index + 1}: not a contract line: ${JSON.stringify(line)}`);
      process.exit(2);
    }
    lines.set(match[1], match[2] ?? '');
  }
  if (lines.size === 0) {
    console.error(`${file}: no contract lines`);
    process.exit(2);
  }
  return lines;
}

const args = process.argv.slice(2);
if (args[0] === '--save') {
  const [, dir, file] = args;
  if (!dir || !file) usage();
  const fromIndex = args.indexOf('--from');
  const from = fromIndex > 0 ? args[fromIndex + 1] : resolve(dir);
  const theirs = facts(image(resolve(dir), [...skippedFiles]));
  const body = [...theirs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => show(key, value));
  writeFileSync(file, [`# The public proxy API's wire contract, saved from ${from}.`, '# Regenerate: npm run compare-public -- --save <public-proto-dir> public-contract.txt --from <what>', ...body, ''].join('\n'));
  console.log(`saved ${theirs.size} public elements to ${file}`);
  process.exit(0);
}
let theirs;
if (args[0] === '--contract') {
  if (!args[1]) usage();
  theirs = readContract(resolve(args[1]));
} else {
  if (!args[0] || args[0].startsWith('--')) usage();
  theirs = facts(image(resolve(args[0]), [...skippedFiles]));
}
const ours = facts(image(resolve('proto'), []));

let problems = 0;
for (const [key, value] of [...theirs].sort()) {
  if (!ours.has(key)) {
    console.log(`missing:   ${show(key, value)}`);
    problems++;
  } else if (ours.get(key) !== value) {
    console.log(`different: ${key}: public ${value}, ours ${ours.get(key)}`);
    problems++;
  }
}
for (const [key, value] of [...ours].sort()) if (!theirs.has(key)) console.log(`extension: ${show(key, value)}`);
console.log(problems === 0 ? `every public element is present and identical (${theirs.size} compared)` : `${problems} public element(s) missing or different`);
process.exit(problems === 0 ? 0 : 1);
