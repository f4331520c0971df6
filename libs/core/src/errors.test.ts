import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, errorMessage, MeshbusError } from './errors.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** This file: its samples of bad classes are text, not code. */
const self = fileURLToPath(import.meta.url);

/**
 * The code of the project. examples/subscribers is left out on purpose: it shows a subscriber
 * written with a stock NATS client and no meshbus code, so it cannot use MeshbusError.
 */
const sourceRoots = ['libs', 'services', 'proxy', 'proxy-api', 'cli', 'bus-schemas', 'bench', 'tests', 'scripts'];
const skippedDirs = new Set(['node_modules', 'dist', 'testdata', 'coverage']);
const sourceFile = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** The error classes of the JavaScript runtime that a project error must not extend directly. */
const builtinErrors = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError']);

/** `class X extends Y`, also `class extends Y` (a class expression) and `extends globalThis.Error`. */
const classDeclaration = /\bclass(?:\s+([A-Za-z_$][\w$]*))?(?:\s*<[^{]*?>)?\s+extends\s+(?:globalThis\.)?([A-Za-z_$][\w$]*)/g;

interface DeclaredClass {
  readonly name: string;
  readonly parent: string;
  readonly where: string;
}

/** The classes a source text declares with a parent; `where` is `file:line`. */
function declaredClasses(text: string, file: string): DeclaredClass[] {
  const out: DeclaredClass[] = [];
  for (const m of text.matchAll(classDeclaration)) {
    const line = text.slice(0, m.index).split('\n').length;
    out.push({ name: m[1] ?? '(anonymous class)', parent: m[2]!, where: `${file}:${line}` });
  }
  return out;
}

/**
 * The error classes that reach a built-in error without passing through MeshbusError. A class
 * whose parent is declared elsewhere in the scanned code is followed up its chain; a parent
 * nobody scanned declares (a library's class) is not an error of this project.
 */
function errorsOutsideMeshbusError(classes: readonly DeclaredClass[]): DeclaredClass[] {
  const parents = new Map<string, string[]>();
  for (const c of classes) parents.set(c.name, [...(parents.get(c.name) ?? []), c.parent]);
  const reachesBuiltin = (parent: string, seen: Set<string>): boolean => {
    if (parent === 'MeshbusError') return false;
    if (builtinErrors.has(parent)) return true;
    if (seen.has(parent)) return false;
    seen.add(parent);
    return (parents.get(parent) ?? []).some((p) => reachesBuiltin(p, seen));
  };
  return classes.filter((c) => c.name !== 'MeshbusError' && reachesBuiltin(c.parent, new Set([c.name])));
}

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!skippedDirs.has(entry.name) && !entry.name.startsWith('.')) yield* sourceFiles(join(dir, entry.name));
    } else if (sourceFile.test(entry.name) && !entry.name.endsWith('.d.ts') && join(dir, entry.name) !== self) {
      yield join(dir, entry.name);
    }
  }
}

describe('MeshbusError', () => {
  it('carries a stable code next to the message, and the cause', () => {
    const cause = new Error('disk full');
    const error = new MeshbusError('SomethingFailed', 'it failed', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'MeshbusError', code: 'SomethingFailed', message: 'it failed', cause });
    expect(new ConfigError('MESHBUS_X is required')).toMatchObject({ name: 'ConfigError', code: 'InvalidConfig', message: 'MESHBUS_X is required' });
    expect(new ConfigError('x')).toBeInstanceOf(MeshbusError);
    expect(errorMessage(error)).toBe('it failed');
    expect(errorMessage('plain')).toBe('plain');
  });
});

describe('every error class of the code base', () => {
  it('finds the error classes that skip MeshbusError, directly or through a parent', () => {
    const text = [
      'export class BadError extends Error {}',
      'class AlsoBad extends globalThis.TypeError {',
      'class ChildOfBad extends BadError {}',
      'export class GoodError extends MeshbusError {}',
      'class ChildOfGood extends GoodError {}',
      'class Stream<T> extends Transform {}',
      'const Anonymous = class extends RangeError {};',
    ].join('\n');
    const found = errorsOutsideMeshbusError(declaredClasses(text, 'sample.ts'));
    expect(found.map((c) => `${c.name} ${c.where}`)).toEqual(['BadError sample.ts:1', 'AlsoBad sample.ts:2', 'ChildOfBad sample.ts:3', '(anonymous class) sample.ts:7']);
  });

  it('extends MeshbusError (from @meshbus/core), so each carries a stable code', () => {
    const classes = sourceRoots.flatMap((dir) => [...sourceFiles(join(root, dir))].flatMap((file) => declaredClasses(readFileSync(file, 'utf8'), relative(root, file))));
    // The scan reads the real tree: the project's own error classes are among what it found.
    expect(classes.filter((c) => c.parent === 'MeshbusError').length).toBeGreaterThan(30);
    const offenders = errorsOutsideMeshbusError(classes).map((c) => `${c.where}: ${c.name} extends ${c.parent}`);
    expect(offenders, 'error classes that do not extend MeshbusError').toEqual([]);
  });
});
