/**
 * The daily yield email: subject, HTML body and plain-text alternative, composed from the report
 * data (pure; sending is reports/mail.ts). The HTML is what mail clients render reliably: nested
 * tables, inline styles, no external CSS, no scripts, images by Content-ID.
 */
import { DateTime } from 'luxon';
import { ALL_PRODUCTS, kpiLine, type DailyYieldData, type KpiLine, type SummaryRunInfo, type Targets } from './daily-yield-data.js';

export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface EmailContext {
  plant: string;
  timezone: string;
  targets: Targets;
  /** Name of the attached workbook. */
  workbookName?: string;
  /** Set when the workbook is too large to attach: where it is and its size. */
  workbookNotAttached?: { path: string; megabytes: number; limitMb: number };
  /** Content-ID of the inline trend chart and its display size. */
  trend?: { cid: string; width: number; height: number };
  /** The report job's run (etl_runs.id), for the footer. */
  runId?: number;
  /** Paragraphs of the optional sections (SPC, defect trace), placed after data quality. */
  sections?: readonly { text: string; html: string }[];
  /** Names of the workbook's optional sheets, for the footer. */
  extraSheets?: readonly string[];
}

const MINUS = '\u2212';

export function pctText(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)} %`;
}

/** A change of a yield in percentage points: +0.3, −0.8, ±0.0. */
export function pointsText(d: number | null | undefined): string {
  if (d === null || d === undefined) return '–';
  const p = Math.round(Math.abs(100 * d) * 10) / 10;
  if (p === 0) return '±0.0';
  return `${d > 0 ? '+' : MINUS}${p.toFixed(1)}`;
}

export function countText(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function localText(d: Date | DateTime, tz: string, format = 'yyyy-MM-dd HH:mm'): string {
  return (d instanceof Date ? DateTime.fromJSDate(d) : d).setZone(tz).toFormat(format);
}

/** `Daily yield 2026-11-20 · Demo Plant · FPY 96.2 % (−0.8)`: the overall first-pass yield and its change since the previous day. */
export function dailyYieldSubject(data: DailyYieldData, plant: string): string {
  const fpy = kpiLine(data.headline, null, 'first_pass_yield');
  const change = fpy?.vsPrevious !== null && fpy?.vsPrevious !== undefined ? ` (${pointsText(fpy.vsPrevious)})` : '';
  return `Daily yield ${data.day} · ${plant} · FPY ${pctText(fpy?.value)}${change}`;
}

// ------------------------------------------------------------------------------------------------
// HTML building blocks (inline styles only)

const FONT = "font-family:Arial,Helvetica,sans-serif;";
const TD = `${FONT}font-size:13px;padding:4px 8px;border-bottom:1px solid #e5e5e5;`;
const TH = `${FONT}font-size:12px;padding:4px 8px;background:#dce6f1;color:#1f3864;text-align:left;border-bottom:1px solid #b4c6e7;`;
const NUM = 'text-align:right;white-space:nowrap;';
const BELOW = 'color:#9c0006;background:#ffc7ce;';
const DOWN = 'color:#c00000;';
const UP = 'color:#2e7d32;';

function td(content: string, style = ''): string {
  return `<td style="${TD}${style}">${content}</td>`;
}

function th(content: string, numeric = false): string {
  return `<th style="${TH}${numeric ? 'text-align:right;' : ''}">${content}</th>`;
}

function table(head: string[], rows: string[], textColumns: readonly number[] = [0]): string {
  return (
    '<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;width:100%;">' +
    `<tr>${head.map((h, i) => th(h, !textColumns.includes(i))).join('')}</tr>` +
    rows.join('') +
    '</table>'
  );
}

function yieldCell(l: KpiLine | undefined): string {
  return td(pctText(l?.value), NUM + (l?.belowTarget ? BELOW : ''));
}

function deltaCell(d: number | null | undefined): string {
  const style = d === null || d === undefined || Math.abs(d) < 0.0005 ? '' : d < 0 ? DOWN : UP;
  return td(pointsText(d), NUM + style);
}

