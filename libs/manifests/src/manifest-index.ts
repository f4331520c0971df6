import { parseAllDocuments } from 'yaml';
import { canonicalJson } from '@meshbus/runtime';
import { decodeDocument, type DocumentRef } from './decode.js';
import type { Collection } from './kind.js';
import {
  emptyMeshResources,
  type GenericResource,
  type ManifestChange,
  type ManifestProblem,
  type MeshResource,
  type MeshResources,
} from './resources.js';

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
}

interface FileState {
  /** The file's resources in force: valid ones, and earlier versions kept in place of invalid ones. */
  readonly entries: ReadonlyMap<string, Entry>;
  readonly problems: readonly ManifestProblem[];
}

const maxAliasCount = 100;

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
  apply(change: ManifestChange): ManifestIndexUpdate {
    const previous = this.#files.get(change.file);
    if ('deleted' in change) {
      if (!previous) return { resourcesChanged: false, problemsChanged: false };
      this.#files.delete(change.file);
    } else if ('error' in change) {
      const entries = previous?.entries ?? new Map<string, Entry>();
      this.#files.set(change.file, {
        entries,
        problems: [{ file: change.file, reason: `cannot be read: ${change.error}${keptSuffix(entries.size)}` }],
      });
    } else {
      this.#files.set(change.file, readFile(change.file, change.text, previous));
    }
    return this.#rebuild();
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
      this.#resources = assemble(merged);
      this.#version += 1;
    }
    const problemsChanged = canonicalJson(problems) !== canonicalJson(this.#problems);
    if (problemsChanged) this.#problems = Object.freeze(problems);
    return { resourcesChanged, problemsChanged };
  }
}

function readFile(file: string, text: string, previous: FileState | undefined): FileState {
  const previousEntries = previous?.entries ?? new Map<string, Entry>();
  const yamlFailure = (message: string): FileState => ({
    entries: previousEntries,
    problems: [{ file, reason: `invalid YAML: ${message}${keptSuffix(previousEntries.size)}` }],
  });

  const documents = parseAllDocuments(text, { merge: true, prettyErrors: true });
  const streamErrors = 'empty' in documents ? documents.errors : documents.flatMap((d) => d.errors);
  if (streamErrors[0]) return yamlFailure(firstLine(streamErrors[0].message));

  const values: unknown[] = [];
  try {
    for (const document of documents) values.push(document.toJS({ maxAliasCount }));
  } catch (err) {
    return yamlFailure(firstLine((err as Error).message));
  }

  const entries = new Map<string, Entry>();
  const problems: ManifestProblem[] = [];
  let unidentified = false;
  for (const [index, value] of values.entries()) {
    if (value === null || value === undefined) continue;
    const decoded = decodeDocument(value);
    if (decoded.ok) {
      if (entries.has(decoded.key)) {
        problems.push(problem(file, decoded.ref, 'is defined twice in this file; the first definition is used'));
        continue;
      }
      const { key, ref, collection, resource } = decoded;
      entries.set(key, { key, ref, collection, resource, fingerprint: canonicalJson(resource) });
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

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '');
}

function sameEntries(a: ReadonlyMap<string, Entry>, b: ReadonlyMap<string, Entry>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, entry] of a) {
    if (b.get(key)?.fingerprint !== entry.fingerprint) return false;
  }
  return true;
}

function assemble(entries: ReadonlyMap<string, Entry>): MeshResources {
  const lists: Record<Collection, MeshResource[]> = {
    namespaces: [],
    services: [],
    serviceAccounts: [],
    workloads: [],
    serviceProfiles: [],
    others: [],
  };
  for (const entry of entries.values()) lists[entry.collection].push(entry.resource);
  for (const list of Object.values(lists)) list.sort(compareResources);
  return Object.freeze(lists as unknown as MeshResources);
}

function compareResources(a: MeshResource, b: MeshResource): number {
  return compareStrings(sortKey(a), sortKey(b));
}

function sortKey(r: MeshResource): string {
  const namespace = 'namespace' in r ? r.namespace : '';
  const prefix = 'apiVersion' in r ? `${(r as GenericResource).apiVersion}\u0000${r.kind}\u0000` : '';
  return `${prefix}${namespace}\u0000${r.name}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
