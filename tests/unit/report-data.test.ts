/**
 * The daily yield report's headline rules on worked examples (README "Daily yield report"):
 * all-products and 7-day yields are unit-weighted means of the stored yields, the previous day is
 * the latest earlier day with rows, worst stations need enough units, the Pareto runs to 100 %.
 */
import { describe, expect, it } from 'vitest';
import {
  buildHeadline,
  buildPareto,
  buildTrend,
  dayState,
  kpiLine,
  rankWorstStations,
  weightedYield,
  type MachineDay,
  type ProdDay,
  type SummaryRunInfo,
} from '../../reports/daily-yield-data.js';

const TARGETS = { firstPassYield: 0.9, cumulativeYield: 0.95 };

function prod(day: string, product: string, units: number, fpy: number | null, cy: number | null, load = units, tests = units): ProdDay {
  return { day, product, load_qty: load, test_count: tests, units_tested: units, rolled_first_pass_yield: fpy, rolled_cumulative_yield: cy, run_id: 1, computed_at: null };
}

function machine(name: string, units: number, firstPass: number, extra: Partial<MachineDay> = {}): MachineDay {
  return {
    machine: name,
    test_count: units,
    pass_count: firstPass,
    passing_rate: units ? firstPass / units : null,
    units_tested: units,
    first_pass_units: firstPass,
    first_pass_yield: units ? firstPass / units : null,
    cumulative_yield: units ? 1 : null,
    retest_count: units - firstPass,
    ...extra,
  };
}

describe('weightedYield', () => {
  it('weights each yield by its units and ignores rows without a yield', () => {
    expect(weightedYield([{ units_tested: 8, y: 0.5625 }, { units_tested: 2, y: 1 }])).toBeCloseTo(0.65, 12);
    expect(weightedYield([{ units_tested: 3, y: null }, { units_tested: 1, y: 0.5 }])).toBe(0.5);
    expect(weightedYield([{ units_tested: 3, y: null }])).toBeNull();
    expect(weightedYield([])).toBeNull();
  });
});

describe('buildHeadline', () => {
  // Day 2026-11-20 (a Friday): P1 8 unit-tests, rolled FPY 9/16; P2 2 unit-tests, FPY 1.
  // 2026-11-19: P1 2 units FPY 0.5, P2 1 unit FPY 1.   2026-11-16: P1 4 units FPY 1.
  // 2026-11-12 is 8 days back: outside the 7-day window, but a candidate for nothing else either.
  const rows = [
    prod('2026-11-20', 'P1', 8, 9 / 16, 0.75, 4, 10),
    prod('2026-11-20', 'P2', 2, 1, 1, 2, 2),
    prod('2026-11-19', 'P1', 2, 0.5, 1, 2, 3),
    prod('2026-11-19', 'P2', 1, 1, 1, 1, 1),
    prod('2026-11-16', 'P1', 4, 1, 1, 4, 4),
    prod('2026-11-12', 'P1', 100, 0, 0, 100, 100),
    prod('2026-11-21', 'P1', 100, 0, 0, 100, 100), // after the day: ignored
  ];
  const h = buildHeadline(rows, '2026-11-20', TARGETS);

  it('compares with the latest earlier day and the 7 days before, counting only days with rows', () => {
    expect(h.previousDay).toBe('2026-11-19');
    expect(h.averageDays).toEqual(['2026-11-16', '2026-11-19']);
  });

  it('all products: counts are sums, yields are unit-weighted means of the products\' rolled yields', () => {
    const all = (k: Parameters<typeof kpiLine>[2]) => kpiLine(h, null, k)!;
    expect(all('load_qty')).toMatchObject({ value: 6, previous: 3, average: 3.5, target: null, vsPrevious: 3 });
    expect(all('test_count')).toMatchObject({ value: 12, previous: 4, average: 4 });
    // (8·9/16 + 2·1) / 10 = 0.65; previous (2·0.5 + 1) / 3 = 2/3; 7-day (4·1 + 2·0.5 + 1·1) / 7 = 6/7.
    const fpy = all('first_pass_yield');
    expect(fpy.value).toBeCloseTo(0.65, 12);
    expect(fpy.previous).toBeCloseTo(2 / 3, 12);
    expect(fpy.average).toBeCloseTo(6 / 7, 12);
    expect(fpy.vsPrevious).toBeCloseTo(0.65 - 2 / 3, 12);
    expect(fpy.vsTarget).toBeCloseTo(0.65 - 0.9, 12);
    expect(fpy.belowTarget).toBe(true);
    // CY: (8·0.75 + 2) / 10 = 0.8.
    expect(all('cumulative_yield').value).toBeCloseTo(0.8, 12);
  });

  it('per product: the stored rolled yields, the product\'s own days for the average', () => {
    const p1 = kpiLine(h, 'P1', 'first_pass_yield')!;
    expect(p1.value).toBe(9 / 16);
    expect(p1.previous).toBe(0.5);
    expect(p1.average).toBeCloseTo((4 * 1 + 2 * 0.5) / 6, 12);
    expect(kpiLine(h, 'P1', 'load_qty')).toMatchObject({ value: 4, average: 3 });
    const p2 = kpiLine(h, 'P2', 'first_pass_yield')!;
    expect(p2).toMatchObject({ value: 1, previous: 1, average: 1, belowTarget: false, vsPrevious: 0 });
    // P2 had no row on the 16th: its load average is over the 19th only.
    expect(kpiLine(h, 'P2', 'load_qty')).toMatchObject({ average: 1 });
  });

  it('lists all products first, then the day\'s products by name, four KPIs each', () => {
    expect(h.lines.map((l) => `${l.product ?? '*'}:${l.kpi}`)).toEqual([
      '*:load_qty', '*:test_count', '*:first_pass_yield', '*:cumulative_yield',
      'P1:load_qty', 'P1:test_count', 'P1:first_pass_yield', 'P1:cumulative_yield',
      'P2:load_qty', 'P2:test_count', 'P2:first_pass_yield', 'P2:cumulative_yield',
    ]);
  });

  it('no earlier day: previous and average are empty, not zero', () => {
    const only = buildHeadline([prod('2026-11-20', 'P1', 2, 0.5, 1)], '2026-11-20', TARGETS);
    expect(only.previousDay).toBeNull();
    expect(kpiLine(only, null, 'first_pass_yield')).toMatchObject({ value: 0.5, previous: null, average: null, vsPrevious: null, vsAverage: null });
  });

  it('a product without a yield (no cohort) counts for nothing in the all-products yield', () => {
    const x = buildHeadline([prod('2026-11-20', 'P1', 4, 0.5, 1), prod('2026-11-20', 'P2', 0, null, null, 0, 3)], '2026-11-20', TARGETS);
    expect(kpiLine(x, null, 'first_pass_yield')!.value).toBe(0.5);
    expect(kpiLine(x, 'P2', 'first_pass_yield')).toMatchObject({ value: null, belowTarget: false, vsTarget: null });
    expect(kpiLine(x, null, 'test_count')!.value).toBe(7);
  });
});

