import { describe, expect, it } from 'vitest';
import { canonicalJson } from '@meshbus/runtime';
import { diffState } from './diff.js';

describe('diffState', () => {
  it('upserts new and changed keys and deletes missing ones, in key order', () => {
    const current = new Map<string, unknown>([
      ['b', { x: 1 }],
      ['gone-2', 1],
      ['same', { a: 1, b: [1, 2] }],
      ['gone-1', 1],
    ]);
    const desired = new Map<string, unknown>([
      ['same', { b: [1, 2], a: 1 }],
      ['new', { y: 2 }],
      ['b', { x: 2 }],
    ]);
    expect(diffState(desired, current)).toEqual({
      upserts: [
        ['b', { x: 2 }],
        ['new', { y: 2 }],
      ],
      deletes: ['gone-1', 'gone-2'],
    });
  });

  it('finds nothing to do between equal states', () => {
    const state = new Map([['k', { endpoints: [{ address: '10.0.0.1', port: 80 }] }]]);
    expect(diffState(state, new Map(state))).toEqual({ upserts: [], deletes: [] });
    expect(diffState(new Map(), new Map())).toEqual({ upserts: [], deletes: [] });
  });

  it('sees a change in array order and in nested values', () => {
    const current = new Map([['k', { list: [1, 2], nested: { a: { b: 1 } } }]]);
    expect(diffState(new Map([['k', { list: [2, 1], nested: { a: { b: 1 } } }]]), current).upserts).toHaveLength(1);
    expect(diffState(new Map([['k', { list: [1, 2], nested: { a: { b: 2 } } }]]), current).upserts).toHaveLength(1);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and leaves out undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([3, 'x', null])).toBe('[3,"x",null]');
  });
});
