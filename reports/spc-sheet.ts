/**
 * The SPC sheet of a report workbook: one row per measure × chart key as the latest spc run left
 * it (etl/spc-store.ts readStoredSpc): the last point and its limits, capability, the chart's open
 * out-of-control event with its age and acknowledgement, and where the limits come from.
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
import { eventRuleCounts } from './spc-alert.js';
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
  /**
   * The chart's out-of-control state: its open event (open or acknowledged), 'in control', or
   * "no variation: cannot be judged" (σ̂ = 0).
   */
  eventState: string;
  eventId: number | null;
  outOfControlSince: Date | null;
  /** Days since the open event's first flagged point, as of the report. */
  eventAgeDays: number | null;
  /** The open event's rules with their point counts: "1 ×3, 2 ×12, 1 (MR) ×1". */
  eventRules: string;
  eventPoints: number | null;
  /** The open event's flagged statistic farthest from CL. */
  eventExtreme: number | null;
  /** yes: the event opened before the days of the run that found it; it was not alerted. */
  eventHistory: string | null;
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
  cause: string | null;
  action: string | null;
  /** Events of the chart that closed within the window. */
  closedEvents: number;
  /** Warning-severity flags in the window: shown here and on the chart, never alerted. */
  warnings: number;
  limitsSource: LimitsSource;
  limitsNote: string | null;
  limitsSetAt: Date | null;
  limitsSetBy: string | null;
  runId: number;
  computedAt: Date;
}

export interface SpcSheetOptions {
  /** Production days. */
  clock: PlantClock;
  /** The instant event ages are counted to (default: when each chart was computed). */
  asOf?: Date;
  /** Measures in the order to show them, with their titles and units (the configuration); others follow by name. */
  measures?: readonly { name: string; title: string; unit: string | null }[];
}

const DAY_MS = 86_400_000;