describe('rankWorstStations', () => {
  const machines = [
    machine('M1', 40, 30), // 0.75
    machine('M2', 80, 60), // 0.75, more units: ranked before M1
    machine('M3', 5, 0), // 0 but only 5 units
    machine('M4', 50, 50), // 1
    machine('M5', 0, 0), // no yield
  ];

  it('ranks by first-pass yield, ties by more units, leaving out stations with too few units', () => {
    const w = rankWorstStations(machines, 10, 20);
    expect(w.stations.map((s) => [s.rank, s.machine])).toEqual([[1, 'M2'], [2, 'M1'], [3, 'M4']]);
    expect(w).toMatchObject({ withYield: 4, tooFewUnits: 1, minUnits: 20 });
  });

  it('keeps the worst n', () => {
    expect(rankWorstStations(machines, 1, 1).stations.map((s) => s.machine)).toEqual(['M3']);
  });
});

describe('buildPareto', () => {
  it('orders stations by first-pass failures and runs the share up to 100 %', () => {
    const p = buildPareto([machine('A', 10, 9), machine('B', 10, 4), machine('C', 10, 7), machine('D', 10, 10)], 10);
    expect(p.bars.map((b) => [b.machine, b.failures])).toEqual([['B', 6], ['C', 3], ['A', 1]]);
    expect(p.bars.map((b) => b.cumulativeShare)).toEqual([0.6, 0.9, 1]);
    expect(p).toMatchObject({ totalFailures: 10, stationsWithFailures: 3 });
  });

  it('shares stay of the day\'s total when only the top bars are kept', () => {
    const p = buildPareto([machine('A', 10, 9), machine('B', 10, 4), machine('C', 10, 7)], 2);
    expect(p.bars.map((b) => b.cumulativeShare)).toEqual([0.6, 0.9]);
    expect(p.stationsWithFailures).toBe(3);
  });
});

describe('buildTrend', () => {
  it('has the all-products series and one per product of the day, over the 30 days up to the day', () => {
    const t = buildTrend(
      [
        prod('2026-11-20', 'P1', 8, 9 / 16, 0.75),
        prod('2026-11-20', 'P2', 2, 1, 1),
        prod('2026-11-19', 'P1', 2, 0.5, 1),
        prod('2026-10-22', 'P1', 1, 0, 0), // 29 days before the 20th: the first of the 30 days
        prod('2026-10-21', 'P1', 1, 0, 0), // 30 days before: outside
        prod('2026-11-19', 'P9', 1, 0, 0), // not made on the day: no series of its own
      ],
      '2026-11-20',
    );
    expect(t.filter((p) => p.product === 'All products').map((p) => p.day)).toEqual(['2026-10-22', '2026-11-19', '2026-11-20']);
    expect(t.find((p) => p.product === 'All products' && p.day === '2026-11-20')!.value).toBeCloseTo(0.65, 12);
    expect(t.filter((p) => p.product === 'P1').map((p) => [p.day, p.value])).toEqual([['2026-10-22', 0], ['2026-11-19', 0.5], ['2026-11-20', 9 / 16]]);
    expect(new Set(t.map((p) => p.product))).toEqual(new Set(['All products', 'P1', 'P2']));
  });
});

describe('dayState', () => {
  const run = (status: string): SummaryRunInfo => ({ id: 7, status, triggeredBy: 'x', startedAt: null, finishedAt: null, error: status === 'failed' ? 'boom' : null });
  it('a failed or interrupted run wins over rows an earlier run left', () => {
    expect(dayState(run('failed'), true).kind).toBe('summary-failed');
    expect(dayState(run('interrupted'), true).kind).toBe('summary-failed');
    expect(dayState(run('running'), true).kind).toBe('summary-running');
  });
  it('rows make a report; no rows are no data, whether or not a run computed the day', () => {
    expect(dayState(run('succeeded'), true).kind).toBe('report');
    expect(dayState(run('succeeded'), false).kind).toBe('no-data');
    expect(dayState(null, false).kind).toBe('no-data');
    expect(dayState(null, true).kind).toBe('report');
  });
});
