import { describe, expect, it } from 'vitest';
import { c4, d2, d3 } from '../../../etl/spc/constants.js';
import { nelsonViolations } from '../../../etl/spc/nelson-rules.js';
import type { Subgroup } from '../../../etl/spc/subgroups.js';
import { commonSubgroupSize, pooledSigmaWithin, xBarRChart, xBarRLimits, xBarSChart, xBarSLimits } from '../../../etl/spc/xbar-charts.js';
import { expectAllFinite, expectClose, printed } from './expect-close.js';

/**
 * D. C. Montgomery, Introduction to Statistical Quality Control, Table 6.3 (6th ed.; Table 6.1 in
 * some editions): inside diameters (mm) of automobile engine piston rings, 25 samples of 5, the
 * Phase I data of Examples 6.1 (x̄ and R) and 6.3 (x̄ and s).
 * Checks on the transcription: each row's mean and range match the book's x̄ᵢ (to 3 decimals) and
 * Rᵢ columns, ΣRᵢ = 0.581 (R̄ = 0.02324) and Σx = 9250.147 (x̿ = 74.001176).
 */
const PISTON_RINGS: number[][] = [
  [74.03, 74.002, 74.019, 73.992, 74.008],
  [73.995, 73.992, 74.001, 74.011, 74.004],
  [73.988, 74.024, 74.021, 74.005, 74.002],
  [74.002, 73.996, 73.993, 74.015, 74.009],
  [73.992, 74.007, 74.015, 73.989, 74.014],
  [74.009, 73.994, 73.997, 73.985, 73.993],
  [73.995, 74.006, 73.994, 74.0, 74.005],
  [73.985, 74.003, 73.993, 74.015, 73.988],
  [74.008, 73.995, 74.009, 74.005, 74.004],
  [73.998, 74.0, 73.99, 74.007, 73.995],
  [73.994, 73.998, 73.994, 73.995, 73.99],
  [74.004, 74.0, 74.007, 74.0, 73.996],
  [73.983, 74.002, 73.998, 73.997, 74.012],
  [74.006, 73.967, 73.994, 74.0, 73.984],
  [74.012, 74.014, 73.998, 73.999, 74.007],
  [74.0, 73.984, 74.005, 73.998, 73.996],
  [73.994, 74.012, 73.986, 74.005, 74.007],
  [74.006, 74.01, 74.018, 74.003, 74.0],
  [73.984, 74.002, 74.003, 74.005, 73.997],
  [74.0, 74.01, 74.013, 74.02, 74.003],
  [73.982, 74.001, 74.015, 74.005, 73.996],
  [74.004, 73.999, 73.99, 74.006, 74.009],
  [74.01, 73.989, 73.99, 74.009, 74.014],
  [74.015, 74.008, 73.993, 74.0, 74.01],
  [73.982, 73.984, 73.995, 74.017, 74.013],
];
/** The book's x̄ᵢ and Rᵢ columns. */
const BOOK_MEANS = [
  74.01, 74.001, 74.008, 74.003, 74.003, 73.996, 74.0, 73.997, 74.004, 73.998, 73.994, 74.001, 73.998, 73.99, 74.006, 73.997, 74.001,
  74.007, 73.998, 74.009, 74.0, 74.002, 74.002, 74.005, 73.998,
];
const BOOK_RANGES = [
  0.038, 0.019, 0.036, 0.022, 0.026, 0.024, 0.012, 0.03, 0.014, 0.017, 0.008, 0.011, 0.029, 0.039, 0.016, 0.021, 0.026, 0.018, 0.021, 0.02,
  0.033, 0.019, 0.025, 0.022, 0.035,
];
const subgroups: Subgroup[] = PISTON_RINGS.map((values, i) => ({ values, key: `sample ${i + 1}` }));

const GRAND_MEAN = 9250.147 / 125; // 74.001176
const R_BAR = 0.581 / 25; // 0.02324

