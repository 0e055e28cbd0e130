/**
 * The cell-risk model's pure parts on hand-computed examples: encoding and standardisation,
 * contributions and score, the class at the threshold, the nearest gap reading, the fit windows,
 * and the feature statement as SQL Server gets it.
 */
import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { resolveConfig } from '../../../config/load.js';
import { designColumns, encodeCell, fitEncoding, HIGH_RISK, NO_LEVEL, riskClass, SAFE, scoreCell, topFeatures, type CellFeatures, type ScoringModel } from '../../../etl/risk/features.js';
import { cellFeaturesOf, nearestGap, riskFeatureStatement } from '../../../etl/risk/cell-features.js';
import { fitWindows, refitDue } from '../../../etl/risk/cell-risk-job.js';
import { fitRiskModel } from '../../../etl/risk/risk-model.js';
import { fitLogistic } from '../../../etl/risk/logistic.js';
import { createRng } from '../../../data/random.js';
import { tsqlProblems } from '../../support/tsql-check.js';

function cell(gap: number | null, winder: string, label: 0 | 1 | null = 0, k: number | null = null): CellFeatures {
  return {
    cellId: `C-${gap}-${winder}`,
    lotId: 'L1',
    winder,
    numeric: { gap_mm: gap, k_value: k, capacity_ah: null, dcir_mohm: null, ocv2_v: null, age_days: null, oqc_acir_mohm: null },
    categorical: { winder, cef_defect: '0', oqc_result: NO_LEVEL, formation_eqp: NO_LEVEL },
    label,
  };
}

describe('encoding', () => {
  // gap 0.9, 1.0, 1.1 and one missing: mean 1.0, sd √((0.01 + 0 + 0.01) / 2) = 0.1.
  // winder W1 twice, W2 once, none once: W1 is the reference; columns W2 and none, by name.
  const cells = [cell(0.9, 'W1'), cell(1.0, 'W1'), cell(1.1, 'W2'), cell(null, NO_LEVEL)];
  const enc = fitEncoding(cells, { numeric: ['gap_mm'], categorical: ['winder'] });

  it('standardises numeric features by the training mean and sample sd; one-hot against the most frequent level', () => {
    expect(enc.numeric).toHaveLength(1);
    expect(enc.numeric[0]!.mean).toBeCloseTo(1.0, 12);
    expect(enc.numeric[0]!.sd).toBeCloseTo(0.1, 12);
    expect(enc.numeric[0]!.present).toBe(3);
    expect(enc.categorical).toEqual([{ feature: 'winder', reference: 'W1', levels: ['W2', 'none'] }]);
    expect(designColumns(enc)).toEqual([{ feature: 'gap_mm' }, { feature: 'winder', level: 'W2' }, { feature: 'winder', level: 'none' }]);
  });

  it('encodes a cell: (1.2 − 1.0) / 0.1 = 2; a missing value is the mean (0); an unseen level is the reference', () => {
    const row = encodeCell(enc, cell(1.2, 'W2'));
    expect(row[0]).toBeCloseTo(2, 12);
    expect(row.slice(1)).toEqual([1, 0]);
    expect(encodeCell(enc, cell(null, 'none'))).toEqual([0, 0, 1]);
    expect(encodeCell(enc, cell(1.0, 'W9'))).toEqual([0, 0, 0]);
  });

  it('a level tie picks the first by name as the reference', () => {
    expect(fitEncoding([cell(1, 'B'), cell(1, 'A')], { numeric: [], categorical: ['winder'] }).categorical[0]).toEqual({ feature: 'winder', reference: 'A', levels: ['B'] });
  });
});

