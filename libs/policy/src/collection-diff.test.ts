import { fuzzProperty } from '@meshbus/property-testing';
import { fc } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { CollectionState } from './collection-diff.js';

interface Item {
  readonly name: string;
  readonly v: number;
}

/** What a collection holds by key, read the plain way. */
function expectedByKey(items: readonly Item[], firstWins: boolean): Map<string, Item> {
  const out = new Map<string, Item>();
  for (const item of items) if (!(firstWins && out.has(item.name))) out.set(item.name, item);
  return out;
}

/** One edit of a list: replace, insert or remove at a position (taken modulo the length). */
const editArb = fc.record({ op: fc.constantFrom('replace', 'insert', 'remove', 'same'), at: fc.nat(), name: fc.nat(400), v: fc.nat(3) });
/** The next state: a few edits of the last one, or a whole new list; sometimes the same array, or a copy of it. */
const stepArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('edits' as const), edits: fc.array(editArb, { minLength: 1, maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('many' as const), edits: fc.array(editArb, { minLength: 60, maxLength: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('same' as const, 'copy' as const), edits: fc.constant([]) }) },
);

describe('CollectionState', () => {
  it('reports nothing for the same array, and only the items that are other objects', () => {
    const a = { name: 'a', v: 0 };
    const b = { name: 'b', v: 0 };
    const state = new CollectionState<Item>((i) => i.name);
    const first = [a, b];
    expect(state.update(first)).toEqual([
      { key: 'a', before: undefined, after: a },
      { key: 'b', before: undefined, after: b },
    ]);
    expect(state.update(first)).toEqual([]);
    expect(state.update([a, b])).toEqual([]);
    const b2 = { name: 'b', v: 0 };
    expect(state.update([a, b2])).toEqual([{ key: 'b', before: b, after: b2 }]);
    expect(state.update([b2])).toEqual([{ key: 'a', before: a, after: undefined }]);
    expect(state.get('a')).toBeUndefined();
    expect(state.update([a, b2])).toEqual([{ key: 'a', before: undefined, after: a }]);
  });

  it('counts the first or the last item of a repeated key, as told', () => {
    const x1 = { name: 'x', v: 1 };
    const x2 = { name: 'x', v: 2 };
    const last = new CollectionState<Item>((i) => i.name);
    const first = new CollectionState<Item>((i) => i.name, true);
    last.update([x1, x2]);
    first.update([x1, x2]);
    expect(last.get('x')).toBe(x2);
    expect(first.get('x')).toBe(x1);
    // The repetition goes away: the one left counts.
    expect(last.update([x1])).toEqual([{ key: 'x', before: x2, after: x1 }]);
    expect(first.update([x2])).toEqual([{ key: 'x', before: x1, after: x2 }]);
  });

  fuzzProperty(
    'after any sequence of lists, it holds what the last list holds, and reported exactly the keys whose item changed',
    [fc.boolean(), fc.array(stepArb, { minLength: 1, maxLength: 12 })],
    (firstWins, steps) => {
      const pool = new Map<string, Item>();
      const itemOf = (name: number, v: number) => {
        const key = `${name}:${v}`;
        let item = pool.get(key);
        if (!item) pool.set(key, (item = { name: `n${String(name).padStart(3, '0')}`, v }));
        return item;
      };
      const state = new CollectionState<Item>((i) => i.name, firstWins);
      let list: Item[] = [];
      let held = new Map<string, Item>();
      for (const step of steps) {
        let next: Item[];
        if (step.kind === 'same') next = list;
        else if (step.kind === 'copy') next = [...list];
        else {
          next = [...list];
          for (const e of step.edits) {
            const at = next.length === 0 ? 0 : e.at % next.length;
            if (e.op === 'insert' || next.length === 0) next.splice(at, 0, itemOf(e.name, e.v));
            else if (e.op === 'replace') next[at] = itemOf(e.name, e.v);
            else if (e.op === 'remove') next.splice(at, 1);
          }
          // Mostly sorted by key, as the manifest index hands lists over; sometimes not.
          if (step.edits.length % 3 !== 0) next.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.v - b.v));
        }
        const replacements = state.update(next);
        const expected = expectedByKey(next, firstWins);
        const changedKeys = [...new Set([...held.keys(), ...expected.keys()])].filter((k) => held.get(k) !== expected.get(k)).sort();
        expect(replacements.map((r) => r.key).sort()).toEqual(changedKeys);
        for (const r of replacements) {
          expect(r.before).toBe(held.get(r.key));
          expect(r.after).toBe(expected.get(r.key));
        }
        for (const [key, item] of expected) expect(state.get(key)).toBe(item);
        for (const key of held.keys()) if (!expected.has(key)) expect(state.get(key)).toBeUndefined();
        list = next;
        held = expected;
      }
    },
    { runs: 300 },
  );
});
