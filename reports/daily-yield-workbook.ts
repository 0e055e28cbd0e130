/**
 * The daily yield workbook, written with exceljs' streaming writer: every sheet is written row by
 * row and committed before the next starts, so a sheet of a million rows needs no more memory than
 * one of a hundred. The Overview is small (KPIs, worst stations, data quality, two charts); the
 * detail sheets are Excel Tables of the summary rows, typed and formatted, with no formulas: every
 * number is the database's.
 */
import { mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import ExcelJS from 'exceljs';
import { DateTime } from 'luxon';
import { NUMBER_FORMATS, OVERVIEW_TERMS, type ColumnDef } from './columns.js';
import { ALL_PRODUCTS, KPI_LABELS, isYield, type DailyYieldData, type KpiLine } from './daily-yield-data.js';
import { columnLetter, streamParts, type StreamBook, type StreamParts } from './xlsx-stream-parts.js';
import type { Png } from './charts.js';

/** Excel's last row is 1,048,576; with the header that leaves this many data rows per sheet. */
export const MAX_DATA_ROWS = 1_048_575;

export interface DetailSheet {
  /** Sheet name (≤ 31 characters); a continuation sheet gets " (2)" etc. */
  name: string;
  /** Excel table name. */
  table: string;
  columns: readonly ColumnDef[];
  rows: AsyncIterable<Record<string, unknown>>;
  /** Columns kept in view when scrolling right (the grain). */
  freezeColumns: number;
  /** Yield columns shown red below a target: column key → target. */
  targets?: Record<string, number>;
  /** Rows per sheet before continuing on another; tests lower it. */
  maxRows?: number;
}

export interface DailyYieldWorkbookInput {
  plant: string;
  timezone: string;
  data: DailyYieldData;
  charts: { trend?: Png; pareto?: Png };
  sheets: readonly DetailSheet[];
  /** Rejected records shown, and how many at most (reports.dailyYield.maxRejectRows). */
  rejects?: { sheet: DetailSheet; limit: number };
  /** Further sheets (SPC, Defect trace), written after the detail sheets, with their columns' meanings. */
  appendix?: readonly AppendixSheet[];
  generatedAt: Date;
}

/** A sheet another part of the product writes into the daily workbook. */
export interface AppendixSheet {
  name: string;
  write(book: StreamBook): void;
  /** For the Definitions sheet. */
  definitions: readonly { column: string; meaning: string }[];
}

export interface WorkbookResult {
  file: string;
  /** Data rows written per sheet name. */
  rows: Record<string, number>;
}

const HEADER_FILL: ExcelJS.Fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFDCE6F1' } };
const RED_STYLE = { font: { color: { argb: 'FF9C0006' } }, fill: { type: 'pattern', pattern: 'solid', bgColor: { argb: 'FFFFC7CE' } } } as const;
const RED_FONT = { font: { color: { argb: 'FFC00000' } } } as const;

/** A date string as an Excel date (midnight UTC is exactly the day in Excel's serial numbers). */
export function excelDate(day: string): Date {
  return new Date(`${day}T00:00:00Z`);
}

/** An instant as the plant's wall-clock time: Excel has no time zones, and people read plant time. */
export function excelLocalTime(d: Date, timezone: string): Date {
  const t = DateTime.fromJSDate(d).setZone(timezone);
  return new Date(Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second, t.millisecond));
}

/** Converts row values to cells; remembers the last timestamp, since a sheet's rows share a few. */
function cellWriter(timezone: string): (col: ColumnDef, v: unknown) => ExcelJS.CellValue {
  let lastInstant = NaN;
  let lastLocal = new Date(0);
  return (col, v) => {
    if (v === null || v === undefined) return null;
    if (col.kind === 'date') return typeof v === 'string' ? excelDate(v) : (v as Date);
    if (col.kind === 'datetime') {
      if (!(v instanceof Date)) return String(v);
      if (v.getTime() !== lastInstant) {
        lastInstant = v.getTime();
        lastLocal = excelLocalTime(v, timezone);
      }
      return lastLocal;
    }
    return v as ExcelJS.CellValue;
  };
}

