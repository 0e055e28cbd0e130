/**
 * The lead indicator's maths (etl/lead-indicator.ts) on worked examples: pooling gap statistics,
 * the baseline's mean and pooled within-day sigma, the z-score of a day's mean, the start of a
 * rise, and the verdict and rank of each winder.
 */
import { describe, expect, it } from 'vitest';
import {
  EPISODE_QUIET_DAYS,
  NO_GAP,
  UNTRACED,
  analysisSpan,
  baselineOf,
  gapStatsOf,
  poolGapStats,
  rankWinders,
  riseDayOf,
  type GapStats,
  type LeadIndicatorSettings,
  type WinderDay,
} from '../../etl/lead-indicator.js';
import { mean, sampleStandardDeviation } from '../../etl/spc/sample-statistics.js';
import { addDays, dateRange } from '../../etl/periods.js';

/** Gap statistics of raw readings, through the SPC module's own mean and SD (an independent check). */
function statsOf(values: number[], lsl = 0.8, usl = 1.2): GapStats {
  return {
    n: values.length,
    mean: mean(values),
    sd: sampleStandardDeviation(values),
    min: Math.min(...values),
    max: Math.max(...values),
    belowLsl: values.filter((v) => v < lsl).length,
    aboveUsl: values.filter((v) => v > usl).length,
  };
}

/** n readings with the given mean and sample SD (a day row needs no more). */
const g = (n: number, m: number, sd: number | null, extra: Partial<GapStats> = {}): GapStats => ({ n, mean: m, sd, min: m, max: m, belowLsl: 0, aboveUsl: 0, ...extra });
const row = (winder: string, day: string, cells: number, infusionDefects: number, gap: GapStats = NO_GAP): WinderDay => ({ winder, day, cells, infusionDefects, fillingDefects: 0, gap });

const S: LeadIndicatorSettings = { lsl: 0.8, usl: 1.2, infusionRateThreshold: 0.02, minCells: 50, windowDays: 10, leadDays: 2, baselineDays: 3, driftZ: 3 };
const D = '2026-11-10';

describe('gap statistics', () => {
  it('pools samples exactly: the week from its days equals the statistics of all readings', () => {
    const a = [1.0, 0.9, 0.95];
    const b = [0.85, 0.75];
    const c = [1.0];
    const pooled = poolGapStats([statsOf(a), statsOf(b), statsOf(c), NO_GAP]);
    const all = statsOf([...a, ...b, ...c]);
    // Σx 5.45, n 6: mean 0.908333…; SS = 4.9975 − 5.45²/6 = 0.2825/6, sd = √(0.2825/30) ≈ 0.097040.
    expect(pooled.n).toBe(6);
    expect(pooled.mean!).toBeCloseTo(5.45 / 6, 12);
    expect(pooled.sd!).toBeCloseTo(Math.sqrt(0.2825 / 30), 12);
    expect(pooled.sd!).toBeCloseTo(all.sd!, 12);
    expect(pooled).toMatchObject({ min: 0.75, max: 1.0, belowLsl: 1, aboveUsl: 0 });
  });

  it('has no SD below two readings and nothing but zero counts without readings', () => {
    expect(poolGapStats([statsOf([0.7])])).toMatchObject({ n: 1, mean: 0.7, sd: null, belowLsl: 1 });
    expect(poolGapStats([])).toEqual(NO_GAP);
    // From the SQL's sum of squared deviations: 3 readings, SS 0.005 → sd √(0.005/2) = 0.05.
    expect(gapStatsOf(3, 0.95, 0.005, 0.9, 1.0, 0, 0).sd).toBeCloseTo(0.05, 12);
    expect(gapStatsOf(1, 0.78, 0, 0.78, 0.78, 1, 0).sd).toBeNull();
    expect(gapStatsOf(0, null, null, null, null, 0, 0)).toEqual(NO_GAP);
  });
});

