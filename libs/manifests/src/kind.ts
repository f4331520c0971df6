import type { MeshResources, MeshResource, StringMap } from './resources.js';

/** Name of the list of {@link MeshResources} a kind goes to. */
export type Collection = keyof MeshResources;

/** Identity and metadata of a document whose structure matched its schema. */
export interface DocumentMeta {
  readonly apiVersion: string;
  readonly kind: string;
  /** Empty for cluster-scoped kinds. */
  readonly namespace: string;
  readonly name: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
}

/**
 * How meshbus reads one kind. `decode` runs only on documents that match
 * `schema`; it applies defaults and the checks a schema cannot express,
 * appending a readable line to `issues` for each problem.
 */
export interface KindDefinition {
  readonly kind: string;
  /** Whether the kind accepts this apiVersion. */
  accepts(apiVersion: string): boolean;
  /** The apiVersions to suggest when a document names another one. */
  readonly apiVersionHint: string;
  /**
   * Identity of the kind in resource keys: two documents with the same
   * identity, namespace and name are the same resource, whatever apiVersion
   * they use.
   */
  readonly identity: string;
  readonly namespaced: boolean;
  readonly collection: Collection;
  readonly schema: object;
  decode(document: Readonly<Record<string, unknown>>, meta: DocumentMeta, issues: string[]): MeshResource;
}

/** Reports each value that occurs more than once, by index. */
export function reportDuplicates<T>(values: readonly (T | undefined)[], describe: (value: T, first: number, again: number) => string, issues: string[]): void {
  const seen = new Map<T, number>();
  values.forEach((value, index) => {
    if (value === undefined) return;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, index);
    else issues.push(describe(value, first, index));
  });
}
