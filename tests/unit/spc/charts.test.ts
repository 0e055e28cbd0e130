import { describe, expect, it } from 'vitest';
import { baselineLimits, chartLimits, controlChart, subgroupCount, type ChartInput } from '../../../etl/spc/charts.js';
import { individualsChart } from '../../../etl/spc/individuals-chart.js';
import { nelsonViolations } from '../../../etl/spc/nelson-rules.js';
import { pChart } from '../../../etl/spc/p-chart.js';
import { xBarRChart, xBarSChart } from '../../../etl/spc/xbar-charts.js';
import { expectAllFinite, expectClose } from './expect-close.js';

const observations = [10, 12, 11, 15, 13, 30, 31].map((value) => ({ value }));
const subgroups = [[1, 3], [2, 8], [4, 6], [5, 5]].map((values) => ({ values }));
const samples = [
  { defectives: 1, n: 10 },
  { defectives: 3, n: 10 },
  { defectives: 9, n: 10 },
];

const inputs: ChartInput[] = [
  { chart: 'I-MR', observations },
  { chart: 'Xbar-R', subgroups },
  { chart: 'Xbar-S', subgroups },
  { chart: 'p', samples },
];

describe('controlChart dispatches on the configured chart type', () => {
  it('gives the same chart as the chart’s own function', () => {
    expect(controlChart(inputs[0]!)).toEqual(individualsChart(observations));
    expect(controlChart(inputs[1]!)).toEqual(xBarRChart(subgroups));
    expect(controlChart(inputs[2]!)).toEqual(xBarSChart(subgroups));
    expect(controlChart(inputs[3]!)).toEqual(pChart(samples));
  });

  it.each(inputs)('$chart: main and paired points line up by index', (input) => {
    const chart = controlChart(input);
    expect(chart.chart).toBe(input.chart);
    expect(chart.main.map((p) => p.index)).toEqual([...Array(subgroupCount(input)).keys()]);
    if (input.chart !== 'p') expect(chart.paired.map((p) => p.index)).toEqual(chart.main.map((p) => p.index));
  });
});

describe('Phase I → Phase II', () => {
  it.each(inputs)('$chart: baselineLimits(first N) frozen give the same points as a baseline of N', (input) => {
    const frozen = baselineLimits(input, 3);
    expect(frozen.subgroups).toBe(3);
    const withBaseline = controlChart(input, { baseline: 3 });
    const withFrozen = controlChart(input, { frozen });
    expect(withBaseline.limits).toEqual({ cl: frozen.cl, sigmaWithin: frozen.sigmaWithin });
    expect(withFrozen.main.map(({ phase: _, ...p }) => p)).toEqual(withBaseline.main.map(({ phase: _, ...p }) => p));
    expect(withBaseline.main.map((p) => p.phase)).toEqual(withBaseline.main.map((_, i) => (i < 3 ? 'I' : 'II')));
    expect(withFrozen.main.every((p) => p.phase === 'II')).toBe(true);
  });

  it('a baseline longer than the data says how many subgroups it had', () => {
    const short = baselineLimits({ chart: 'I-MR', observations: observations.slice(0, 2) }, 25);
    expect(short.subgroups).toBe(2);
    expectClose(short.cl, 11);
    expectClose(short.sigmaWithin, 2 / (2 / Math.sqrt(Math.PI)));
  });

  it('frozen limits catch the shift that window limits absorb', () => {
    // Window: x̄ = 102/7, MR̄ = 17/6, UCL ≈ 22.1, so 20 and 21 pass. Baseline of the first five:
    // UCL = 12.2 + 3.375√π ≈ 18.18, so they are flagged.
    const shifted = [10, 12, 11, 15, 13, 20, 21].map((value) => ({ value }));
    const window = controlChart({ chart: 'I-MR', observations: shifted });
    const phase2 = controlChart({ chart: 'I-MR', observations: shifted }, { baseline: 5 });
    expectClose(window.main[0]!.ucl, 102 / 7 + (3 * 17) / 6 / (2 / Math.sqrt(Math.PI)));
    expect(nelsonViolations(window.main, { enabled: [1] })).toEqual([]);
    expect(nelsonViolations(phase2.main, { enabled: [1] }).map((v) => v.pointIndex)).toEqual([5, 6]);
  });

  it('chartLimits of a window chosen by dates = the limits the window chart uses', () => {
    for (const input of inputs) expect(chartLimits(input)).toEqual(controlChart(input).limits);
  });

  it('rejects both a baseline and frozen limits, and a baseline that is not a count', () => {
    expect(() => controlChart(inputs[0]!, { baseline: 3, frozen: { cl: 1, sigmaWithin: 1 } })).toThrow(/not both/);
    expect(() => controlChart(inputs[0]!, { baseline: 0 })).toThrow(/baseline/);
    expect(() => baselineLimits(inputs[1]!, 1.5)).toThrow(/baseline/);
    expect(() => controlChart(inputs[0]!, { frozen: { cl: 1, sigmaWithin: -1 } })).toThrow(/sigmaWithin/);
  });
});

describe('degenerate input never yields NaN or Infinity', () => {
  const degenerate: ChartInput[] = [
    { chart: 'I-MR', observations: [] },
    { chart: 'I-MR', observations: [{ value: 1 }] },
    { chart: 'I-MR', observations: [{ value: 2 }, { value: 2 }] },
    { chart: 'Xbar-R', subgroups: [] },
    { chart: 'Xbar-R', subgroups: [{ values: [7] }] },
    { chart: 'Xbar-R', subgroups: [{ values: [] }, { values: [7, 7] }] },
    { chart: 'Xbar-S', subgroups: [{ values: [7, 7, 7] }, { values: [7] }] },
    { chart: 'p', samples: [] },
    { chart: 'p', samples: [{ defectives: 0, n: 0 }] },
    { chart: 'p', samples: [{ defectives: 5, n: 5 }] },
  ];
  it.each(degenerate)('%j', (input) => {
    const chart = controlChart(input);
    expectAllFinite(chart);
    expectAllFinite(nelsonViolations(chart.main, { enabled: [1, 2, 3, 4, 5, 6, 7, 8] }));
    expectAllFinite(baselineLimits(input, 1));
    expectAllFinite(controlChart(input, { frozen: { cl: 0, sigmaWithin: 0 } }));
  });
});