function kpiRows(data: DailyYieldData): string[] {
  const h = data.headline;
  const products: (string | null)[] = [null, ...new Set(h.lines.filter((l) => l.product !== null).map((l) => l.product))];
  return products.map((p) => {
    const get = (k: Parameters<typeof kpiLine>[2]) => kpiLine(h, p, k);
    const fpy = get('first_pass_yield');
    const cy = get('cumulative_yield');
    const bold = p === null ? 'font-weight:bold;' : '';
    return (
      `<tr style="${bold}">` +
      td(escapeHtml(p ?? ALL_PRODUCTS), bold) +
      td(countText(get('load_qty')?.value), NUM + bold) +
      td(countText(get('test_count')?.value), NUM + bold) +
      yieldCell(fpy) +
      deltaCell(fpy?.vsPrevious) +
      td(pctText(fpy?.average), NUM + 'color:#555555;') +
      yieldCell(cy) +
      deltaCell(cy?.vsPrevious) +
      '</tr>'
    );
  });
}

function shell(title: string, body: string): string {
  return (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title></head>` +
    '<body style="margin:0;padding:0;background:#f3f3f3;">' +
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f3f3f3;"><tr><td align="center" style="padding:16px 8px;">' +
    '<table role="presentation" width="680" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:680px;background:#ffffff;border:1px solid #dddddd;">' +
    body +
    '</table></td></tr></table></body></html>'
  );
}

const block = (html: string, style = '') => `<tr><td style="padding:12px 20px;${FONT}font-size:14px;color:#222222;${style}">${html}</td></tr>`;
const heading = (s: string) => `<h2 style="${FONT}font-size:16px;color:#1f3864;margin:0 0 8px 0;">${escapeHtml(s)}</h2>`;

function qualityText(data: DailyYieldData): string[] {
  const q = data.quality;
  if (q.rowsRead === null) return ['No data-quality record for the day.'];
  const rate = q.rowsRead ? ` (${((100 * (q.rowsRejected ?? 0)) / q.rowsRead).toFixed(2)} %)` : '';
  const lines = [
    `Records read ${countText(q.rowsRead)}, rejected ${countText(q.rowsRejected)}${rate}, duplicates dropped ${countText(q.duplicatesDropped)}, ` +
      `excess attempts ${countText(q.excessAttempts)}, pending units ${countText(q.pendingUnits)}.`,
  ];
  if (q.rejectsByReason.length) lines.push(`Rejected by reason: ${q.rejectsByReason.map((r) => `${r.reason} ${countText(r.count)}`).join(', ')}.`);
  return lines;
}

// ------------------------------------------------------------------------------------------------

export function composeDailyYieldEmail(data: DailyYieldData, c: EmailContext): ComposedEmail {
  const subject = dailyYieldSubject(data, c.plant);
  const h = data.headline;
  const period = `${localText(data.from, c.timezone)} to ${localText(data.to, c.timezone)} (${c.timezone})`;
  const previous = h.previousDay ? `Δ: change since ${h.previousDay}, in percentage points` : 'no earlier day to compare with';
  const tg = c.targets;

  const html: string[] = [];
  html.push(
    block(
      `<h1 style="${FONT}font-size:20px;margin:0 0 4px 0;color:#222222;">Daily yield · ${escapeHtml(c.plant)} · ${data.day}</h1>` +
        `<div style="${FONT}font-size:12px;color:#666666;">Production day ${escapeHtml(period)}; week ${data.weekLabel}.</div>`,
      'padding-top:18px;',
    ),
  );
  html.push(
    block(
      heading('Headline') +
        table(['Product', 'Load', 'Tests', `FPY (target ${pctText(tg.firstPassYield)})`, 'Δ', '7-day FPY', `CY (target ${pctText(tg.cumulativeYield)})`, 'Δ'], kpiRows(data)) +
        `<div style="${FONT}font-size:11px;color:#666666;padding-top:6px;">FPY: first-pass yield, CY: cumulative yield (rolled per product; all products weighted by units tested). ` +
        `${escapeHtml(previous)}. Red: below target.</div>`,
    ),
  );
  if (c.trend) {
    html.push(
      block(
        `<img src="cid:${escapeHtml(c.trend.cid)}" width="${c.trend.width}" height="${c.trend.height}" alt="First-pass yield per product over the last 30 days" ` +
          `style="display:block;border:0;outline:none;width:100%;max-width:${c.trend.width}px;height:auto;">`,
      ),
    );
  }
  const w = data.worst;
  const stationRows = w.stations.map(
    (s) =>
      '<tr>' +
      td(String(s.rank), NUM) +
      td(escapeHtml(s.machine)) +
      td(countText(s.units_tested), NUM) +
      // Not marked against the targets: those are for rolled product yields, a station runs one step.
      td(pctText(s.first_pass_yield), NUM) +
      td(pctText(s.cumulative_yield), NUM) +
      td(countText(s.test_count), NUM) +
      '</tr>',
  );
  html.push(
    block(
      heading('Worst stations by first-pass yield') +
        (w.stations.length
          ? table(['#', 'Machine', 'Units', 'FPY', 'CY', 'Tests'], stationRows, [1])
          : `<p style="${FONT}font-size:13px;margin:0;">No station had ${w.minUnits} or more unit-tests with a first-pass yield.</p>`) +
        (w.tooFewUnits ? `<div style="${FONT}font-size:11px;color:#666666;padding-top:6px;">Stations with fewer than ${w.minUnits} unit-tests are not ranked (${w.tooFewUnits}).</div>` : ''),
    ),
  );
  html.push(block(heading('Data quality') + qualityText(data).map((l) => `<p style="${FONT}font-size:13px;margin:0 0 4px 0;">${escapeHtml(l)}</p>`).join('')));
  for (const s of c.sections ?? []) html.push(block(s.html));
  const extra = c.extraSheets?.length ? `, the ${c.extraSheets.join(' and ')} sheet${c.extraSheets.length > 1 ? 's' : ''}` : '';
  const footer = [
    c.workbookName
      ? `${c.workbookNotAttached ? `Not attached (${c.workbookNotAttached.megabytes.toFixed(1)} MB, over the ${c.workbookNotAttached.limitMb} MB limit of reports.dailyYield.maxAttachmentMb): ${c.workbookName} at ${c.workbookNotAttached.path}` : `Attached: ${c.workbookName}`}, ` +
        `with the day's and the week's summary rows by product, product × test and machine, the rejected records${extra}, charts and the definition of every column.`
      : '',
    `Numbers from summary run ${data.summaryRunIds.join(', ') || '–'}${data.computedAt ? `, computed ${localText(data.computedAt, c.timezone)}` : ''}. Sent by yieldrun${c.runId ? ` (run ${c.runId})` : ''}.`,
  ].filter(Boolean);
  html.push(block(footer.map((l) => `<p style="margin:0 0 4px 0;">${escapeHtml(l)}</p>`).join(''), 'font-size:11px;color:#666666;border-top:1px solid #e5e5e5;'));

  // Plain text: the same content in aligned columns.
  const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n));
  const names = [ALL_PRODUCTS, ...h.lines.filter((l) => l.product !== null).map((l) => l.product!)];
  const nameWidth = Math.max(...names.map((n) => n.length), 7) + 2;
  const text: string[] = [
    `Daily yield · ${c.plant} · ${data.day}`,
    `Production day ${period}; week ${data.weekLabel}.`,
    '',
    `${pad('Product', nameWidth)}${pad('Load', 9, true)}${pad('Tests', 10, true)}${pad('FPY', 10, true)}${pad('Δ', 7, true)}${pad('7-day', 10, true)}${pad('CY', 10, true)}${pad('Δ', 7, true)}`,
  ];
  for (const p of [null, ...new Set(h.lines.filter((l) => l.product !== null).map((l) => l.product))]) {
    const get = (k: Parameters<typeof kpiLine>[2]) => kpiLine(h, p, k);
    const mark = (l: KpiLine | undefined) => `${pctText(l?.value)}${l?.belowTarget ? '!' : ' '}`;
    text.push(
      `${pad(p ?? ALL_PRODUCTS, nameWidth)}${pad(countText(get('load_qty')?.value), 9, true)}${pad(countText(get('test_count')?.value), 10, true)}` +
        `${pad(mark(get('first_pass_yield')), 10, true)}${pad(pointsText(get('first_pass_yield')?.vsPrevious), 7, true)}${pad(pctText(get('first_pass_yield')?.average), 10, true)}` +
        `${pad(mark(get('cumulative_yield')), 10, true)}${pad(pointsText(get('cumulative_yield')?.vsPrevious), 7, true)}`,
    );
  }
  text.push(
    '',
    `FPY: first-pass yield (target ${pctText(tg.firstPassYield)}), CY: cumulative yield (target ${pctText(tg.cumulativeYield)}); ! below target. ${previous}.`,
    '',
    'Worst stations by first-pass yield:',
  );
  if (w.stations.length === 0) text.push(`  none with ${w.minUnits} or more unit-tests`);
  for (const s of w.stations) {
    text.push(`  ${pad(String(s.rank), 3, true)}. ${pad(s.machine, 16)} FPY ${pad(pctText(s.first_pass_yield), 8, true)}  CY ${pad(pctText(s.cumulative_yield), 8, true)}  units ${countText(s.units_tested)}`);
  }
  text.push('', 'Data quality:', ...qualityText(data).map((l) => `  ${l}`));
  for (const s of c.sections ?? []) text.push('', s.text);
  text.push('', ...footer);
  return { subject, html: shell(subject, html.join('')), text: `${text.join('\n')}\n` };
}

function runText(run: SummaryRunInfo, tz: string): string {
  const when = run.finishedAt ?? run.startedAt;
  return `run ${run.id}${run.triggeredBy ? ` (triggered by ${run.triggeredBy})` : ''}${when ? ` at ${localText(when, tz)}` : ''}`;
}

function notice(subject: string, lines: string[]): ComposedEmail {
  const html = shell(subject, block(`<h1 style="${FONT}font-size:18px;margin:0 0 8px 0;">${escapeHtml(subject)}</h1>` + lines.map((l) => `<p style="margin:0 0 8px 0;">${escapeHtml(l)}</p>`).join('')));
  return { subject, html, text: `${lines.join('\n\n')}\n` };
}

/** A day without summary rows: a short notice instead of an empty report. */
export function composeNoDataNotice(data: DailyYieldData, c: Pick<EmailContext, 'plant' | 'timezone'>): ComposedEmail {
  const run = data.state.run;
  const period = `${localText(data.from, c.timezone)} to ${localText(data.to, c.timezone)} (${c.timezone})`;
  return notice(`Daily yield ${data.day} · ${c.plant} · no data`, [
    `No data for ${data.day}: the summary tables have no rows for production day ${data.day}, ${period}.`,
    run
      ? `The nightly summary ${runText(run, c.timezone)} computed the day and found no valid test records in it.`
      : `No nightly summary run has computed this day. To compute it: yieldrun run nightly-summary --date ${data.day}`,
    'No workbook is attached: there is nothing to report.',
  ]);
}

/** The day's summary run failed: say so, rather than show numbers an earlier run left behind. */
export function composeSummaryFailedNotice(data: DailyYieldData, run: SummaryRunInfo, c: Pick<EmailContext, 'plant' | 'timezone'>): ComposedEmail {
  return notice(`Daily yield ${data.day} · ${c.plant} · summary failed`, [
    `The nightly summary ${runText(run, c.timezone)} for production day ${data.day} failed, so there is no daily yield report for ${data.day}: ` +
      'the summary tables may still hold numbers from an earlier run.',
    `Error: ${(run.error ?? 'no error recorded').split('\n')[0]}`,
    `Once the cause is fixed, rerun the summary (yieldrun run nightly-summary --date ${data.day}) and then the report (yieldrun run daily-yield-report --date ${data.day}).`,
  ]);
}
