/**
 * The job's pure parts: which limits judge a chart (Phase I / Phase II, spc.md §2), the windows a
 * run charts, and source timestamps turned into instants and plant-time buckets across DST.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/load.js';
import { judgeKey, storedLimitsApply, type FrozenLimits } from '../../etl/spc-judge.js';
import { measureSpec, type MeasureSpec } from '../../etl/spc-measures.js';
import { chartWindows, unchartedText } from '../../etl/spc-job.js';
import { sourceTimeParser } from '../../etl/spc-inputs.js';
import { baselineLimits, chartLimits, type ChartInput } from '../../etl/spc/charts.js';

function measure(extra: Record<string, unknown> = {}): MeasureSpec {
  const raw = { chart: 'I-MR', source: { table: 'g' }, time: 't', key: 'k', value: 'v', spec: { lsl: 0, usl: 20 }, ...extra };
  return measureSpec('m', resolveConfig({ spc: { measures: { m: raw } } }, {}).spc.measures.m!);
}

const hour = (i: number) => new Date(Date.UTC(2026, 9, 1, 4 + i)).toISOString();
/** 10, 12, 11, 13, … then a jump to 30 at the last point. */
const values = [10, 12, 11, 13, 10, 12, 11, 13, 10, 12, 11, 13, 30];
const input: ChartInput = { chart: 'I-MR', observations: values.map((value, i) => ({ value, time: hour(i) })) };