describe('scoring', () => {
  const encoding = fitEncoding([cell(0.9, 'W1'), cell(1.0, 'W1'), cell(1.1, 'W2'), cell(null, NO_LEVEL)], { numeric: ['gap_mm'], categorical: ['winder'] });
  const model: ScoringModel = { version: 3, threshold: 75, encoding, intercept: -1, coefficients: [0.5, 0.8, 2.0] };

  it('score = 100 · σ(β₀ + Σ contributions); contributions coefficient × standardised value or the level\'s coefficient', () => {
    // gap 1.2: z = 2, 0.5 · 2 = 1; W2: 0.8. η = −1 + 1 + 0.8 = 0.8, σ(0.8) = 0.6899744811276125.
    const s = scoreCell(model, cell(1.2, 'W2'));
    expect(s.probability).toBeCloseTo(0.6899744811276125, 12);
    expect(s.score).toBeCloseTo(68.99744811276125, 10);
    expect(s.class).toBe(SAFE);
    expect(s.contributions.map((c) => [c.feature, c.value])).toEqual([['gap_mm', 1.2], ['winder', 'W2']]);
    expect(s.contributions[0]!.contribution).toBeCloseTo(1, 12);
    // No winding record: the gap is missing (0), the level none adds 2: η = 1, σ(1) = 0.7310585786300049.
    const none = scoreCell(model, cell(null, 'none'));
    expect(none.score).toBeCloseTo(73.10585786300049, 10);
    expect(none.contributions.map((c) => [c.feature, c.contribution])).toEqual([['winder', 2], ['gap_mm', 0]]);
    // gap 0.8: z = −2 → −1; W1 is the reference → 0. η = −2, σ = 0.11920292202211755.
    const low = scoreCell(model, cell(0.8, 'W1'));
    expect(low.score).toBeCloseTo(11.920292202211755, 10);
    expect(low.contributions.map((c) => c.feature)).toEqual(['winder', 'gap_mm']);
  });

  it('the class: at or above the threshold a short-term test is recommended', () => {
    expect(riskClass(75, 75)).toBe(HIGH_RISK);
    expect(riskClass(74.999, 75)).toBe(SAFE);
    expect(scoreCell({ ...model, threshold: 68 }, cell(1.2, 'W2')).class).toBe(HIGH_RISK);
  });

  it('top features: the first three, values to 6 significant digits, contributions to 4 decimals', () => {
    const s = scoreCell(model, cell(1.23456789, 'W2'));
    // z = 2.3456789, 0.5 · z = 1.17283945
    expect(topFeatures(s)).toEqual([
      { feature: 'gap_mm', value: 1.23457, contribution: 1.1728 },
      { feature: 'winder', value: 'W2', contribution: 0.8 },
    ]);
  });

  it('is deterministic: the same model and cell give the same numbers', () => {
    expect(scoreCell(model, cell(1.07, 'none'))).toEqual(scoreCell(model, cell(1.07, 'none')));
  });
});

describe('fitting', () => {
  it('the per-unit coefficients are those of a fit on the raw values (the standardisation only rescales)', () => {
    const rng = createRng(5, 'risk-fit');
    const cells: CellFeatures[] = [];
    for (let i = 0; i < 400; i++) {
      const gap = rng.normal(1, 0.05);
      const k = rng.normal(1, 0.3);
      const p = 1 / (1 + Math.exp(-(-2 - 20 * (gap - 1) + 1.5 * (k - 1))));
      cells.push(cell(gap, 'W1', rng.next() < p ? 1 : 0, k));
    }
    const fit = fitRiskModel(cells, [], { features: { numeric: ['gap_mm', 'k_value'], categorical: [] }, ridge: 0, threshold: 75 });
    const raw = fitLogistic(cells.map((c) => [c.numeric.gap_mm!, c.numeric.k_value!]), cells.map((c) => c.label!));
    expect(fit.columns[0]!.perUnit!.coefficient).toBeCloseTo(raw.coefficients[0]!, 6);
    expect(fit.columns[1]!.perUnit!.coefficient).toBeCloseTo(raw.coefficients[1]!, 6);
    expect(fit.columns[0]!.perUnit!.se).toBeCloseTo(raw.standardErrors[0]!, 6);
    expect(fit.intercept.coefficient).toBeCloseTo(raw.intercept + raw.coefficients[0]! * fit.encoding.numeric[0]!.mean + raw.coefficients[1]! * fit.encoding.numeric[1]!.mean, 6);
    expect(fit.heldOut).toBeNull();
  });
});

describe('the nearest gap reading', () => {
  it('keeps the closer of the readings before and after, the earlier on a tie, none beyond the margin', () => {
    expect(nearestGap(1000, { at: 400, value: 1 }, { at: 1500, value: 2 }, 10_000)).toBe(2);
    expect(nearestGap(1000, { at: 500, value: 1 }, { at: 1500, value: 2 }, 10_000)).toBe(1);
    expect(nearestGap(1000, { at: 400, value: 1 }, null, 10_000)).toBe(1);
    expect(nearestGap(1000, { at: 400, value: 1 }, { at: 1500, value: 2 }, 550)).toBe(2);
    expect(nearestGap(1000, { at: 400, value: 1 }, { at: 1700, value: 2 }, 500)).toBeNull();
    expect(nearestGap(null, { at: 400, value: 1 }, null, 10_000)).toBeNull();
  });

  it('a feature row becomes a cell: the gap picked, levels, the label from the outcome', () => {
    const instant = (v: unknown) => (v === null ? null : DateTime.fromSQL(String(v), { zone: 'UTC' }).toMillis());
    const row = {
      cell_id: 'C1 ', lot_id: 'L1', fmt_eqp: 'FMT01', fmt_dt: '2026-11-02 10:00:00', ocv1: 4.185, ocv2: 4.18, age_days: 5, k_value: 1, capacity: '5.01', dcir: 18,
      winder: 'WND03', wound_at: '2026-10-28 10:00:00', gap_before: 0.9, gap_before_at: '2026-10-28 09:10:00', gap_after: 0.95, gap_after_at: '2026-10-28 10:40:00',
      dfct_cd: 5, oqc_result: 'ng', oqc_value: null, outcome: 'field_return', outcome_dt: '2026-11-05 00:00:00',
    };
    const c = cellFeaturesOf(row, { instant, marginMs: 24 * 3_600_000, labelled: true });
    expect(c).toEqual({
      cellId: 'C1', lotId: 'L1', winder: 'WND03',
      numeric: { gap_mm: 0.95, k_value: 1, capacity_ah: 5.01, dcir_mohm: 18, ocv2_v: 4.18, age_days: 5, oqc_acir_mohm: null },
      categorical: { winder: 'WND03', cef_defect: '5', oqc_result: 'NG', formation_eqp: 'FMT01' },
      label: 1,
    });
    expect(cellFeaturesOf({ ...row, outcome: null, winder: null, dfct_cd: null }, { instant, marginMs: 1, labelled: true })).toMatchObject({ label: 0, categorical: { winder: 'none', cef_defect: 'none' } });
    expect(cellFeaturesOf(row, { instant, marginMs: 1, labelled: false }).label).toBeNull();
  });
});

