import { describe, expect, it } from 'vitest';
import { pickRandom } from '../../src/membership/random-pick.js';

describe('pickRandom', () => {
  const items = Array.from({ length: 200 }, (_, index) => index);

  for (const [length, count, expected] of [
    [200, 3, 3],
    [200, 50, 50],
    [200, 60, 60],
    [5, 3, 3],
    [3, 3, 3],
    [2, 3, 2],
    [0, 3, 0],
    [200, 0, 0],
  ] as const) {
    it(`picks ${expected} distinct items when asked for ${count} of ${length}`, () => {
      const pool = items.slice(0, length);
      for (let round = 0; round < 50; round++) {
        const picked = pickRandom(pool, count);
        expect(picked).toHaveLength(expected);
        expect(new Set(picked).size).toBe(expected);
        for (const item of picked) expect(pool).toContain(item);
      }
    });
  }

  it('picks every item about equally often, in small picks (distinct indices) and large ones (shuffle)', () => {
    for (const count of [3, 150]) {
      const seen = new Array(items.length).fill(0);
      const rounds = 20_000;
      for (let round = 0; round < rounds; round++) for (const item of pickRandom(items, count)) seen[item]++;
      // Each item is picked with probability count / 200 per round; 6 binomial standard deviations.
      const p = count / items.length;
      const expected = rounds * p;
      const deviation = 6 * Math.sqrt(rounds * p * (1 - p));
      for (const times of seen) {
        expect(times).toBeGreaterThan(expected - deviation);
        expect(times).toBeLessThan(expected + deviation);
      }
    }
  });

  it('leaves its input alone', () => {
    const input = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    pickRandom(input, 2);
    pickRandom(input, 9);
    expect(input).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});