describe('limits: frozen, baseline or window', () => {
  it('no baseline: limits from the window, Phase I, nothing frozen', () => {
    const j = judgeKey(measure(), { key: 'A', input, values });
    expect(j).toMatchObject({ limitsSource: 'window', freeze: null, note: 'no baseline: limits from the window' });
    expect(j.chart.limits).toEqual(chartLimits(input));
    expect(j.chart.main.every((p) => p.phase === 'I')).toBe(true);
  });

  it('firstSubgroups reached: frozen now from the first N, those N Phase I, the rest Phase II', () => {
    const j = judgeKey(measure({ baseline: { firstSubgroups: 8 } }), { key: 'A', input, values });
    const expected = baselineLimits(input, 8);
    expect(j.limitsSource).toBe('frozen');
    expect(j.freeze).toMatchObject({ chart: 'I-MR', cl: expected.cl, sigmaWithin: expected.sigmaWithin, subgroups: 8, baselineKind: 'firstSubgroups', baselineFrom: hour(0), baselineTo: hour(7) });
    expect(j.freeze!.pairedCl).toBeCloseTo(expected.sigmaWithin! * 1.128379, 5);
    expect(j.chart.main.map((p) => p.phase)).toEqual([...Array(8).fill('I'), ...Array(5).fill('II')]);
    expect(j.note).toMatch(/^frozen by this run: baseline of 8 subgroups/);
    // The jump to 30 is far beyond the baseline's limits.
    expect(j.violations.find((v) => v.rule === 1)).toMatchObject({ time: hour(12), side: 'above', value: 30 });
  });

  it('firstSubgroups not reached: limits from what there is, Phase I, not frozen', () => {
    const j = judgeKey(measure({ baseline: { firstSubgroups: 50 } }), { key: 'A', input, values });
    expect(j).toMatchObject({ limitsSource: 'baseline', freeze: null });
    expect(j.note).toBe('baseline incomplete: 13 of 50 subgroups, limits from those and not frozen yet');
    expect(j.chart.main.every((p) => p.phase === 'I')).toBe(true);
  });

  it('stored limits judge everything; points inside their baseline stay Phase I', () => {
    const stored: FrozenLimits = { chart: 'I-MR', cl: 11.5, sigmaWithin: 1, pairedCl: 1.128, baselineKind: 'firstSubgroups', baselineFrom: hour(0), baselineTo: hour(2), subgroups: 3, validFrom: null };
    const j = judgeKey(measure({ baseline: { firstSubgroups: 3 } }), { key: 'A', input, values, stored });
    expect(j).toMatchObject({ limitsSource: 'frozen', freeze: null });
    expect(j.chart.limits).toEqual({ cl: 11.5, sigmaWithin: 1 });
    expect(j.chart.main.map((p) => p.phase)).toEqual([...Array(3).fill('I'), ...Array(10).fill('II')]);
    expect(j.chart.main[0]).toMatchObject({ cl: 11.5, ucl: 14.5, lcl: 8.5 });
  });

  it('versioned limits: each point is judged by the version valid at its time, the MR across the boundary unchanged', () => {
    // The old version (CL 11.5, σ̂ 1) judged until hour 6; the new one (CL 20, σ̂ 2) from hour 6 on.
    const old = { chart: 'I-MR' as const, cl: 11.5, sigmaWithin: 1, pairedCl: 1.128, baselineKind: 'firstSubgroups' as const, baselineFrom: hour(0), baselineTo: hour(2), subgroups: 3, validFrom: null, validTo: hour(6) };
    const current: FrozenLimits = { chart: 'I-MR', cl: 20, sigmaWithin: 2, pairedCl: 2.256, baselineKind: 'firstSubgroups', baselineFrom: hour(6), baselineTo: hour(8), subgroups: 3, validFrom: hour(6) };
    const j = judgeKey(measure(), { key: 'A', input, values, stored: current, superseded: [old] });
    expect(j.chart.main.map((p) => p.cl)).toEqual([...Array(6).fill(11.5), ...Array(7).fill(20)]);
    expect(j.chart.main[5]).toMatchObject({ ucl: 14.5, lcl: 8.5, phase: 'II' });
    expect(j.chart.main[6]).toMatchObject({ ucl: 26, lcl: 14, phase: 'I' });
    // MR at hour 6 is |11 − 12| = 1 as without versions; its UCL the new version's (d2 + 3·d3) × 2.
    expect(j.chart.paired[6]!.value).toBe(1);
    expect(j.chart.paired[6]!.ucl).toBeCloseTo(2 * (1.128379 + 3 * 0.852502), 4);
    // Under CL 20, σ 2 the points 11, 13, 10, 12, 11, 13 from hour 6 are 3.5σ to 5σ below, and 30 is 5σ above: rule 1.
    // Before hour 6 (CL 11.5, σ 1) nothing is beyond 3σ.
    expect(j.violations.filter((v) => v.rule === 1 && v.panel === 'main').map((v) => v.pointIndex)).toEqual([6, 7, 8, 9, 10, 11, 12]);
    expect(j.note).toMatch(/valid from 2026-10-01; 6 earlier point\(s\) judged by the limits valid at their time/);
    // Without a superseded version, points before the current one are judged by the window's limits.
    const alone = judgeKey(measure(), { key: 'A', input, values, stored: current });
    expect(alone.chart.main[0]!.cl).toBeCloseTo(chartLimits(input).cl!, 12);
  });

  it('σ̂ = 0 (a constant gauge): not judged by the rules, said once', () => {
    const flat = Array(20).fill(1.0);
    const j = judgeKey(measure(), { key: 'A', input: { chart: 'I-MR', observations: flat.map((value, i) => ({ value, time: hour(i) })) }, values: flat });
    expect(j.violations).toEqual([]);
    expect(j.unjudged).toBe('no variation: cannot be judged');
    expect(j.note).toMatch(/^no variation: cannot be judged \(σ̂ = 0\); no baseline/);
    expect(j.capability).toMatchObject({ sigmaWithin: 0, cp: null, cpk: null });
  });

  it('a violation carries the severity of its rule', () => {
    const j = judgeKey(measure({ severity: { 1: 'warning' } }), { key: 'A', input, values, stored: { chart: 'I-MR', cl: 11.5, sigmaWithin: 1, pairedCl: 1.128, baselineKind: 'firstSubgroups', baselineFrom: null, baselineTo: null, subgroups: 3, validFrom: null } });
    expect(j.violations.find((v) => v.rule === 1 && v.panel === 'main')).toMatchObject({ pointIndex: 12, severity: 'warning' });
  });

  it('stored limits of another chart type (the config changed) are not used', () => {
    const stored: FrozenLimits = { chart: 'p', cl: 0.1, sigmaWithin: 0.3, pairedCl: null, baselineKind: 'firstSubgroups', baselineFrom: null, baselineTo: null, subgroups: 7, validFrom: null };
    const j = judgeKey(measure({ baseline: { firstSubgroups: 8 } }), { key: 'A', input, values, stored });
    expect(j.freeze).not.toBeNull();
    expect(j.chart.limits.cl).toBeCloseTo(baselineLimits(input, 8).cl!, 12);
  });

  it('date baseline: frozen from its own subgroups once it has ended; the window until then', () => {
    const m = measure({ baseline: { from: '2026-09-01', to: '2026-09-02' } });
    const base: ChartInput = { chart: 'I-MR', observations: [20, 22, 21].map((value, i) => ({ value, time: `2026-09-01T0${i}:00:00.000Z` })) };
    const done = judgeKey(m, { key: 'A', input, values, datedBaseline: { input: base, complete: true } });
    expect(done.freeze).toMatchObject({ baselineKind: 'dates', cl: 21, subgroups: 3, baselineFrom: '2026-09-01T00:00:00.000Z', baselineTo: '2026-09-01T02:00:00.000Z' });
    expect(done.chart.main.every((p) => p.phase === 'II')).toBe(true);
    const running = judgeKey(m, { key: 'A', input, values });
    expect(running).toMatchObject({ limitsSource: 'window', freeze: null, note: 'baseline 2026-09-01 to 2026-09-02 has not ended: limits from the window' });
    const empty = judgeKey(m, { key: 'A', input, values, datedBaseline: { input: { chart: 'I-MR', observations: [] }, complete: true } });
    expect(empty.note).toMatch(/too few subgroups \(0\)/);
  });

  it('capability of the window for variables charts, none for p-charts', () => {
    const j = judgeKey(measure({ baseline: { firstSubgroups: 8 } }), { key: 'A', input, values });
    expect(j.capability).toMatchObject({ n: 13 });
    expect(j.capability!.cpk).toBeCloseTo(Math.min(20 - j.capability!.mean!, j.capability!.mean!) / (3 * chartLimits(input).sigmaWithin!), 12);
    const p = measureSpec('p', resolveConfig({ spc: { measures: { p: { chart: 'p', source: { table: 'x' }, time: 't', key: 'k', defective: { column: 'd', in: [1] } } } } }, {}).spc.measures.p!);
    const pj = judgeKey(p, { key: 'A', input: { chart: 'p', samples: [{ n: 10, defectives: 1, time: hour(0) }, { n: 10, defectives: 9, time: hour(24) }] }, values: [] });
    expect(pj.capability).toBeNull();
    expect(pj.violations.every((v) => v.rule <= 4)).toBe(true);
  });
});