describe('X̄-R, Montgomery piston rings (Example 6.1)', () => {
  const chart = xBarRChart(subgroups);

  it('transcription matches the book row by row', () => {
    chart.main.forEach((p, i) => expect(printed(p.value!, 3)).toBe(BOOK_MEANS[i]));
    chart.paired.forEach((p, i) => expectClose(p.value, BOOK_RANGES[i]!, 1e-9));
  });

  it('x̿ = 74.00118, R̄ = 0.02324, σ̂ = R̄/d2(5)', () => {
    expectClose(chart.limits.cl, GRAND_MEAN, 1e-12);
    expect(printed(chart.limits.cl!, 5)).toBe(74.00118);
    expectClose(chart.limits.sigmaWithin, R_BAR / d2(5), 1e-12);
  });

  it('X̄ limits x̿ ± A2·R̄; the book prints 74.014 / 73.988 from x̿ and R̄ rounded to 74.001 and 0.023', () => {
    const A2 = 3 / (d2(5) * Math.sqrt(5));
    for (const p of chart.main) {
      expectClose(p.ucl, GRAND_MEAN + A2 * R_BAR, 1e-12);
      expectClose(p.lcl, GRAND_MEAN - A2 * R_BAR, 1e-12);
    }
    expect(Math.abs(chart.main[0]!.ucl! - 74.014)).toBeLessThan(0.001);
    expect(Math.abs(chart.main[0]!.lcl! - 73.988)).toBeLessThan(0.001);
  });

  it('R chart: CL = R̄, UCL = D4·R̄ (book 0.049), LCL = D3·R̄ = 0', () => {
    const D4 = 1 + (3 * d3(5)) / d2(5);
    for (const p of chart.paired) {
      expectClose(p.cl, R_BAR, 1e-12);
      expectClose(p.ucl, D4 * R_BAR, 1e-12);
      expect(p.lcl).toBe(0);
      expectClose(p.sigma, (d3(5) / d2(5)) * R_BAR, 1e-12);
    }
    expect(printed(chart.paired[0]!.ucl!, 3)).toBe(0.049);
  });

  it('as in the book, no point is beyond the limits on either chart', () => {
    expect(nelsonViolations(chart.main, { enabled: [1] })).toEqual([]);
    expect(nelsonViolations(chart.paired, { enabled: [1] })).toEqual([]);
  });
});

describe('X̄-S, Montgomery piston rings (Example 6.3)', () => {
  const chart = xBarSChart(subgroups);
  // s̄ computed here straight from the data, independently of the module's statistics.
  const sds = PISTON_RINGS.map((xs) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  });
  const sBar = sds.reduce((a, b) => a + b, 0) / sds.length;

  it('s̄ = 0.0094 as printed; σ̂ = s̄/c4(5)', () => {
    expect(printed(sBar, 4)).toBe(0.0094);
    chart.paired.forEach((p, i) => expectClose(p.value, sds[i]!, 1e-12));
    expectClose(chart.limits.sigmaWithin, sBar / c4(5), 1e-12);
    expectClose(chart.limits.cl, GRAND_MEAN, 1e-12);
  });

  it('X̄ limits x̿ ± A3·s̄ (book 74.014 / 73.988 from rounded x̿ and s̄)', () => {
    const A3 = 3 / (c4(5) * Math.sqrt(5));
    expectClose(chart.main[7]!.ucl, GRAND_MEAN + A3 * sBar, 1e-12);
    expectClose(chart.main[7]!.lcl, GRAND_MEAN - A3 * sBar, 1e-12);
    expect(Math.abs(chart.main[0]!.ucl! - 74.014)).toBeLessThan(0.001);
    expect(Math.abs(chart.main[0]!.lcl! - 73.988)).toBeLessThan(0.001);
  });

  it('S chart: CL = s̄, UCL = B4·s̄ (book 0.0196), LCL = B3·s̄ = 0', () => {
    const B4 = 1 + (3 * Math.sqrt(1 - c4(5) ** 2)) / c4(5);
    expectClose(chart.paired[0]!.cl, sBar, 1e-12);
    expectClose(chart.paired[0]!.ucl, B4 * sBar, 1e-12);
    expect(chart.paired[0]!.lcl).toBe(0);
    expect(printed(chart.paired[0]!.ucl!, 4)).toBe(0.0196);
  });

  it('limits alone, as a baseline would freeze them', () => {
    expect(xBarSLimits(subgroups)).toEqual(chart.limits);
    expect(xBarRLimits(subgroups).sigmaWithin).not.toBe(chart.limits.sigmaWithin);
  });
});

