import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerPhase } from '../../src/node/agent/merge-phases.js';
import { type CachedTable, WindowTableCache } from '../../src/node/agent/window-table-cache.js';
import { compareRanked } from '../../src/node/flows/key-vocabulary.js';
import type { WindowTable } from '../../src/node/flows/window-table.js';
import { clusterTop } from '../../src/query/cluster-top.js';
import { Grouping, MergeResponse, Metric } from '../../src/query/generated/sniffmesh.js';
import { mergeResponseToWire } from '../../src/query/phase-wire.js';
import { DEFAULT_QUERY_CONFIG } from '../../src/query/query-config.js';
import { validateMergeRequest } from '../../src/query/request-validation.js';

/**
 * TPUT as production runs it: the coordinator (cluster-top.ts with tput.ts's bounds) asking nodes whose
 * phases are merge-phases.ts, each over a window table holding arbitrary scores (one group per key), the
 * requests and answers going through the same validation and wire adaptation as a peer's.
 */

interface ScoredKey {
  key: string;
  score: number;
}

/** A window table whose groups are `scores` (bytes = the score; one packet and one flow per group). */
function tableOf(scores: ReadonlyMap<string, number>): WindowTable {
  const keys = [...scores.keys()];
  const index = new Map(keys.map((key, g) => [key, g]));
  const bytes = Float64Array.from(keys, (key) => scores.get(key) as number);
  const ones = new Float64Array(keys.length).fill(1);
  return {
    count: keys.length,
    packets: ones,
    bytes,
    flows: ones,
    forwardPackets: ones,
    forwardBytes: bytes,
    transit: [],
    totals: { packets: keys.length, bytes: 0, ipPackets: keys.length, ipBytes: 0 },
    undecoded: {},
    evicted: { packets: 0, bytes: 0 },
    fromSecond: 1000,
    toSecond: 1009,
    complete: true,
    keyOf: (g) => keys[g] as string,
    findKey: (text) => index.get(text) ?? -1,
  };
}

function cachedOf(scores: ReadonlyMap<string, number>): CachedTable {
  const cache = new WindowTableCache({ ttlMs: 60_000, entries: 1, nowMs: () => 0 });
  return cache.remember('table', tableOf(scores));
}

function bruteForceTop(nodes: ReadonlyArray<ReadonlyMap<string, number>>, k: number): ScoredKey[] {
  const sums = new Map<string, number>();
  for (const node of nodes) for (const [key, score] of node) sums.set(key, (sums.get(key) ?? 0) + score);
  return [...sums]
    .map(([key, score]) => ({ key, score }))
    .sort((a, b) => compareRanked(a.score, a.key, b.score, b.key))
    .slice(0, k);
}

async function runTput(
  nodes: ReadonlyArray<ReadonlyMap<string, number>>,
  k: number,
  hint?: { threshold: number; keys: string[] },
) {
  const tables = nodes.map(cachedOf);
  const result = await clusterTop({
    queryId: 'tput',
    ...(hint === undefined ? {} : { hint }),
    window: {
      group: Grouping.GROUPING_HOST,
      by: Metric.METRIC_BYTES,
      fromSecond: 1000,
      toSecond: 1009,
      filters: undefined,
      memberNetworks: [],
    },
    k,
    targets: tables,
    deadlineAt: performance.now() + 10_000,
    concurrency: 8,
    ask: async (table, request) => {
      const answer = answerPhase(table, validateMergeRequest(request, DEFAULT_QUERY_CONFIG), 'node');
      const response = mergeResponseToWire(answer);
      return { response, bytes: MergeResponse.encode(response).finish().length };
    },
  });
  return {
    top: result.rows.map((row) => ({ key: row.key, score: row.bytes })),
    rows: result.rowsTransferred,
    phases: result.phases,
    nextHint: result.nextHint,
  };
}

describe('TPUT exact distributed top-k (the coordinator and node phases production runs)', () => {
  it('finds the key that is 11th on every node but 1st in the sum, where merging local top-10 lists misses it', async () => {
    const nodes: Map<string, number>[] = [];
    for (let node = 0; node < 8; node++) {
      const scores = new Map<string, number>();
      // Ten keys local to this node, each big here and absent elsewhere.
      for (let local = 0; local < 10; local++) scores.set(`n${node}-k${local}`, 100 + local);
      // The sleeper: 11th everywhere (99 < 100), 8 x 99 = 792 in the sum.
      scores.set('sleeper', 99);
      nodes.push(scores);
    }
    const localTops = nodes.map(
      (node) => new Map(bruteForceTop([node], 10).map(({ key, score }) => [key, score])),
    );
    expect(bruteForceTop(localTops, 10).some((row) => row.key === 'sleeper')).toBe(false);
    const { top, phases } = await runTput(nodes, 10);
    expect(top[0]).toEqual({ key: 'sleeper', score: 792 });
    expect(top).toEqual(bruteForceTop(nodes, 10));
    expect(phases).toBe(3);
  });

  it('breaks ties by key, the same way every time', async () => {
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
    expect((await runTput(nodes, 2)).top).toEqual([
      { key: 'a', score: 5 },
      { key: 'b', score: 5 },
    ]);
  });

  it('equals brute force over the union for random distributions, with and without arbitrary hints (property)', async () => {
    const keyName = fc.constantFrom(...Array.from({ length: 40 }, (_, i) => `key${i}`));
    const nodeScores = fc.array(fc.dictionary(keyName, fc.integer({ min: 0, max: 1000 })), {
      minLength: 1,
      maxLength: 12,
    });
    const hint = fc.option(
      fc.record({ threshold: fc.integer({ min: 0, max: 2000 }), keys: fc.array(keyName, { maxLength: 20 }) }),
      { nil: undefined },
    );
    await fc.assert(
      fc.asyncProperty(nodeScores, fc.integer({ min: 1, max: 15 }), hint, async (dictionaries, k, given) => {
        const nodes = dictionaries.map((dictionary) => new Map(Object.entries(dictionary)));
        expect((await runTput(nodes, k, given)).top).toEqual(bruteForceTop(nodes, k));
      }),
      { numRuns: 500 },
    );
  });

  it('equals brute force on heavy-tailed data and moves far fewer rows than shipping every table', async () => {
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
    const first = await runTput(nodes, 10);
    expect(first.top).toEqual(bruteForceTop(nodes, 10));
    const everything = nodes.reduce((sum, node) => sum + node.size, 0);
    expect(first.rows / everything).toBeLessThan(0.2);
    // The same question again with the hint the answer gave: one round trip, the same exact answer.
    const again = await runTput(nodes, 10, {
      threshold: first.nextHint.threshold,
      keys: [...first.nextHint.keys],
    });
    expect(again.top).toEqual(first.top);
    expect(again.phases).toBe(1);
  });
});
