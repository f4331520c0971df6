/**
 * What made one resource list out of the one before it: the elements taken
 * out and the elements put in, by object identity. A consumer that already
 * followed `previous` can apply these instead of comparing every element of
 * the new list.
 */
export interface ListChanges<T> {
  readonly previous: readonly T[];
  /** Elements of `previous` that are not in the new list. */
  readonly removed: readonly T[];
  /** Elements of the new list that were not in `previous`. */
  readonly added: readonly T[];
}

const changesOf = new WeakMap<readonly unknown[], ListChanges<unknown>>();

/**
 * How `list` was made from the list before it, when its maker recorded it
 * (a {@link ManifestIndex} does); undefined otherwise. Only the step from the
 * directly preceding list is kept, so that old lists are not held in memory.
 */
export function listChanges<T>(list: readonly T[]): ListChanges<T> | undefined {
  return changesOf.get(list) as ListChanges<T> | undefined;
}

/**
 * Records that `list` replaces `changes.previous`. What was recorded for
 * `changes.previous` is forgotten, so that lists do not hold a chain of all
 * their ancestors.
 */
export function recordListChanges<T>(list: readonly T[], changes: ListChanges<T>): void {
  changesOf.delete(changes.previous);
  changesOf.set(list, changes);
}