describe('degenerate baselines (σ̂ = 0) are not frozen', () => {
  // Four equal readings, then some spread: x̄ = 40/8 = 5; moving ranges 0, 0, 0, 1, 2, 1, 0 so
  // MR̄ = 4/7 and σ̂ = (4/7)/1.128379 = 0.506415; the window's limits are 5 ± 1.519246.
  const flat = [5, 5, 5, 5, 6, 4, 5, 5];
  const flatInput: ChartInput = { chart: 'I-MR', observations: flat.map((value, i) => ({ value, time: hour(i) })) };

  it('firstSubgroups with σ̂ = 0: judged by the window, not frozen, and the note says why', () => {
    const j = judgeKey(measure({ baseline: { firstSubgroups: 4 } }), { key: 'A', input: flatInput, values: flat });
    expect(j).toMatchObject({ limitsSource: 'window', freeze: null, note: 'baseline of the first 4 subgroups has σ̂ = 0 (no variation): not frozen, limits from the window until a baseline varies' });
    expect(j.chart.limits.cl).toBe(5);
    expect(j.chart.limits.sigmaWithin).toBeCloseTo(4 / 7 / 1.128379, 6);
    expect(j.chart.main[4]!.ucl).toBeCloseTo(6.519246, 6);
    expect(j.chart.main.every((p) => p.phase === 'I')).toBe(true);
    // Against the flat baseline (CL 5, σ 0) the 6 and the 4 would each break rule 1; against the window neither does.
    expect(j.violations.filter((v) => v.panel === 'main')).toEqual([]);
    // The step 6 → 4 is a moving range of 2, above the MR chart's UCL 3.267 × 4/7 = 1.867: a real signal.
    expect(j.violations.map((v) => [v.panel, v.rule, v.value, v.pointIndex])).toEqual([['paired', 1, 2, 5]]);
  });

  it('a p-chart whose baseline days have no defects (p̄ = 0): judged by the window', () => {
    const m = measureSpec('p', resolveConfig({ spc: { measures: { p: { chart: 'p', source: { table: 'x' }, time: 't', key: 'k', defective: { column: 'd', in: [1] }, baseline: { firstSubgroups: 3 } } } } }, {}).spc.measures.p!);
    const day = (i: number, defectives: number) => ({ n: 100, defectives, time: hour(24 * i) });
    const j = judgeKey(m, { key: 'W1', input: { chart: 'p', samples: [day(0, 0), day(1, 0), day(2, 0), day(3, 2), day(4, 1)] }, values: [] });
    expect(j).toMatchObject({ limitsSource: 'window', freeze: null, note: 'baseline of the first 3 subgroups has σ̂ = 0 (p̄ = 0): not frozen, limits from the window until a baseline varies' });
    // p̄ = 3/500 = 0.006; σᵢ = √(0.006 × 0.994 / 100) = 0.0077227; UCL = 0.006 + 0.0231681 = 0.0291681 > 0.02.
    expect(j.chart.main[3]!.ucl).toBeCloseTo(0.0291681, 6);
    expect(j.violations).toEqual([]);
  });

  it('a date baseline with σ̂ = 0: the window, with the reason', () => {
    const m = measure({ baseline: { from: '2026-09-01', to: '2026-09-02' } });
    const base: ChartInput = { chart: 'I-MR', observations: [7, 7, 7].map((value, i) => ({ value, time: `2026-09-01T0${i}:00:00.000Z` })) };
    const j = judgeKey(m, { key: 'A', input, values, datedBaseline: { input: base, complete: true } });
    expect(j).toMatchObject({ limitsSource: 'window', freeze: null, note: 'baseline 2026-09-01 to 2026-09-02 has σ̂ = 0 (no variation): not frozen, limits from the window' });
  });

  it('limits stored with σ̂ = 0 are passed over and replaced by a baseline that varies', () => {
    const stored: FrozenLimits = { chart: 'I-MR', cl: 5, sigmaWithin: 0, pairedCl: 0, baselineKind: 'firstSubgroups', baselineFrom: hour(0), baselineTo: hour(3), subgroups: 4, validFrom: null };
    expect(storedLimitsApply(stored, 'I-MR')).toBe(false);
    expect(storedLimitsApply({ ...stored, sigmaWithin: 1 }, 'I-MR')).toBe(true);
    const j = judgeKey(measure({ baseline: { firstSubgroups: 8 } }), { key: 'A', input, values, stored });
    expect(j.freeze).toMatchObject({ subgroups: 8, validFrom: null });
    expect(j.note).toMatch(/^stored limits have σ̂ = 0 \(no variation\), not used; frozen by this run: baseline of 8 subgroups/);
  });
});