describe('baseline', () => {
  it('is the grand mean and the pooled within-day sigma of the days before the lead window', () => {
    const days = [
      row('W', '2026-11-01', 100, 0, g(3, 0.95, 0.05)),
      row('W', '2026-11-02', 100, 0, g(2, 0.8, Math.sqrt(0.005))),
      row('W', '2026-11-03', 100, 0, g(5, 0.5, 0.1)), // outside the baseline window
    ];
    // Within-day SS: 0.05²·2 + 0.005·1 = 0.01 over 2 + 1 degrees of freedom → σ = √(0.01/3) ≈ 0.05774;
    // mean (3·0.95 + 2·0.80)/5 = 0.89. The between-day difference (0.95 vs 0.80) does not widen σ.
    const b = baselineOf(days, '2026-11-01', '2026-11-02')!;
    expect(b).toMatchObject({ from: '2026-11-01', to: '2026-11-02', days: 2, n: 5 });
    expect(b.mean).toBeCloseTo(0.89, 12);
    expect(b.sigma).toBeCloseTo(Math.sqrt(0.01 / 3), 12);
  });

  it('is missing without a degree of freedom or without spread', () => {
    expect(baselineOf([row('W', '2026-11-01', 1, 0, g(1, 1, null)), row('W', '2026-11-02', 1, 0, g(1, 1.1, null))], '2026-11-01', '2026-11-02')).toBeNull();
    expect(baselineOf([row('W', '2026-11-01', 1, 0, g(4, 1, 0))], '2026-11-01', '2026-11-01')).toBeNull();
  });

  it('reads the charted window and the lead and baseline days before it', () => {
    // 10 charted days end on 11-10 and start on 11-01; a rise on 11-01 looks at 10-30..10-31 and
    // its baseline 10-27..10-29.
    expect(analysisSpan(D, S)).toEqual({ from: '2026-10-27', to: D });
  });
});

describe('the start of a rise', () => {
  const byDay = (rates: Record<string, [number, number]>) => new Map(Object.entries(rates).map(([d, [defects, cells]]) => [d, row('W', d, cells, defects)]));

  it('is the first day of the run of days above the threshold that reaches the day, quiet days inside it tolerated', () => {
    expect(EPISODE_QUIET_DAYS).toBe(2);
    // 11-03 above, 11-04..11-06 quiet (three days: the run before them is a separate one), 11-07 above,
    // 11-08 and 11-09 quiet (two: tolerated), 11-10 above → the rise is 11-07.
    const m = byDay({
      '2026-11-03': [5, 100], '2026-11-04': [0, 100], '2026-11-05': [0, 100], '2026-11-06': [0, 100],
      '2026-11-07': [3, 100], '2026-11-08': [1, 100], '2026-11-09': [0, 100], '2026-11-10': [4, 100],
    });
    expect(riseDayOf(m, D, S)).toBe('2026-11-07');
    // Exactly at the threshold (2 of 100) is not above it.
    expect(riseDayOf(byDay({ [D]: [2, 100] }), D, S)).toBeNull();
    // Too few cells to judge: 2 of 10 is 20 %, but 10 < minCells.
    expect(riseDayOf(byDay({ [D]: [2, 10] }), D, S)).toBeNull();
  });

  it('starts no earlier than the charted window', () => {
    const m = byDay(Object.fromEntries(dateRange('2026-10-20', D).map((d) => [d, [5, 100] as [number, number]])));
    expect(riseDayOf(m, D, S)).toBe('2026-11-01');
  });
});

