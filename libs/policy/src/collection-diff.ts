/** One key of a collection whose item is another object than before (undefined: absent). */
export interface Replacement<T> {
  readonly key: string;
  readonly before: T | undefined;
  readonly after: T | undefined;
}

/** Above this many differing items (and a tenth of the collection), a diff reads the whole collection by key. */
const patchLimit = 64;

/**
 * The last state of one input collection, by key, and what each new state
 * replaced. The same array is no change at all; otherwise the items the two
 * arrays share at their start and end (the same objects) are skipped, and
 * only the span between them is compared by key, which for one edit, one
 * addition or one removal in a sorted list (what the manifest index hands
 * over) is one or two items. Otherwise, or when keys repeat, the whole new
 * array is read by key. Items are compared by identity only: an item that
 * is another object with an equal value is reported, and the caller
 * compares values.
 */
export class CollectionState<T> {
  #array: readonly T[] = [];
  #byKey = new Map<string, T>();
  /** Whether the current array repeats a key (then only the whole array can be read). */
  #repeats = false;

  /**
   * @param keyOf the item's key (namespace and name)
   * @param firstWins which item of a repeated key counts: the first (else the last)
   */
  constructor(
    private readonly keyOf: (item: T) => string,
    private readonly firstWins = false,
  ) {}

  get(key: string): T | undefined {
    return this.#byKey.get(key);
  }

  /** Takes `next` as the collection's state; returns the keys whose item changed. */
  update(next: readonly T[]): Replacement<T>[] {
    const previous = this.#array;
    if (previous === next) return [];
    this.#array = next;
    let start = 0;
    const shortest = Math.min(previous.length, next.length);
    while (start < shortest && previous[start] === next[start]) start++;
    let endPrevious = previous.length;
    let endNext = next.length;
    while (endPrevious > start && endNext > start && previous[endPrevious - 1] === next[endNext - 1]) {
      endPrevious--;
      endNext--;
    }
    const span = endPrevious - start + (endNext - start);
    if (!this.#repeats && span <= Math.max(patchLimit, next.length / 10)) {
      const patched = this.#patch(previous.slice(start, endPrevious), next.slice(start, endNext));
      if (patched) return patched;
    }
    return this.#readAll(next);
  }

  /** The changes when only `removed` gave way to `added`; undefined when `added` repeats a key. */
  #patch(removed: readonly T[], added: readonly T[]): Replacement<T>[] | undefined {
    const before = new Map<string, T>();
    for (const item of removed) before.set(this.keyOf(item), item);
    const after = new Map<string, T>();
    for (const item of added) {
      const key = this.keyOf(item);
      if (after.has(key) || (this.#byKey.has(key) && !before.has(key))) return undefined;
      after.set(key, item);
    }
    const out: Replacement<T>[] = [];
    for (const [key, item] of after) {
      const old = before.get(key);
      if (old !== item) out.push({ key, before: old, after: item });
      this.#byKey.set(key, item);
    }
    for (const [key, item] of before) {
      if (after.has(key)) continue;
      out.push({ key, before: item, after: undefined });
      this.#byKey.delete(key);
    }
    return out;
  }

  #readAll(next: readonly T[]): Replacement<T>[] {
    const byKey = new Map<string, T>();
    for (const item of next) {
      const key = this.keyOf(item);
      if (this.firstWins && byKey.has(key)) continue;
      byKey.set(key, item);
    }
    const out: Replacement<T>[] = [];
    for (const [key, item] of byKey) {
      const old = this.#byKey.get(key);
      if (old !== item) out.push({ key, before: old, after: item });
    }
    for (const [key, item] of this.#byKey) if (!byKey.has(key)) out.push({ key, before: item, after: undefined });
    this.#byKey = byKey;
    this.#repeats = byKey.size !== next.length;
    return out;
  }
}
