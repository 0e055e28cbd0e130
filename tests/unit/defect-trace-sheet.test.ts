/**
 * The defect trace's report pieces (reports/defect-trace-sheet.ts) on a small worked example: the
 * sheet's data, the sheet itself read back from the written workbook, the chart and the email
 * paragraph.
 */
import { describe, expect, it } from 'vitest';
import { dateRange } from '../../etl/periods.js';
import { NO_GAP, UNTRACED, type GapStats, type LeadIndicatorSettings, type WinderDay } from '../../etl/lead-indicator.js';
import { writeAndReadBack } from '../support/xlsx.js';
import {
  addDefectTraceSheet,
  defectTraceChartSpec,
  defectTraceParagraph,
  defectTraceSheetData,
  renderDefectTraceChart,
} from '../../reports/defect-trace-sheet.js';

const S: LeadIndicatorSettings = { lsl: 0.8, usl: 1.2, infusionRateThreshold: 0.02, minCells: 50, windowDays: 5, leadDays: 2, baselineDays: 3, driftZ: 3 };
const D = '2026-11-10';
const g = (n: number, m: number, sd: number, extra: Partial<GapStats> = {}): GapStats => ({ n, mean: m, sd, min: m, max: m, belowLsl: 0, aboveUsl: 0, ...extra });
const row = (winder: string, day: string, cells: number, infusionDefects: number, gap: GapStats = NO_GAP, fillingDefects = 0): WinderDay => ({ winder, day, cells, infusionDefects, fillingDefects, gap });
const normal = g(4, 1.0, 0.02, { min: 0.97, max: 1.03 });

// The span read for 11-10: window 11-06..11-10, lead and baseline days back to 11-01.
const rows: WinderDay[] = [
  // WND03: gap below LSL on 11-08 (lowest 0.75); 5 % on 11-09 and 6 % on 11-10: rising since 11-09,
  // the gap a day ahead of it.
  ...dateRange('2026-11-01', '2026-11-07').map((d) => row('WND03', d, 100, 0, normal)),
  row('WND03', '2026-11-08', 100, 0, g(4, 0.8, 0.04, { min: 0.75, max: 0.85, belowLsl: 2 })),
  row('WND03', '2026-11-09', 100, 5, g(4, 0.76, 0.02, { min: 0.74, max: 0.79, belowLsl: 4 })),
  row('WND03', D, 100, 6, g(4, 0.76, 0.02, { min: 0.73, max: 0.79, belowLsl: 4 }), 1),
  // WND01: 1 % every day, gap steady.
  ...dateRange('2026-11-01', D).map((d) => row('WND01', d, 100, 1, normal)),
  // WND07: no defects, but a reading of 0.78 today: watch.
  ...dateRange('2026-11-01', '2026-11-09').map((d) => row('WND07', d, 100, 0, normal)),
  row('WND07', D, 100, 0, g(4, 0.9, 0.08, { min: 0.78, max: 1.0, belowLsl: 1 })),
  // Four CEF cells without a winding record today, one with an infusion defect.
  row(UNTRACED, D, 4, 1),
];
const data = defectTraceSheetData({ day: D, rows, settings: S });

describe('the sheet data', () => {
  it('ranks the winders, names those above the threshold and those to watch, and counts the untraced cells', () => {
    expect(data.winders.map((w) => [w.rank, w.winder, w.rate])).toEqual([[1, 'WND03', 0.06], [2, 'WND01', 0.01], [3, 'WND07', 0]]);
    expect(data.above.map((w) => w.winder)).toEqual(['WND03']);
    expect(data.watch.map((w) => w.winder)).toEqual(['WND07']);
    expect(data.untraced).toEqual({ cells: 4, infusionDefects: 1, fillingDefects: 0, rate: 0.25 });
    // All of the day's cells: 3 × 100 + 4; infusion defects 6 + 1 + 0 + 1.
    expect(data.total).toEqual({ cells: 304, infusionDefects: 8, rate: 8 / 304 });
  });

  it('says why in words', () => {
    expect(data.winders[0]!.finding).toBe('gap below LSL 0.80 mm from 2026-11-08, 1 day before the rise on 2026-11-09 (lowest 0.750 mm)');
    expect(data.winders[1]!.finding).toBe('gap in spec and stable in the last 2 days');
    expect(data.winders[2]!.finding).toBe('gap below LSL 0.80 mm from 2026-11-10 (lowest 0.780 mm)');
  });

  it('charts the window, winders only, the named ones highlighted', () => {
    expect(data.chart).toMatchObject({ from: '2026-11-06', to: D });
    expect(new Set(data.chart.points.map((p) => p.day))).toEqual(new Set(dateRange('2026-11-06', D)));
    expect(data.chart.points.some((p) => p.winder === UNTRACED)).toBe(false);
    expect(data.chart.points.find((p) => p.winder === 'WND03' && p.day === D)).toEqual({ day: D, winder: 'WND03', cells: 100, rate: 0.06, gapMean: 0.76, highlighted: true });
    expect(data.chart.points.find((p) => p.winder === 'WND01')!.highlighted).toBe(false);
  });
});

