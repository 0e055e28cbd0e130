/**
 * The SPC sheet of a report workbook: one row per measure × chart key as the latest spc run left
 * it (etl/spc-store.ts readStoredSpc): the last point and its limits, capability, the violations in
 * the charted window, and where the limits come from.
 *
 * `spcSheetRows` shapes the stored tables into rows (pure); `addSpcSheet` writes them into the
 * daily workbook (a streaming writer) as typed cells in an Excel Table with a frozen header, with
 * the chart images below.
 */
import type ExcelJS from 'exceljs';
import { DateTime } from 'luxon';
import { dayStartInstant, type PlantClock } from '../etl/periods.js';
import type { ChartKind, LimitsSource, Phase } from '../etl/spc/chart-points.js';
import type { StoredSpc } from '../etl/spc-store.js';
import { escapeHtml } from './daily-yield-email.js';
import { PAIRED_STATISTIC } from './spc-chart.js';
import { addPicture, columnLetter, writeTable, type SheetPicture, type StreamBook } from './xlsx-stream-parts.js';

export interface SpcSheetRow {
  measure: string;
  title: string;
  chartKey: string;
  chart: ChartKind;
  unit: string | null;
  windowFrom: string;
  windowTo: string;
  points: number;
  lastPointTime: Date | null;
  lastValue: number | null;
  cl: number | null;
  ucl: number | null;
  lcl: number | null;
  lastPhase: Phase | null;
  lsl: number | null;
  usl: number | null;
  target: number | null;
  /** Readings behind the capability indices (variables charts). */
  n: number | null;
  mean: number | null;
  sigmaWithin: number | null;
  sigmaOverall: number | null;
  cp: number | null;
  cpk: number | null;
  pp: number | null;
  ppk: number | null;
  /** Violations in the charted window (found by the chart's latest run). */
  openViolations: number;
  /** Of those, the ones that run found first. */
  newViolations: number;
  /** Of those, the ones on the window's last production day. */
  lastDayViolations: number;
  /** Counts per rule: "1 ×3, 5 ×1". */
  rules: string;
  lastViolationTime: Date | null;
  limitsSource: LimitsSource;
  limitsNote: string | null;
  limitsSetAt: Date | null;
  limitsSetBy: string | null;
  runId: number;
  computedAt: Date;
}

export interface SpcSheetOptions {
  /** Production days, for "violations on the last day". */
  clock: PlantClock;
  /** Measures in the order to show them, with their titles and units (the configuration); others follow by name. */
  measures?: readonly { name: string; title: string; unit: string | null }[];
}

