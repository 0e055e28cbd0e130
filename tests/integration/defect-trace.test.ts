/**
 * The defect trace on real databases, on a small hand-built battery data set whose answers are
 * worked out in the comments. Every suite runs on SQLite and on PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { batterySource, configFor, createBackend, openMigrated, silentLog, writeBatteryTables, type Backend, type BatteryRows } from '../support/backends.js';
import { runDefectTrace, DEFECT_TRACE, DEFECT_TRACE_TABLE } from '../../etl/defect-trace.js';
import { UNTRACED } from '../../etl/lead-indicator.js';
import { openEtlContext, targetTable, type EtlContext } from '../../etl/context.js';
import { isoDate } from '../../etl/nightly-summary.js';
import { jobNamed } from '../../jobs/registry.js';
import type { AssemblyRow, InspectionRow, WindingRow } from '../../data/cell-assembly.js';

const BACKENDS = ['sqlite', 'postgres'] as const;

const wnd = (cellId: string, eqpId: string, prodDt: string): WindingRow => ({ cellId, lotId: 'L1', eqpId, prodDt });
const cef = (cellId: string, prodDt: string, dfctCd: number): AssemblyRow => ({ cellId, lotId: 'L1', eqpId: 'CEF01', prodDt, dfctCd });
const gap = (eqpId: string, inspDt: string, inspVal: number | null, itemCd = 'SEP_ANODE_GAP'): InspectionRow => ({ eqpId, inspDt, itemCd, inspVal: inspVal as number });

/*
 * Europe/Berlin, dayStart 06:00, naive local timestamps. Production day 2026-10-24 lasts 25 h
 * (10-24 06:00 CEST to 10-25 06:00 CET); its wall clock passes 02:00–03:00 twice. All three days lie
 * in ISO week 2026-W43 (Monday 10-19 06:00 to Monday 10-26 06:00).
 */
const HAND_BUILT: BatteryRows = {
  winding: [
    wnd('C01', 'WND01', '2026-10-22 20:00:00'), // wound the day before its CEF day
    wnd('C02', 'WND01', '2026-10-23 07:00:00'),
    wnd('C03', 'WND01', '2026-10-23 08:00:00'),
    wnd('C04', 'WND02', '2026-10-23 09:00:00'),
    wnd('C10', 'WND01', '2026-10-23 10:00:00'), // wound twice: the later winding (WND02) counts
    wnd('C10', 'WND02', '2026-10-23 11:00:00'),
    wnd('C05', 'WND02', '2026-10-24 06:00:00'),
    wnd('C06', 'WND02', '2026-10-24 11:00:00'),
    wnd('C08', 'WND01', '2026-10-24 12:00:00'),
    wnd('C09', '  ', '2026-10-24 13:00:00'), // a winding record without a winder: untraced
    wnd('C11', 'WND01', '2026-10-25 01:00:00'), // wound on production day 10-24, filled on 10-25
    // C07 has no winding record at all: untraced
  ],
  assembly: [
    // Day 10-23: WND01 C01 (infusion), C02 (ok), C03 (filling, last second of the day); WND02 C04 (ok),
    // C10 (infusion); untraced C07 (infusion).
    cef('C01', '2026-10-23 07:00:00', 5),
    cef('C02', '2026-10-23 09:00:00', 0),
    cef('C03', '2026-10-24 05:59:59', 4),
    cef('C04', '2026-10-23 12:00:00', 0),
    cef('C10', '2026-10-23 13:00:00', 5),
    cef('C07', '2026-10-23 14:00:00', 5),
    // Day 10-24 (25 h): WND02 C05 (infusion, its first second), C06 (ok, first 02:30); WND01 C08
    // (infusion, second 02:30: the same wall-clock text); untraced C09 (ok, 05:59 CET).
    cef('C05', '2026-10-24 06:00:00', 5),
    cef('C06', '2026-10-25 02:30:00', 0),
    cef('C08', '2026-10-25 02:30:00', 5),
    cef('C09', '2026-10-25 05:59:00', 0),
    // Day 10-25: WND01 C11 (filling).
    cef('C11', '2026-10-25 06:00:00', 4),
  ],
  inspection: [
    // Day 10-23: WND01 1.00, 0.90, 0.95 → n 3, mean 0.95, deviations ±0.05 and 0 → SS 0.005, sd √(0.005/2) = 0.05.
    gap('WND01', '2026-10-23 08:00:00', 1.0),
    gap('WND01', '2026-10-23 16:00:00', 0.9),
    gap('WND01', '2026-10-24 04:00:00', 0.95),
    { eqpId: 'WND01', inspDt: '2026-10-23 08:00:00', itemCd: 'WIND_TENSION', inspVal: 12 }, // another item
    // WND02 0.78 → n 1, below LSL 1, sd NULL; a reading without a value is not a reading.
    gap('WND02', '2026-10-23 09:00:00', 0.78),
    gap('WND02', '2026-10-23 10:00:00', null),
    // WND03 winds nothing but is inspected: 1.25, 1.15 → mean 1.20, sd √0.005, above USL 1 (1.25 > 1.20).
    gap('WND03', '2026-10-23 10:00:00', 1.25),
    gap('WND03', '2026-10-23 11:00:00', 1.15),
    // Day 10-24: WND01 0.85, 0.75 in the repeated hour → mean 0.80, sd √0.005, below LSL 1.
    gap('WND01', '2026-10-25 02:30:00', 0.85),
    gap('WND01', '2026-10-25 02:45:00', 0.75),
    // WND02 exactly at LSL: in spec.
    gap('WND02', '2026-10-24 06:00:00', 0.8),
    // Day 10-25: WND01 1.00 (a padded equipment id is trimmed).
    gap(' WND01 ', '2026-10-25 06:00:00', 1.0),
    // Production day 10-18 (05:59 on Monday 10-19): neither a W43 day nor part of the week.
    gap('WND01', '2026-10-19 05:59:00', 0.5),
  ],
};

