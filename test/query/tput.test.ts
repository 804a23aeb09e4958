import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareScoredKeys,
  keysAtLeast,
  localTop,
  phaseOne,
  phaseThree,
  phaseTwo,
  type ScoredKey,
} from '../../src/query/tput.js';

/** Brute force: the top-k of the summed scores over every node's whole table. */
function bruteForceTop(nodes: ReadonlyArray<ReadonlyMap<string, number>>, k: number): ScoredKey[] {
  const sums = new Map<string, number>();
  for (const node of nodes) for (const [key, score] of node) sums.set(key, (sums.get(key) ?? 0) + score);
  return [...sums]
    .map(([key, score]) => ({ key, score }))
    .sort(compareScoredKeys)
    .slice(0, k);
}

/** The three phases as the fan-out will run them, with the rows each phase transfers counted. */
function runTput(nodes: ReadonlyArray<ReadonlyMap<string, number>>, k: number) {
  const tops = nodes.map((node) => localTop(node, k));
  const { threshold } = phaseOne(tops, k);
  const above = nodes.map((node) => keysAtLeast(node, threshold));
  const { candidates } = phaseTwo(above, threshold, k);
  const exact = nodes.map((node) =>
    candidates.filter((key) => node.has(key)).map((key) => ({ key, score: node.get(key) as number })),
  );
  const rows = [tops, above, exact].reduce(
    (sum, phase) => sum + phase.reduce((n, report) => n + report.length, 0),
    0,
  );
  return { top: phaseThree(exact, k), rows };
}

describe('TPUT exact distributed top-k', () => {
  it('finds the key that is 11th on every node but 1st in the sum, where merging local top-10 lists misses it', () => {
    const nodes: Map<string, number>[] = [];
    for (let node = 0; node < 8; node++) {
      const scores = new Map<string, number>();
      // Ten keys local to this node, each big here and absent elsewhere.
      for (let local = 0; local < 10; local++) scores.set(`n${node}-k${local}`, 100 + local);
      // The sleeper: 11th everywhere (99 < 100), 8 x 99 = 792 in the sum.
      scores.set('sleeper', 99);
      nodes.push(scores);
    }
    const naive = bruteForceTop(
      nodes.map((node) => new Map(localTop(node, 10).map(({ key, score }) => [key, score]))),
      10,
    );
    expect(naive.some((row) => row.key === 'sleeper')).toBe(false);
    const { top } = runTput(nodes, 10);
    expect(top[0]).toEqual({ key: 'sleeper', score: 792 });
    expect(top).toEqual(bruteForceTop(nodes, 10));
  });

  it('breaks ties by key, the same way every time', () => {
    const nodes = [
      new Map([
        ['b', 5],
        ['a', 5],
        ['c', 5],
      ]),
      new Map([
        ['c', 0],
        ['a', 0],
      ]),
    ];
    expect(runTput(nodes, 2).top).toEqual([
      { key: 'a', score: 5 },
      { key: 'b', score: 5 },
    ]);
  });

  it('equals brute force over the union for random distributions (property)', () => {
    const nodeScores = fc.array(
      fc.dictionary(
        fc.constantFrom(...Array.from({ length: 40 }, (_, i) => `key${i}`)),
        fc.integer({ min: 0, max: 1000 }),
      ),
      { minLength: 1, maxLength: 12 },
    );
    fc.assert(
      fc.property(nodeScores, fc.integer({ min: 1, max: 15 }), (dictionaries, k) => {
        const nodes = dictionaries.map((dictionary) => new Map(Object.entries(dictionary)));
        expect(runTput(nodes, k).top).toEqual(bruteForceTop(nodes, k));
      }),
      { numRuns: 2000 },
    );
  });

  it('equals brute force on heavy-tailed data and moves far fewer rows than shipping every table', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const nodes: Map<string, number>[] = [];
    for (let node = 0; node < 32; node++) {
      const scores = new Map<string, number>();
      for (let row = 0; row < 5000; row++) {
        const key = `h${Math.floor(random() ** 3 * 20000)}`;
        scores.set(key, (scores.get(key) ?? 0) + Math.floor(1 / (random() + 0.001)));
      }
      nodes.push(scores);
    }
    const { top, rows } = runTput(nodes, 10);
    expect(top).toEqual(bruteForceTop(nodes, 10));
    const everything = nodes.reduce((sum, node) => sum + node.size, 0);
    expect(rows / everything).toBeLessThan(0.2);
  });
});