describe('the paired chart is judged by rule 1', () => {
  const frozen = (chart: FrozenLimits['chart']): FrozenLimits => ({ chart, cl: 10, sigmaWithin: 1, pairedCl: null, baselineKind: 'firstSubgroups', baselineFrom: null, baselineTo: null, subgroups: 2, validFrom: null });

  it('I-MR: a jump breaks rule 1 on both charts, stored apart by panel with each chart’s statistic', () => {
    // CL 10, σ̂ 1: the I chart's UCL is 13; the MR chart's UCL is (d2 + 3·d3)·σ̂ = 1.128 + 3 × 0.853 = 3.687.
    const jump = [10, 10, 10, 16];
    const j = judgeKey(measure(), { key: 'A', input: { chart: 'I-MR', observations: jump.map((value, i) => ({ value, time: hour(i) })) }, values: jump, stored: frozen('I-MR') });
    expect(j.violations).toEqual([
      { panel: 'main', rule: 1, side: 'above', time: hour(3), firstTime: hour(3), value: 16, pointIndex: 3, severity: 'alarm' },
      { panel: 'paired', rule: 1, side: 'above', time: hour(3), firstTime: hour(3), value: 6, pointIndex: 3, severity: 'warning' },
    ]);
  });

  it('X̄-R, n = 7: a range above UCL and one below the LCL above zero (0.205), the means all on CL', () => {
    // Seven values, mean 10, range r. R chart with σ̂ = 1: CL = d2(7) = 2.704, LCL = 2.704 − 3 × 0.833 = 0.205, UCL = 5.203.
    const seven = (r: number) => [10 - r / 2, 10 + r / 2, 10, 10, 10, 10, 10];
    const ranges = [2, 6, 0.125, 0.25];
    const subgroups = ranges.map((r, i) => ({ values: seven(r), time: hour(i) }));
    const m = measure({ chart: 'Xbar-R', subgroup: { size: 7 } });
    const j = judgeKey(m, { key: 'A', input: { chart: 'Xbar-R', subgroups }, values: subgroups.flatMap((g) => g.values), stored: frozen('Xbar-R') });
    expect(j.violations.map((v) => [v.panel, v.rule, v.side, v.value, v.pointIndex])).toEqual([
      ['paired', 1, 'above', 6, 1],
      ['paired', 1, 'below', 0.125, 2],
    ]);
  });

  it('follows the measure: rule 1 off, the paired chart is not judged', () => {
    const jump = [10, 10, 10, 16];
    const j = judgeKey(measure({ rules: [2] }), { key: 'A', input: { chart: 'I-MR', observations: jump.map((value, i) => ({ value, time: hour(i) })) }, values: jump, stored: frozen('I-MR') });
    expect(j.violations).toEqual([]);
  });
});

