/** Median and range of a handful of measurements: noisy shared machines call for medians, not means. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  count: number;
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, count: 0 };
  const middle = finite.length >> 1;
  const median = finite.length % 2 === 1 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
  return { median, min: finite[0], max: finite[finite.length - 1], count: finite.length };
}

/** Pairwise ratios a[i] / b[i] of measurements taken in the same round. */
export function pairedRatios(numerators: readonly number[], denominators: readonly number[]): number[] {
  const ratios: number[] = [];
  for (let index = 0; index < Math.min(numerators.length, denominators.length); index++) {
    ratios.push(numerators[index] / denominators[index]);
  }
  return ratios;
}
