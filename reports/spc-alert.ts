/**
 * The SPC alert email (spc.md §6): per measure and run, the out-of-control events that opened, with
 * the control chart of each inline (Content-ID), and a short note for each event that closed. No
 * email while an event stays open. Composition is pure; the job (etl/spc-job.ts) claims the events
 * (etl/spc-event-store.ts), sends through reports/mail.ts, and gives the claims back if the send
 * fails, so each opening and each close is told once.
 */
import { DateTime } from 'luxon';
import type { ChartKind } from '../etl/spc/chart-points.js';
import type { Panel } from '../etl/spc-judge.js';
import type { StoredEvent } from '../etl/spc-event-store.js';
import type { RuleCount } from '../etl/spc-events.js';
import type { RuleNumber, RuleSettings } from '../etl/spc/nelson-rules.js';
import { DEFAULT_RULE_SETTINGS } from '../etl/spc/nelson-rules.js';
import type { MailAttachment, MailMessage } from './mail.js';
import { PAIRED_STATISTIC, renderSpcChart, type SpcChartData } from './spc-chart.js';

export interface SpcAlertInput {
  plant: string;
  timezone: string;
  measure: { name: string; title: string; unit: string | null; chart: ChartKind; rules: RuleSettings };
  /** The production day the run charted up to, and its window. */
  day: string;
  window: { from: string; to: string };
  runId: number;
  /** Events whose opening this email tells, oldest first. */
  opened: readonly StoredEvent[];
  /** Events that closed since their opening was told: a short note each. */
  closed: readonly StoredEvent[];
  /** Inline charts by key: Content-ID and display size. */
  charts?: readonly { key: string; cid: string; width: number; height: number }[];
}

export interface ComposedAlert {
  subject: string;
  text: string;
  html: string;
}

