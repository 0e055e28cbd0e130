/**
 * The daily yield workbook read back with exceljs: sheet names, Excel Tables, frozen headers,
 * column widths, typed cells with their number formats, no formulas, and every detail cell equal
 * to the summary row it came from. On SQLite and PostgreSQL, with the real nightly summary.
 */
import { afterEach, describe, expect, it } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import ExcelJS from 'exceljs';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { runDailyYieldReport } from '../../reports/daily-yield-report.js';
import { mailSettings } from '../../reports/mail.js';
import { MACHINE_COLUMNS, NUMBER_FORMATS, PROD_COLUMNS, PROD_TEST_COLUMNS, REJECT_COLUMNS, type ColumnDef } from '../../reports/columns.js';
import { excelLocalTime, writeDailyYieldWorkbook, type DailyYieldWorkbookInput } from '../../reports/daily-yield-workbook.js';
import { instantOf, buildHeadline, buildPareto, buildTrend, rankWorstStations, type DailyYieldData } from '../../reports/daily-yield-data.js';
import { isoDate } from '../../etl/nightly-summary.js';
import { productionDay } from '../../etl/periods.js';
import { DAY, setupReport, summarise, type ReportSetup } from './report-fixture.js';

const BACKENDS = ['sqlite', 'postgres'] as const;
const WEEK = '2026-11-16';

const SHEETS: [string, string, ColumnDef[], string, string[], number][] = [
  ['By product', 'ByProduct', PROD_COLUMNS, 'summary_prod', ['product'], 4],
  ['By product × test', 'ByProductTest', PROD_TEST_COLUMNS, 'summary_prod_test', ['product', 'test'], 5],
  ['By machine', 'ByMachine', MACHINE_COLUMNS, 'summary_machine', ['machine'], 4],
];

/** The rows of a summary table for the day and its week, in the sheet's order. */
async function dbRows(ctx: EtlContext, table: string, grain: string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const [type, start] of [['day', DAY], ['week', WEEK]] as const) {
    const q = targetTable(ctx, ctx.target, table).where({ period_type: type, period_start: start });
    for (const g of grain) q.orderBy(g);
    out.push(...((await q) as Record<string, unknown>[]));
  }
  return out;
}

/** What a cell should hold for a database value of a column. */
function expected(col: ColumnDef, v: unknown, tz: string): unknown {
  if (v === null || v === undefined) return null;
  if (col.kind === 'date') return new Date(`${isoDate(v)}T00:00:00Z`);
  if (col.kind === 'datetime') return excelLocalTime(instantOf(v)!, tz);
  if (col.kind === 'text') return String(v);
  return Number(v);
}

function tableOf(ws: ExcelJS.Worksheet, name: string) {
  const t = (ws as unknown as { tables: Record<string, { table: { ref?: string; tableRef?: string; columns: { name: string }[]; style?: { theme?: string; showRowStripes?: boolean } } }> }).tables[name];
  if (!t) throw new Error(`no table ${name} on ${ws.name}`);
  return t.table;
}

