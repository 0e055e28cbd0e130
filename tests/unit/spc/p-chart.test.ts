import { describe, expect, it } from 'vitest';
import { nelsonViolations, P_CHART_RULES } from '../../../etl/spc/nelson-rules.js';
import { pChart, pChartLimits, type ProportionSample } from '../../../etl/spc/p-chart.js';
import { expectAllFinite, expectClose, printed } from './expect-close.js';

/**
 * D. C. Montgomery, Introduction to Statistical Quality Control, Table 7.1 / Example 7.1:
 * nonconforming orange-juice concentrate cans in 30 samples of n = 50 (also R qcc's
 * `orangejuice` trial samples). The book: p̄ = 347/1500 = 0.2313, UCL = 0.4102, LCL = 0.0524,
 * samples 15 and 23 above the UCL.
 */
const ORANGE_JUICE = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6];

describe('p-chart, Montgomery orange-juice cans (Example 7.1)', () => {
  const samples: ProportionSample[] = ORANGE_JUICE.map((defectives, i) => ({ defectives, n: 50, key: `${i + 1}` }));
  const chart = pChart(samples);
  // By hand: p̄ = 347/1500; σ = √(p̄(1 − p̄)/50).
  const pBar = 347 / 1500;
  const sigma = Math.sqrt((pBar * (1 - pBar)) / 50);

  it('p̄ and the limits, exactly and as printed', () => {
    expect(ORANGE_JUICE.reduce((a, b) => a + b, 0)).toBe(347);
    expectClose(chart.limits.cl, pBar, 1e-12);
    for (const p of chart.main) {
      expectClose(p.sigma, sigma, 1e-12);
      expectClose(p.ucl, pBar + 3 * sigma, 1e-12);
      expectClose(p.lcl, pBar - 3 * sigma, 1e-12);
    }
    expect(printed(chart.limits.cl!, 4)).toBe(0.2313);
    expect(printed(chart.main[0]!.ucl!, 4)).toBe(0.4102);
    expect(printed(chart.main[0]!.lcl!, 4)).toBe(0.0524);
  });

  it('samples 15 and 23 (indices 14 and 22) are beyond the UCL, as in the book', () => {
    const rule1 = nelsonViolations(chart.main, { enabled: [1] });
    expect(rule1).toEqual([
      { rule: 1, pointIndex: 14, firstIndex: 14, side: 'above' },
      { rule: 1, pointIndex: 22, firstIndex: 22, side: 'above' },
    ]);
  });
});

