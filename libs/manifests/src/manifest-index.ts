import { canonicalJson } from '@meshbus/runtime';
import type { DocumentRef } from './decode.js';
import { parseManifest, type ParsedManifest } from './manifest-parse.js';
import type { Collection } from './kind.js';
import { recordListChanges } from './list-changes.js';
import {
  emptyMeshResources,
  type GenericResource,
  type ManifestChange,
  type ManifestProblem,
  type MeshResource,
  type MeshResources,
} from './resources.js';

/** A file's current content, already parsed (see {@link parseManifest}), for example on a worker thread. */
export interface ParsedManifestChange {
  readonly file: string;
  readonly parsed: ParsedManifest;
}

/** What an {@link ManifestIndex.apply} changed. */
export interface ManifestIndexUpdate {
  /** The valid resources changed, and so did {@link ManifestIndex.version}. */
  readonly resourcesChanged: boolean;
  /** The list of problems changed. */
  readonly problemsChanged: boolean;
}

interface Entry {
  readonly key: string;
  readonly ref: DocumentRef;
  readonly collection: Collection;
  readonly resource: MeshResource;
  readonly fingerprint: string;
  readonly sortKey: string;
}

interface FileState {
  /** The file's resources in force: valid ones, and earlier versions kept in place of invalid ones. */
  readonly entries: ReadonlyMap<string, Entry>;
  readonly problems: readonly ManifestProblem[];
}

/**
 * The valid mesh resources of a set of manifest files, and the problems of
 * those files. Pure: fed with file contents, it never reads anything itself.
 *
 * Bad input never removes what was valid: a file that stops parsing keeps all
 * its resources; a resource that stops validating keeps its previous version;
 * a document that cannot be identified (no kind, unknown kind, no name) keeps
 * every resource the file had. A deleted file removes its resources. When two
 * files define the same resource, the first in path order wins.
 */
export class ManifestIndex {
  #files = new Map<string, FileState>();
  #merged = new Map<string, Entry>();
  /** Files defining each key, in path order: the first one wins. */
  readonly #definers = new Map<string, string[]>();
  /** Per file, its definitions that another file overrides. */
  readonly #duplicates = new Map<string, ManifestProblem[]>();
  /** Files with problems of their own or definitions another file overrides. */
  readonly #filesWithProblems = new Set<string>();
  /** The merged entries of each collection, in resource order. */
  #lists: Record<Collection, Entry[]> = emptyLists();
  /** Keys and files the changes applied since the last merge touched. */
  #touchedKeys = new Set<string>();
  #touchedFiles = new Set<string>();
  #resources: MeshResources = emptyMeshResources;
  #problems: readonly ManifestProblem[] = [];
  #version = 0;

  /** The valid resources; the same object until they change. */
  get resources(): MeshResources {
    return this.#resources;
  }

  /** Every current problem, by file path, then in document order. */
  get problems(): readonly ManifestProblem[] {
    return this.#problems;
  }

  /** Starts at 0 and grows by one each time the valid resources change. */
  get version(): number {
    return this.#version;
  }

  /** Applies the new state of one file. */
  apply(change: ManifestChange | ParsedManifestChange): ManifestIndexUpdate {
    return this.applyAll([change]);
  }

  /** Applies the new state of several files at once: one merge, however many files. */
  applyAll(changes: readonly (ManifestChange | ParsedManifestChange)[]): ManifestIndexUpdate {
    const steps = this.applyAllInSteps(changes);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * {@link applyAll} cut into steps of a few hundred resources, so that a
   * caller can let other work run between them. The index must not be used
   * otherwise until the generator returns.
   */
  *applyAllInSteps(changes: readonly (ManifestChange | ParsedManifestChange)[]): Generator<void, ManifestIndexUpdate, void> {
    let touched = false;
    for (const change of changes) touched = (yield* this.#applyFile(change)) || touched;
    return touched ? yield* this.#rebuild() : { resourcesChanged: false, problemsChanged: false };
  }

  /** Records a file's new state; false when nothing changed. */
  *#applyFile(change: ManifestChange | ParsedManifestChange): Generator<void, boolean, void> {
    const previous = this.#files.get(change.file);
    const before = previous?.entries;
    const changed = yield* this.#replaceFile(change, previous);
    if (!changed) return false;
    const after = this.#files.get(change.file)?.entries;
    if (before !== after) this.#redefine(change.file, before, after);
    this.#touchedFiles.add(change.file);
    return true;
  }

  /** Keeps {@link #definers} current for one file whose entries went from `before` to `after`. */
  #redefine(file: string, before: ReadonlyMap<string, Entry> | undefined, after: ReadonlyMap<string, Entry> | undefined): void {
    for (const key of before?.keys() ?? []) {
      if (after?.has(key)) continue;
      const files = this.#definers.get(key)!.filter((f) => f !== file);
      if (files.length === 0) this.#definers.delete(key);
      else this.#definers.set(key, files);
      this.#touchedKeys.add(key);
    }
    for (const key of after?.keys() ?? []) {
      this.#touchedKeys.add(key);
      if (before?.has(key)) continue;
      const files = this.#definers.get(key) ?? [];
      if (!files.includes(file)) this.#definers.set(key, [...files, file].sort());
    }
  }

