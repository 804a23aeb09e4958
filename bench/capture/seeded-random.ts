/**
 * A small seeded PRNG (splitmix32 seeding a mulberry32 stream) and a Zipf sampler. The benchmark
 * capture must be byte-identical for a given seed on every machine and Node version, so nothing here
 * touches Math.random.
 */

const TWO_POW_32 = 4294967296;

/** splitmix32 finaliser: spreads a small seed (1, 2, 3, ...) over all 32 bits. */
function mixSeed32(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Deterministic 32-bit random stream (mulberry32: one add, two multiplies per draw). */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = mixSeed32(seed);
  }

  /** Uniform unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform integer in [min, max] (inclusive). */
  intBetween(min: number, max: number): number {
    return min + Math.floor(this.nextFloat() * (max - min + 1));
  }

  /** Log-uniform in [min, max): as many values per decade, the shape of rates and durations. */
  logUniform(min: number, max: number): number {
    return min * (max / min) ** this.nextFloat();
  }

  /** Pareto(alpha) with scale `min`, capped at `max`: the classic heavy-tailed flow size. */
  pareto(alpha: number, min: number, max: number): number {
    const u = 1 - this.nextFloat();
    return Math.min(max, min / u ** (1 / alpha));
  }

  /** A new independent stream, so that adding draws in one part of the model leaves others unchanged. */
  fork(streamId: number): SeededRandom {
    return new SeededRandom((this.nextUint32() ^ Math.imul(streamId, 0x27d4eb2d)) >>> 0);
  }
}

/**
 * Draws ranks 0..n-1 with P(rank k) proportional to 1 / (k + 1)^exponent: rank 0 is the most popular.
 * The cumulative table costs 8 bytes per rank; a draw is a binary search (17 steps for 100k ranks).
 */
export class ZipfSampler {
  private readonly cumulative: Float64Array;

  constructor(
    readonly size: number,
    exponent: number,
  ) {
    this.cumulative = new Float64Array(size);
    let sum = 0;
    for (let rank = 0; rank < size; rank++) {
      sum += 1 / (rank + 1) ** exponent;
      this.cumulative[rank] = sum;
    }
    for (let rank = 0; rank < size; rank++) this.cumulative[rank] /= sum;
  }

  sample(random: SeededRandom): number {
    const u = random.nextFloat();
    let low = 0;
    let high = this.size - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.cumulative[middle] <= u) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
