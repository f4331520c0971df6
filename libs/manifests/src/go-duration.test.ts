import { describe, expect, it } from 'vitest';
import { goDurationToMs } from './go-duration.js';

describe('goDurationToMs', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['300ms', 300],
    ['1s', 1000],
    ['1.1s', 1100],
    ['.5s', 500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['1500us', 2],
    ['1500µs', 2],
    ['1ns', 1],
    ['1000000ns', 1],
    ['-1s', -1000],
  ])('%s is %d ms', (text, ms) => {
    expect(goDurationToMs(text)).toBe(ms);
  });

  it.each(['', '1', 's', '1 s', '1d', '1.2.3s', 'ms1', '1s ', '--1s'])('%j is not a duration', (text) => {
    expect(goDurationToMs(text)).toBeUndefined();
  });
});
