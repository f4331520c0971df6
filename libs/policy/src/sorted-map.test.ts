import { fuzzProperty } from '@meshbus/property-testing';
import { fc } from '@fast-check/vitest';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SortedMap } from './sorted-map.js';

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('SortedMap', () => {
  it('iterates in key order whatever the order of insertion, and is a Map', () => {
    const map = new SortedMap<number>();
    map.set('b/x', 1).set('a/z', 2).set('B', 3).set('a/y', 4);
    map.set('b/x', 5);
    expect([...map.keys()]).toEqual(['B', 'a/y', 'a/z', 'b/x']);
    expect([...map.values()]).toEqual([3, 4, 2, 5]);
    expect([...map]).toEqual([['B', 3], ['a/y', 4], ['a/z', 2], ['b/x', 5]]);
    const seen: string[] = [];
    map.forEach((v, k) => seen.push(`${k}=${v}`));
    expect(seen).toEqual(['B=3', 'a/y=4', 'a/z=2', 'b/x=5']);
    expect(map.delete('a/z')).toBe(true);
    expect(map.delete('a/z')).toBe(false);
    expect([...map.keys()]).toEqual(['B', 'a/y', 'b/x']);
    expect(map).toBeInstanceOf(Map);
    expect(Object.fromEntries(map)).toEqual({ B: 3, 'a/y': 4, 'b/x': 5 });
    // Compared as Maps, entry by entry (the benchmark compares results this way).
    const other = new SortedMap<number>().set('b/x', 5).set('a/y', 4).set('B', 3);
    expect(isDeepStrictEqual(map, other)).toBe(true);
    expect(isDeepStrictEqual(map, other.set('b/x', 6))).toBe(false);
    expect(isDeepStrictEqual(map, other.set('b/x', 5).set('c', 0))).toBe(false);
    map.clear();
    expect([...map]).toEqual([]);
    expect(map.size).toBe(0);
  });

  fuzzProperty(
    'after any sets and deletes, it holds what a Map holds, in key order',
    [fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 3 }), fc.nat()), { maxLength: 60 })],
    (ops) => {
      const map = new SortedMap<number>();
      const plain = new Map<string, number>();
      for (const [set, key, value] of ops) {
        if (set) {
          map.set(key, value);
          plain.set(key, value);
        } else expect(map.delete(key)).toBe(plain.delete(key));
      }
      expect(map.size).toBe(plain.size);
      expect([...map]).toEqual([...plain].sort(([a], [b]) => byCodeUnit(a, b)));
    },
  );
});