describe('ranking winders and judging their gap', () => {
  const normal = g(4, 1.0, 0.02, { min: 0.97, max: 1.03 });
  const days = (from: string, to: string) => dateRange(from, to);
  const rows: WinderDay[] = [
    // WND01: 1 % every day, gap steady: not above, stable.
    ...days('2026-10-27', D).map((d) => row('WND01', d, 100, 1, normal)),
    // WND02: above on 11-08 (5 %), quiet 11-09 (1 %), above 11-10 (6 %): rise 11-08. Lead window
    // 11-06..11-07; on 11-07 the mean is 0.85 with a reading of 0.78 below LSL. Baseline
    // 11-03..11-05: mean 1.00, σ 0.02 → z(11-07) = (0.85 − 1.00)/(0.02/√4) = −15.
    ...days('2026-10-27', '2026-11-06').map((d) => row('WND02', d, 100, 0, normal)),
    row('WND02', '2026-11-07', 100, 0, g(4, 0.85, 0.05, { min: 0.78, max: 0.9, belowLsl: 1 })),
    row('WND02', '2026-11-08', 100, 5, g(4, 0.8, 0.03)),
    row('WND02', '2026-11-09', 100, 1, g(4, 0.8, 0.03)),
    row('WND02', D, 100, 6, g(4, 0.8, 0.03)),
    // WND03: above on 11-10 only (4 %). Lead window 11-08..11-09 in spec: means 0.99 (z −1) and
    // 0.96 (z = −0.04/0.01 = −4): drifting from 11-09, a day before the rise.
    ...days('2026-10-27', '2026-11-07').map((d) => row('WND03', d, 100, 0, normal)),
    row('WND03', '2026-11-08', 100, 0, g(4, 0.99, 0.02)),
    row('WND03', '2026-11-09', 100, 0, g(4, 0.96, 0.02)),
    row('WND03', D, 100, 4, g(4, 0.96, 0.02)),
    // WND04: 10 % on 11-10, the gap as always: the cause is not the gap.
    ...days('2026-10-27', '2026-11-09').map((d) => row('WND04', d, 100, 0, normal)),
    row('WND04', D, 100, 10, normal),
    // WND05: no defects; a reading of 1.25 above USL today: watch.
    ...days('2026-10-27', '2026-11-09').map((d) => row('WND05', d, 100, 0, normal)),
    row('WND05', D, 100, 0, g(4, 1.05, 0.1, { max: 1.25, aboveUsl: 1 })),
    // WND06: 1 defect in 3 cells today (too few to judge), never inspected.
    row('WND06', D, 3, 1),
    // WND07: no defects; readings only in the lead window: no baseline to judge drift.
    row('WND07', '2026-11-09', 100, 0, normal),
    row('WND07', D, 100, 0, normal),
    // Not a winder.
    row(UNTRACED, D, 5, 5),
  ];
  const ranked = rankWinders(rows, D, S);
  const by = Object.fromEntries(ranked.map((w) => [w.winder, w]));

  it('ranks judged winders by the day rate, then defects and name; winders with too few cells last; untraced is no winder', () => {
    // Rates: WND04 10 %, WND02 6 %, WND03 4 %, WND01 1 %, WND05 and WND07 0 % (by name), WND06 3 cells.
    expect(ranked.map((w) => [w.rank, w.winder])).toEqual([
      [1, 'WND04'], [2, 'WND02'], [3, 'WND03'], [4, 'WND01'], [5, 'WND05'], [6, 'WND07'], [7, 'WND06'],
    ]);
    expect(ranked.filter((w) => w.above).map((w) => w.winder)).toEqual(['WND04', 'WND02', 'WND03']);
    expect(by.WND06).toMatchObject({ rate: 1 / 3, above: false, verdict: 'no-data' });
  });

  it('finds the gap below LSL the day before the rise', () => {
    const w = by.WND02!;
    expect(w).toMatchObject({
      rate: 0.06, riseDay: '2026-11-08', lead: { from: '2026-11-06', to: '2026-11-07' }, verdict: 'below-lsl',
      belowLslDays: ['2026-11-07'], driftDays: ['2026-11-07'], firstSignalDay: '2026-11-07', signalLeadDays: 1, leadMin: 0.78,
    });
    expect(w.baseline).toMatchObject({ from: '2026-11-03', to: '2026-11-05', days: 3, n: 12 });
    expect(w.baseline!.mean).toBeCloseTo(1, 12);
    expect(w.baseline!.sigma).toBeCloseTo(0.02, 12);
    expect(w.lead.days[0]!.z).toBeCloseTo(0, 12);
    expect(w.lead.days[1]!.z).toBeCloseTo(-15, 9);
    expect(w.extremeZ).toBeCloseTo(-15, 9);
    // The 30-day… here 10-day window: 11-01..11-10, 1000 cells, 12 defects.
    expect(w).toMatchObject({ windowCells: 1000, windowInfusionDefects: 12, windowRate: 0.012 });
  });

  it('finds a drift in spec, a stable gap, a gap above USL, and no baseline', () => {
    expect(by.WND03).toMatchObject({ riseDay: D, verdict: 'drifting', driftDays: ['2026-11-09'], belowLslDays: [], firstSignalDay: '2026-11-09', signalLeadDays: 1 });
    expect(by.WND03!.lead.days.map((d) => d.z)).toEqual([expect.closeTo(-1, 9), expect.closeTo(-4, 9)]);
    expect(by.WND04).toMatchObject({ riseDay: D, verdict: 'stable', firstSignalDay: null, signalLeadDays: null });
    // Not above: the lead window is the last two days up to the report day (an early warning).
    expect(by.WND05).toMatchObject({ above: false, riseDay: null, lead: { from: '2026-11-09', to: D }, verdict: 'above-usl', aboveUslDays: [D], signalLeadDays: null });
    expect(by.WND01).toMatchObject({ above: false, verdict: 'stable' });
    expect(by.WND07).toMatchObject({ verdict: 'no-baseline', baseline: null, extremeZ: null });
  });

  it('does not depend on the order of the rows', () => {
    expect(rankWinders([...rows].reverse(), D, S)).toEqual(ranked);
    expect(rankWinders(rows, addDays(D, 1), S).find((w) => w.winder === 'WND02')).toMatchObject({ cells: 0, rate: null, above: false });
  });
});
