/**
 * The defect trace finds what the generator planted (sources.md "Demo and test data"): on the demo
 * range (30 days from 2026-10-12, Europe/Berlin, dayStart 06:00, local timestamps) WND03 and WND07
 * drift below the gap's LSL about a day before their infusion defects rise. Checked on SQLite with a
 * small test-record volume: the battery tables scale with the days, not with `rows`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFor, createBackend, openMigrated, type Backend } from '../support/backends.js';
import { generate, type GenerateManifest } from '../../data/generate.js';
import { addDays } from '../../etl/periods.js';
import { DEFECT_TRACE, loadDefectTrace, runDefectTrace, type DefectTraceResult } from '../../etl/defect-trace.js';
import { rankWinders } from '../../etl/lead-indicator.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { defectTraceParagraph, defectTraceSheetData } from '../../reports/defect-trace-sheet.js';

const START = '2026-10-12';
const LAST = addDays(START, 29);

describe('defect trace on the generated demo data (SQLite)', () => {
  let backend: Backend;
  let ctx: EtlContext;
  let manifest: GenerateManifest;
  let run: DefectTraceResult;

  beforeAll(async () => {
    backend = await createBackend('sqlite');
    ctx = await openMigrated(configFor(backend));
    manifest = await generate(ctx.source, {
      rows: 20_000,
      seed: 1,
      start: START,
      days: 30,
      timezone: 'Europe/Berlin',
      dayStart: '06:00',
      timestamps: 'local',
      mapping: ctx.config.source,
    });
    run = await runDefectTrace(ctx, { days: Array.from({ length: 30 }, (_, i) => addDays(START, i)), triggeredBy: 'test' });
  });
  afterAll(async () => {
    await ctx?.close();
    await backend?.cleanup();
  });

  it('plants WND03 drifting on 10-21 (rise 10-22) and WND07 on 10-30 (rise 10-31)', () => {
    expect(manifest.gapDrift).toEqual([
      { winder: 'WND03', driftStartDay: '2026-10-21', defectRiseDay: '2026-10-22' },
      { winder: 'WND07', driftStartDay: '2026-10-30', defectRiseDay: '2026-10-31' },
    ]);
  });

  it('stores every CEF cell: the day rows add up to the generated cells, the untraced ones included', async () => {
    const days = (await targetTable(ctx, ctx.target, 'summary_defect_winder').where({ period_type: 'day' }).select('winder', 'cells_assembled', 'gap_n')) as any[];
    expect(days.reduce((a, r) => a + Number(r.cells_assembled), 0)).toBe(manifest.cells);
    expect(days.filter((r) => r.winder === '(untraced)').reduce((a, r) => a + Number(r.cells_assembled), 0)).toBe(manifest.untracedCells);
    expect(days.reduce((a, r) => a + Number(r.gap_n), 0)).toBe(manifest.gapReadings);
    expect(run).toMatchObject({ cells: manifest.cells, untracedCells: manifest.untracedCells, gapReadings: manifest.gapReadings });
    const [logged] = (await targetTable(ctx, ctx.target, 'etl_runs').where({ id: run.runId })) as any[];
    expect(logged).toMatchObject({ job: DEFECT_TRACE, status: 'succeeded', period_to: LAST });
  });

  it('ranks WND03 and WND07 first on the last day, each with its gap below LSL a day before its rise', () => {
    expect(run.day).toBe(LAST);
    const above = run.ranking.filter((w) => w.above);
    expect(above.map((w) => w.winder).sort()).toEqual(['WND03', 'WND07']);
    expect(run.ranking.slice(0, 2).map((w) => w.winder).sort()).toEqual(['WND03', 'WND07']);
    for (const planted of manifest.gapDrift) {
      const w = run.ranking.find((r) => r.winder === planted.winder)!;
      expect(w).toMatchObject({
        riseDay: planted.defectRiseDay,
        verdict: 'below-lsl',
        firstSignalDay: planted.driftStartDay,
        signalLeadDays: 1,
        belowLslDays: [planted.driftStartDay],
      });
      // The day before the drift is in spec; the drift day has readings below LSL and a mean far below the baseline.
      const lead = w.lead.days;
      expect(lead.map((d) => d.day)).toEqual([addDays(planted.defectRiseDay, -2), planted.driftStartDay]);
      expect(lead[0]!.gap.belowLsl).toBe(0);
      expect(lead[1]!.gap.belowLsl).toBeGreaterThan(0);
      expect(lead[1]!.gap.min!).toBeLessThan(0.8);
      expect(lead[1]!.z!).toBeLessThan(-3);
      expect(w.baseline!.mean).toBeGreaterThan(0.95);
      expect(w.rate!).toBeGreaterThan(0.02);
    }
  });

  it('on each rise day the rising winder leads the ranking; the day before, its gap is the warning', async () => {
    for (const planted of manifest.gapDrift) {
      const rise = await loadDefectTrace(ctx, planted.defectRiseDay);
      const onRise = rankWinders(rise.rows, rise.day, rise.settings);
      expect(onRise[0]).toMatchObject({ winder: planted.winder, above: true, riseDay: planted.defectRiseDay, verdict: 'below-lsl', firstSignalDay: planted.driftStartDay });

      const before = defectTraceSheetData(await loadDefectTrace(ctx, planted.driftStartDay));
      expect(before.above.map((w) => w.winder)).not.toContain(planted.winder);
      expect(before.watch.map((w) => w.winder)).toContain(planted.winder);
      const email = defectTraceParagraph(before);
      expect(email.text).toMatch(new RegExp(`${planted.winder}: gap below LSL 0\\.80 mm from ${planted.driftStartDay}`));
    }
  });

  it('the report names both winders and why', async () => {
    const data = defectTraceSheetData(await loadDefectTrace(ctx, LAST));
    const { text, html } = defectTraceParagraph(data);
    expect(text).toContain('2 winders above the 2.00 % infusion-defect threshold on 2026-11-10');
    expect(text).toMatch(/WND03: infusion-defect rate [\d.]+ % \(\d+ of \d+ cells\), rising since 2026-10-22; gap below LSL 0\.80 mm from 2026-10-21, 1 day before the rise on 2026-10-22/);
    expect(text).toMatch(/WND07: .*rising since 2026-10-31; gap below LSL 0\.80 mm from 2026-10-30, 1 day before the rise on 2026-10-31/);
    expect(html).toContain('<li>WND03: infusion-defect rate');
  });
});
