import { describe, expect, it } from 'vitest';
import { individualsChart, individualsLimits, movingRanges } from '../../../etl/spc/individuals-chart.js';
import { expectAllFinite, expectClose } from './expect-close.js';

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * Worked by hand.
 *   x        = 10, 12, 11, 15, 13            x̄ = 61/5 = 12.2
 *   MR       =  -,  2,  1,  4,  2            MR̄ = 9/4 = 2.25
 *   σ̂        = MR̄ / d2(2) = 2.25 / (2/√π) = 1.125·√π ≈ 1.994
 *   I chart  : 12.2 ± 3.375·√π  (≈ 18.182 / 6.218)
 *   MR chart : CL = 2.25; σ_MR = d3(2)·σ̂ = √(2 − 4/π)·1.125√π = 1.125·√(2π − 4);
 *              UCL = 2.25 + 3.375·√(2π − 4) = D4(2)·MR̄ = 2.25·(1 + 3√(π/2 − 1)) ≈ 7.350; LCL = 0.
 */
const observations = [10, 12, 11, 15, 13].map((value, i) => ({ value, time: `2026-03-0${i + 1}T06:00:00Z` }));
const SIGMA = 1.125 * SQRT_PI;

describe('I-MR chart, worked example', () => {
  const chart = individualsChart(observations);

  it('moving ranges', () => {
    expect(movingRanges([10, 12, 11, 15, 13])).toEqual([2, 1, 4, 2]);
  });

  it('x̄ and σ̂ = MR̄/d2(2)', () => {
    expectClose(chart.limits.cl, 12.2);
    expectClose(chart.limits.sigmaWithin, SIGMA);
    expect(chart.limitsFrom).toBe('window');
    expect(chart.chart).toBe('I-MR');
  });

  it('I chart: x̄ ± 3σ̂ at every point, σ of the statistic = σ̂', () => {
    expect(chart.main.map((p) => p.value)).toEqual([10, 12, 11, 15, 13]);
    for (const p of chart.main) {
      expectClose(p.cl, 12.2);
      expectClose(p.ucl, 12.2 + 3.375 * SQRT_PI);
      expectClose(p.lcl, 12.2 - 3.375 * SQRT_PI);
      expectClose(p.sigma, SIGMA);
      expect(p.n).toBe(1);
      expect(p.phase).toBe('I');
    }
    expect(chart.main[2]!.time).toBe('2026-03-03T06:00:00Z');
  });

  it('MR chart: CL = MR̄, UCL = D4(2)·MR̄ ≈ 3.267·MR̄, LCL = 0; no MR at the first point', () => {
    expect(chart.paired.map((p) => p.value)).toEqual([null, 2, 1, 4, 2]);
    expect(chart.paired.map((p) => p.n)).toEqual([1, 2, 2, 2, 2]);
    for (const p of chart.paired) {
      expectClose(p.cl, 2.25);
      expectClose(p.ucl, 2.25 * (1 + 3 * Math.sqrt(Math.PI / 2 - 1)));
      expectClose(p.ucl, 2.25 + 3.375 * Math.sqrt(2 * Math.PI - 4));
      expect(p.lcl).toBe(0);
      expectClose(p.sigma, 1.125 * Math.sqrt(2 * Math.PI - 4));
    }
    expectClose(chart.paired[1]!.ucl! / 2.25, 3.267, 2e-4); // the spec's rounded 3.267
  });
});

describe('I-MR Phase II', () => {
  it('judges new points against frozen limits, recomputing nothing', () => {
    const frozen = individualsLimits(observations);
    const chart = individualsChart([{ value: 20 }, { value: 12 }], { frozen });
    expect(chart.limitsFrom).toBe('frozen');
    expect(chart.limits).toEqual(frozen);
    expect(chart.main.map((p) => p.phase)).toEqual(['II', 'II']);
    expectClose(chart.main[0]!.ucl, 12.2 + 3.375 * SQRT_PI);
    expect(chart.main[0]!.value).toBeGreaterThan(chart.main[0]!.ucl!);
    expectClose(chart.paired[1]!.cl, 2.25);
    expect(chart.paired[1]!.value).toBe(8);
  });

  it('a baseline of the first N observations sets the limits for all; later points are Phase II', () => {
    const chart = individualsChart([...observations, { value: 30 }, { value: 31 }], { baseline: 5 });
    expect(chart.limitsFrom).toBe('baseline');
    expectClose(chart.limits.cl, 12.2);
    expectClose(chart.limits.sigmaWithin, SIGMA);
    expect(chart.main.map((p) => p.phase)).toEqual(['I', 'I', 'I', 'I', 'I', 'II', 'II']);
  });
});

describe('I-MR degenerate input: nulls, never NaN or Infinity', () => {
  it('empty', () => {
    const chart = individualsChart([]);
    expect(chart.main).toEqual([]);
    expect(chart.paired).toEqual([]);
    expect(chart.limits).toEqual({ cl: null, sigmaWithin: null });
  });

  it('a single value: a centre but no σ̂, so no limits', () => {
    const chart = individualsChart([{ value: 5 }]);
    expect(chart.limits).toEqual({ cl: 5, sigmaWithin: null });
    expect(chart.main[0]).toMatchObject({ value: 5, cl: 5, ucl: null, lcl: null, sigma: null });
    expect(chart.paired[0]).toMatchObject({ value: null, cl: null, ucl: null, lcl: null, sigma: null });
    expectAllFinite(chart);
  });

  it('all values equal: σ̂ = 0 and the limits close onto the centre line', () => {
    const chart = individualsChart([3, 3, 3, 3].map((value) => ({ value })));
    expect(chart.limits).toEqual({ cl: 3, sigmaWithin: 0 });
    expect(chart.main[1]).toMatchObject({ cl: 3, ucl: 3, lcl: 3, sigma: 0 });
    expect(chart.paired[1]).toMatchObject({ value: 0, cl: 0, ucl: 0, lcl: 0 });
    expectAllFinite(chart);
  });

  it('rejects values that are not finite, naming the observation', () => {
    expect(() => individualsChart([{ value: 1 }, { value: Number.NaN }])).toThrow(/observation 1 value/);
  });
});