  *#replaceFile(change: ManifestChange | ParsedManifestChange, previous: FileState | undefined): Generator<void, boolean, void> {
    if ('deleted' in change) {
      if (!previous) return false;
      this.#files.delete(change.file);
    } else if ('error' in change) {
      const entries = previous?.entries ?? new Map<string, Entry>();
      this.#files.set(change.file, {
        entries,
        problems: [{ file: change.file, reason: `cannot be read: ${change.error}${keptSuffix(entries.size)}` }],
      });
    } else {
      const parsed = 'parsed' in change ? change.parsed : parseManifest(change.text);
      this.#files.set(change.file, yield* readFile(change.file, parsed, previous));
    }
    return true;
  }

  /** Merges what the touched files define, and rebuilds the problem list (one entry per file, cheap). */
  *#rebuild(): Generator<void, ManifestIndexUpdate, void> {
    const keys = this.#touchedKeys;
    const touchedFiles = this.#touchedFiles;
    this.#touchedKeys = new Set();
    this.#touchedFiles = new Set();

    const changedCollections = new Set<Collection>();
    const removed: Entry[] = [];
    const added: Entry[] = [];
    let steps = 0;
    for (const key of keys) {
      if (++steps % stepSize === 0) yield;
      const files = this.#definers.get(key);
      for (const f of files ?? []) touchedFiles.add(f);
      const owner = files?.[0];
      const next = owner === undefined ? undefined : this.#files.get(owner)?.entries.get(key);
      const current = this.#merged.get(key);
      if (current?.fingerprint === next?.fingerprint) continue;
      if (current) removed.push(current);
      if (next) {
        added.push(next);
        this.#merged.set(key, next);
      } else {
        this.#merged.delete(key);
      }
      changedCollections.add((next ?? current)!.collection);
    }
    for (const file of touchedFiles) {
      const state = this.#files.get(file);
      if (state) this.#duplicates.set(file, this.#duplicatesOf(file));
      else this.#duplicates.delete(file);
      if (state && (state.problems.length > 0 || this.#duplicates.get(file)!.length > 0)) this.#filesWithProblems.add(file);
      else this.#filesWithProblems.delete(file);
    }

    const resourcesChanged = changedCollections.size > 0;
    if (resourcesChanged) {
      // The entry lists are this index's own and change in place; each resource list it hands out is
      // a new array, element for element the resources of its entry list.
      const lists = this.#lists;
      const previous = this.#resources;
      const resources = { ...previous } as Record<Collection, readonly MeshResource[]>;
      if (removed.length + added.length > 256) {
        // Many changes (a first read): one sort beats thousands of insertions.
        const gone = new Set(removed);
        for (const collection of changedCollections) lists[collection] = lists[collection].filter((e) => !gone.has(e));
        for (const entry of added) lists[entry.collection].push(entry);
        for (const collection of changedCollections) {
          lists[collection].sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
          resources[collection] = lists[collection].map((e) => e.resource);
        }
      } else {
        // A few changes: copy each changed resource list once and edit both lists at the same places.
        const copies = new Map<Collection, MeshResource[]>();
        for (const collection of changedCollections) copies.set(collection, previous[collection].slice());
        for (const entry of removed) {
          const list = lists[entry.collection];
          const at = list.indexOf(entry, lowerBound(list, entry.sortKey));
          if (at === -1) continue;
          list.splice(at, 1);
          copies.get(entry.collection)!.splice(at, 1);
        }
        for (const entry of added) {
          const list = lists[entry.collection];
          const at = lowerBound(list, entry.sortKey);
          list.splice(at, 0, entry);
          copies.get(entry.collection)!.splice(at, 0, entry.resource);
        }
        for (const [collection, copy] of copies) resources[collection] = copy;
      }
      for (const collection of changedCollections) {
        recordListChanges(resources[collection], {
          previous: previous[collection],
          removed: removed.filter((e) => e.collection === collection).map((e) => e.resource),
          added: added.filter((e) => e.collection === collection).map((e) => e.resource),
        });
      }
      this.#resources = Object.freeze(resources as unknown as MeshResources);
      this.#version += 1;
    }

    // Only the files with problems, so that a change to one file does not look at every other.
    const problems: ManifestProblem[] = [];
    for (const file of [...this.#filesWithProblems].sort()) {
      problems.push(...this.#files.get(file)!.problems);
      for (const p of this.#duplicates.get(file) ?? []) problems.push(p);
    }
    const problemsChanged = canonicalJson(problems) !== canonicalJson(this.#problems);
    if (problemsChanged) this.#problems = Object.freeze(problems);
    return { resourcesChanged, problemsChanged };
  }

  /** The definitions of `file` that a file earlier in path order overrides. */
  #duplicatesOf(file: string): ManifestProblem[] {
    const out: ManifestProblem[] = [];
    for (const entry of this.#files.get(file)?.entries.values() ?? []) {
      const owner = this.#definers.get(entry.key)?.[0];
      if (owner !== undefined && owner !== file) {
        out.push(problem(file, entry.ref, `is also defined in ${owner}, which comes first in path order; this definition is ignored`));
      }
    }
    return out;
  }
}

/** Index of the first entry whose sort key is not below `key`. */
function lowerBound(list: readonly Entry[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.sortKey < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Resources handled between two pauses of the stepwise methods. */
const stepSize = 500;

function* readFile(file: string, parsed: ParsedManifest, previous: FileState | undefined): Generator<void, FileState, void> {
  const previousEntries = previous?.entries ?? new Map<string, Entry>();
  if ('yamlError' in parsed) {
    return { entries: previousEntries, problems: [{ file, reason: `invalid YAML: ${parsed.yamlError}${keptSuffix(previousEntries.size)}` }] };
  }
  const values = parsed.documents;

  const entries = new Map<string, Entry>();
  const problems: ManifestProblem[] = [];
  let unidentified = false;
  for (const [index, decoded] of values.entries()) {
    if (index % stepSize === stepSize - 1) yield;
    if (decoded === null) continue;
    if (decoded.ok) {
      if (entries.has(decoded.key)) {
        problems.push(problem(file, decoded.ref, 'is defined twice in this file; the first definition is used'));
        continue;
      }
      const { key, ref, collection } = decoded;
      const fingerprint = decoded.fingerprint ?? canonicalJson(decoded.resource);
      if ('file' in decoded.resource) {
        // Policy resources carry the file they come from: the same resource moved to another file changed.
        const resource = { ...decoded.resource, file };
        entries.set(key, { key, ref, collection, resource, fingerprint: `${file}\u0000${fingerprint}`, sortKey: sortKey(resource) });
      } else {
        entries.set(key, { key, ref, collection, resource: decoded.resource, fingerprint, sortKey: sortKey(decoded.resource) });
      }
      continue;
    }
    if (decoded.key === undefined) {
      const where = values.length > 1 ? `document ${index + 1}: ` : '';
      problems.push(problem(file, decoded.ref, where + decoded.reason));
      unidentified = true;
      continue;
    }
    const kept = previousEntries.get(decoded.key);
    if (kept && !entries.has(decoded.key)) {
      entries.set(decoded.key, kept);
      problems.push(problem(file, decoded.ref, `${decoded.reason}; the previous valid version stays in force`));
    } else {
      problems.push(problem(file, decoded.ref, decoded.reason));
    }
  }

  if (unidentified) {
    // A document that cannot be identified may be any resource the file had:
    // keep them all until the file is fixed.
    let keptCount = 0;
    for (const [key, entry] of previousEntries) {
      if (entries.has(key)) continue;
      entries.set(key, entry);
      keptCount += 1;
    }
    if (keptCount > 0) {
      problems.push({ file, reason: `${resourceCount(keptCount)} read earlier from this file stay in force until every document in it can be identified` });
    }
  }
  return { entries, problems };
}

function problem(file: string, ref: DocumentRef, reason: string): ManifestProblem {
  return {
    file,
    ...(ref.kind !== undefined ? { kind: ref.kind } : {}),
    ...(ref.namespace !== undefined ? { namespace: ref.namespace } : {}),
    ...(ref.name !== undefined ? { name: ref.name } : {}),
    reason,
  };
}

function keptSuffix(count: number): string {
  return count > 0 ? `; the ${resourceCount(count)} read earlier from this file stay in force` : '';
}

function resourceCount(count: number): string {
  return count === 1 ? '1 resource' : `${count} resources`;
}





function sortKey(r: MeshResource): string {
  const namespace = 'namespace' in r ? r.namespace : '';
  const prefix = 'manifest' in r ? `${(r as GenericResource).apiVersion}\u0000${r.kind}\u0000` : '';
  return `${prefix}${namespace}\u0000${r.name}`;
}

function emptyLists(): Record<Collection, Entry[]> {
  return Object.fromEntries(Object.keys(emptyMeshResources).map((k) => [k, []])) as unknown as Record<Collection, Entry[]>;
}
