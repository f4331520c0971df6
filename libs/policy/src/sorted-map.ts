import { compareStrings } from './resource-keys.js';

/** The first index of `keys` (sorted) whose key is not below `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareStrings(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A Map that iterates in key order (by code unit), whatever the order of
 * insertion. Setting an existing key costs what a Map does; adding or
 * deleting a key also moves the keys after it in one sorted array, so that
 * a result of thousands of entries stays ordered without sorting it again.
 */
export class SortedMap<V> extends Map<string, V> {
  readonly #keys: string[] = [];

  override set(key: string, value: V): this {
    if (!super.has(key)) this.#keys.splice(lowerBound(this.#keys, key), 0, key);
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    if (!super.delete(key)) return false;
    this.#keys.splice(lowerBound(this.#keys, key), 1);
    return true;
  }

  override clear(): void {
    super.clear();
    this.#keys.length = 0;
  }

  override keys(): MapIterator<string> {
    return this.#keys.values();
  }

  override values(): MapIterator<V> {
    return this.#keys.map((key) => super.get(key) as V).values();
  }

  override entries(): MapIterator<[string, V]> {
    return this.#keys.map((key): [string, V] => [key, super.get(key) as V]).values();
  }

  override [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  override forEach(callback: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}
