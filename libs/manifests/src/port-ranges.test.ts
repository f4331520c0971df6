import { describe, expect, it } from 'vitest';
import { parsePortRanges } from './port-ranges.js';

describe('parsePortRanges', () => {
  it.each([
    ['', []],
    ['3306', [{ min: 3306, max: 3306 }]],
    ['3306,5000-5002', [{ min: 3306, max: 3306 }, { min: 5000, max: 5002 }]],
    [' 5000 - 5002 , 3306 ', [{ min: 3306, max: 3306 }, { min: 5000, max: 5002 }]],
    ['1-10,5-20,21', [{ min: 1, max: 21 }]],
    ['80,80', [{ min: 80, max: 80 }]],
    ['1-65535', [{ min: 1, max: 65535 }]],
  ])('%j', (text, ranges) => {
    expect(parsePortRanges(text)).toEqual({ ranges });
  });

  it.each([
    ['http', /"http" is not a port/],
    ['0', /between 1 and 65535/],
    ['65536', /between 1 and 65535/],
    ['10-5', /ends before it starts/],
    ['1-2-3', /not a port or a range/],
  ])('%j is refused', (text, reason) => {
    const result = parsePortRanges(text);
    expect('error' in result && result.error).toMatch(reason);
  });
});