describe.each(BACKENDS)('daily yield workbook on %s', (backendName) => {
  let s: ReportSetup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  async function report(overrides: Record<string, any> = {}) {
    s = await setupReport(backendName, overrides);
    await summarise(s.ctx);
    const r = await runDailyYieldReport(s.ctx, { days: [DAY], triggeredBy: 'test', mail: mailSettings(s.ctx.config, {}) });
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(r.days[0]!.workbook!);
    return { ctx: s.ctx, wb, r };
  }

  it('detail sheets: Excel Tables of the day\'s and the week\'s summary rows, typed and formatted as the columns say', async () => {
    const { ctx, wb, r } = await report();
    expect(path.basename(r.days[0]!.workbook!)).toBe('test-plant_daily-yield_2026-11-20.xlsx');
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Overview', 'By product', 'By product × test', 'By machine', 'Rejects', 'Definitions']);
    const tz = ctx.config.plant.timezone;

    for (const [sheet, table, columns, dbTable, grain, frozen] of SHEETS) {
      const ws = wb.getWorksheet(sheet)!;
      const rows = await dbRows(ctx, dbTable, grain);
      expect(rows.length).toBeGreaterThan(0);
      expect(r.days[0]!.sheetRows[sheet]).toBe(rows.length);

      // Header, widths, frozen header and grain.
      expect((ws.getRow(1).values as unknown[]).slice(1)).toEqual(columns.map((c) => c.header));
      columns.forEach((c, i) => expect(ws.getColumn(i + 1).width).toBe(c.width));
      expect(ws.views[0]).toMatchObject({ state: 'frozen', ySplit: 1, xSplit: frozen });

      // The table covers the header and every row, with banded rows and an autofilter.
      const t = tableOf(ws, table);
      const last = String.fromCharCode(64 + columns.length);
      expect(t.tableRef ?? t.ref).toBe(`A1:${last}${rows.length + 1}`);
      expect(t.columns.map((c) => c.name)).toEqual(columns.map((c) => c.header));
      expect(t.style?.showRowStripes).toBe(true);

      // Every cell is the database's value, with the column's type and number format.
      expect(ws.rowCount).toBe(rows.length + 1);
      rows.forEach((row, i) => {
        const x = ws.getRow(i + 2);
        columns.forEach((c, j) => {
          const cell = x.getCell(j + 1);
          const want = expected(c, row[c.key], tz);
          if (typeof want === 'number' && !Number.isInteger(want)) expect(cell.value).toBeCloseTo(want, 12);
          else expect(cell.value, `${sheet} ${c.key} row ${i + 2}`).toEqual(want);
          if (NUMBER_FORMATS[c.kind]) expect(cell.numFmt, `${sheet} ${c.key}`).toBe(NUMBER_FORMATS[c.kind]);
        });
      });
      expect(rows.map((x) => x.period_type)).toContain('week');
    }

    // The fixture's hand-computed P1 row: rolled FPY 9/16, CY 3/4, 4 loaded, 10 tests.
    const p1 = wb.getWorksheet('By product')!.getRow(2);
    expect(p1.getCell(4).value).toBe('P1');
    expect([p1.getCell(5).value, p1.getCell(6).value, p1.getCell(15).value, p1.getCell(16).value]).toEqual([4, 10, 9 / 16, 0.75]);
  });

  it('no formulas anywhere: every number is the database\'s', async () => {
    const { wb } = await report();
    let cells = 0;
    for (const ws of wb.worksheets) {
      ws.eachRow((row) =>
        row.eachCell((cell) => {
          cells++;
          expect(cell.type).not.toBe(ExcelJS.ValueType.Formula);
          const v = cell.value as unknown;
          expect(typeof v === 'object' && v !== null && !(v instanceof Date) && ('formula' in v || 'sharedFormula' in v)).toBe(false);
        }),
      );
    }
    expect(cells).toBeGreaterThan(200);
  });

  it('Overview: KPIs beside previous day, 7-day average and target, red below target, worst stations, data quality, two charts', async () => {
    const { wb } = await report();
    const ws = wb.getWorksheet('Overview')!;
    const rows: unknown[][] = [];
    ws.eachRow((row, n) => (rows[n] = (row.values as unknown[]).slice(1)));
    const find = (a: string, b: string) => {
      const n = rows.findIndex((v) => v && v[0] === a && v[1] === b);
      if (n < 0) throw new Error(`no Overview row ${a} / ${b}`);
      return n;
    };
    const header = rows.find((v) => v && v[0] === 'Product')!;
    expect(header.slice(2, 6)).toEqual(['Day 2026-11-20', 'Previous day 2026-11-19', 'Δ vs previous', '7-day avg (2 d)']);

    // All products: FPY 0.65 (previous 2/3, 7-day 6/7, target 0.95), formatted as percentages.
    const fpy = find('All products', 'First-pass yield');
    const cell = (n: number, col: number) => ws.getRow(n).getCell(col);
    expect(cell(fpy, 3).value).toBeCloseTo(0.65, 12);
    expect(cell(fpy, 4).value).toBeCloseTo(2 / 3, 12);
    expect(cell(fpy, 5).value).toBeCloseTo(0.65 - 2 / 3, 12);
    expect(cell(fpy, 6).value).toBeCloseTo(6 / 7, 12);
    expect(cell(fpy, 8).value).toBe(0.95);
    expect(cell(fpy, 9).value).toBeCloseTo(0.65 - 0.95, 12);
    expect(cell(fpy, 3).numFmt).toBe('0.0%');
    expect(cell(fpy, 5).numFmt).toBe('+0.0%;-0.0%;0.0%');
    expect(cell(find('All products', 'Load qty'), 3).value).toBe(6);
    expect(cell(find('P1', 'Cumulative yield'), 3).value).toBe(0.75);
    expect(cell(find('P2', 'First-pass yield'), 3).value).toBe(1);

    // Below target in red: conditional formatting comparing the day with the row's target.
    const cf = (ws as unknown as { conditionalFormattings: { ref: string; rules: { type: string; formulae?: string[] }[] }[] }).conditionalFormattings;
    const day = cf.find((c) => c.ref.startsWith('C'))!;
    expect(day.rules[0]!.type).toBe('expression');
    expect(day.rules[0]!.formulae![0]).toMatch(/^AND\(ISNUMBER\(\$H\d+\),ISNUMBER\(C\d+\),C\d+<\$H\d+\)$/);

    // Worst stations: M1 and M2 at 75 % (4 units each, ties by name), then M3.
    const m1 = rows.findIndex((v) => v && v[0] === 'M1');
    expect(rows[m1]!.slice(0, 5)).toEqual(['M1', 1, 4, 3, 0.75]);
    expect(rows[m1 + 1]!.slice(0, 2)).toEqual(['M2', 2]);

    // Data quality: 15 records read on the day, 2 rejected (one each), 1 duplicate, 1 excess attempt.
    expect(rows.find((v) => v && v[0] === 'Records read')![1]).toBe(15);
    expect(rows.find((v) => v && v[0] === 'Rejected records')![1]).toBe(2);
    expect(rows.find((v) => v && v[0] === 'Exact duplicates dropped')![1]).toBe(1);
    expect(rows.find((v) => v && v[0] === 'Excess attempts (process violations)')![1]).toBe(1);
    expect(rows.filter((v) => v && (v[0] === 'bad_result' || v[0] === 'missing_machine')).map((v) => v[1])).toEqual([1, 1]);

    // The trend and Pareto charts, as PNG images below the tables.
    const images = ws.getImages();
    expect(images).toHaveLength(2);
    for (const img of images) {
      const media = wb.getImage(Number(img.imageId));
      expect(media.extension).toBe('png');
      expect(Buffer.from(media.buffer as unknown as Uint8Array).subarray(1, 4).toString()).toBe('PNG');
      expect(img.range.tl.nativeRow).toBeGreaterThan(rows.length - 2);
    }
  });

  it('Rejects lists the stored rejects with their reasons, up to maxRejectRows; Definitions explains every column', async () => {
    const { ctx, wb } = await report({ reports: { dailyYield: { maxRejectRows: 1 } } });
    const ws = wb.getWorksheet('Rejects')!;
    expect((ws.getRow(1).values as unknown[]).slice(1)).toEqual(REJECT_COLUMNS.map((c) => c.header));
    expect(ws.rowCount).toBe(2);
    const stored = (await targetTable(ctx, ctx.target, 'etl_rejects').where('period_start', DAY).orderBy('id')) as Record<string, any>[];
    expect(stored).toHaveLength(2);
    const values = JSON.parse(stored[0]!.row_values);
    const row = ws.getRow(2);
    expect(row.getCell(1).value).toBe(stored[0]!.reason);
    expect(row.getCell(2).value).toBe(values.serial);
    expect(row.getCell(6).value).toBe(values.tested_at);
    expect(row.getCell(8).value).toBe(values.duration_s);
    expect(row.getCell(8).numFmt).toBe('0.00');
    const overview: string[] = [];
    wb.getWorksheet('Overview')!.eachRow((r) => overview.push(String(r.getCell(1).value)));
    expect(overview).toContain('The Rejects sheet lists 1 of the 2 kept rejected records.');

    const defs = wb.getWorksheet('Definitions')!;
    const explained = new Set<string>();
    defs.eachRow((r, n) => {
      if (n > 1) {
        expect(String(r.getCell(3).value).length).toBeGreaterThan(5);
        explained.add(`${r.getCell(1).value}|${r.getCell(2).value}`);
      }
    });
    for (const [sheet, , columns] of SHEETS) for (const c of columns) expect(explained).toContain(`${sheet}|${c.header}`);
    for (const c of REJECT_COLUMNS) expect(explained).toContain(`Rejects|${c.header}`);
    expect(explained).toContain('Overview|First-pass yield');
  });
});

