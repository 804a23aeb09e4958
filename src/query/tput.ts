import { compareRanked } from '../node/flows/key-vocabulary.js';

/**
 * TPUT, the three-phase exact distributed top-k (Cao & Wang, "Efficient top-K query calculation in
 * distributed networks", PODC 2004): the coordinator's bounds as pure functions, used by cluster-top.ts
 * (which does the I/O between the phases); a node's side of each phase is src/node/agent/merge-phases.ts.
 *
 * The score of a key is the sum of its scores on every node. Merging each node's local top-k is wrong: a
 * key 11th on every node can be 1st in the sum. TPUT bounds the transfer instead:
 *   1. every node sends its local top-k; the k-th largest partial sum `tau1` is a lower bound on the
 *      true k-th score, and threshold T = tau1 / m (m nodes);
 *   2. every node sends every key with local score >= T. A key never sent has score < T on every node,
 *      so a total < m T = tau1: it cannot be in the top-k. For the keys sent, partial sums give a new
 *      lower bound `tau2` (the k-th largest), and an upper bound per key (partial sum + T for every node
 *      that did not send it); keys whose upper bound is below tau2 are pruned;
 *   3. every node sends its exact score for the remaining candidates; their exact totals decide.
 * Ties break deterministically: higher score first, then the key in code-unit order.
 */

export interface ScoredKey {
  readonly key: string;
  readonly score: number;
}

/** Descending score, then ascending key (key-vocabulary.ts compareRanked): every phase and the answer. */
export function compareScoredKeys(a: ScoredKey, b: ScoredKey): number {
  return compareRanked(a.score, a.key, b.score, b.key);
}

/** Sum of the scores each node reported, per key. */
function partialSums(reports: ReadonlyArray<ReadonlyArray<ScoredKey>>): Map<string, number> {
  const sums = new Map<string, number>();
  for (const report of reports) {
    for (const { key, score } of report) sums.set(key, (sums.get(key) ?? 0) + score);
  }
  return sums;
}

/** The k-th largest value (0 when there are fewer than k). */
function kthLargest(values: Iterable<number>, k: number): number {
  const sorted = [...values].sort((a, b) => b - a);
  return sorted.length >= k ? (sorted[k - 1] as number) : 0;
}

export interface PhaseOneResult {
  /** tau1 / m: phase 2 asks every node for its keys scoring at least this. */
  readonly threshold: number;
  readonly tau1: number;
}

/** The coordinator after phase 1: `localTops[i]` is node i's local top-k. */
export function phaseOne(localTops: ReadonlyArray<ReadonlyArray<ScoredKey>>, k: number): PhaseOneResult {
  const nodes = localTops.length;
  const tau1 = kthLargest(partialSums(localTops).values(), k);
  return { tau1, threshold: nodes === 0 ? 0 : tau1 / nodes };
}

export interface PhaseTwoResult {
  /** Keys that may still be in the top-k (upper bound >= tau2), in compareScoredKeys order of partial sum. */
  readonly candidates: string[];
  readonly tau2: number;
}

/**
 * The coordinator after phase 2: `reports[i]` is everything node i sent with score >= threshold (its
 * phase-1 keys above the threshold included). A node that did not send a key has it below `threshold`.
 */
export function phaseTwo(
  reports: ReadonlyArray<ReadonlyArray<ScoredKey>>,
  threshold: number,
  k: number,
): PhaseTwoResult {
  const nodes = reports.length;
  const sums = partialSums(reports);
  const reporters = new Map<string, number>();
  for (const report of reports) {
    for (const { key } of report) reporters.set(key, (reporters.get(key) ?? 0) + 1);
  }
  const tau2 = kthLargest(sums.values(), k);
  const candidates: ScoredKey[] = [];
  for (const [key, sum] of sums) {
    const upperBound = sum + (nodes - (reporters.get(key) ?? 0)) * threshold;
    if (upperBound >= tau2) candidates.push({ key, score: sum });
  }
  candidates.sort(compareScoredKeys);
  return { candidates: candidates.map((candidate) => candidate.key), tau2 };
}
