/**
 * The defect trace in the daily report: the sheet's data (pure), the *Defect trace* sheet, the
 * chart of infusion-defect rate and mean gap per winder over the charted window, and the email
 * paragraph (pure). The numbers are summary_defect_winder's; the verdicts are
 * etl/lead-indicator.ts's, so the sheet, the email and the job's own output cannot disagree.
 */
import type ExcelJS from 'exceljs';
import type { TopLevelSpec } from 'vega-lite';
import { addDays } from '../etl/periods.js';
import { UNTRACED, defectRate, rankWinders, type GapVerdict, type LeadIndicatorSettings, type WinderVerdict } from '../etl/lead-indicator.js';
import type { DefectTraceInput } from '../etl/defect-trace.js';
import { renderPng, type Png } from './charts.js';
import { countText, escapeHtml } from './daily-yield-email.js';
import { excelDate } from './daily-yield-workbook.js';
import { addPicture, writeTable, type StreamBook } from './xlsx-stream-parts.js';

/** One day of one winder on the chart. */
export interface DefectTracePoint {
  day: string;
  winder: string;
  cells: number;
  rate: number | null;
  gapMean: number | null;
  /** Above the threshold or flagged by its gap on the report day: drawn in colour. */
  highlighted: boolean;
}

export interface DefectTraceSheetData {
  day: string;
  settings: LeadIndicatorSettings;
  /** Every winder, ranked by its infusion-defect rate on the day, with its verdict and the finding in words. */
  winders: (WinderVerdict & { finding: string })[];
  /** Above the threshold on the day. */
  above: (WinderVerdict & { finding: string })[];
  /** Not above, but the gap is out of spec or drifting in the last leadDays: defects may follow. */
  watch: (WinderVerdict & { finding: string })[];
  /** The day's CEF cells without a winding record. */
  untraced: { cells: number; infusionDefects: number; fillingDefects: number; rate: number | null };
  /** All of the day's CEF cells, traced or not. */
  total: { cells: number; infusionDefects: number; rate: number | null };
  /** The charted window, first and last day, and its points (winders only). */
  chart: { from: string; to: string; points: DefectTracePoint[] };
}

const GAP_SIGNAL: readonly GapVerdict[] = ['below-lsl', 'above-usl', 'drifting'];