describe('the sheet', () => {
  it('is one Excel table with typed cells, percent formats and a frozen header; the untraced cells last', async () => {
    const back = await writeAndReadBack((book) => addDefectTraceSheet(book, data));
    const ws = back.getWorksheet('Defect trace')!;
    expect(ws.views[0]).toMatchObject({ state: 'frozen', xSplit: 2, ySplit: 1 });
    expect(Object.keys((ws as unknown as { tables: Record<string, unknown> }).tables)).toEqual(['DefectTrace']);
    const header = (ws.getRow(1).values as unknown[]).slice(1);
    const col = (name: string) => header.indexOf(name) + 1;
    expect(header.slice(0, 6)).toEqual(['Rank', 'Winder', 'Cells', 'Infusion defects', 'Filling defects', 'Infusion-defect rate']);
    expect(ws.getCell(2, col('Winder')).value).toBe('WND03');
    expect(ws.getCell(2, col('Rank')).value).toBe(1);
    expect(ws.getCell(2, col('Filling defects')).value).toBe(1);
    const rate = ws.getCell(2, col('Infusion-defect rate'));
    expect(rate.value).toBe(0.06);
    expect(rate.numFmt).toBe('0.00%');
    expect(ws.getCell(2, col('Rising since')).value).toEqual(new Date('2026-11-09T00:00:00Z'));
    expect(ws.getCell(2, col('Rising since')).numFmt).toBe('yyyy-mm-dd');
    expect(ws.getCell(2, col('Gap mean (mm)')).value).toBe(0.76);
    expect(ws.getCell(2, col('Gap mean (mm)')).numFmt).toBe('0.000');
    expect(ws.getCell(2, col('Days below LSL')).value).toBe('2026-11-08');
    expect(ws.getCell(2, col('Gap verdict')).value).toBe('below-lsl');
    // Row 5: the untraced cells, without a rank.
    expect(ws.getCell(5, col('Winder')).value).toBe(UNTRACED);
    expect(ws.getCell(5, col('Rank')).value).toBeNull();
    expect(ws.getCell(5, col('Cells')).value).toBe(4);
    expect(ws.getCell(5, col('Infusion-defect rate')).value).toBe(0.25);
    // The settings below the table: threshold as a percentage.
    const labels = Array.from({ length: 20 }, (_, i) => ws.getCell(i + 7, 1).value);
    const at = labels.indexOf('Infusion-defect rate threshold') + 7;
    expect(ws.getCell(at, col('Infusion-defect rate')).value).toBe(0.02);
    expect(ws.getCell(at, col('Infusion-defect rate')).numFmt).toBe('0.00%');
  });
});

describe('the chart', () => {
  it('draws rate and mean gap per winder, the named winders in colour', async () => {
    const spec = defectTraceChartSpec(data) as unknown as { vconcat: unknown[]; title: { subtitle: string[] } };
    expect(spec.vconcat).toHaveLength(2);
    expect(spec.title.subtitle[0]).toBe('2026-11-06 to 2026-11-10; in colour: WND03, WND07');
    expect(JSON.stringify(spec)).toContain('"domain":["WND03","WND07","WND01"]');
    const png = await renderDefectTraceChart(data);
    expect(png.buffer.subarray(1, 4).toString()).toBe('PNG');
    expect(png.width).toBeGreaterThan(400);
    expect(png.width).toBeLessThanOrEqual(700);
  });
});

describe('the email paragraph', () => {
  it('names the winders above the threshold and why, those to watch, and the untraced cells', () => {
    const p = defectTraceParagraph(data);
    expect(p.text).toBe(
      [
        'Defect trace (CEF infusion defects by winder)',
        '1 winder above the 2.00 % infusion-defect threshold on 2026-11-10 (all CEF cells: 2.63 %):',
        '  - WND03: infusion-defect rate 6.00 % (6 of 100 cells), rising since 2026-11-09; gap below LSL 0.80 mm from 2026-11-08, 1 day before the rise on 2026-11-09 (lowest 0.750 mm).',
        'Watch (gap off, no rise yet):',
        '  - WND07: gap below LSL 0.80 mm from 2026-11-10 (lowest 0.780 mm); its infusion defects have not risen yet (0.00 % today).',
        'Untraced: 4 CEF cells without a winding record, 1 with an infusion defect (not counted for any winder).',
      ].join('\n'),
    );
    expect(p.html).toContain('<li>WND03: infusion-defect rate 6.00 % (6 of 100 cells), rising since 2026-11-09; gap below LSL');
    expect(p.html).not.toMatch(/<script|undefined|null/);
  });

  it('says so when no winder is above the threshold', () => {
    const quiet = defectTraceParagraph(defectTraceSheetData({ day: D, rows: rows.filter((r) => r.winder === 'WND01'), settings: S }));
    expect(quiet.text).toBe(
      [
        'Defect trace (CEF infusion defects by winder)',
        'No winder above the 2.00 % infusion-defect threshold on 2026-11-10 (all CEF cells: 1.00 %, 1 of 100).',
        'Every CEF cell of the day was traced to its winder.',
      ].join('\n'),
    );
  });
});
