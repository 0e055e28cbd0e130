/**
 * The SPC alert email (spc.md §5): the new rule violations of one measure, found by one run, as a
 * plain-text and an HTML body, with the control chart of each affected key inline (Content-ID).
 * Composition is pure; the job (etl/spc-job.ts) claims the violations, sends through
 * reports/mail.ts and records alerted_at, so each violation is alerted once.
 */
import { DateTime } from 'luxon';
import type { ChartKind } from '../etl/spc/chart-points.js';
import type { Panel } from '../etl/spc-judge.js';
import type { RuleNumber, RuleSettings, Side } from '../etl/spc/nelson-rules.js';
import { DEFAULT_RULE_SETTINGS } from '../etl/spc/nelson-rules.js';
import type { MailAttachment, MailMessage } from './mail.js';
import { PAIRED_STATISTIC, renderSpcChart, type SpcChartData } from './spc-chart.js';

export interface AlertViolation {
  key: string;
  /** The flagged point and the first point of its pattern. */
  time: Date;
  firstTime: Date;
  /** The chart it is on: main (I, X̄, p) or paired (MR, R, S); value and limits are that panel's. */
  panel: Panel;
  rule: RuleNumber;
  side: Side | null;
  value: number | null;
  cl: number | null;
  lcl: number | null;
  ucl: number | null;
}

export interface SpcAlertInput {
  plant: string;
  timezone: string;
  measure: { name: string; title: string; unit: string | null; chart: ChartKind; rules: RuleSettings };
  /** The production day the run charted up to, and its window. */
  day: string;
  window: { from: string; to: string };
  runId: number;
  /** New violations, in time order. */
  violations: readonly AlertViolation[];
  /** Inline charts by key: Content-ID and display size. */
  charts?: readonly { key: string; cid: string; width: number; height: number }[];
}

export interface ComposedAlert {
  subject: string;
  text: string;
  html: string;
}

/** Violations listed per key (its latest); all are counted in the summary and kept in spc_violations. */
export const MAX_LISTED_PER_KEY = 10;
/** Keys listed in detail; the summary table counts every key. */
export const MAX_KEYS_LISTED = 10;
/** Charts inlined in one email: the keys with the most new violations. */
export const MAX_CHARTS = 4;

/** What a rule says, with the run lengths the measure uses (spc.md §3). */
export function ruleText(rule: RuleNumber, s: RuleSettings = DEFAULT_RULE_SETTINGS): string {
  switch (rule) {
    case 1:
      return 'one point beyond 3σ';
    case 2:
      return `${s.sameSideRun} points in a row on one side of CL`;
    case 3:
      return `${s.trendRun} points in a row steadily increasing or decreasing`;
    case 4:
      return `${s.alternatingRun} points in a row alternating up and down`;
    case 5:
      return `${s.beyondTwoSigma.count} of ${s.beyondTwoSigma.window} points beyond 2σ, same side`;
    case 6:
      return `${s.beyondOneSigma.count} of ${s.beyondOneSigma.window} points beyond 1σ, same side`;
    case 7:
      return `${s.withinOneSigmaRun} points in a row within 1σ`;
    case 8:
      return `${s.outsideOneSigmaRun} points in a row beyond 1σ on both sides of CL, none within (mixture)`;
  }
}

const CHART_NAME: Record<ChartKind, string> = { 'I-MR': 'I-MR', 'Xbar-R': 'X̄-R', 'Xbar-S': 'X̄-S', p: 'p' };
/** The paired chart's statistic, which names a violation on it ("1 (MR)"). */
const pairedName = (chart: ChartKind) => PAIRED_STATISTIC[chart] ?? 'paired';

/** The rule as listed: its number, with the paired chart's statistic when it is on that chart. */
function ruleLabel(v: Pick<AlertViolation, 'panel' | 'rule'>, chart: ChartKind): string {
  return v.panel === 'paired' ? `${v.rule} (${pairedName(chart)})` : String(v.rule);
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function localTime(t: Date, tz: string): string {
  return DateTime.fromJSDate(t).setZone(tz).toFormat('yyyy-LL-dd HH:mm');
}

/** Five significant digits: enough to compare a value with its limits (0.81230 mm, 12.500 s, 25.00 %). */
function valueText(v: number | null, chart: ChartKind): string {
  if (v === null) return '–';
  if (chart === 'p') return `${(100 * v).toFixed(2)} %`;
  return v.toPrecision(5);
}

/** Keys with their violations (in time order), the key with the most new violations first. */
function byKey(violations: readonly AlertViolation[]): [string, AlertViolation[]][] {
  const m = new Map<string, AlertViolation[]>();
  for (const v of violations) m.set(v.key, [...(m.get(v.key) ?? []), v]);
  for (const vs of m.values()) vs.sort((a, b) => a.time.getTime() - b.time.getTime() || a.rule - b.rule);
  return [...m].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1));
}