const mm = (v: number | null) => (v === null ? '–' : `${v.toFixed(3)} mm`);
const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(2)} %`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Why a winder is (or may soon be) producing infusion defects, in one sentence for an engineer. */
export function findingOf(v: WinderVerdict, s: LeadIndicatorSettings): string {
  const when = v.riseDay ? 'before the rise' : `in the last ${plural(s.leadDays, 'day')}`;
  const lead = v.riseDay && v.signalLeadDays !== null ? `, ${plural(v.signalLeadDays, 'day')} before the rise on ${v.riseDay}` : '';
  const drift = v.extremeZ !== null && v.baseline ? `its daily mean ${Math.abs(v.extremeZ).toFixed(1)} standard errors ${v.extremeZ < 0 ? 'below' : 'above'} its baseline ${mm(v.baseline.mean)}` : '';
  switch (v.verdict) {
    case 'below-lsl':
      return `gap below LSL ${s.lsl.toFixed(2)} mm from ${v.belowLslDays[0]}${lead} (lowest ${mm(v.leadMin)})`;
    case 'above-usl':
      return `gap above USL ${s.usl.toFixed(2)} mm from ${v.aboveUslDays[0]}${lead}`;
    case 'drifting':
      return `gap drifting from ${v.driftDays[0]}${lead}: ${drift}`;
    case 'stable':
      return v.riseDay ? `gap in spec and stable ${when} (baseline ${mm(v.baseline!.mean)} ± ${v.baseline!.sigma.toFixed(3)}): the cause is likely not the gap` : `gap in spec and stable ${when}`;
    case 'no-baseline':
      return `gap in spec ${when}; too few earlier readings for a baseline to judge drift`;
    case 'no-data':
      return `no gap readings ${when}`;
  }
}

/**
 * Shapes the stored rows for the sheet, chart and email (pure). `input` is loadDefectTrace's: the
 * day rows of the analysis span of `input.day`.
 */
export function defectTraceSheetData(input: DefectTraceInput): DefectTraceSheetData {
  const { day, settings } = input;
  const winders = rankWinders(input.rows, day, settings).map((v) => ({ ...v, finding: findingOf(v, settings) }));
  const todays = input.rows.filter((r) => r.day === day);
  const u = todays.find((r) => r.winder === UNTRACED);
  const untraced = { cells: u?.cells ?? 0, infusionDefects: u?.infusionDefects ?? 0, fillingDefects: u?.fillingDefects ?? 0, rate: u ? defectRate(u.infusionDefects, u.cells) : null };
  const cells = todays.reduce((a, r) => a + r.cells, 0);
  const infusionDefects = todays.reduce((a, r) => a + r.infusionDefects, 0);
  const above = winders.filter((w) => w.above);
  const watch = winders.filter((w) => !w.above && GAP_SIGNAL.includes(w.verdict));
  const highlighted = new Set([...above, ...watch].map((w) => w.winder));
  const from = addDays(day, -(settings.windowDays - 1));
  const points = input.rows
    .filter((r) => r.winder !== UNTRACED && r.day >= from && r.day <= day)
    .map((r) => ({ day: r.day, winder: r.winder, cells: r.cells, rate: defectRate(r.infusionDefects, r.cells), gapMean: r.gap.mean, highlighted: highlighted.has(r.winder) }));
  return { day, settings, winders, above, watch, untraced, total: { cells, infusionDefects, rate: defectRate(infusionDefects, cells) }, chart: { from, to: day, points } };
}

// ------------------------------------------------------------------------------------------------
// The sheet

interface SheetColumn {
  header: string;
  /** For the workbook's Definitions sheet. */
  meaning: string;
  width: number;
  numFmt?: string;
  value: (w: DefectTraceSheetData['winders'][number]) => string | number | Date | null;
}

const COUNT = '#,##0';
const RATE = '0.00%';
const MM = '0.000';
const SD = '0.0000';
const DATE = 'yyyy-mm-dd';
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

const COLUMNS: readonly SheetColumn[] = [
  { header: 'Rank', meaning: "The winder's place by infusion-defect rate on the day, highest first (the untraced row has none).", width: 7, numFmt: '0', value: (w) => w.rank },
  { header: 'Winder', meaning: 'The winder that wound the cells (eqp_id of the winding record), or (untraced) for CEF cells without a winding record.', width: 12, value: (w) => w.winder },
  { header: 'Cells', meaning: 'CEF (electrolyte filling) results of the day for cells wound by the winder.', width: 10, numFmt: COUNT, value: (w) => w.cells },
  { header: 'Infusion defects', meaning: 'Of those cells, the ones with an infusion defect (dfct_cd 5 by default).', width: 10, numFmt: COUNT, value: (w) => w.infusionDefects },
  { header: 'Filling defects', meaning: 'Of those cells, the ones with a filling defect (dfct_cd 4 by default).', width: 10, numFmt: COUNT, value: (w) => w.fillingDefects },
  { header: 'Infusion-defect rate', meaning: 'Infusion defects / Cells; red when above the threshold with enough cells to judge.', width: 12, numFmt: RATE, value: (w) => w.rate },
  { header: 'Above threshold', meaning: 'yes when the rate is above defectTrace.infusionRateThreshold and the winder had at least defectTrace.minCells cells.', width: 11, value: (w) => (w.above ? 'yes' : 'no') },
  { header: 'Rising since', meaning: 'First day of the run of days above the threshold that reaches the report day (up to two quiet days inside it do not end it).', width: 12, numFmt: DATE, value: (w) => (w.riseDay ? excelDate(w.riseDay) : null) },
  { header: 'Window rate', meaning: 'Infusion defects / Cells over the charted window.', width: 11, numFmt: RATE, value: (w) => w.windowRate },
  { header: 'Gap readings', meaning: 'Separator–anode gap readings of the winder on the day.', width: 10, numFmt: COUNT, value: (w) => w.gap.n },
  { header: 'Gap mean (mm)', meaning: 'Mean of those readings.', width: 11, numFmt: MM, value: (w) => w.gap.mean },
  { header: 'Gap min (mm)', meaning: 'Smallest reading of the day.', width: 11, numFmt: MM, value: (w) => w.gap.min },
  { header: 'Gap max (mm)', meaning: 'Largest reading of the day.', width: 11, numFmt: MM, value: (w) => w.gap.max },
  { header: 'Gap SD (mm)', meaning: "Sample standard deviation of the day's readings (n − 1); empty below two readings.", width: 11, numFmt: SD, value: (w) => w.gap.sd },
  { header: 'Below LSL', meaning: "Readings of the day below the gap's lower spec limit (a reading exactly at the limit is in spec).", width: 10, numFmt: COUNT, value: (w) => w.gap.belowLsl },
  { header: 'Above USL', meaning: "Readings of the day above the gap's upper spec limit.", width: 10, numFmt: COUNT, value: (w) => w.gap.aboveUsl },
  { header: 'Lead window from', meaning: 'First day of the lead window: the days before the rise (or up to the report day when there is no rise) whose gap is judged.', width: 12, numFmt: DATE, value: (w) => excelDate(w.lead.from) },
  { header: 'Lead window to', meaning: 'Last day of the lead window.', width: 12, numFmt: DATE, value: (w) => excelDate(w.lead.to) },
  { header: 'Lowest gap in lead window (mm)', meaning: 'The smallest gap reading in the lead window.', width: 13, numFmt: MM, value: (w) => w.leadMin },
  { header: 'Baseline mean (mm)', meaning: "Mean of the winder's readings over the baseline days before the lead window.", width: 11, numFmt: MM, value: (w) => orNull(w.baseline?.mean) },
  { header: 'Baseline sigma (mm)', meaning: 'Pooled within-day standard deviation of the baseline readings.', width: 11, numFmt: SD, value: (w) => orNull(w.baseline?.sigma) },
  { header: 'Largest drift (z)', meaning: 'The lead day whose mean is furthest from the baseline mean, in standard errors (σ/√n).', width: 10, numFmt: '0.0', value: (w) => w.extremeZ },
  { header: 'Days below LSL', meaning: 'Lead-window days with a reading below LSL.', width: 16, value: (w) => w.belowLslDays.join(', ') || null },
  { header: 'Drifting days', meaning: 'Lead-window days whose mean is defectTrace.driftZ standard errors or more from the baseline mean.', width: 16, value: (w) => w.driftDays.join(', ') || null },
  { header: 'Gap verdict', meaning: 'below-lsl, above-usl, drifting, stable, no-baseline (in spec, nothing earlier to judge drift by) or no-data.', width: 12, value: (w) => w.verdict },
  { header: 'Finding', meaning: 'The verdict in one sentence for an engineer.', width: 70, value: (w) => w.finding },
];

/** What each column of the sheet means, for the workbook's Definitions sheet. */
export const DEFECT_TRACE_DEFINITIONS: readonly { column: string; meaning: string }[] = COLUMNS.map((c) => ({ column: c.header, meaning: c.meaning }));

export interface DefectTraceSheetOptions {
  /** Default 'Defect trace'. */
  sheetName?: string;
  /** Excel table name, unique in the workbook; default 'DefectTrace'. */
  tableName?: string;
  /** The chart (renderDefectTraceChart), placed below the notes. */
  chart?: Png;
}

/**
 * Adds the *Defect trace* sheet: one Excel table of the winders, ranked, with their gap statistics
 * and verdicts (the untraced cells as its last row, without a rank), the header and the winder
 * frozen; below it the settings the verdicts used and, optionally, the chart.
 */
export function addDefectTraceSheet(book: StreamBook, data: DefectTraceSheetData, opts: DefectTraceSheetOptions = {}): ExcelJS.Worksheet {
  const ws = book.wb.addWorksheet(opts.sheetName ?? 'Defect trace', { views: [{ state: 'frozen', xSplit: 2, ySplit: 1 }] });
  const s = data.settings;
  COLUMNS.forEach((c, i) => (ws.getColumn(i + 1).width = c.width));
  const rows = data.winders.map((w) => COLUMNS.map((c) => c.value(w)));
  // The untraced cells are not a winder, but they are CEF's cells too: with them the table's counts
  // add up to the day's CEF totals, as in summary_defect_winder.
  const u = data.untraced;
  const untraced: Record<string, string | number | null> = {
    Winder: UNTRACED,
    Cells: u.cells,
    'Infusion defects': u.infusionDefects,
    'Filling defects': u.fillingDefects,
    'Infusion-defect rate': u.rate,
    Finding: 'CEF cells without a winding record: not traceable to a winder',
  };
  rows.push(COLUMNS.map((c) => untraced[c.header] ?? null));
  writeTable(book, ws, { name: opts.tableName ?? 'DefectTrace', headers: COLUMNS.map((c) => c.header), rows });
  COLUMNS.forEach((c, i) => {
    if (c.numFmt) for (let r = 2; r <= rows.length + 1; r++) ws.getCell(r, i + 1).numFmt = c.numFmt;
  });
  ws.getRow(1).alignment = { wrapText: true, vertical: 'top' };
  const red = { argb: 'FFC00000' };
  const rateCol = COLUMNS.findIndex((c) => c.header === 'Infusion-defect rate') + 1;
  const verdictCol = COLUMNS.findIndex((c) => c.header === 'Gap verdict') + 1;
  data.winders.forEach((w, i) => {
    if (w.above) ws.getCell(i + 2, rateCol).font = { bold: true, color: red };
    if (GAP_SIGNAL.includes(w.verdict)) ws.getCell(i + 2, verdictCol).font = { bold: true, color: red };
  });

  // The settings the verdicts used: a reader of the sheet needs them to read it.
  const notes: [string, string | number | Date, string?][] = [
    ['Production day', excelDate(data.day), DATE],
    ['All CEF cells', data.total.cells, COUNT],
    ['Infusion defects, all cells', data.total.infusionDefects, COUNT],
    ['Infusion-defect rate, all cells', data.total.rate ?? '–', RATE],
    ['Infusion-defect rate threshold', s.infusionRateThreshold, RATE],
    ['Cells a winder needs to be judged', s.minCells, COUNT],
    ['Gap LSL (mm)', s.lsl, MM],
    ['Gap USL (mm)', s.usl, MM],
    ['Lead window (days before the rise, or up to the day)', s.leadDays, '0'],
    ['Baseline (days before the lead window)', s.baselineDays, '0'],
    ['Drift: daily mean this many standard errors from the baseline', s.driftZ, '0.0'],
    ['Window (days charted, searched for the rise)', s.windowDays, '0'],
  ];
  let r = rows.length + 3;
  ws.getCell(r, 1).value = 'Settings';
  ws.getCell(r, 1).font = { bold: true };
  for (const [label, value, fmt] of notes) {
    r += 1;
    ws.getCell(r, 1).value = label;
    const cell = ws.getCell(r, rateCol);
    cell.value = value;
    if (fmt && typeof value !== 'string') cell.numFmt = fmt;
  }
  if (opts.chart) addPicture(book, ws, opts.chart, { col: 1, row: r + 1 }, 'defect trace chart', 'Infusion-defect rate and mean gap per winder and day');
  ws.commit();
  return ws;
}

// ------------------------------------------------------------------------------------------------
// The chart

const GREY = '#c8c8c8';
const RED = '#c62828';
const PALETTE = ['#d62728', '#1f77b4', '#e07b00', '#2ca02c', '#9467bd', '#8c564b'];

/**
 * Infusion-defect rate (top) and mean gap (bottom) per winder and day over the charted window, the
 * threshold and the spec limits as dashed lines. The winders above the threshold or flagged by
 * their gap are in colour, the others grey, so the eye finds the gap's fall before the rate's rise.
 */
export function defectTraceChartSpec(data: DefectTraceSheetData, o: { width?: number } = {}): TopLevelSpec {
  const s = data.settings;
  const named = [...data.above, ...data.watch].map((w) => w.winder);
  const others = [...new Set(data.chart.points.map((p) => p.winder))].filter((w) => !named.includes(w)).sort();
  const color = {
    field: 'winder',
    type: 'nominal' as const,
    title: 'winder',
    scale: { domain: [...named, ...others], range: [...named.map((_, i) => PALETTE[i % PALETTE.length]!), ...others.map(() => GREY)] },
  };
  const x = { field: 'day', type: 'temporal' as const, timeUnit: 'utcyearmonthdate' as const, title: null, axis: { format: '%d.%m', labelAngle: 0, tickCount: 8 } };
  // Room for the axis titles and the legend on the right.
  const width = (o.width ?? 640) - 150;
  // The grey winders first, the named ones on top of them.
  const lines = (field: string, title: string, axis: object, scale: object = {}) =>
    [false, true].map((top) => ({
      transform: [{ filter: top ? 'datum.highlighted' : '!datum.highlighted' }],
      mark: { type: 'line' as const, strokeWidth: top ? 2.2 : 1, point: { size: top ? 14 : 6 } },
      encoding: { x, y: { field, type: 'quantitative' as const, title, axis, scale }, color },
    }));
  const rule = (value: number) => ({ mark: { type: 'rule' as const, color: RED, strokeDash: [4, 3], strokeWidth: 1.2 }, encoding: { y: { datum: value, type: 'quantitative' as const } } });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: {
      font: 'DejaVu Sans, Arial, Helvetica, sans-serif',
      background: 'white',
      view: { stroke: '#dddddd' },
      axis: { labelFontSize: 10, titleFontSize: 11, gridColor: '#eeeeee' },
      title: { fontSize: 14, anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555555' },
    },
    title: {
      // Short lines: Vega estimates text widths without a canvas (generously), and a long line widens the image.
      text: 'Infusion defects and gap per winder',
      subtitle: [
        `${data.chart.from} to ${data.chart.to}; in colour: ${named.length ? named.join(', ') : 'none flagged'}`,
        `dashed: rate threshold ${pct(s.infusionRateThreshold)}, gap LSL ${s.lsl.toFixed(2)} / USL ${s.usl.toFixed(2)} mm`,
      ],
    },
    data: { values: data.chart.points },
    vconcat: [
      { width, height: 150, layer: [...lines('rate', 'infusion-defect rate', { format: '.1%' }), rule(s.infusionRateThreshold)] },
      { width, height: 150, layer: [...lines('gapMean', 'mean gap (mm)', {}, { zero: false }), rule(s.lsl), rule(s.usl)] },
    ],
    resolve: { scale: { x: 'shared', color: 'shared' } },
  } as TopLevelSpec;
}

/** The chart as a PNG (reports/charts.ts renders it), for the sheet and the email. */
export function renderDefectTraceChart(data: DefectTraceSheetData, o: { width?: number; scale?: number } = {}): Promise<Png> {
  return renderPng(defectTraceChartSpec(data, o), o.scale ?? 2);
}

// ------------------------------------------------------------------------------------------------
// The email paragraph

export interface DefectTraceParagraph {
  text: string;
  html: string;
}

const P = 'font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:0 0 6px 0;';

function aboveLine(w: WinderVerdict & { finding: string }): string {
  return `${w.winder}: infusion-defect rate ${pct(w.rate)} (${countText(w.infusionDefects)} of ${countText(w.cells)} cells), rising since ${w.riseDay}; ${w.finding}.`;
}

/**
 * The defect-trace paragraph of the daily email (pure): the winders above the infusion-defect
 * threshold on the day and why (gap below LSL or drifting before the rise, or not the gap), the
 * winders whose gap is already off without a rise yet, and the untraced cells.
 */
export function defectTraceParagraph(data: DefectTraceSheetData): DefectTraceParagraph {
  const s = data.settings;
  const lead =
    data.above.length === 0
      ? `No winder above the ${pct(s.infusionRateThreshold)} infusion-defect threshold on ${data.day} ` +
        `(all CEF cells: ${pct(data.total.rate)}, ${countText(data.total.infusionDefects)} of ${countText(data.total.cells)}).`
      : `${plural(data.above.length, 'winder')} above the ${pct(s.infusionRateThreshold)} infusion-defect threshold on ${data.day} ` +
        `(all CEF cells: ${pct(data.total.rate)}):`;
  const aboveLines = data.above.map(aboveLine);
  const watchLines = data.watch.map((w) => `${w.winder}: ${w.finding}; its infusion defects have not risen yet (${pct(w.rate)} today).`);
  const u = data.untraced;
  const untraced =
    u.cells > 0
      ? `Untraced: ${plural(u.cells, 'CEF cell')} without a winding record, ${countText(u.infusionDefects)} with an infusion defect (not counted for any winder).`
      : 'Every CEF cell of the day was traced to its winder.';

  const text = [
    'Defect trace (CEF infusion defects by winder)',
    lead,
    ...aboveLines.map((l) => `  - ${l}`),
    ...(watchLines.length ? ['Watch (gap off, no rise yet):', ...watchLines.map((l) => `  - ${l}`)] : []),
    untraced,
  ].join('\n');

  const list = (lines: string[]) => (lines.length ? `<ul style="${P}padding-left:20px;">${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>` : '');
  const html =
    `<h3 style="${P}font-size:15px;color:#1f3864;">Defect trace (CEF infusion defects by winder)</h3>` +
    `<p style="${P}">${escapeHtml(lead)}</p>` +
    list(aboveLines) +
    (watchLines.length ? `<p style="${P}">Watch (gap off, no rise yet):</p>${list(watchLines)}` : '') +
    `<p style="${P}color:#555555;">${escapeHtml(untraced)}</p>`;
  return { text, html };
}