describe('workbook writer', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function emptyData(): DailyYieldData {
    const p = productionDay(DAY, { timezone: 'UTC', dayStart: '00:00' });
    return {
      day: DAY, from: p.from, to: p.to, weekStart: WEEK, weekLabel: '2026-W47', state: { kind: 'report', run: null },
      headline: buildHeadline([], DAY, { firstPassYield: 0.9, cumulativeYield: 0.95 }), worst: rankWorstStations([], 5, 1), pareto: buildPareto([], 5), trend: buildTrend([], DAY),
      quality: { rowsRead: null, rowsValid: null, rowsRejected: null, duplicatesDropped: null, excessAttempts: null, pendingUnits: null, rejectsByReason: [], rejectsStored: 0, undatedRejects: 0 },
      summaryRunIds: [], computedAt: null,
    };
  }

  async function* rows(n: number) {
    for (let i = 0; i < n; i++) yield { period_type: 'day', period_label: DAY, period_start: DAY, product: `P${i}`, load_qty: i, run_id: 1, computed_at: new Date(Date.UTC(2026, 10, 21, 5, 0, 0)) };
  }

  it('continues a sheet past its row limit on another sheet with its own table, and gives an empty table a blank row', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-wb-'));
    const file = path.join(dir, 'x.xlsx');
    const columns = PROD_COLUMNS.filter((c) => ['period_type', 'period_label', 'period_start', 'product', 'load_qty', 'run_id', 'computed_at'].includes(c.key));
    const input: DailyYieldWorkbookInput = {
      plant: 'P', timezone: 'Asia/Taipei', data: emptyData(), charts: {}, generatedAt: new Date(),
      sheets: [
        { name: 'By product', table: 'ByProduct', columns, rows: rows(7), freezeColumns: 4, maxRows: 3 },
        { name: 'Empty', table: 'Empty', columns, rows: rows(0), freezeColumns: 1 },
      ],
    };
    const res = await writeDailyYieldWorkbook(file, input);
    expect(res.rows).toEqual({ 'By product': 3, 'By product (2)': 3, 'By product (3)': 1, Empty: 0 });
    expect(readdirSync(dir)).toEqual(['x.xlsx']); // the temporary file is gone
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(file);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Overview', 'By product', 'By product (2)', 'By product (3)', 'Empty', 'Definitions']);
    expect(tableOf(wb.getWorksheet('By product (2)')!, 'ByProduct_2').tableRef).toBe('A1:G4');
    expect(wb.getWorksheet('By product (3)')!.getRow(2).getCell(4).value).toBe('P6');
    expect(tableOf(wb.getWorksheet('Empty')!, 'Empty').tableRef).toBe('A1:G2');
    // A timestamp is shown in plant time (Taipei, UTC+8): 05:00Z is 13:00 there.
    expect(wb.getWorksheet('By product')!.getRow(2).getCell(7).value).toEqual(new Date(Date.UTC(2026, 10, 21, 13, 0, 0)));
    expect(wb.getWorksheet('Overview')!.getImages()).toHaveLength(0);
  });
});