/** Counts per rule, the main chart's first: "1 ×12, 5 ×3, 1 (MR) ×2". */
function ruleCounts(vs: readonly AlertViolation[], chart: ChartKind): string {
  const counts = new Map<string, { order: number; n: number }>();
  for (const v of vs) {
    const label = ruleLabel(v, chart);
    const c = counts.get(label) ?? { order: (v.panel === 'paired' ? 10 : 0) + v.rule, n: 0 };
    c.n++;
    counts.set(label, c);
  }
  return [...counts].sort((a, b) => a[1].order - b[1].order).map(([label, c]) => `${label} ×${c.n}`).join(', ');
}

export function spcAlertSubject(input: SpcAlertInput): string {
  const keys = byKey(input.violations).map(([k]) => k);
  const shown = keys.slice(0, 3).join(', ') + (keys.length > 3 ? ` and ${keys.length - 3} more` : '');
  const n = input.violations.length;
  return `SPC alert · ${input.plant} · ${input.measure.title}: ${n} new violation${n === 1 ? '' : 's'} on ${shown}`;
}

export function composeSpcAlert(input: SpcAlertInput): ComposedAlert {
  const m = input.measure;
  const tz = input.timezone;
  const groups = byKey(input.violations);
  const detailed = groups.slice(0, MAX_KEYS_LISTED);
  const unit = m.unit ? ` ${m.unit}` : '';
  const latest = (vs: readonly AlertViolation[]) => vs.slice(-MAX_LISTED_PER_KEY);
  const statistic = (v: AlertViolation) => (v.panel === 'paired' ? `${pairedName(m.chart)} chart: ` : '');
  const line = (v: AlertViolation) =>
    `${localTime(v.time, tz)}  rule ${ruleLabel(v, m.chart)}: ${statistic(v)}${ruleText(v.rule, m.rules)}${v.side ? `, ${v.side} CL` : ''}; ` +
    `${v.panel === 'paired' ? pairedName(m.chart) : 'value'} ${valueText(v.value, m.chart)}${m.chart === 'p' ? '' : unit} (CL ${valueText(v.cl, m.chart)}, LCL ${valueText(v.lcl, m.chart)}, UCL ${valueText(v.ucl, m.chart)})` +
    (v.firstTime.getTime() !== v.time.getTime() ? `; pattern from ${localTime(v.firstTime, tz)}` : '');
  const intro =
    `${input.violations.length} new rule violation(s) on ${groups.length} chart(s) of ${m.title} (${m.name}, ${CHART_NAME[m.chart]} chart, one chart per key), ` +
    `found by SPC run ${input.runId} for production day ${input.day} (window ${input.window.from} to ${input.window.to}, times in ${tz}).`;
  const footer = "Each violation is alerted once; the charts and all violations are in spc_points and spc_violations, and in the daily report's SPC sheet.";
  const summaryLine = ([key, vs]: [string, AlertViolation[]]) =>
    `${key}: ${vs.length} new (rules ${ruleCounts(vs, m.chart)}), ${localTime(vs[0]!.time, tz)} to ${localTime(vs[vs.length - 1]!.time, tz)}`;
  const notListed = groups.length - detailed.length;

  const text = [
    `SPC alert · ${input.plant}`,
    '',
    intro,
    '',
    ...groups.map((g) => `  ${summaryLine(g)}`),
    '',
    ...detailed.flatMap(([key, vs]) => [
      `${key}${vs.length > MAX_LISTED_PER_KEY ? ` (the latest ${MAX_LISTED_PER_KEY} of ${vs.length})` : ''}:`,
      ...latest(vs).map((v) => `  ${line(v)}`),
      '',
    ]),
    ...(notListed > 0 ? [`The violations of ${notListed} more key(s) are counted above, not listed.`, ''] : []),
    footer,
    '',
  ].join('\n');

  const FONT = 'font-family:Arial,Helvetica,sans-serif;';
  const TD = `${FONT}font-size:13px;padding:3px 8px;border-bottom:1px solid #e5e5e5;`;
  const TH = `${FONT}font-size:12px;padding:3px 8px;background:#dce6f1;color:#1f3864;text-align:left;`;
  const NUM = 'text-align:right;white-space:nowrap;';
  const table = (head: readonly string[], numeric: readonly number[], rows: readonly string[][]) =>
    `<table cellspacing="0" cellpadding="0" style="border-collapse:collapse;">` +
    `<tr>${head.map((h, i) => `<th style="${TH}${numeric.includes(i) ? 'text-align:right;' : ''}">${escapeHtml(h)}</th>`).join('')}</tr>` +
    rows.map((r) => `<tr>${r.map((c, i) => `<td style="${TD}${numeric.includes(i) ? NUM : ''}">${c}</td>`).join('')}</tr>`).join('') +
    '</table>';
  const summary = table(
    ['Key', 'New violations', 'Rules (count)', 'First', 'Last'],
    [1],
    groups.map(([key, vs]) => [escapeHtml(key), String(vs.length), escapeHtml(ruleCounts(vs, m.chart)), localTime(vs[0]!.time, tz), localTime(vs[vs.length - 1]!.time, tz)]),
  );
  const charts = new Map((input.charts ?? []).map((c) => [c.key, c]));
  const sections = detailed
    .map(([key, vs]) => {
      const c = charts.get(key);
      const img = c ? `<p><img src="cid:${c.cid}" width="${c.width}" height="${c.height}" alt="control chart ${escapeHtml(key)}" style="display:block;border:0;max-width:100%;height:auto;"></p>` : '';
      const shown = latest(vs);
      const rows = shown.map((v) => [
        localTime(v.time, tz),
        ruleLabel(v, m.chart),
        `${escapeHtml(statistic(v))}${escapeHtml(ruleText(v.rule, m.rules))}${v.side ? `, ${v.side} CL` : ''}`,
        valueText(v.value, m.chart),
        valueText(v.cl, m.chart),
        valueText(v.lcl, m.chart),
        valueText(v.ucl, m.chart),
      ]);
      const title = `${escapeHtml(key)}: ${vs.length} new${vs.length > shown.length ? `, the latest ${shown.length} listed` : ''}`;
      return (
        `<h3 style="${FONT}font-size:15px;color:#1f3864;margin:18px 0 6px;">${title}</h3>` +
        table(['Time', 'Rule', 'Pattern', `Value${m.chart === 'p' ? '' : unit}`, 'CL', 'LCL', 'UCL'], [1, 3, 4, 5, 6], rows) +
        img
      );
    })
    .join('');
  const html =
    `<!DOCTYPE html><html><body style="margin:0;padding:16px;background:#ffffff;">` +
    `<h2 style="${FONT}font-size:18px;margin:0 0 8px;">SPC alert · ${escapeHtml(input.plant)} · ${escapeHtml(m.title)}</h2>` +
    `<p style="${FONT}font-size:13px;color:#333;">${escapeHtml(intro)}</p>` +
    summary +
    sections +
    (notListed > 0 ? `<p style="${FONT}font-size:13px;">The violations of ${notListed} more key(s) are counted above, not listed.</p>` : '') +
    `<p style="${FONT}font-size:12px;color:#666;">${escapeHtml(footer)}</p></body></html>`;
  return { subject: spcAlertSubject(input), text, html };
}

