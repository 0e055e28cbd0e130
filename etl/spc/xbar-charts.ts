/**
 * X̄-R and X̄-S charts (spc.md §2), for equal or unequal subgroup sizes.
 *
 * Equal sizes n: σ̂ = R̄/d2(n) (X̄-R) or s̄/c4(n) (X̄-S), so the X̄ limits x̿ ± 3σ̂/√n are the
 * textbook x̿ ± A2·R̄ and x̿ ± A3·s̄, and the R and S limits are D3·R̄..D4·R̄ and B3·s̄..B4·s̄.
 *
 * Unequal sizes: σ̂ = s_p / c4(Σ(nᵢ − 1) + 1) with the pooled SD s_p = √(Σ(nᵢ − 1)sᵢ² / Σ(nᵢ − 1)),
 * for both pairs, as the contract says (Minitab's default for the X̄ chart; note Minitab's own X̄-R
 * and X̄-S commands default to an R̄- or s̄-based estimate instead). x̿ is the grand mean of all
 * values (the nᵢ-weighted mean of the subgroup means). Each subgroup gets its own limits:
 * X̄ at x̿ ± 3σ̂/√nᵢ; R centred on d2(nᵢ)σ̂ with σ_R = d3(nᵢ)σ̂; S centred on c4(nᵢ)σ̂ with
 * σ_S = σ̂√(1 − c4(nᵢ)²); lower limits clipped at 0. With equal sizes these reduce to the
 * constants above, so one code path draws both.
 *
 * A subgroup of one value has no range or SD: its R/S point is null and it adds nothing to σ̂;
 * an empty subgroup gives null points throughout.
 */
import { c4, d2, d3, oneMinusC4Squared } from './constants.js';
import { chartPoint, requireFinite, resolveLimits, type ChartOptions, type ControlChart, type Limits } from './chart-points.js';
import { mean, range, sampleStandardDeviation, sumOfSquaredDeviations } from './sample-statistics.js';
import type { Subgroup } from './subgroups.js';

/** The statistic of the paired chart, and so the within-subgroup σ̂ for equal sizes. */
export type Dispersion = 'range' | 'sd';

function checkValues(subgroups: readonly Subgroup[]): void {
  subgroups.forEach((s, i) => {
    const name = s.key === undefined ? `subgroup ${i}` : `subgroup ${i} ('${s.key}')`;
    s.values.forEach((v, j) => requireFinite(v, `${name} value ${j}`));
  });
}

/** The size shared by every non-empty subgroup, or null when sizes differ (or there are none). */
export function commonSubgroupSize(subgroups: readonly Subgroup[]): number | null {
  let size: number | null = null;
  for (const s of subgroups) {
    if (s.values.length === 0) continue;
    if (size === null) size = s.values.length;
    else if (size !== s.values.length) return null;
  }
  return size;
}

/**
 * Minitab's unbiased pooled σ̂: s_p / c4(Σ(nᵢ − 1) + 1). Null when no subgroup has 2 values.
 */
export function pooledSigmaWithin(subgroups: readonly Subgroup[]): number | null {
  let degreesOfFreedom = 0;
  let sumOfSquares = 0;
  for (const s of subgroups) {
    if (s.values.length < 2) continue;
    degreesOfFreedom += s.values.length - 1;
    sumOfSquares += sumOfSquaredDeviations(s.values);
  }
  if (degreesOfFreedom === 0) return null;
  return Math.sqrt(sumOfSquares / degreesOfFreedom) / c4(degreesOfFreedom + 1);
}

/** R̄/d2(n) or s̄/c4(n) for subgroups of one size n ≥ 2. */
function sigmaFromEqualSubgroups(subgroups: readonly Subgroup[], n: number, dispersion: Dispersion): number {
  const filled = subgroups.filter((s) => s.values.length > 0);
  if (dispersion === 'range') return mean(filled.map((s) => range(s.values)!))! / d2(n);
  return mean(filled.map((s) => sampleStandardDeviation(s.values)!))! / c4(n);
}

/** x̿ and σ̂ within for an X̄ chart paired with R (`range`) or S (`sd`). */
export function xBarLimits(subgroups: readonly Subgroup[], dispersion: Dispersion): Limits {
  checkValues(subgroups);
  const grandMean = mean(subgroups.flatMap((s) => s.values));
  const n = commonSubgroupSize(subgroups);
  let sigmaWithin: number | null;
  if (n === null) sigmaWithin = pooledSigmaWithin(subgroups);
  else sigmaWithin = n >= 2 ? sigmaFromEqualSubgroups(subgroups, n, dispersion) : null;
  return { cl: grandMean, sigmaWithin };
}

export function xBarChart(subgroups: readonly Subgroup[], dispersion: Dispersion, options?: ChartOptions): ControlChart {
  checkValues(subgroups);
  const { limits, limitsFrom, phase } = resolveLimits(options, subgroups.length, (k) => xBarLimits(subgroups.slice(0, k), dispersion));
  const { cl, sigmaWithin } = limits;
  const main = subgroups.map((s, index) => {
    const n = s.values.length;
    return chartPoint({
      index,
      time: s.time,
      key: s.key,
      n,
      value: mean(s.values),
      cl: n === 0 ? null : cl,
      sigma: n === 0 || sigmaWithin === null ? null : sigmaWithin / Math.sqrt(n),
      phase: phase(index),
    });
  });
  const paired = subgroups.map((s, index) => {
    const n = s.values.length;
    const defined = n >= 2 && sigmaWithin !== null;
    const statistic = n < 2 ? null : dispersion === 'range' ? range(s.values) : sampleStandardDeviation(s.values);
    let centre: number | null = null;
    let sigma: number | null = null;
    if (defined) {
      centre = (dispersion === 'range' ? d2(n) : c4(n)) * sigmaWithin;
      sigma = (dispersion === 'range' ? d3(n) : Math.sqrt(oneMinusC4Squared(n))) * sigmaWithin;
    }
    return chartPoint({ index, time: s.time, key: s.key, n, value: statistic, cl: centre, sigma, floor: 0, phase: phase(index) });
  });
  return { chart: dispersion === 'range' ? 'Xbar-R' : 'Xbar-S', main, paired, limits, limitsFrom };
}

export function xBarRLimits(subgroups: readonly Subgroup[]): Limits {
  return xBarLimits(subgroups, 'range');
}

export function xBarSLimits(subgroups: readonly Subgroup[]): Limits {
  return xBarLimits(subgroups, 'sd');
}

export function xBarRChart(subgroups: readonly Subgroup[], options?: ChartOptions): ControlChart {
  return xBarChart(subgroups, 'range', options);
}

export function xBarSChart(subgroups: readonly Subgroup[], options?: ChartOptions): ControlChart {
  return xBarChart(subgroups, 'sd', options);
}