describe('the fit windows and the refit rule', () => {
  it('day 2026-11-10, outcomes after 7 days, 5 held out, 14 training: held out 10-30 … 11-03, training 10-16 … 10-29', () => {
    expect(fitWindows('2026-11-10', { outcomeAfterDays: 7, heldOutDays: 5, trainingDays: 14 })).toEqual({ train: { from: '2026-10-16', to: '2026-10-29' }, test: { from: '2026-10-30', to: '2026-11-03' } });
  });
  it('refits without a model, when asked, and once the active one is refitEveryDays old', () => {
    expect(refitDue(null, '2026-11-10', 7, false)).toBe(true);
    expect(refitDue({ fitDay: '2026-11-04' }, '2026-11-10', 7, false)).toBe(false);
    expect(refitDue({ fitDay: '2026-11-03' }, '2026-11-10', 7, false)).toBe(true);
    expect(refitDue({ fitDay: '2026-11-10' }, '2026-11-10', 7, true)).toBe(true);
    expect(refitDue({ fitDay: '2026-11-12' }, '2026-11-10', 7, false)).toBe(false);
  });
});

describe('the feature statement', () => {
  const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };
  it('on SQL Server: bracketed names, every value bound, windows with ROWS frames, nothing SQL Server refuses', () => {
    const config = resolveConfig({ plant: clock, source: { formation: { table: 'mes.fmt_data' } } }, {}, 'test');
    const st = riskFeatureStatement({ config, clock, sourceDialect: 'mssql' }, '2026-11-02', '2026-11-03', DateTime.fromISO('2026-11-10T06:00:00', { zone: 'Europe/Berlin' }));
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(st.sql).toContain('FROM [mes].[fmt_data] f');
    expect(st.sql).toContain('ROWS UNBOUNDED PRECEDING');
    expect(st.sql).not.toMatch(/SELECT[^()]*\(SELECT[^()]*WHERE[^()]*<=/i);
    // ageing from 11-02 06:00 to 11-04 06:00; windings from 14 days before; readings 24 h wider; gap item; known before.
    expect(st.bindings).toEqual([
      '2026-11-02 06:00:00', '2026-11-04 06:00:00',
      '2026-10-19 06:00:00', '2026-11-04 06:00:00',
      'SEP_ANODE_GAP', '2026-10-18 06:00:00', '2026-11-05 06:00:00',
      '2026-11-10 06:00:00', '2026-11-10 06:00:00',
    ]);
  });
  it('source timestamps in UTC are bound as UTC wall-clock', () => {
    const config = resolveConfig({ plant: clock, source: { timestamps: 'utc' } }, {}, 'test');
    const st = riskFeatureStatement({ config, clock, sourceDialect: 'postgres' }, '2026-11-02', '2026-11-02', DateTime.fromISO('2026-11-03T06:00:00', { zone: 'Europe/Berlin' }));
    expect(st.bindings.slice(0, 2)).toEqual(['2026-11-02 05:00:00', '2026-11-03 05:00:00']);
    expect(st.sql).toContain('CAST(? AS timestamp)');
  });
  it('bad risk config fails at start-up naming the key', () => {
    expect(() => resolveConfig({ risk: { features: { numeric: ['gap'] } } }, {}, 'test')).toThrow(/risk\.features\.numeric/);
    expect(() => resolveConfig({ risk: { threshold: 120 } }, {}, 'test')).toThrow(/risk\.threshold/);
    expect(() => resolveConfig({ source: { formation: { table: 'fmt; drop' } } }, {}, 'test')).toThrow(/source\.formation\.table/);
    expect(() => resolveConfig({ source: { outcome: { columns: { outcome: 'x y' } } } }, {}, 'test')).toThrow(/source\.outcome\.columns\.outcome/);
  });
});