/**
 * Waits while the zip writer is behind. exceljs' sheet stream hands its 64 kB chunks to the zip
 * entry's input stream (a readable-stream PassThrough inside archiver) without waiting, so without
 * this a fast source piles the sheet's XML up in that stream's buffer (hundreds of MB for a large
 * sheet). Its needDrain flag is the backpressure signal exceljs ignores; readable-stream 2 has no
 * public writableNeedDrain, hence the state object.
 */
async function drain(ws: ExcelJS.Worksheet): Promise<void> {
  type Dest = Writable & { _writableState?: { needDrain?: boolean } };
  const pipes = (ws as unknown as { stream: { pipes?: Dest[] } }).stream.pipes ?? [];
  for (const dest of pipes) {
    while ((dest._writableState?.needDrain ?? dest.writableNeedDrain) && !dest.destroyed) {
      // Look again at least every second (a destroyed stream never drains); no listener is left behind.
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 1_000);
      try {
        await once(dest, 'drain', { signal: ac.signal });
      } catch {
        /* timed out */
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/**
 * One detail sheet (or several, past Excel's row limit): a header, the rows, an Excel Table over
 * them with banded rows and autofilter, the header frozen, yields below target in red.
 */
async function writeTableSheets(wb: ExcelJS.stream.xlsx.WorkbookWriter, parts: StreamParts, sheet: DetailSheet, timezone: string): Promise<Record<string, number>> {
  const maxRows = Math.min(sheet.maxRows ?? MAX_DATA_ROWS, MAX_DATA_ROWS);
  const counts: Record<string, number> = {};
  const iterator = sheet.rows[Symbol.asyncIterator]();
  const cell = cellWriter(timezone);
  let next = await iterator.next();
  for (let part = 1; part === 1 || !next.done; part++) {
    const name = part === 1 ? sheet.name : `${sheet.name.slice(0, 25)} (${part})`;
    const ws = wb.addWorksheet(name, { views: [{ state: 'frozen', xSplit: sheet.freezeColumns, ySplit: 1 }] });
    const styles = sheet.columns.map((c) => (NUMBER_FORMATS[c.kind] ? ({ numFmt: NUMBER_FORMATS[c.kind] } as Partial<ExcelJS.Style>) : undefined));
    ws.columns = sheet.columns.map((c, j) => ({ key: c.key, width: c.width, style: styles[j] ?? {} }));
    const header = ws.addRow(sheet.columns.map((c) => c.header));
    header.font = { bold: true };
    header.alignment = { wrapText: true, vertical: 'top' };
    header.commit();
    const table = parts.addTable(ws, { name: part === 1 ? sheet.table : `${sheet.table}_${part}`, headers: sheet.columns.map((c) => c.header), topRow: 1, leftCol: 1 });
    let n = 0;
    while (!next.done && n < maxRows) {
      const r = next.value;
      const row = ws.addRow(sheet.columns.map((c) => cell(c, r[c.key])));
      // One style object per column: exceljs caches a style's index by object identity, and would
      // otherwise render and look up every cell's style anew (a third of the writing time).
      for (let j = 0; j < styles.length; j++) if (styles[j]) row.getCell(j + 1).style = styles[j]!;
      row.commit();
      n++;
      if (n % 500 === 0) await drain(ws);
      next = await iterator.next();
    }
    table.dataRows = n;
    let priority = 0; // Excel wants every rule of a sheet to have its own priority
    for (const [key, target] of Object.entries(sheet.targets ?? {})) {
      const i = sheet.columns.findIndex((c) => c.key === key);
      if (i < 0 || n === 0) continue;
      const col = columnLetter(i + 1);
      ws.addConditionalFormatting({
        ref: `${col}2:${col}${n + 1}`,
        rules: [{ type: 'expression', priority: ++priority, formulae: [`AND(ISNUMBER(${col}2),${col}2<${target})`], style: RED_STYLE }],
      });
    }
    ws.commit();
    counts[name] = n;
  }
  return counts;
}

const fmt = {
  count: '#,##0',
  mean: '#,##0.0',
  rate: '0.0%',
  deltaCount: '+#,##0;-#,##0;0',
  deltaMean: '+#,##0.0;-#,##0.0;0.0',
  deltaRate: '+0.0%;-0.0%;0.0%',
};

function localText(d: Date | DateTime, timezone: string, format = 'yyyy-MM-dd HH:mm'): string {
  const t = d instanceof Date ? DateTime.fromJSDate(d) : d;
  return t.setZone(timezone).toFormat(format);
}

/** The Overview, top to bottom; returns nothing: it is small and written at once. */
function writeOverview(wb: ExcelJS.stream.xlsx.WorkbookWriter, parts: StreamParts, input: DailyYieldWorkbookInput): void {
  const { data, timezone } = input;
  const ws = wb.addWorksheet('Overview', {
    views: [{ showGridLines: false }],
    pageSetup: { orientation: 'landscape', fitToPage: true, fitToWidth: 1, fitToHeight: 0 },
  });
  ws.columns = [22, 18, 13, 13, 13, 13, 13, 11, 13].map((width) => ({ width }));
  let r = 0;
  let priority = 0; // Excel wants every rule of a sheet to have its own priority
  const row = (values: ExcelJS.CellValue[], style?: (row: ExcelJS.Row) => void) => {
    const x = ws.getRow(++r);
    values.forEach((v, i) => {
      x.getCell(i + 1).value = v;
    });
    style?.(x);
    x.commit();
    return r;
  };
  const section = (title: string) => {
    r++;
    row([title], (x) => {
      x.getCell(1).font = { bold: true, size: 13, color: { argb: 'FF1F3864' } };
    });
  };
  const headerRow = (values: string[]) =>
    row(values, (x) => {
      x.font = { bold: true };
      x.alignment = { wrapText: true, vertical: 'bottom' };
      for (let i = 1; i <= values.length; i++) x.getCell(i).fill = HEADER_FILL;
    });

  row([`Daily yield report · ${input.plant} · ${data.day}`], (x) => {
    x.getCell(1).font = { bold: true, size: 16 };
  });
  const runs = data.summaryRunIds.length ? `summary run ${data.summaryRunIds.join(', ')}` : 'no summary run';
  const computed = data.computedAt ? `, computed ${localText(data.computedAt, timezone)}` : '';
  row([
    `Production day ${data.day}: ${localText(data.from, timezone)} to ${localText(data.to, timezone)} ${timezone}; week ${data.weekLabel}. ` +
      `From ${runs}${computed}. Written ${localText(input.generatedAt, timezone)}.`,
  ]);
  row(['Every number is read from the summary tables; the Definitions sheet says what each one means. Yields below target are red.'], (x) => {
    x.getCell(1).font = { italic: true, color: { argb: 'FF555555' } };
  });

  // Headline KPIs
  section('Headline KPIs');
  const h = data.headline;
  headerRow([
    'Product',
    'KPI',
    `Day ${data.day}`,
    h.previousDay ? `Previous day ${h.previousDay}` : 'Previous day (none)',
    'Δ vs previous',
    `7-day avg (${h.averageDays.length} d)`,
    'Δ vs 7-day avg',
    'Target',
    'Δ vs target',
  ]);
  const firstKpi = r + 1;
  const kpiRow = (l: KpiLine) => {
    const y = isYield(l.kpi);
    const counts = !y;
    row(
      [l.product ?? ALL_PRODUCTS, KPI_LABELS[l.kpi], l.value, l.previous, l.vsPrevious, l.average, l.vsAverage, l.target, l.vsTarget],
      (x) => {
        const formats = y
          ? [fmt.rate, fmt.rate, fmt.deltaRate, fmt.rate, fmt.deltaRate, fmt.rate, fmt.deltaRate]
          : [fmt.count, fmt.count, fmt.deltaCount, fmt.mean, fmt.deltaMean, undefined, undefined];
        formats.forEach((f, i) => {
          if (f) x.getCell(i + 3).numFmt = f;
        });
        if (l.product === null) x.font = { bold: true };
        if (counts && l.kpi === 'load_qty') x.border = { top: { style: 'thin', color: { argb: 'FFBFBFBF' } } };
      },
    );
  };
  for (const l of h.lines) kpiRow(l);
  const lastKpi = r;
  if (lastKpi >= firstKpi) {
    // Below target in red: the day, the previous day and the average, each against the row's target.
    for (const col of ['C', 'D', 'F']) {
      ws.addConditionalFormatting({
        ref: `${col}${firstKpi}:${col}${lastKpi}`,
        rules: [{ type: 'expression', priority: ++priority, formulae: [`AND(ISNUMBER($H${firstKpi}),ISNUMBER(${col}${firstKpi}),${col}${firstKpi}<$H${firstKpi})`], style: RED_STYLE }],
      });
    }
    for (const col of ['E', 'G', 'I']) {
      ws.addConditionalFormatting({
        ref: `${col}${firstKpi}:${col}${lastKpi}`,
        rules: [{ type: 'cellIs', priority: ++priority, operator: 'lessThan', formulae: ['0'], style: RED_FONT }],
      });
    }
  }

  // Worst stations
  const w = data.worst;
  section(`Worst stations by first-pass yield (at least ${w.minUnits} unit-tests on the day)`);
  if (w.stations.length === 0) {
    row([`No station had ${w.minUnits} or more unit-tests with a first-pass yield on ${data.day}.`]);
  } else {
    // No target colouring here: the targets are for rolled product yields, a station runs one step.
    headerRow(['Machine', 'Rank', 'Units tested', 'First-pass units', 'First-pass yield', 'Cumulative yield', 'Tests', 'Passing rate', 'Retests']);
    for (const s of w.stations) {
      row([s.machine, s.rank, s.units_tested, s.first_pass_units, s.first_pass_yield, s.cumulative_yield, s.test_count, s.passing_rate, s.retest_count], (x) => {
        [undefined, '0', fmt.count, fmt.count, fmt.rate, fmt.rate, fmt.count, fmt.rate, fmt.count].forEach((f, i) => {
          if (f) x.getCell(i + 1).numFmt = f;
        });
      });
    }
    if (w.tooFewUnits > 0) row([`${w.tooFewUnits} of ${w.withYield} stations with a yield had fewer than ${w.minUnits} unit-tests and are not ranked.`]);
  }

  // Data quality
  const q = data.quality;
  section('Data quality');
  const share = (n: number | null) => (n !== null && q.rowsRead ? n / q.rowsRead : null);
  headerRow(['Item', 'Count', 'Share of read']);
  const dq: [string, number | null, number | null][] = [
    ['Records read', q.rowsRead, null],
    ['Valid records', q.rowsValid, share(q.rowsValid)],
    ['Rejected records', q.rowsRejected, share(q.rowsRejected)],
    ['Exact duplicates dropped', q.duplicatesDropped, share(q.duplicatesDropped)],
    ['Excess attempts (process violations)', q.excessAttempts, null],
    ['Pending units (retest may still come)', q.pendingUnits, null],
  ];
  for (const [label, n, s] of dq) {
    row([label, n, s], (x) => {
      x.getCell(2).numFmt = fmt.count;
      x.getCell(3).numFmt = '0.00%';
    });
  }
  if (q.rowsRead === null) row([`The day has no data-quality record (etl_periods): it was never summarised.`]);
  r++;
  headerRow(['Rejected by reason', 'Count']);
  if (q.rejectsByReason.length === 0) row(['(none)']);
  for (const rr of q.rejectsByReason) {
    row([rr.reason, rr.count], (x) => {
      x.getCell(2).numFmt = fmt.count;
    });
  }
  if (q.rowsRejected !== null && q.rejectsStored < q.rowsRejected) {
    row([`${q.rowsRejected} rejected, ${q.rejectsStored} kept in etl_rejects (etl.maxRejectsStored): the reasons above are of the kept ones.`]);
  }
  if (input.rejects) {
    const shown = Math.min(q.rejectsStored, input.rejects.limit);
    row([`The Rejects sheet lists ${shown} of the ${q.rejectsStored} kept rejected records.`]);
  }
  if (q.undatedRejects > 0) row([`${q.undatedRejects} rejected record(s) have no timestamp and belong to no day.`]);

  // Charts, anchored below the tables (rows are 20 px high by default; anchors count rows from 0).
  const charts = [
    ['trend', input.charts.trend, 'First-pass yield per product over the last 30 days, with the target'],
    ['pareto', input.charts.pareto, 'First-pass failures by station with their cumulative share'],
  ] as const;
  if (charts.some(([, png]) => png)) {
    section('Charts');
    let at = r + 1;
    for (const [key, png, description] of charts) {
      if (!png) continue;
      const imageId = wb.addImage({ buffer: png.buffer as unknown as ExcelJS.Buffer, extension: 'png' });
      parts.addPictures(ws, [{ imageId, col: 0, row: at, widthPx: png.width, heightPx: png.height, name: `${key} chart`, description }]);
      at += Math.ceil(png.height / 20) + 1;
    }
  }
  ws.commit();
}

function writeDefinitions(wb: ExcelJS.stream.xlsx.WorkbookWriter, parts: StreamParts, sheets: readonly DetailSheet[], appendix: readonly AppendixSheet[]): void {
  const ws = wb.addWorksheet('Definitions', { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.columns = [{ width: 22 }, { width: 24 }, { width: 110 }];
  const header = ws.addRow(['Sheet', 'Column', 'Meaning']);
  header.font = { bold: true };
  header.commit();
  let n = 0;
  const add = (sheet: string, column: string, meaning: string) => {
    const x = ws.addRow([sheet, column, meaning]);
    x.alignment = { wrapText: true, vertical: 'top' };
    x.commit();
    n++;
  };
  for (const t of OVERVIEW_TERMS) add('Overview', t.term, t.meaning);
  for (const s of sheets) for (const c of s.columns) add(s.name, c.header, c.meaning);
  for (const a of appendix) for (const d of a.definitions) add(a.name, d.column, d.meaning);
  const table = parts.addTable(ws, { name: 'Definitions', headers: ['Sheet', 'Column', 'Meaning'], topRow: 1, leftCol: 1, style: 'TableStyleLight9' });
  table.dataRows = n;
  ws.commit();
}

/**
 * Writes the workbook to `file` (through a temporary name, so a reader never sees half a file).
 */
export async function writeDailyYieldWorkbook(file: string, input: DailyYieldWorkbookInput): Promise<WorkbookResult> {
  mkdirSync(path.dirname(file), { recursive: true });
  // Unique per write: two runs of the same report may write the same day's file at once.
  const tmp = `${file}.${process.pid}-${randomUUID().slice(0, 8)}.tmp`;
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: tmp, useStyles: true, useSharedStrings: false });
  wb.creator = 'yieldrun';
  wb.created = input.generatedAt;
  const parts = streamParts(wb);
  const rows: Record<string, number> = {};
  writeOverview(wb, parts, input);
  const detail = [...input.sheets, ...(input.rejects ? [input.rejects.sheet] : [])];
  for (const sheet of detail) Object.assign(rows, await writeTableSheets(wb, parts, sheet, input.timezone));
  for (const sheet of input.appendix ?? []) sheet.write({ wb, parts });
  writeDefinitions(wb, parts, detail, input.appendix ?? []);
  await wb.commit();
  renameSync(tmp, file);
  return { file, rows };
}