describe('equal sizes use R̄/d2 or s̄/c4, not the pooled SD', () => {
  // [1, 3]: R = 2, s = √2; [2, 8]: R = 6, s = 3√2. R̄ = 4, s̄ = 2√2, x̿ = 14/4 = 3.5.
  const equal: Subgroup[] = [{ values: [1, 3] }, { values: [2, 8] }];

  it('X̄-R: σ̂ = R̄/d2(2) = 4/(2/√π) = 2√π', () => {
    expectClose(xBarRLimits(equal).sigmaWithin, 2 * Math.sqrt(Math.PI));
    expectClose(xBarRLimits(equal).cl, 3.5);
  });

  it('X̄-S: σ̂ = s̄/c4(2) = 2√2/√(2/π) = 2√π (pooled would be √10/c4(3) = 2√10/√π)', () => {
    expectClose(xBarSLimits(equal).sigmaWithin, 2 * Math.sqrt(Math.PI));
    expectClose(pooledSigmaWithin(equal), (2 * Math.sqrt(10)) / Math.sqrt(Math.PI));
  });
});

describe('unequal subgroup sizes: Minitab pooled σ̂, per-subgroup limits', () => {
  /**
   * Worked by hand.
   *   subgroup   values        nᵢ  x̄ᵢ  Σ(x − x̄ᵢ)²   sᵢ      Rᵢ
   *   1          1 2 3          3   2    2            1       2
   *   2          4 6            2   5    2            √2      2
   *   3          2 4 6 8        4   5    20           √(20/3) 6
   *   x̿ = (6 + 10 + 20)/9 = 4 (all values' mean, = Σnᵢx̄ᵢ/Σnᵢ)
   *   Σ(nᵢ − 1) = 6, s_p = √(24/6) = 2, σ̂ = s_p / c4(7)
   *   c4(7) = √(2/6)·Γ(3.5)/Γ(3) = (1/√3)·(15√π/8)/2 = (15/16)·√(π/3) ≈ 0.95937
   */
  const unequal: Subgroup[] = [{ values: [1, 2, 3] }, { values: [4, 6] }, { values: [2, 4, 6, 8] }];
  const c47 = (15 / 16) * Math.sqrt(Math.PI / 3);
  const sigma = 2 / c47;
  const sizes = [3, 2, 4];

  it('c4(7) matches the closed form', () => {
    expectClose(c4(7), c47, 1e-14);
  });

  it('σ̂ and x̿', () => {
    expect(commonSubgroupSize(unequal)).toBeNull();
    expectClose(pooledSigmaWithin(unequal), sigma);
    for (const limits of [xBarRLimits(unequal), xBarSLimits(unequal)]) {
      expectClose(limits.cl, 4);
      expectClose(limits.sigmaWithin, sigma);
    }
  });

  it('X̄ limits x̿ ± 3σ̂/√nᵢ', () => {
    const chart = xBarRChart(unequal);
    expect(chart.main.map((p) => p.value)).toEqual([2, 5, 5]);
    chart.main.forEach((p, i) => {
      expect(p.n).toBe(sizes[i]);
      expectClose(p.sigma, sigma / Math.sqrt(sizes[i]!));
      expectClose(p.ucl, 4 + (3 * sigma) / Math.sqrt(sizes[i]!));
      expectClose(p.lcl, 4 - (3 * sigma) / Math.sqrt(sizes[i]!));
    });
  });

  it('R chart centred on d2(nᵢ)σ̂ with σ_R = d3(nᵢ)σ̂; d2(3) = 3/√π and d2(2) = 2/√π exactly', () => {
    const chart = xBarRChart(unequal);
    expect(chart.paired.map((p) => p.value)).toEqual([2, 2, 6]);
    expectClose(chart.paired[0]!.cl, (3 / Math.sqrt(Math.PI)) * sigma, 1e-12);
    expectClose(chart.paired[1]!.cl, (2 / Math.sqrt(Math.PI)) * sigma, 1e-12);
    expectClose(chart.paired[1]!.sigma, Math.sqrt(2 - 4 / Math.PI) * sigma, 1e-12);
    chart.paired.forEach((p, i) => {
      const n = sizes[i]!;
      expectClose(p.cl, d2(n) * sigma);
      expectClose(p.ucl, (d2(n) + 3 * d3(n)) * sigma);
      expect(p.lcl).toBe(Math.max(0, (d2(n) - 3 * d3(n)) * sigma));
    });
  });

  it('S chart centred on c4(nᵢ)σ̂ with σ_S = σ̂√(1 − c4(nᵢ)²)', () => {
    const chart = xBarSChart(unequal);
    expectClose(chart.paired[0]!.value, 1);
    expectClose(chart.paired[1]!.value, Math.SQRT2);
    expectClose(chart.paired[2]!.value, Math.sqrt(20 / 3));
    const c4Exact = [Math.sqrt(Math.PI) / 2, Math.sqrt(2 / Math.PI), 2 * Math.sqrt(2 / (3 * Math.PI))];
    chart.paired.forEach((p, i) => {
      const c = c4Exact[i]!;
      expectClose(p.cl, c * sigma, 1e-12);
      expectClose(p.sigma, Math.sqrt(1 - c * c) * sigma, 1e-12);
      expectClose(p.ucl, (c + 3 * Math.sqrt(1 - c * c)) * sigma, 1e-12);
      expect(p.lcl).toBe(0); // B3 = 0 for n < 6
    });
  });

  it('a subgroup of one value adds nothing to σ̂ and has no R or S point', () => {
    // [5] and [1, 3]: x̿ = 9/3 = 3; pooled over the one degree of freedom: s_p = √2, σ̂ = √2/c4(2) = √π.
    const chart = xBarSChart([{ values: [5] }, { values: [1, 3] }]);
    expectClose(chart.limits.cl, 3);
    expectClose(chart.limits.sigmaWithin, Math.sqrt(Math.PI));
    expect(chart.main[0]).toMatchObject({ value: 5, n: 1 });
    expectClose(chart.main[0]!.ucl, 3 + 3 * Math.sqrt(Math.PI));
    expect(chart.paired[0]).toMatchObject({ value: null, cl: null, ucl: null, lcl: null, sigma: null });
    expectAllFinite(chart);
  });

  it('an empty subgroup gives null points and does not make the sizes unequal', () => {
    const chart = xBarRChart([{ values: [] }, { values: [1, 3] }, { values: [2, 8] }]);
    expectClose(chart.limits.sigmaWithin, 2 * Math.sqrt(Math.PI));
    expect(chart.main[0]).toMatchObject({ value: null, cl: null, ucl: null, lcl: null, sigma: null, n: 0 });
    expect(chart.paired[0]).toMatchObject({ value: null, cl: null });
  });
});

