/**
 * I-MR chart (spc.md §2): individual values with the moving range of span 2.
 * MRᵢ = |xᵢ − xᵢ₋₁|, σ̂ = MR̄ / d2(2), I chart x̄ ± 3σ̂; MR chart CL = d2(2)·σ̂ (= MR̄) with
 * σ_MR = d3(2)·σ̂, so UCL = D4(2)·MR̄ ≈ 3.267·MR̄ and LCL = max(0, D3(2)·MR̄) = 0.
 */
import { d2, d3 } from './constants.js';
import { chartPoint, requireFinite, resolveLimits, type ChartOptions, type ControlChart, type Limits } from './chart-points.js';
import { mean } from './sample-statistics.js';
import type { Observation } from './subgroups.js';

/** |xᵢ − xᵢ₋₁| for i ≥ 1: one fewer than the values. */
export function movingRanges(values: readonly number[]): number[] {
  const ranges: number[] = [];
  for (let i = 1; i < values.length; i++) ranges.push(Math.abs(values[i]! - values[i - 1]!));
  return ranges;
}

function valuesOf(observations: readonly Observation[]): number[] {
  return observations.map((o, i) => {
    requireFinite(o.value, `observation ${i} value`);
    return o.value;
  });
}

/** x̄ and σ̂ = MR̄/d2(2); σ̂ is null with fewer than 2 observations. */
export function individualsLimits(observations: readonly Observation[]): Limits {
  const values = valuesOf(observations);
  const meanMovingRange = mean(movingRanges(values));
  return { cl: mean(values), sigmaWithin: meanMovingRange === null ? null : meanMovingRange / d2(2) };
}

export function individualsChart(observations: readonly Observation[], options?: ChartOptions): ControlChart {
  const values = valuesOf(observations);
  const { limits, limitsFrom, phase } = resolveLimits(options, observations.length, (k) => individualsLimits(observations.slice(0, k)));
  const { cl, sigmaWithin } = limits;
  const main = observations.map((o, index) =>
    chartPoint({ index, time: o.time, key: o.key, n: 1, value: values[index]!, cl, sigma: sigmaWithin, phase: phase(index) }),
  );
  const paired = observations.map((o, index) =>
    chartPoint({
      index,
      time: o.time,
      key: o.key,
      n: index === 0 ? 1 : 2,
      value: index === 0 ? null : Math.abs(values[index]! - values[index - 1]!),
      cl: sigmaWithin === null ? null : d2(2) * sigmaWithin,
      sigma: sigmaWithin === null ? null : d3(2) * sigmaWithin,
      floor: 0,
      phase: phase(index),
    }),
  );
  return { chart: 'I-MR', main, paired, limits, limitsFrom };
}
