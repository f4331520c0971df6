import { describe, expect, it } from 'vitest';
import { quantityToMilli } from './quantity.js';

describe('quantityToMilli', () => {
  it.each<[number | string, number]>([
    [0, 0],
    [1, 1000],
    [100, 100_000],
    [0.5, 500],
    [0.1, 100],
    [1.1, 1100],
    ['1', 1000],
    ['0.5', 500],
    ['.5', 500],
    ['500m', 500],
    ['1000m', 1000],
    ['2k', 2_000_000],
    ['1Ki', 1_024_000],
    ['1e3', 1_000_000],
    ['1E-3', 1],
    ['1u', 1],
    ['1n', 1],
    ['0.0001', 1],
    ['-1', -1000],
  ])('%j is %d milli-units', (value, milli) => {
    expect(quantityToMilli(value)).toBe(milli);
  });

  it.each<number | string>(['', 'abc', '1 m', '1mm', '1Z', 'm', Number.NaN, Number.POSITIVE_INFINITY, '1e400', '99999999999999999999'])(
    '%j is not a usable quantity',
    (value) => {
      expect(quantityToMilli(value)).toBeUndefined();
    },
  );
});
