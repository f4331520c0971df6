import { describe } from 'vitest';
import { fc } from '@fast-check/vitest';
import { fuzzProperty } from '@meshbus/property-testing';
import { weightedIndex } from './backend-choice.js';

/** A small seeded generator (mulberry32), so that each case's draws are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('weighted backend choice', () => {
  fuzzProperty(
    'over many draws each backend gets its share of the weights within a few percent, weight 0 none',
    [fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 6 }), fc.integer()],
    (weights, seed) => {
      const total = weights.reduce((a, b) => a + b, 0);
      const random = seeded(seed);
      const draws = 20_000;
      const counts = weights.map(() => 0);
      for (let i = 0; i < draws; i++) {
        const k = weightedIndex(weights, random());
        if (k === undefined) return total === 0;
        counts[k]!++;
      }
      return weights.every((w, i) => (w === 0 ? counts[i] === 0 : Math.abs(counts[i]! / draws - w / total) < 0.03));
    },
    { runs: 30 },
  );
});