/** Charts inlined in one email: those of the first events opened. */
export const MAX_CHARTS = 4;
/** Keys named in a subject. */
const SUBJECT_KEYS = 3;

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
export function ruleLabel(v: { panel: Panel; rule: RuleNumber }, chart: ChartKind): string {
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

/** Rules with their point counts, the main chart's first: "1 ×12, 5 ×3, 1 (MR) ×2". */
export function eventRuleCounts(rules: readonly RuleCount[], chart: ChartKind): string {
  return rules.map((r) => `${ruleLabel(r, chart)} ×${r.points}`).join(', ');
}

/** Who acknowledged an event, with cause and action; or that nobody has. */
export function acknowledgementText(e: Pick<StoredEvent, 'acknowledgedBy' | 'acknowledgedAt' | 'causeCode' | 'actionCode' | 'note'>, tz: string): string {
  if (!e.acknowledgedAt) return 'not acknowledged';
  return `acknowledged by ${e.acknowledgedBy} ${localTime(e.acknowledgedAt, tz)} (cause ${e.causeCode}, action ${e.actionCode}${e.note ? `: ${e.note}` : ''})`;
}

function extremeText(e: StoredEvent, chart: ChartKind, unit: string): string {
  if (e.extremeValue === null) return '';
  return `farthest from CL: ${valueText(e.extremeValue, chart)}${chart === 'p' ? '' : unit}${e.side ? ` ${e.side}` : ''} CL ${valueText(e.extremeCl, chart)}`;
}

function listKeys(events: readonly StoredEvent[], what: (e: StoredEvent) => string): string {
  const shown = events.slice(0, SUBJECT_KEYS).map(what).join(', ');
  return shown + (events.length > SUBJECT_KEYS ? ` and ${events.length - SUBJECT_KEYS} more` : '');
}

export function spcAlertSubject(input: Pick<SpcAlertInput, 'plant' | 'measure' | 'opened' | 'closed' | 'timezone'>): string {
  const m = input.measure;
  if (input.opened.length > 0) {
    return `SPC alert · ${input.plant} · ${m.title}: ${listKeys(input.opened, (e) => `${e.key} out of control since ${localTime(e.openedAt, input.timezone)}`)}`;
  }
  return `SPC · ${input.plant} · ${m.title}: back in control on ${listKeys(input.closed, (e) => e.key)} (event${input.closed.length === 1 ? '' : 's'} closed)`;
}

/**
 * The email of one measure and run: each event that opened (its rules, flagged points, the value
 * farthest from CL, its chart inline) and a short note for each event that closed.
 */
export function composeSpcAlert(input: SpcAlertInput): ComposedAlert {
  const m = input.measure;
  const tz = input.timezone;
  const unit = m.unit ? ` ${m.unit}` : '';
  const openLines = (e: StoredEvent) => [
    `${e.key}: out of control since ${localTime(e.openedAt, tz)} (event ${e.id}, ${e.closedAt ? `closed ${localTime(e.closedAt, tz)}` : e.state})`,
    `  rules: ${e.rules.map((r) => `${ruleLabel(r, m.chart)} ×${r.points} (${r.panel === 'paired' ? `${pairedName(m.chart)} chart: ` : ''}${ruleText(r.rule, m.rules)})`).join('; ')}`,
    `  ${e.flaggedPoints} flagged point(s), the latest ${localTime(e.lastFlaggedAt, tz)}; ${extremeText(e, m.chart, unit)}`,
    ...(e.closedAt || e.acknowledgedAt ? [] : [`  acknowledge: yieldrun spc ack ${e.id} --cause CODE --action CODE --by NAME [--note TEXT]`]),
  ];
  const closeLine = (e: StoredEvent) =>
    `${e.key}: event ${e.id} closed ${localTime(e.closedAt!, tz)}, out of control from ${localTime(e.openedAt, tz)} to ${localTime(e.lastFlaggedAt, tz)}, ${e.flaggedPoints} flagged point(s) (rules ${eventRuleCounts(e.rules, m.chart)}); ${acknowledgementText(e, tz)}`;
  const intro =
    (input.opened.length > 0 ? `${input.opened.length} chart(s) of ${m.title} went out of control` : `${input.closed.length} out-of-control event(s) of ${m.title} closed`) +
    ` (${m.name}, ${CHART_NAME[m.chart]} chart, one chart per key), found by SPC run ${input.runId} for production day ${input.day} (window ${input.window.from} to ${input.window.to}, times in ${tz}).`;
  const footer =
    'Each event is told once when it opens and once when it closes; while it stays open the daily report lists it with its age. Events: yieldrun spc events; the points and flags are in spc_points, spc_violations and spc_events.';
  const closedHead = input.opened.length > 0 && input.closed.length > 0 ? ['Closed:'] : [];
  const text = [
    `SPC alert · ${input.plant}`,
    '',
    intro,
    '',
    ...input.opened.flatMap((e) => [...openLines(e), '']),
    ...(input.closed.length > 0 ? [...closedHead, ...input.closed.map((e) => `  ${closeLine(e)}`), ''] : []),
    footer,
    '',
  ].join('\n');

  const FONT = 'font-family:Arial,Helvetica,sans-serif;';
  const P = `${FONT}font-size:13px;color:#333;margin:0 0 6px;`;
  const charts = new Map((input.charts ?? []).map((c) => [c.key, c]));
  const sections = input.opened
    .map((e) => {
      const [head, ...rest] = openLines(e);
      const c = charts.get(e.key);
      const img = c ? `<p><img src="cid:${c.cid}" width="${c.width}" height="${c.height}" alt="control chart ${escapeHtml(e.key)}" style="display:block;border:0;max-width:100%;height:auto;"></p>` : '';
      return `<h3 style="${FONT}font-size:15px;color:#9c0006;margin:18px 0 6px;">${escapeHtml(head!)}</h3>` + rest.map((l) => `<p style="${P}">${escapeHtml(l.trim())}</p>`).join('') + img;
    })
    .join('');
  const closes = input.closed.length
    ? `<h3 style="${FONT}font-size:15px;color:#1f3864;margin:18px 0 6px;">Closed</h3><ul>${input.closed.map((e) => `<li style="${P}">${escapeHtml(closeLine(e))}</li>`).join('')}</ul>`
    : '';
  const html =
    `<!DOCTYPE html><html><body style="margin:0;padding:16px;background:#ffffff;">` +
    `<h2 style="${FONT}font-size:18px;margin:0 0 8px;">SPC alert · ${escapeHtml(input.plant)} · ${escapeHtml(m.title)}</h2>` +
    `<p style="${P}">${escapeHtml(intro)}</p>` +
    sections +
    closes +
    `<p style="${FONT}font-size:12px;color:#666;">${escapeHtml(footer)}</p></body></html>`;
  return { subject: spcAlertSubject(input), text, html };
}

/** Content-ID of a key's chart: stable and safe whatever the key's characters. */
export function chartCid(measure: string, key: string, index: number): string {
  return `spc-${measure}-${index}-${key.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40)}@yieldrun`;
}

/** The message for `recipients`, with the charts of the first MAX_CHARTS opened events rendered and attached inline. */
export async function spcAlertMessage(
  input: Omit<SpcAlertInput, 'charts'>,
  chartData: ReadonlyMap<string, SpcChartData>,
  recipients: { to: readonly string[]; cc: readonly string[] },
): Promise<MailMessage> {
  const keys = [...new Set(input.opened.map((e) => e.key))].slice(0, MAX_CHARTS);
  const charts: NonNullable<SpcAlertInput['charts']>[number][] = [];
  const attachments: MailAttachment[] = [];
  for (const [i, key] of keys.entries()) {
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