describe.each(BACKENDS)('defect trace on %s', (backendName) => {
  let backend: Backend;
  let ctx: EtlContext | undefined;

  beforeEach(async () => {
    backend = await createBackend(backendName);
  });
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
    await backend.cleanup();
  });

  async function setup(rows: BatteryRows, overrides: Record<string, any> = {}) {
    ctx = await openMigrated(configFor(backend, { ...overrides, source: { ...batterySource(backend), ...(overrides.source ?? {}) } }));
    await writeBatteryTables(ctx, rows);
    return ctx;
  }

  async function rows(type: 'day' | 'week', start: string): Promise<Record<string, any>[]> {
    const all = (await targetTable(ctx!, ctx!.target, DEFECT_TRACE_TABLE).where({ period_type: type }).select('*')) as Record<string, any>[];
    return all
      .filter((r) => isoDate(r.period_start) === start)
      .map(({ run_id: _r, computed_at: _c, ...r }): Record<string, any> => ({ ...r, period_start: isoDate(r.period_start) }))
      .sort((a, b) => (a.winder < b.winder ? -1 : 1));
  }
  const byWinder = async (type: 'day' | 'week', start: string): Promise<Record<string, Record<string, any>>> => Object.fromEntries((await rows(type, start)).map((r) => [r.winder, r]));

  it('counts defects per winder, untraced cells, and gap statistics per day, DST day included', async () => {
    await setup(HAND_BUILT);
    const r = await runDefectTrace(ctx!, { days: ['2026-10-23', '2026-10-24', '2026-10-25'], triggeredBy: 'test' });
    expect(r.requested).toEqual(['2026-10-23', '2026-10-24', '2026-10-25']);

    const d23 = await byWinder('day', '2026-10-23');
    // '(untraced)' sorts before the winders; WND03 has readings but no cells.
    expect(Object.keys(d23)).toEqual([UNTRACED, 'WND01', 'WND02', 'WND03']);
    expect(d23.WND01).toMatchObject({
      period_label: '2026-10-23', cells_assembled: 3, infusion_defects: 1, filling_defects: 1, infusion_defect_rate: 1 / 3,
      gap_n: 3, gap_min: 0.9, gap_max: 1.0, gap_below_lsl: 0, gap_above_usl: 0, gap_lsl: 0.8, gap_usl: 1.2,
    });
    expect(d23.WND01!.gap_mean).toBeCloseTo(0.95, 9);
    expect(d23.WND01!.gap_sd).toBeCloseTo(0.05, 9);
    expect(d23.WND02).toMatchObject({ cells_assembled: 2, infusion_defects: 1, filling_defects: 0, infusion_defect_rate: 0.5, gap_n: 1, gap_mean: 0.78, gap_sd: null, gap_below_lsl: 1 });
    expect(d23.WND03).toMatchObject({ cells_assembled: 0, infusion_defects: 0, infusion_defect_rate: null, gap_n: 2, gap_above_usl: 1, gap_below_lsl: 0 });
    expect(d23.WND03!.gap_mean).toBeCloseTo(1.2, 9);
    expect(d23.WND03!.gap_sd).toBeCloseTo(Math.sqrt(0.005), 9);
    expect(d23[UNTRACED]).toMatchObject({ cells_assembled: 1, infusion_defects: 1, infusion_defect_rate: 1, gap_n: 0, gap_mean: null, gap_sd: null });

    // 10-24, 25 hours: both 02:30 CEF results and both repeated-hour readings count here.
    const d24 = await byWinder('day', '2026-10-24');
    expect(Object.keys(d24)).toEqual([UNTRACED, 'WND01', 'WND02']);
    expect(d24.WND01).toMatchObject({ cells_assembled: 1, infusion_defects: 1, infusion_defect_rate: 1, gap_n: 2, gap_min: 0.75, gap_max: 0.85, gap_below_lsl: 1 });
    expect(d24.WND01!.gap_mean).toBeCloseTo(0.8, 9);
    expect(d24.WND01!.gap_sd).toBeCloseTo(Math.sqrt(0.005), 9);
    expect(d24.WND02).toMatchObject({ cells_assembled: 2, infusion_defects: 1, infusion_defect_rate: 0.5, gap_n: 1, gap_mean: 0.8, gap_below_lsl: 0 });
    expect(d24[UNTRACED]).toMatchObject({ cells_assembled: 1, infusion_defects: 0, infusion_defect_rate: 0 });

    const d25 = await byWinder('day', '2026-10-25');
    expect(Object.keys(d25)).toEqual(['WND01']);
    expect(d25.WND01).toMatchObject({ cells_assembled: 1, infusion_defects: 0, filling_defects: 1, infusion_defect_rate: 0, gap_n: 1, gap_mean: 1 });

    // Week W43 pools its days. WND01 cells 3 + 1 + 1, infusion 1 + 1, filling 1 + 1; gap readings
    // 1.00, 0.90, 0.95, 0.85, 0.75, 1.00: Σx 5.45, Σx² 4.9975, SS = 4.9975 − 5.45²/6 = 0.2825/6,
    // sd = √(0.2825/30); the 0.5 of production day 10-18 is not in the week.
    const w43 = await byWinder('week', '2026-10-19');
    expect(w43.WND01).toMatchObject({
      period_label: '2026-W43', cells_assembled: 5, infusion_defects: 2, filling_defects: 2, infusion_defect_rate: 0.4,
      gap_n: 6, gap_min: 0.75, gap_max: 1, gap_below_lsl: 1, gap_above_usl: 0,
    });
    expect(w43.WND01!.gap_mean).toBeCloseTo(5.45 / 6, 9);
    expect(w43.WND01!.gap_sd).toBeCloseTo(Math.sqrt(0.2825 / 30), 9);
    // WND02: cells C04, C10, C05, C06; gap 0.78, 0.80 → mean 0.79, sd √0.0002.
    expect(w43.WND02).toMatchObject({ cells_assembled: 4, infusion_defects: 2, infusion_defect_rate: 0.5, gap_n: 2, gap_below_lsl: 1 });
    expect(w43.WND02!.gap_sd).toBeCloseTo(Math.sqrt(0.0002), 9);
    expect(w43[UNTRACED]).toMatchObject({ cells_assembled: 2, infusion_defects: 1, infusion_defect_rate: 0.5 });
    // Every count sums over the rows to CEF's totals: 11 cells, 5 infusion, 2 filling defects.
    const weekRows = Object.values(w43);
    expect(weekRows.reduce((a, x) => a + x.cells_assembled, 0)).toBe(11);
    expect(weekRows.reduce((a, x) => a + x.infusion_defects, 0)).toBe(5);

    // Day 10-18 (the Monday-morning reading) is in the lead indicator's window, never computed
    // before: the run computed it too, and says why.
    expect(r.selection['2026-10-18']).toBe('window: never computed');
    expect((await byWinder('day', '2026-10-18')).WND01).toMatchObject({ gap_n: 1, gap_mean: 0.5, gap_below_lsl: 1, cells_assembled: 0 });
    expect(r).toMatchObject({ day: '2026-10-25', cells: 11, untracedCells: 2, infusionDefects: 5, untraced: { cells: 0 } });

    const runs = (await targetTable(ctx!, ctx!.target, 'etl_runs').where({ job: DEFECT_TRACE })) as any[];
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'succeeded', period_to: '2026-10-25', triggered_by: 'test', rows_written: r.rowsWritten });
  });

  it('attributes a cell to its CEF (assembly) day, not to the day it was wound', async () => {
    await setup({
      winding: [wnd('A1', 'WND05', '2026-11-19 22:00:00'), wnd('A2', 'WND05', '2026-11-20 05:00:00')],
      // A1 wound on day 11-19, filled on 11-20; A2 wound at 05:00 on 11-20 (production day 11-19),
      // filled at 06:30 (day 11-20). Both count on 11-20; day 11-19 has no CEF result.
      assembly: [cef('A1', '2026-11-20 07:00:00', 5), cef('A2', '2026-11-20 06:30:00', 0)],
    });
    await runDefectTrace(ctx!, { days: ['2026-11-19', '2026-11-20'], triggeredBy: 'test' });
    expect(await rows('day', '2026-11-19')).toEqual([]);
    expect(await rows('day', '2026-11-20')).toEqual([
      expect.objectContaining({ winder: 'WND05', cells_assembled: 2, infusion_defects: 1, infusion_defect_rate: 0.5, gap_n: 0, gap_mean: null }),
    ]);
  });

  it('UTC source: the 25-hour day runs from 04:00Z to 05:00Z of the next day', async () => {
    await setup(
      {
        winding: [wnd('U1', 'WND01', '2026-10-20 10:00:00'), wnd('U2', 'WND01', '2026-10-20 10:00:00'), wnd('U3', 'WND01', '2026-10-20 10:00:00')],
        assembly: [
          cef('U1', '2026-10-24 03:59:00', 5), // 05:59 CEST: day 10-23
          cef('U2', '2026-10-25 04:30:00', 5), // 05:30 CET: still day 10-24
          cef('U3', '2026-10-25 05:00:00', 0), // 06:00 CET: day 10-25
        ],
      },
      { source: { timestamps: 'utc' } },
    );
    await runDefectTrace(ctx!, { days: ['2026-10-23', '2026-10-24', '2026-10-25'], triggeredBy: 'test' });
    expect((await byWinder('day', '2026-10-23')).WND01).toMatchObject({ cells_assembled: 1, infusion_defects: 1 });
    expect((await byWinder('day', '2026-10-24')).WND01).toMatchObject({ cells_assembled: 1, infusion_defects: 1 });
    expect((await byWinder('day', '2026-10-25')).WND01).toMatchObject({ cells_assembled: 1, infusion_defects: 0 });
  });

  it('a rerun replaces the periods with identical rows; only the days asked for and the missing window days are computed', async () => {
    await setup(HAND_BUILT);
    const first = await runDefectTrace(ctx!, { days: ['2026-10-23', '2026-10-24', '2026-10-25'], triggeredBy: 'test' });
    const before = { d: await rows('day', '2026-10-24'), w: await rows('week', '2026-10-19') };
    const second = await runDefectTrace(ctx!, { days: ['2026-10-24'], triggeredBy: 'test' });
    // Every window day was computed by the first run: only the day asked for now.
    expect(second.days).toEqual(['2026-10-24']);
    expect(first.days.length).toBeGreaterThan(30);
    expect(await rows('day', '2026-10-24')).toEqual(before.d);
    expect(await rows('week', '2026-10-19')).toEqual(before.w);
    const stamps = (await targetTable(ctx!, ctx!.target, DEFECT_TRACE_TABLE).where({ period_type: 'day' }).select('period_start', 'run_id')) as any[];
    expect(new Set(stamps.filter((s) => isoDate(s.period_start) === '2026-10-24').map((s) => s.run_id))).toEqual(new Set([second.runId]));
    expect(new Set(stamps.filter((s) => isoDate(s.period_start) === '2026-10-23').map((s) => s.run_id))).toEqual(new Set([first.runId]));
  });

  it('runs as the registered job: dependents get the days asked for, a person the findings', async () => {
    await setup(HAND_BUILT, { defectTrace: { minCells: 1, infusionRateThreshold: 0.4 } });
    const out = await jobNamed(DEFECT_TRACE).run(ctx!, { days: ['2026-10-24'], triggeredBy: 'test' });
    expect(out.primaryDays).toEqual(['2026-10-24']);
    expect(out.days).toContain('2026-10-23'); // a window day never computed before
    // 10-24: WND01 1 of 1 (100 %) and WND02 1 of 2 (50 %) are above 40 %. WND01 rises on 10-24 (on
    // 10-23 it had 1 of 3, 33 %); its lead days 10-22..10-23 are in spec, but its only earlier reading
    // (10-18) gives no sigma: no baseline. WND02 was above on 10-23 too (1 of 2), so it rises on
    // 10-23, and its lead days 10-21..10-22 have no readings.
    expect(out.summary).toContain('2026-10-24: WND01 infusion-defect rate 100.00 % (1/1), rising since 2026-10-24; gap before the rise: no-baseline');
    expect(out.summary).toContain('2026-10-24: WND02 infusion-defect rate 50.00 % (1/2), rising since 2026-10-23; gap before the rise: no-data');
    expect(out.summary).toContain('2026-10-24: 1 cell(s) without a winding record, 0 with an infusion defect');
  });

  it('a wrong source mapping fails before any work, naming the config key', async () => {
    await setup(HAND_BUILT);
    const bad = openEtlContext(
      configFor(backend, { source: { ...batterySource(backend), winding: { table: backend.table('wnd_data'), columns: { eqpId: 'WinderID' } } } }),
      silentLog,
    );
    try {
      await expect(runDefectTrace(bad, { days: ['2026-10-23'], triggeredBy: 'test' })).rejects.toThrow(
        /source table '.*wnd_data' has no column for source\.winding\.columns\.eqpId = 'WinderID'/,
      );
      const missing = openEtlContext(configFor(backend, { source: { ...batterySource(backend), inspection: { table: backend.table('isp_missing') } } }), silentLog);
      await expect(runDefectTrace(missing, { days: ['2026-10-23'], triggeredBy: 'test' })).rejects.toThrow(/set source\.inspection\.table/);
      await missing.close();
    } finally {
      await bad.close();
    }
    expect(await targetTable(ctx!, ctx!.target, 'etl_runs').where({ job: DEFECT_TRACE })).toEqual([]);
  });
});