/** One row per measure × key, measures in configuration order, keys sorted. */
export function spcSheetRows(stored: StoredSpc, opts: SpcSheetOptions): SpcSheetRow[] {
  const id = (measure: string, key: string) => `${measure}\u0000${key}`;
  const lastPoints = new Map(stored.lastPoints.map((p) => [id(p.measure, p.key), p]));
  const limits = new Map(stored.limits.map((l) => [id(l.measure, l.key), l]));
  const violations = new Map<string, StoredSpc['openViolations']>();
  for (const v of stored.openViolations) violations.set(id(v.measure, v.key), [...(violations.get(id(v.measure, v.key)) ?? []), v]);
  const order = new Map((opts.measures ?? []).map((m, i) => [m.name, i]));
  const info = new Map((opts.measures ?? []).map((m) => [m.name, m]));
  const lastDayStart = new Map<string, number>();
  const lastDayFrom = (day: string) => {
    let ms = lastDayStart.get(day);
    if (ms === undefined) lastDayStart.set(day, (ms = dayStartInstant(day, opts.clock).toMillis()));
    return ms;
  };
  const charts = [...stored.charts].sort((a, b) => {
    const oa = order.get(a.measure) ?? Number.MAX_SAFE_INTEGER;
    const ob = order.get(b.measure) ?? Number.MAX_SAFE_INTEGER;
    if (oa !== ob) return oa - ob;
    if (a.measure !== b.measure) return a.measure < b.measure ? -1 : 1;
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
  return charts.map((c) => {
    const p = lastPoints.get(id(c.measure, c.key));
    const l = limits.get(id(c.measure, c.key));
    const vs = violations.get(id(c.measure, c.key)) ?? [];
    // A rule broken on the paired chart (MR, R or S) is named with it: "1 (MR)".
    const ruleCounts = new Map<string, { rule: number; paired: boolean; n: number }>();
    for (const v of vs) {
      const ruleId = `${v.rule}${v.panel}`;
      const count = ruleCounts.get(ruleId) ?? { rule: v.rule, paired: v.panel === 'paired', n: 0 };
      count.n += 1;
      ruleCounts.set(ruleId, count);
    }
    const dayFrom = lastDayFrom(c.windowTo);
    const last = vs.reduce<Date | null>((t, v) => (t === null || v.pointTime > t ? v.pointTime : t), null);
    const variables = c.chart !== 'p';
    return {
      measure: c.measure,
      title: info.get(c.measure)?.title ?? c.measure,
      chartKey: c.key,
      chart: c.chart,
      unit: info.get(c.measure)?.unit ?? null,
      windowFrom: c.windowFrom,
      windowTo: c.windowTo,
      points: c.points,
      lastPointTime: c.lastPointTime,
      lastValue: p?.value ?? null,
      cl: p?.cl ?? c.cl,
      ucl: p?.ucl ?? null,
      lcl: p?.lcl ?? null,
      lastPhase: p?.phase ?? null,
      lsl: c.lsl,
      usl: c.usl,
      target: c.target,
      n: variables ? c.valuesN : null,
      mean: c.mean,
      sigmaWithin: variables ? c.sigmaWithin : null,
      sigmaOverall: c.sigmaOverall,
      cp: c.cp,
      cpk: c.cpk,
      pp: c.pp,
      ppk: c.ppk,
      openViolations: vs.length,
      newViolations: vs.filter((v) => v.firstSeenRunId === c.runId).length,
      lastDayViolations: vs.filter((v) => v.pointTime.getTime() >= dayFrom).length,
      rules: [...ruleCounts.values()]
        .sort((a, b) => a.rule - b.rule || Number(a.paired) - Number(b.paired))
        .map((r) => `${r.rule}${r.paired ? ` (${PAIRED_STATISTIC[c.chart] ?? 'paired'})` : ''} ×${r.n}`)
        .join(', '),
      lastViolationTime: last,
      limitsSource: c.limitsSource,
      limitsNote: c.limitsNote,
      limitsSetAt: l?.setAt ?? null,
      limitsSetBy: l?.setBy ?? null,
      runId: c.runId,
      computedAt: c.computedAt,
    };
  });
}

type Kind = 'text' | 'count' | 'value' | 'index' | 'date' | 'datetime' | 'id';

export interface SpcColumn {
  key: keyof SpcSheetRow;
  header: string;
  kind: Kind;
  width: number;
  meaning: string;
}

const FORMATS: Record<Kind, string | undefined> = {
  text: undefined,
  count: '#,##0',
  value: '0.0000',
  index: '0.00',
  date: 'yyyy-mm-dd',
  datetime: 'yyyy-mm-dd hh:mm',
  id: '0',
};

/** Capability below this is shown in red (the usual minimum for an established process). */
export const CAPABILITY_TARGET = 1.33;

const col = (key: keyof SpcSheetRow, header: string, kind: Kind, width: number, meaning: string): SpcColumn => ({ key, header, kind, width, meaning });

/** The sheet's columns, with what each means (for a Definitions sheet). */
export const SPC_COLUMNS: readonly SpcColumn[] = [
  col('title', 'Measure', 'text', 22, 'The configured measure (spc.measures), by its title.'),
  col('chartKey', 'Key', 'text', 22, 'The chart: one per value of the measure\'s key columns (a winder, a machine × test); several columns joined with " | ".'),
  col('chart', 'Chart', 'text', 10, 'I-MR (individual readings), Xbar-R / Xbar-S (subgroup means with ranges or standard deviations) or p (proportion defective per production day).'),
  col('unit', 'Unit', 'text', 10, 'Unit of the values (p-charts: a fraction).'),
  col('windowFrom', 'Window from', 'date', 11, 'First production day charted.'),
  col('windowTo', 'Window to', 'date', 11, 'Last production day charted: the day of the run.'),
  col('points', 'Points', 'count', 10, 'Points in the window: readings (I-MR), subgroups (X̄) or days (p).'),
  col('lastPointTime', 'Last point', 'datetime', 17, 'Time of the last point (subgroup start), plant time.'),
  col('lastValue', 'Last value', 'value', 11, 'The last point: the reading, subgroup mean or proportion.'),
  col('cl', 'CL', 'value', 11, 'Centre line at the last point.'),
  col('lcl', 'LCL', 'value', 11, 'Lower control limit at the last point (CL − 3σ of the plotted statistic; p-charts clipped at 0).'),
  col('ucl', 'UCL', 'value', 11, 'Upper control limit at the last point (CL + 3σ; p-charts clipped at 1).'),
  col('lastPhase', 'Phase', 'text', 10, 'I: the last point helped set the limits it is judged by; II: judged by limits frozen before it.'),
  col('lsl', 'LSL', 'value', 10, 'Lower spec limit (configuration), if any.'),
  col('usl', 'USL', 'value', 10, 'Upper spec limit (configuration), if any.'),
  col('n', 'Readings', 'count', 10, 'Individual readings in the window behind the capability indices (variables charts).'),
  col('mean', 'Mean', 'value', 11, 'Mean of the readings in the window (p-charts: empty).'),
  col('sigmaWithin', 'σ within', 'value', 11, 'σ̂ within subgroups, from the window\'s own data: MR̄/d2, R̄/d2, s̄/c4, or pooled for unequal subgroups.'),
  col('sigmaOverall', 'σ overall', 'value', 11, 'Sample standard deviation of all readings in the window (n − 1).'),
  col('cp', 'Cp', 'index', 10, '(USL − LSL) / 6σ within; needs both spec limits.'),
  col('cpk', 'Cpk', 'index', 10, `min(USL − μ, μ − LSL) / 3σ within; one-sided specs give that side. Red below ${CAPABILITY_TARGET}.`),
  col('pp', 'Pp', 'index', 10, '(USL − LSL) / 6σ overall.'),
  col('ppk', 'Ppk', 'index', 10, `min(USL − μ, μ − LSL) / 3σ overall. Red below ${CAPABILITY_TARGET}.`),
  col('openViolations', 'Violations (window)', 'count', 11, 'Nelson rule violations on the chart in the charted window (red when any).'),
  col('newViolations', 'New violations', 'count', 11, 'Of those, the ones the latest run found first (they are alerted by email once).'),
  col('lastDayViolations', 'Violations (last day)', 'count', 11, 'Of those, the ones on the window\'s last production day.'),
  col('rules', 'Rules broken', 'text', 16, 'Rule numbers with their counts in the window: 1 beyond 3σ; 2 a run on one side of CL; 3 a trend; 4 alternating; 5 2 of 3 beyond 2σ; 6 4 of 5 beyond 1σ; 7 15 within 1σ; 8 8 beyond 1σ.'),
  col('lastViolationTime', 'Last violation', 'datetime', 17, 'Time of the latest flagged point, plant time.'),
  col('limitsSource', 'Limits from', 'text', 11, 'frozen: a baseline stored in spc_limits (Phase II); baseline: an incomplete first-N baseline, not frozen yet; window: the charted window itself (no baseline).'),
  col('limitsNote', 'Limits note', 'text', 40, 'Where the limits come from, in words.'),
  col('limitsSetAt', 'Limits set at', 'datetime', 17, 'When the frozen limits were set (yieldrun spc reset-limits deletes them).'),
  col('limitsSetBy', 'Limits set by', 'text', 24, 'The run (and who triggered it) that froze the limits.'),
  col('runId', 'SPC run', 'id', 10, 'The spc run (etl_runs.id) that charted the row.'),
];

function cellValue(c: SpcColumn, v: unknown, timezone: string): ExcelJS.CellValue {
  if (v === null || v === undefined) return null;
  if (c.kind === 'date') return new Date(`${String(v)}T00:00:00Z`);
  if (c.kind === 'datetime') {
    // Excel has no time zones and people read plant time: the wall-clock time as a "UTC" date.
    const t = DateTime.fromJSDate(v as Date).setZone(timezone);
    return new Date(Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second));
  }
  return v as ExcelJS.CellValue;
}

export interface AddSpcSheetOptions {
  /** Plant zone: times are shown in plant wall-clock time. */
  timezone: string;
  sheetName?: string;
  /** Excel table name (letters, digits, _). */
  tableName?: string;
  /** Chart images (reports/spc-chart.ts) placed below the table, one under the other. */
  charts?: readonly { png: SheetPicture; title: string }[];
}

/**
 * Adds the SPC sheet to a streaming workbook: a header frozen at the top, the key columns frozen at
 * the left, an Excel Table of typed cells, Cpk / Ppk below target and charts with violations in red,
 * and below the table the chart images.
 */
export function addSpcSheet(book: StreamBook, rows: readonly SpcSheetRow[], opts: AddSpcSheetOptions): ExcelJS.Worksheet {
  const ws = book.wb.addWorksheet(opts.sheetName ?? 'SPC', { views: [{ state: 'frozen', xSplit: 2, ySplit: 1 }] });
  ws.columns = SPC_COLUMNS.map((c) => ({ key: c.key, width: c.width }));
  const header = ws.getRow(1);
  header.alignment = { wrapText: true, vertical: 'top' };
  if (rows.length === 0) {
    // An Excel Table needs a data row; an empty report shows the header and says why it is empty.
    SPC_COLUMNS.forEach((c, i) => (header.getCell(i + 1).value = c.header));
    header.font = { bold: true };
    ws.getCell(2, 1).value = 'No SPC charts stored yet: run yieldrun run spc.';
    ws.commit();
    return ws;
  }
  writeTable(book, ws, {
    name: opts.tableName ?? 'SPC',
    headers: SPC_COLUMNS.map((c) => c.header),
    rows: rows.map((r) => SPC_COLUMNS.map((c) => cellValue(c, r[c.key], opts.timezone))),
  });
  SPC_COLUMNS.forEach((c, i) => {
    const fmt = FORMATS[c.kind];
    if (fmt) for (let r = 2; r <= rows.length + 1; r++) ws.getCell(r, i + 1).numFmt = fmt;
  });
  const letter = (key: keyof SpcSheetRow) => columnLetter(SPC_COLUMNS.findIndex((c) => c.key === key) + 1);
  const last = rows.length + 1;
  const red = { font: { color: { argb: 'FF9C0006' } }, fill: { type: 'pattern' as const, pattern: 'solid' as const, bgColor: { argb: 'FFFFC7CE' } } };
  let priority = 0;
  for (const key of ['cpk', 'ppk'] as const) {
    const l = letter(key);
    ws.addConditionalFormatting({ ref: `${l}2:${l}${last}`, rules: [{ type: 'expression', priority: ++priority, formulae: [`AND(ISNUMBER(${l}2),${l}2<${CAPABILITY_TARGET})`], style: red }] });
  }
  const v = letter('openViolations');
  ws.addConditionalFormatting({ ref: `${v}2:${v}${last}`, rules: [{ type: 'expression', priority: ++priority, formulae: [`${v}2>0`], style: red }] });
  // Rows are 20 px high by default; anchors count rows from 0.
  let at = last + 1;
  for (const [i, chart] of (opts.charts ?? []).entries()) {
    ws.getCell(at + 1, 1).value = chart.title;
    ws.getCell(at + 1, 1).font = { bold: true };
    addPicture(book, ws, chart.png, { col: 0, row: at + 1 }, `spc chart ${i + 1}`, chart.title);
    at += Math.ceil(chart.png.height / 20) + 3;
  }
  ws.commit();
  return ws;
}

/** The charts to draw on the SPC sheet: those with violations, most on the window's last day first, then most new, then most. */
export function chartsToDraw(rows: readonly SpcSheetRow[], n: number): SpcSheetRow[] {
  return rows
    .filter((r) => r.openViolations > 0)
    .sort((a, b) => b.lastDayViolations - a.lastDayViolations || b.newViolations - a.newViolations || b.openViolations - a.openViolations)
    .slice(0, n);
}

export interface SpcParagraph {
  text: string;
  html: string;
  /** Charts with violations on the report day. */
  flagged: number;
}

const P_STYLE = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';
/** The most charts the paragraph names; the SPC sheet lists them all. */
export const MAX_CHARTS_NAMED = 8;

/**
 * The daily email's SPC paragraph (pure): how many charts have rule violations on the report day,
 * which ones and by which rules. It speaks only of charts whose window ends on the day; when the
 * latest SPC run charted another day, it says so instead of passing old findings off as the day's.
 */
export function spcParagraph(rows: readonly SpcSheetRow[], day: string): SpcParagraph | null {
  if (rows.length === 0) return null;
  const current = rows.filter((r) => r.windowTo === day);
  const lines: string[] = [];
  let lead: string;
  const flagged = current.filter((r) => r.lastDayViolations > 0).sort((a, b) => b.lastDayViolations - a.lastDayViolations);
  if (current.length === 0) {
    const latest = rows.reduce((m, r) => (r.windowTo > m ? r.windowTo : m), '');
    lead = `The SPC charts were last computed for ${latest}, not ${day}: run yieldrun run spc --date ${day}.`;
  } else {
    lead =
      flagged.length === 0
        ? `No control chart has a rule violation on ${day} (${current.length} charts).`
        : `${flagged.length} of ${current.length} control charts have rule violations on ${day}:`;
    for (const r of flagged.slice(0, MAX_CHARTS_NAMED)) {
      const cpk = r.cpk === null ? '' : `, Cpk ${r.cpk.toFixed(2)}`;
      lines.push(`${r.title} ${r.chartKey}: ${r.lastDayViolations} on the day (rules in the window: ${r.rules})${cpk}`);
    }
    if (flagged.length > MAX_CHARTS_NAMED) lines.push(`and ${flagged.length - MAX_CHARTS_NAMED} more: see the SPC sheet.`);
  }
  const text = ['SPC (control charts)', lead, ...lines.map((l) => `  - ${l}`)].join('\n');
  const html =
    `<h3 style="${P_STYLE}font-size:15px;color:#1f3864;">SPC (control charts)</h3>` +
    `<p style="${P_STYLE}">${escapeHtml(lead)}</p>` +
    (lines.length ? `<ul style="${P_STYLE}padding-left:20px;">${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>` : '');
  return { text, html, flagged: flagged.length };
}
