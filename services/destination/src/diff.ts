import { canonicalJson } from '@meshbus/runtime';
/** What to publish to turn the current state into the desired one. */
export interface StateDiff<T> {
  /** Keys that are new or whose value changed, with the new value, in key order. */
  readonly upserts: [string, T][];
  /** Keys that are gone, in key order: publish a tombstone for each. */
  readonly deletes: string[];
}

/**
 * Compares two keyed states by value: a key whose value is equal as JSON
 * (whatever the order of object keys) is left out, so only real changes are
 * published.
 */
export function diffState<T>(desired: ReadonlyMap<string, T>, current: ReadonlyMap<string, T>): StateDiff<T> {
  const upserts: [string, T][] = [];
  for (const key of [...desired.keys()].sort()) {
    const value = desired.get(key) as T;
    if (!current.has(key) || canonicalJson(current.get(key)) !== canonicalJson(value)) upserts.push([key, value]);
  }
  const deletes = [...current.keys()].filter((key) => !desired.has(key)).sort();
  return { upserts, deletes };
}
