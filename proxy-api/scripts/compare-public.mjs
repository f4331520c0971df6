// Compares the wire contract of proxy-api/proto with a checkout of the public
// proxy API's proto folder: every message, field (number, label, type, oneof),
// enum value, reserved range and RPC. Prints what the public API has that ours
// lacks or defines differently, then what only ours has (the meshbus
// extensions). Exits 1 when something public is missing or different.
//
// Usage (from proxy-api/): node scripts/compare-public.mjs <public-proto-dir>
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

const publicDir = process.argv[2];
if (!publicDir) {
  console.error('usage: node scripts/compare-public.mjs <public-proto-dir>');
  process.exit(2);
}
const ours = facts(image(resolve('proto'), []));
const theirs = facts(image(resolve(publicDir), [...skippedFiles]));

const show = (key, value) => `${key}${value ? ` ${value}` : ''}`;
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
console.log(problems === 0 ? 'every public element is present and identical' : `${problems} public element(s) missing or different`);
process.exit(problems === 0 ? 0 : 1);