/** One row per measure × key, measures in configuration order, keys sorted. */
export function spcSheetRows(stored: StoredSpc, opts: SpcSheetOptions): SpcSheetRow[] {
  const id = (measure: string, key: string) => `${measure}\u0000${key}`;
  const lastPoints = new Map(stored.lastPoints.map((p) => [id(p.measure, p.key), p]));
  const limits = new Map(stored.limits.map((l) => [id(l.measure, l.key), l]));
  const warnings = new Map<string, number>();
  for (const v of stored.openViolations) if (v.severity === 'warning') warnings.set(id(v.measure, v.key), (warnings.get(id(v.measure, v.key)) ?? 0) + 1);
  const events = new Map<string, StoredSpc['events']>();
  for (const e of stored.events) events.set(id(e.measure, e.key), [...(events.get(id(e.measure, e.key)) ?? []), e]);
  const order = new Map((opts.measures ?? []).map((m, i) => [m.name, i]));
  const info = new Map((opts.measures ?? []).map((m) => [m.name, m]));
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
    const es = events.get(id(c.measure, c.key)) ?? [];
    const open = es.filter((e) => e.closedAt === null).sort((a, b) => b.openedAt.getTime() - a.openedAt.getTime())[0];
    const windowStart = dayStartInstant(c.windowFrom, opts.clock).toMillis();
    const asOf = (opts.asOf ?? c.computedAt).getTime();
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
      eventState: open ? open.state : c.unjudged ?? 'in control',
      eventId: open?.id ?? null,
      outOfControlSince: open?.openedAt ?? null,
      eventAgeDays: open ? Math.max(0, Math.round(((asOf - open.openedAt.getTime()) / DAY_MS) * 10) / 10) : null,
      eventRules: open ? eventRuleCounts(open.rules, c.chart) : '',
      eventPoints: open?.flaggedPoints ?? null,
      eventExtreme: open?.extremeValue ?? null,
      eventHistory: open ? (open.history ? 'yes' : 'no') : null,
      acknowledgedBy: open?.acknowledgedBy ?? null,
      acknowledgedAt: open?.acknowledgedAt ?? null,
      cause: open?.causeCode ?? null,
      action: open?.actionCode ?? null,
      closedEvents: es.filter((e) => e.closedAt !== null && e.closedAt.getTime() >= windowStart).length,
      warnings: warnings.get(id(c.measure, c.key)) ?? 0,
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
  col('eventState', 'Out of control', 'text', 16, 'open: an out-of-control event nobody has acknowledged (red); acknowledged: an engineer recorded its cause and action; in control: no open event; no variation: cannot be judged (σ̂ = 0, the rules are not applied).'),
  col('eventId', 'Event', 'id', 8, 'The open event (spc_events.id): yieldrun spc ack EVENT --cause CODE --action CODE --by NAME.'),
  col('outOfControlSince', 'Since', 'datetime', 17, 'The event\'s first flagged point (an alarm rule), plant time.'),
  col('eventAgeDays', 'Age (days)', 'index', 9, 'Days the event has been open, as of the report.'),
  col('eventRules', 'Event rules', 'text', 16, 'Rules its points broke, with the points per rule: 1 beyond 3σ; 2 a run on one side of CL; 3 a trend; 4 alternating; 5 2 of 3 beyond 2σ; 6 4 of 5 beyond 1σ; 7 15 within 1σ; 8 8 beyond 1σ on both sides (mixture). "(MR)", "(R)", "(S)": on the paired chart.'),
  col('eventPoints', 'Flagged points', 'count', 9, 'Points of the event flagged by any rule.'),
  col('eventExtreme', 'Extreme', 'value', 11, 'The flagged value farthest from CL.'),
  col('eventHistory', 'History', 'text', 9, 'yes: the event opened before the days of the run that found it (a first run, a backfill, a limit reset): listed, never alerted.'),
  col('acknowledgedBy', 'Acknowledged by', 'text', 16, 'Who acknowledged the event.'),
  col('acknowledgedAt', 'Acknowledged at', 'datetime', 17, 'When, plant time.'),
  col('cause', 'Cause', 'text', 14, 'Assignable-cause code (spc.causes).'),
  col('action', 'Action', 'text', 14, 'Corrective-action code (spc.actions).'),
  col('closedEvents', 'Closed events (window)', 'count', 10, 'Events of the chart that closed in the charted window (spc.eventCloseAfter points without a violation).'),
  col('warnings', 'Warnings (window)', 'count', 10, 'Flags of warning-severity rules in the window: shown here and on the chart, never alerted.'),
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
  const v = letter('eventState');
  ws.addConditionalFormatting({ ref: `${v}2:${v}${last}`, rules: [{ type: 'expression', priority: ++priority, formulae: [`${v}2="open"`], style: red }] });
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

/** The charts to draw on the SPC sheet: those out of control, unacknowledged first, then the oldest; then those with warnings. */
export function chartsToDraw(rows: readonly SpcSheetRow[], n: number): SpcSheetRow[] {
  const rank = (r: SpcSheetRow) => (r.eventState === 'open' ? 0 : r.eventState === 'acknowledged' ? 1 : 2);
  return rows
    .filter((r) => r.eventId !== null || r.warnings > 0)
    .sort((a, b) => rank(a) - rank(b) || (b.eventAgeDays ?? 0) - (a.eventAgeDays ?? 0) || b.warnings - a.warnings)
    .slice(0, n);
}

export interface SpcParagraph {
  text: string;
  html: string;
  /** Out-of-control events open (acknowledged or not) on the report day. */
  flagged: number;
}

const P_STYLE = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';
/** The most events the paragraph names; the SPC sheet lists them all. */
export const MAX_CHARTS_NAMED = 8;

function localTime(t: Date, tz: string): string {
  return DateTime.fromJSDate(t).setZone(tz).toFormat('yyyy-LL-dd HH:mm');
}

/**
 * The daily email's SPC paragraph (pure): the out-of-control events open on the report day, each
 * with its age and acknowledgement, unacknowledged and newest first; and once, the charts that cannot be
 * judged. It speaks only of charts whose window ends on the day; when the latest SPC run charted
 * another day, it says so instead of passing old findings off as the day's.
 */
export function spcParagraph(rows: readonly SpcSheetRow[], day: string, timezone = 'UTC'): SpcParagraph | null {
  if (rows.length === 0) return null;
  const current = rows.filter((r) => r.windowTo === day);
  const lines: string[] = [];
  let lead: string;
  // Unacknowledged first, the newest first: that is the news; the sheet lists them all.
  const open = current.filter((r) => r.eventId !== null).sort((a, b) => (a.eventState === b.eventState ? (a.eventAgeDays ?? 0) - (b.eventAgeDays ?? 0) : a.eventState === 'open' ? -1 : 1));
  if (current.length === 0) {
    const latest = rows.reduce((m, r) => (r.windowTo > m ? r.windowTo : m), '');
    lead = `The SPC charts were last computed for ${latest}, not ${day}: run yieldrun run spc --date ${day}.`;
  } else {
    lead =
      open.length === 0
        ? `No control chart is out of control on ${day} (${current.length} charts).`
        : `${open.length} of ${current.length} control charts are out of control on ${day}:`;
    for (const r of open.slice(0, MAX_CHARTS_NAMED)) {
      const ack =
        r.acknowledgedBy !== null
          ? `acknowledged by ${r.acknowledgedBy}${r.acknowledgedAt ? ` ${localTime(r.acknowledgedAt, timezone)}` : ''} (cause ${r.cause}, action ${r.action})`
          : `not acknowledged: yieldrun spc ack ${r.eventId} --cause CODE --action CODE --by NAME`;
      lines.push(`${r.title} ${r.chartKey}: out of control since ${localTime(r.outOfControlSince!, timezone)} (${r.eventAgeDays} days, event ${r.eventId}, rules ${r.eventRules}); ${ack}`);
    }
    if (open.length > MAX_CHARTS_NAMED) lines.push(`and ${open.length - MAX_CHARTS_NAMED} more: see the SPC sheet.`);
    const unjudged = current.filter((r) => r.eventId === null && r.eventState !== 'in control');
    if (unjudged.length > 0) lines.push(`${unjudged[0]!.eventState}: ${unjudged.map((r) => `${r.title} ${r.chartKey}`).join(', ')}`);
  }
  const text = ['SPC (control charts)', lead, ...lines.map((l) => `  - ${l}`)].join('\n');
  const html =
    `<h3 style="${P_STYLE}font-size:15px;color:#1f3864;">SPC (control charts)</h3>` +
    `<p style="${P_STYLE}">${escapeHtml(lead)}</p>` +
    (lines.length ? `<ul style="${P_STYLE}padding-left:20px;">${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>` : '');
  return { text, html, flagged: open.length };
}