describe('rows not charted, for the summary line', () => {
  it('rejected readings and rows without a key, untraced by day with the lookup table named', () => {
    expect(unchartedText({ rejected: 0, noKey: 0, noKeyByDay: {} }, null)).toBe('');
    expect(unchartedText({ rejected: 3, noKey: 2, noKeyByDay: {} }, null)).toBe('3 rejected (no value or outside validRange); 2 without a chart key, not charted');
    const byDay = Object.fromEntries(['2026-10-03', '2026-10-01', '2026-10-02'].map((d, i) => [d, i + 1]));
    expect(unchartedText({ rejected: 0, noKey: 6, noKeyByDay: byDay }, 'wnd_data')).toBe('6 untraced (no match in wnd_data), not charted on 3 day(s): 2026-10-01 2, 2026-10-02 3, 2026-10-03 1');
  });
});

describe('windows of a run', () => {
  it('one window ending with the last day; earlier windows only for days it misses', () => {
    expect(chartWindows(['2026-11-10'], 30)).toEqual([{ from: '2026-10-12', to: '2026-11-10' }]);
    expect(chartWindows(['2026-11-01', '2026-11-10', '2026-11-05'], 30)).toEqual([{ from: '2026-10-12', to: '2026-11-10' }]);
    expect(chartWindows(['2026-09-01', '2026-10-11', '2026-11-10'], 30)).toEqual([
      { from: '2026-08-03', to: '2026-09-01' },
      { from: '2026-09-12', to: '2026-10-11' },
      { from: '2026-10-12', to: '2026-11-10' },
    ]);
  });
});

describe('source timestamps', () => {
  const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };
  it('local wall-clock text: instant, plant hour and production day (a day starts at 06:00)', () => {
    const parse = sourceTimeParser('local', clock);
    const t = parse('2026-10-21 05:59:30.250');
    expect(new Date(t.ms).toISOString()).toBe('2026-10-21T03:59:30.250Z');
    expect(new Date(t.hourMs).toISOString()).toBe('2026-10-21T03:00:00.000Z');
    expect(t.day).toBe('2026-10-20');
    expect(parse('2026-10-21 06:00:00').day).toBe('2026-10-21');
    expect(new Date(parse('2026-10-21T06:00').ms).toISOString()).toBe('2026-10-21T04:00:00.000Z');
  });

  it('UTC text across the fall-back night: the plant hours repeat, the instants do not', () => {
    const parse = sourceTimeParser('utc', clock);
    // 2026-10-25 00:30Z is 02:30 CEST, 01:30Z is 02:30 CET: the same plant hour label twice, an hour apart.
    const a = parse('2026-10-25 00:30:00');
    const b = parse('2026-10-25 01:30:00');
    expect(b.ms - a.ms).toBe(3_600_000);
    expect(b.hourMs - a.hourMs).toBe(3_600_000);
    expect(a.day).toBe('2026-10-24');
    // Production day 2026-10-24 lasts 25 hours: 04:00Z to 05:00Z the next day.
    expect(parse('2026-10-25 04:59:00').day).toBe('2026-10-24');
    expect(parse('2026-10-25 05:00:00').day).toBe('2026-10-25');
  });

  it('a plant zone with a half-hour offset: each source hour spans two plant hours', () => {
    const parse = sourceTimeParser('utc', { timezone: 'Asia/Kolkata', dayStart: '06:00' });
    expect(new Date(parse('2026-10-21 10:15:00').hourMs).toISOString()).toBe('2026-10-21T09:30:00.000Z');
    expect(new Date(parse('2026-10-21 10:45:00').hourMs).toISOString()).toBe('2026-10-21T10:30:00.000Z');
  });
});