describe('p-chart with varying n', () => {
  /**
   * Worked by hand.
   *   d / n     = 2/50, 5/100, 1/25, 12/200      Σd = 20, Σn = 375, p̄ = 4/75 ≈ 0.05333
   *   p̄(1 − p̄)  = (4/75)(71/75) = 284/5625
   *   σᵢ        = √(284/5625/nᵢ): n = 25 → 0.04494, n = 200 → 0.01589
   *   n = 25 : p̄ − 3σ < 0, so LCL = 0;  n = 200: LCL = 4/75 − 3√(284/5625/200) ≈ 0.00567
   */
  const samples: ProportionSample[] = [
    { defectives: 2, n: 50 },
    { defectives: 5, n: 100 },
    { defectives: 1, n: 25 },
    { defectives: 12, n: 200 },
  ];
  const pBar = 4 / 75;
  const pq = 284 / 5625;
  const chart = pChart(samples);

  it('p̄ = Σd/Σn, not the mean of the pᵢ', () => {
    expectClose(chart.limits.cl, pBar, 1e-12);
    expectClose(chart.limits.sigmaWithin, Math.sqrt(pq), 1e-12);
    expect(chart.main.map((p) => p.value)).toEqual([0.04, 0.05, 0.04, 0.06]);
  });

  it('per-point σ and limits, clipped at 0', () => {
    samples.forEach((s, i) => {
      const sigma = Math.sqrt(pq / s.n);
      const p = chart.main[i]!;
      expectClose(p.sigma, sigma, 1e-12);
      expectClose(p.ucl, pBar + 3 * sigma, 1e-12);
      expect(p.n).toBe(s.n);
      if (pBar - 3 * sigma < 0) expect(p.lcl).toBe(0);
      else expectClose(p.lcl, pBar - 3 * sigma, 1e-12);
    });
    expect(chart.main[2]!.lcl).toBe(0);
    expectClose(chart.main[3]!.lcl, pBar - 3 * Math.sqrt(pq / 200), 1e-12);
    expect(chart.paired).toEqual([]);
  });

  it('limits are clipped at 1 too', () => {
    const high = pChart([
      { defectives: 9, n: 10 },
      { defectives: 1, n: 2 },
    ]);
    expectClose(high.limits.cl, 10 / 12);
    expect(high.main[1]!.ucl).toBe(1);
  });

  it('the rules use each point’s own σ: the same p is beyond 3σ at n = 400 but not at n = 4', () => {
    const frozen = { cl: 0.1 };
    const judged = pChart(
      [
        { defectives: 1, n: 4 }, // p = 0.25, σ = 0.15: 1σ above
        { defectives: 100, n: 400 }, // p = 0.25, σ = 0.015: 10σ above
      ],
      { frozen },
    );
    expect(nelsonViolations(judged.main, { enabled: P_CHART_RULES })).toEqual([{ rule: 1, pointIndex: 1, firstIndex: 1, side: 'above' }]);
  });
});

describe('p-chart Phase II and degenerate input', () => {
  it('frozen p̄ sets every point’s σ from it', () => {
    const chart = pChart([{ defectives: 3, n: 100 }], { frozen: { cl: 0.02 } });
    expect(chart.limitsFrom).toBe('frozen');
    expectClose(chart.limits.sigmaWithin, Math.sqrt(0.02 * 0.98));
    expectClose(chart.main[0]!.ucl, 0.02 + 3 * Math.sqrt((0.02 * 0.98) / 100));
    expect(chart.main[0]!.phase).toBe('II');
  });

  it('baseline of the first N samples', () => {
    const chart = pChart(
      [
        { defectives: 1, n: 10 },
        { defectives: 3, n: 10 },
        { defectives: 9, n: 10 },
      ],
      { baseline: 2 },
    );
    expectClose(chart.limits.cl, 0.2);
    expect(chart.main.map((p) => p.phase)).toEqual(['I', 'I', 'II']);
  });

  it('nothing inspected, a sample of n = 0, and p̄ = 0 give nulls or zero-width limits', () => {
    expect(pChartLimits([])).toEqual({ cl: null, sigmaWithin: null });
    const withEmpty = pChart([
      { defectives: 0, n: 0 },
      { defectives: 1, n: 10 },
    ]);
    expect(withEmpty.main[0]).toMatchObject({ value: null, cl: null, ucl: null, lcl: null, sigma: null });
    expectAllFinite(withEmpty);
    const none = pChart([
      { defectives: 0, n: 10 },
      { defectives: 0, n: 20 },
    ]);
    expect(none.limits).toEqual({ cl: 0, sigmaWithin: 0 });
    expect(none.main[0]).toMatchObject({ value: 0, cl: 0, ucl: 0, lcl: 0, sigma: 0 });
    expectAllFinite(none);
  });

  it('rejects impossible counts, naming the sample', () => {
    expect(() => pChart([{ defectives: 11, n: 10, key: '2026-03-02' }])).toThrow(/sample 0 \('2026-03-02'\): defectives/);
    expect(() => pChart([{ defectives: 1, n: -1 }])).toThrow(/n must be/);
    expect(() => pChart([{ defectives: 0.5, n: 1 }])).toThrow(/whole number/);
    expect(() => pChart([{ defectives: 1, n: 2 }], { frozen: { cl: 1.5 } })).toThrow(/between 0 and 1/);
  });
});