describe('X̄ Phase II and degenerate input', () => {
  it('frozen limits judge later subgroups at their own sizes', () => {
    const frozen = { cl: 10, sigmaWithin: 2 };
    const chart = xBarSChart([{ values: [9, 11, 13, 15] }, { values: [10, 10] }], { frozen });
    expect(chart.limitsFrom).toBe('frozen');
    expect(chart.main[0]).toMatchObject({ value: 12, cl: 10, ucl: 13, lcl: 7, sigma: 1, phase: 'II' });
    expectClose(chart.main[1]!.ucl, 10 + 6 / Math.SQRT2);
    expectClose(chart.paired[0]!.cl, 2 * c4(4));
  });

  it('a baseline of the first N subgroups', () => {
    const chart = xBarRChart(subgroups, { baseline: 20 });
    expect(chart.limits).toEqual(xBarRLimits(subgroups.slice(0, 20)));
    expect(chart.main.filter((p) => p.phase === 'I')).toHaveLength(20);
    expect(chart.main[24]!.phase).toBe('II');
  });

  it('empty, all-size-1 and constant input give nulls or zero-width limits, never NaN', () => {
    expect(xBarRChart([]).limits).toEqual({ cl: null, sigmaWithin: null });
    const ones = xBarRChart([{ values: [1] }, { values: [2] }]);
    expect(ones.limits).toEqual({ cl: 1.5, sigmaWithin: null });
    expectAllFinite(ones);
    const constant = xBarSChart([{ values: [4, 4, 4] }, { values: [4, 4] }]);
    expect(constant.limits).toEqual({ cl: 4, sigmaWithin: 0 });
    expect(constant.main[0]).toMatchObject({ ucl: 4, lcl: 4 });
    expectAllFinite(constant);
  });

  it('rejects non-finite values, naming the subgroup', () => {
    const bad = [{ values: [1, 2] }, { key: '2026-03-01T07', values: [1, Infinity] }];
    expect(() => xBarRChart(bad)).toThrow(/subgroup 1 \('2026-03-01T07'\) value 1/);
  });
});
