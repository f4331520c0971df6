import { canonicalJson } from '@meshbus/runtime';
import type { DocumentRef } from './decode.js';
import { parseManifest, type ParsedManifest } from './manifest-parse.js';
import type { Collection } from './kind.js';
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
    let touched = false;
    for (const change of changes) touched = this.#applyFile(change) || touched;
    return touched ? this.#rebuild() : { resourcesChanged: false, problemsChanged: false };
  }

  /** Records a file's new state; false when nothing changed. */
  #applyFile(change: ManifestChange | ParsedManifestChange): boolean {
    const previous = this.#files.get(change.file);
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
      this.#files.set(change.file, readFile(change.file, parsed, previous));
    }
    return true;
  }

  #rebuild(): ManifestIndexUpdate {
    const merged = new Map<string, Entry>();
    const owners = new Map<string, string>();
    const problems: ManifestProblem[] = [];
    for (const file of [...this.#files.keys()].sort()) {
      const state = this.#files.get(file)!;
      problems.push(...state.problems);
      for (const entry of state.entries.values()) {
        const owner = owners.get(entry.key);
        if (owner !== undefined) {
          problems.push(problem(file, entry.ref, `is also defined in ${owner}, which comes first in path order; this definition is ignored`));
          continue;
        }
        owners.set(entry.key, file);
        merged.set(entry.key, entry);
      }
    }

    const resourcesChanged = !sameEntries(merged, this.#merged);
    if (resourcesChanged) {
      this.#merged = merged;
      this.#resources = assemble(merged, this.#resources);
      this.#version += 1;
    }
    const problemsChanged = canonicalJson(problems) !== canonicalJson(this.#problems);
    if (problemsChanged) this.#problems = Object.freeze(problems);
    return { resourcesChanged, problemsChanged };
  }
}

function readFile(file: string, parsed: ParsedManifest, previous: FileState | undefined): FileState {
  const previousEntries = previous?.entries ?? new Map<string, Entry>();
  if ('yamlError' in parsed) {
    return { entries: previousEntries, problems: [{ file, reason: `invalid YAML: ${parsed.yamlError}${keptSuffix(previousEntries.size)}` }] };
  }
  const values = parsed.documents;

  const entries = new Map<string, Entry>();
  const problems: ManifestProblem[] = [];
  let unidentified = false;
  for (const [index, decoded] of values.entries()) {
    if (decoded === null) continue;
    if (decoded.ok) {
      if (entries.has(decoded.key)) {
        problems.push(problem(file, decoded.ref, 'is defined twice in this file; the first definition is used'));
        continue;
      }
      const { key, ref, collection, resource } = decoded;
      entries.set(key, { key, ref, collection, resource, fingerprint: decoded.fingerprint ?? canonicalJson(resource), sortKey: sortKey(resource) });
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


function sameEntries(a: ReadonlyMap<string, Entry>, b: ReadonlyMap<string, Entry>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, entry] of a) {
    if (b.get(key)?.fingerprint !== entry.fingerprint) return false;
  }
  return true;
}

/** The resources by collection; a collection whose resources are all the same objects keeps its previous list. */
function assemble(entries: ReadonlyMap<string, Entry>, previous: MeshResources): MeshResources {
  const lists: Record<Collection, MeshResource[]> = {
    namespaces: [],
    services: [],
    serviceAccounts: [],
    workloads: [],
    serviceProfiles: [],
    others: [],
  };
  const sorted: Record<Collection, Entry[]> = { namespaces: [], services: [], serviceAccounts: [], workloads: [], serviceProfiles: [], others: [] };
  for (const entry of entries.values()) sorted[entry.collection].push(entry);
  for (const [collection, list] of Object.entries(sorted) as [Collection, Entry[]][]) {
    list.sort((a, b) => compareStrings(a.sortKey, b.sortKey));
    const next = list.map((e) => e.resource);
    const before = previous[collection] as readonly MeshResource[];
    lists[collection] = before.length === next.length && before.every((r, i) => r === next[i]) ? (before as MeshResource[]) : next;
  }
  return Object.freeze(lists as unknown as MeshResources);
}


function sortKey(r: MeshResource): string {
  const namespace = 'namespace' in r ? r.namespace : '';
  const prefix = 'apiVersion' in r ? `${(r as GenericResource).apiVersion}\u0000${r.kind}\u0000` : '';
  return `${prefix}${namespace}\u0000${r.name}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
