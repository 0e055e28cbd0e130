/**
 * The few sample statistics the charts and capability indices share. Two-pass formulas: factory
 * measurements sit far from zero relative to their spread (74.001 mm ± 0.01), where the one-pass
 * Σx² − n·x̄² formula cancels away most of the digits.
 */

export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Σ(x − x̄)², the piece that pooling across subgroups adds up. */
export function sumOfSquaredDeviations(values: readonly number[]): number {
  const m = mean(values);
  if (m === null) return 0;
  let sum = 0;
  for (const v of values) sum += (v - m) ** 2;
  return sum;
}

/** Sample standard deviation with the n − 1 divisor; null for fewer than 2 values. */
export function sampleStandardDeviation(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  return Math.sqrt(sumOfSquaredDeviations(values) / (values.length - 1));
}

/** max − min; null for an empty sample. */
export function range(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return max - min;
}