/** Content-ID of a key's chart: stable and safe whatever the key's characters. */
export function chartCid(measure: string, key: string, index: number): string {
  return `spc-${measure}-${index}-${key.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40)}@yieldrun`;
}

/**
 * The message for `recipients`, with the charts of up to MAX_CHARTS keys (those with the most new
 * violations) rendered and attached inline.
 */
export async function spcAlertMessage(
  input: Omit<SpcAlertInput, 'charts'>,
  chartData: ReadonlyMap<string, SpcChartData>,
  recipients: { to: readonly string[]; cc: readonly string[] },
): Promise<MailMessage> {
  const ranked = byKey(input.violations)
    .slice(0, MAX_CHARTS)
    .map(([k]) => k);
  const charts: NonNullable<SpcAlertInput['charts']>[number][] = [];
  const attachments: MailAttachment[] = [];
  for (const [i, key] of ranked.entries()) {
    const data = chartData.get(key);
    if (!data) continue;
    const png = await renderSpcChart(data, { timezone: input.timezone });
    const cid = chartCid(input.measure.name, key, i);
    charts.push({ key, cid, width: png.width, height: png.height });
    attachments.push({ filename: `spc-${input.measure.name}-${key.replace(/[^A-Za-z0-9_-]+/g, '_')}.png`, content: png.buffer, contentType: 'image/png', cid });
  }
  const email = composeSpcAlert({ ...input, charts });
  return {
    to: recipients.to,
    cc: recipients.cc,
    subject: email.subject,
    text: email.text,
    html: email.html,
    attachments,
    fileStem: `spc-alert_${input.measure.name}_${input.day}`,
  };
}
