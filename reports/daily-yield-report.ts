/**
 * The daily-yield-report job: for each production day, read the summaries, write the workbook and
 * charts, compose the email, and deliver it once (report_deliveries). A day without summary rows
 * gets a short notice (or nothing, by configuration); a day whose summary run failed gets a notice
 * that says so instead of numbers an earlier run left behind.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { DateTime } from 'luxon';
import { finishRun, recordFailure, requestedDays, startRun } from '../etl/run-log.js';
import type { EtlContext } from '../etl/context.js';
import { MACHINE_COLUMNS, PROD_COLUMNS, PROD_TEST_COLUMNS, REJECT_COLUMNS } from './columns.js';
import { detailRows, kpiLine, loadDailyYieldData, rejectRows, type DailyYieldData } from './daily-yield-data.js';
import { writeDailyYieldWorkbook, type DetailSheet } from './daily-yield-workbook.js';
import { cellRiskSection, defectTraceSection, deliveryRiskSection, lotSamplingSection, processFlowSection, spcSection, type ReportSection } from './daily-yield-sections.js';
import { paretoChartSpec, renderPng, trendChartSpec } from './charts.js';
import { composeDailyYieldEmail, composeNoDataNotice, composeSummaryFailedNotice, pctText, pointsText, type ComposedEmail } from './daily-yield-email.js';
import { mailSettings, newMessageId, renderMail, type MailAttachment, type MailSettings } from './mail.js';
import { claimDelivery, findDelivery, dedupeKey, type DeliveryKind, type DeliveryRequest, type DeliveryRow, type Recipients } from './deliveries.js';
import { sendNow, type SenderOptions } from './outbox/sender.js';
import type { OutboxEntry } from './outbox/outbox.js';

export const DAILY_YIELD_REPORT = 'daily-yield-report';

export interface DailyYieldReportRequest {
  /** Production days; omitted: yesterday in plant time. */
  days?: readonly string[];
  /** Send again although the report was delivered (recorded as a resend). */
  resend?: boolean;
  triggeredBy: string;
  reason?: string;
  queueJobId?: string;
  attempt?: number;
  /** "Now", for choosing yesterday; tests pin it. */
  now?: DateTime;
  /** Default: the configuration's mail keys and SMTP_URL. */
  mail?: MailSettings;
  /** Called with the share of days done. */
  onProgress?: (fraction: number) => void;
}

/**
 * queued: in the outbox, not sent yet (the mail server did not take it); the worker keeps trying.
 * unconfirmed / expired: see reports/deliveries.ts.
 */
export type DayOutcome = 'sent' | 'already-sent' | 'in-progress' | 'queued' | 'unconfirmed' | 'expired' | 'skipped';

export interface DayReport {
  day: string;
  kind: DeliveryKind;
  outcome: DayOutcome;
  resend: boolean;
  deliveryId: number | null;
  /** The outbox message, and its last error when it is not sent. */
  outboxId: number | null;
  error: string | null;
  /** Queued: when it expires. Expired: the .eml kept. */
  expiresAt: Date | null;
  keptFile: string | null;
  subject: string | null;
  messageId: string | null;
  transport: 'smtp' | 'file' | null;
  /** The .eml file written, or the SMTP server's reply. */
  location: string | null;
  workbook: string | null;
  recipients: Recipients;
  /** Data rows per workbook sheet. */
  sheetRows: Record<string, number>;
  /** The overall first-pass yield and its change since the previous day, as in the subject. */
  firstPassYield: number | null;
  firstPassYieldChange: number | null;
}

export interface DailyYieldReportResult {
  runId: number;
  days: DayReport[];
  durationMs: number;
}

const TREND_CID = 'fpy-trend@yieldrun';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'plant';
}

/** out/reports/demo-plant_daily-yield_2026-11-20.xlsx */
export function workbookPath(ctx: EtlContext, day: string): string {
  return path.resolve(ctx.config.reports.outDir, `${slug(ctx.config.plant.name)}_daily-yield_${day}.xlsx`);
}

function recipientsOf(ctx: EtlContext): Recipients {
  const c = ctx.config.reports.dailyYield;
  return { to: c.to, cc: c.cc, replyTo: c.replyTo };
}

/**
 * The targets are for a product's rolled yield (through every test step), so only the By product
 * sheet marks yields below them; a single step's or station's yield is not comparable with them.
 */
function detailSheets(ctx: EtlContext, day: string): DetailSheet[] {
  const t = ctx.config.reports.dailyYield.targets;
  return [
    {
      name: 'By product',
      table: 'ByProduct',
      columns: PROD_COLUMNS,
      rows: detailRows(ctx, 'summary_prod', day, PROD_COLUMNS),
      freezeColumns: 4,
      targets: { rolled_first_pass_yield: t.firstPassYield, rolled_cumulative_yield: t.cumulativeYield },
    },
    {
      name: 'By product × test',
      table: 'ByProductTest',
      columns: PROD_TEST_COLUMNS,
      rows: detailRows(ctx, 'summary_prod_test', day, PROD_TEST_COLUMNS),
      freezeColumns: 5,
    },
    {
      name: 'By machine',
      table: 'ByMachine',
      columns: MACHINE_COLUMNS,
      rows: detailRows(ctx, 'summary_machine', day, MACHINE_COLUMNS),
      freezeColumns: 4,
    },
  ];
}

interface Built {
  email: ComposedEmail;
  attachments: MailAttachment[];
  workbook: string | null;
  sheetRows: Record<string, number>;
}

/** The workbook, the charts and the email of a day with data. */
async function buildReport(ctx: EtlContext, data: DailyYieldData, runId: number): Promise<Built> {
  const cfg = ctx.config.reports.dailyYield;
  const tz = ctx.config.plant.timezone;
  const sections = [
    cfg.sections.spc ? await spcSection(ctx, data.day) : null,
    cfg.sections.defectTrace ? await defectTraceSection(ctx, data.day) : null,
    cfg.sections.processFlow ? await processFlowSection(ctx, data.day) : null,
    cfg.sections.lotSampling ? await lotSamplingSection(ctx, data.day) : null,
    cfg.sections.deliveryRisk ? await deliveryRiskSection(ctx, data.day) : null,
    cfg.sections.cellRisk ? await cellRiskSection(ctx, data.day) : null,
  ].filter((s): s is ReportSection => s !== null);
  const trend = await renderPng(trendChartSpec(data.trend, { day: data.day, target: cfg.targets.firstPassYield }));
  const pareto = data.pareto.bars.length ? await renderPng(paretoChartSpec(data.pareto, { day: data.day })) : undefined;
  const file = workbookPath(ctx, data.day);
  const { rows } = await writeDailyYieldWorkbook(file, {
    plant: ctx.config.plant.name,
    timezone: tz,
    data,
    charts: { trend, pareto },
    sheets: detailSheets(ctx, data.day),
    rejects: {
      sheet: { name: 'Rejects', table: 'Rejects', columns: REJECT_COLUMNS, rows: rejectRows(ctx, data.day, cfg.maxRejectRows, REJECT_COLUMNS), freezeColumns: 1 },
      limit: cfg.maxRejectRows,
    },
    appendix: sections.map((s) => s.sheet),
    generatedAt: new Date(),
  });
  const megabytes = statSync(file).size / 1024 / 1024;
  const attach = megabytes <= cfg.maxAttachmentMb;
  const email = composeDailyYieldEmail(data, {
    plant: ctx.config.plant.name,
    timezone: tz,
    targets: cfg.targets,
    workbookName: path.basename(file),
    trend: { cid: TREND_CID, width: trend.width, height: trend.height },
    runId,
    workbookNotAttached: attach ? undefined : { path: file, megabytes, limitMb: cfg.maxAttachmentMb },
    sections: sections.flatMap((s) => (s.email ? [s.email] : [])),
    extraSheets: sections.map((s) => s.sheet.name),
  });
  return {
    email,
    workbook: file,
    sheetRows: rows,
    attachments: [
      { filename: 'fpy-trend.png', content: trend.buffer, contentType: 'image/png', cid: TREND_CID },
      ...(attach ? [{ filename: path.basename(file), path: file, contentType: XLSX }] : []),
    ],
  };
}

async function reportDay(ctx: EtlContext, day: string, req: DailyYieldReportRequest, sender: SenderOptions, runId: number): Promise<DayReport> {
  const cfg = ctx.config.reports.dailyYield;
  const log = ctx.log.child({ job: DAILY_YIELD_REPORT, day, runId });
  const data = await loadDailyYieldData(ctx, day, { targets: cfg.targets, worstStations: cfg.worstStations, worstStationsMinUnits: cfg.worstStationsMinUnits });
  const state = data.state;
  if (state.kind === 'summary-running') {
    // Throwing lets the queue retry later; the report must not show the rows the run is replacing.
    throw new Error(`the nightly summary run ${state.run.id} for ${day} is still running; run the report once it has finished`);
  }
  const kind: DeliveryKind = state.kind;
  const fpy = kpiLine(data.headline, null, 'first_pass_yield');
  const base: DayReport = {
    day,
    kind,
    outcome: 'sent',
    resend: false,
    deliveryId: null,
    outboxId: null,
    error: null,
    expiresAt: null,
    keptFile: null,
    subject: null,
    messageId: null,
    transport: null,
    location: null,
    workbook: null,
    recipients: recipientsOf(ctx),
    sheetRows: {},
    firstPassYield: kind === 'report' ? (fpy?.value ?? null) : null,
    firstPassYieldChange: kind === 'report' ? (fpy?.vsPrevious ?? null) : null,
  };
  const summaryRunId = state.kind === 'summary-failed' ? state.run.id : null;
  const request = (subject: string, messageId: string | null, attachment: string | null): DeliveryRequest => ({
    report: DAILY_YIELD_REPORT,
    periodType: 'day',
    periodStart: day,
    periodLabel: day,
    kind,
    summaryRunId,
    resend: req.resend ?? false,
    recipients: recipientsOf(ctx),
    subject,
    messageId,
    attachment,
    runId,
    triggeredBy: req.triggeredBy,
    reason: req.reason ?? null,
  });

  // A delivery recorded earlier, as the day's report now stands.
  const recorded = (d: DeliveryRow, outcome: DayOutcome): DayReport => ({
    ...base,
    outcome,
    deliveryId: d.id,
    outboxId: d.outboxId,
    error: d.error,
    expiresAt: d.expiresAt,
    keptFile: d.keptFile,
    subject: d.subject,
    messageId: d.messageId,
    transport: d.transport,
    location: d.location,
    workbook: d.attachment,
  });
  const settled: Partial<Record<DeliveryRow['status'], DayOutcome>> = { sent: 'already-sent', skipped: 'skipped', unconfirmed: 'unconfirmed', expired: 'expired' };

  // Cheap check first: a retry of a delivered report need not build the workbook again, and one
  // whose message is still in the outbox sends that message (never a second one).
  const key = dedupeKey({ report: DAILY_YIELD_REPORT, periodType: 'day', periodStart: day, kind, summaryRunId });
  const earlier = await findDelivery(ctx, key);
  const sendQueued = async (d: DeliveryRow & { outboxId: number }) => {
    const m = await sendNow(ctx, d.outboxId, sender);
    log.info({ deliveryId: d.id, outboxId: m.id, status: m.status }, 'delivery already queued: sent from the outbox');
    return { ...recorded(d, outcomeOf(m)), ...fromMessage(m) };
  };
  const queued = (d: DeliveryRow | undefined): d is DeliveryRow & { outboxId: number } => (d?.status === 'pending' || d?.status === 'sending') && d.outboxId !== null;
  if (queued(earlier)) return sendQueued(earlier);
  const done = earlier && !req.resend ? settled[earlier.status] : undefined;
  if (earlier && done) {
    log.info({ deliveryId: earlier.id, status: earlier.status }, 'already delivered; nothing sent');
    return recorded(earlier, done);
  }

  if (kind === 'no-data' && cfg.noData === 'skip' && !req.resend) {
    const claim = await claimDelivery(ctx, request(`Daily yield ${day} · ${ctx.config.plant.name} · no data (not sent)`, null, null), null);
    log.info('no data for the day; nothing sent (noData: skip)');
    return { ...base, outcome: 'skipped', deliveryId: claim.claimed ? claim.id : claim.existing.id };
  }

  const built: Built =
    kind === 'report'
      ? await buildReport(ctx, data, runId)
      : {
          email: state.kind === 'summary-failed' ? composeSummaryFailedNotice(data, state.run, { plant: ctx.config.plant.name, timezone: ctx.config.plant.timezone }) : composeNoDataNotice(data, { plant: ctx.config.plant.name, timezone: ctx.config.plant.timezone }),
          attachments: [],
          workbook: null,
          sheetRows: {},
        };

  const messageId = newMessageId(ctx.config.mail.from);
  const fileStem = `${slug(ctx.config.plant.name)}_daily-yield_${day}${kind === 'report' ? '' : `_${kind}`}`;
  const mail = await renderMail(sender.mail, {
    to: cfg.to,
    cc: cfg.cc,
    replyTo: cfg.replyTo,
    subject: built.email.subject,
    text: built.email.text,
    html: built.email.html,
    attachments: built.attachments,
    messageId,
    fileStem,
  });
  const resendHint = `yieldrun run ${DAILY_YIELD_REPORT} --date ${day} --resend`;
  const claim = await claimDelivery(ctx, request(built.email.subject, messageId, built.workbook), { mail, fileStem, resendHint });
  if (!claim.claimed) {
    const e = claim.existing;
    if (queued(e)) return sendQueued(e); // another run queued it a moment ago
    log.info({ deliveryId: e.id, why: claim.why }, 'delivery claimed elsewhere or done; nothing sent');
    const outcome: DayOutcome = claim.why === 'sent' ? 'already-sent' : claim.why === 'pending' ? 'queued' : claim.why;
    return recorded(e, outcome);
  }
  const m = await sendNow(ctx, claim.outboxId!, sender);
  log.info({ deliveryId: claim.id, outboxId: m.id, messageId: m.messageId, status: m.status, transport: m.transport, resend: claim.resend }, m.status === 'sent' ? 'report delivered' : `report ${m.status}`);
  return {
    ...base,
    outcome: outcomeOf(m),
    resend: claim.resend,
    deliveryId: claim.id,
    ...fromMessage(m),
    subject: built.email.subject,
    workbook: built.workbook,
    sheetRows: built.sheetRows,
  };
}

function outcomeOf(m: OutboxEntry & { attempted: boolean }): DayOutcome {
  if (m.status === 'sent') return m.attempted ? 'sent' : 'already-sent';
  return m.status === 'pending' ? 'queued' : m.status === 'sending' ? 'in-progress' : m.status;
}

function fromMessage(m: OutboxEntry) {
  return { outboxId: m.id, error: m.lastError, expiresAt: m.expiresAt, keptFile: m.keptFile, messageId: m.messageId, transport: m.transport, location: m.location };
}

/** Why a run that left a day's email not sent (or perhaps sent) is not a success, and what to do. */
function undelivered(r: DayReport): string | null {
  const what = r.kind === 'report' ? 'report' : r.kind === 'no-data' ? 'no-data notice' : 'summary-failed notice';
  const resend = `yieldrun run ${DAILY_YIELD_REPORT} --date ${r.day} --resend`;
  switch (r.outcome) {
    case 'queued':
      return `${r.day}: the ${what} (delivery ${r.deliveryId}, outbox message ${r.outboxId}) is queued but not sent yet: ${r.error ?? 'no attempt yet'}; the worker's outbox sender keeps trying until ${r.expiresAt?.toISOString() ?? 'it expires'} and sends it once the mail server takes it`;
    case 'unconfirmed':
      return `${r.day}: delivery ${r.deliveryId} (${r.messageId}) was claimed but never confirmed${r.error ? ` (${r.error})` : ''}; check whether the recipients got it, then: ${resend}`;
    case 'expired':
      return `${r.day}: the ${what} (delivery ${r.deliveryId}, ${r.messageId}) expired unsent: ${r.error ?? ''}; kept as ${r.keptFile ?? '(no file)'}; to send it again: ${resend}`;
    default:
      return null;
  }
}

export async function runDailyYieldReport(ctx: EtlContext, req: DailyYieldReportRequest): Promise<DailyYieldReportResult> {
  const t0 = Date.now();
  const cfg = ctx.config.reports.dailyYield;
  if (cfg.to.length === 0) {
    throw new Error('reports.dailyYield.to is empty: list who receives the daily yield report (e.g. to: [quality-team@example.com])');
  }
  const days = requestedDays(req, ctx.clock);
  const sender: SenderOptions = { mail: req.mail ?? mailSettings(ctx.config), log: ctx.log.child({ component: 'outbox' }) };
  const startedAt = new Date();
  const runId = await startRun(
    ctx,
    { job: DAILY_YIELD_REPORT, days, triggeredBy: req.triggeredBy, reason: req.resend ? `resend${req.reason ? `: ${req.reason}` : ''}` : req.reason, queueJobId: req.queueJobId, attempt: req.attempt },
    startedAt,
  );
  const reports: DayReport[] = [];
  try {
    for (const day of days) {
      reports.push(await reportDay(ctx, day, req, sender, runId));
      req.onProgress?.(reports.length / days.length);
    }
    const problems = reports.map(undelivered).filter((p): p is string => p !== null);
    // Not sent (yet), or perhaps sent: not a success, so the failure alert tells an admin. A queued
    // message is still sent by the outbox; an unconfirmed or expired one only on purpose (--resend).
    if (problems.length) throw new Error(problems.join('\n'));
    const rowsWritten = reports.reduce((s, r) => s + Object.values(r.sheetRows).reduce((a, b) => a + b, 0), 0);
    await finishRun(ctx, ctx.target, runId, startedAt, {
      status: 'succeeded',
      totals: {
        rows_read: 0,
        rows_valid: 0,
        rows_rejected: 0,
        duplicates_dropped: 0,
        rows_written: rowsWritten,
        stats: { deliveries: reports.map((r) => ({ day: r.day, kind: r.kind, outcome: r.outcome, deliveryId: r.deliveryId, messageId: r.messageId })) },
      },
    });
  } catch (err) {
    await recordFailure(ctx, runId, startedAt, err);
    throw err;
  }
  return { runId, days: reports, durationMs: Date.now() - t0 };
}

/** Lines for a person, one or two per day. */
export function describeReport(r: DailyYieldReportResult): string[] {
  const lines: string[] = [];
  for (const d of r.days) {
    const what = d.kind === 'report' ? 'report' : d.kind === 'no-data' ? 'no-data notice' : 'summary-failed notice';
    const fpy = d.kind === 'report' && d.firstPassYield !== null ? ` (FPY ${pctText(d.firstPassYield)}, ${pointsText(d.firstPassYieldChange)})` : '';
    const to = [...d.recipients.to, ...d.recipients.cc].join(', ');
    switch (d.outcome) {
      case 'sent':
        lines.push(`${d.day}: ${what}${fpy} ${d.resend ? 'sent again' : 'sent'} to ${to}, delivery ${d.deliveryId}, ${d.messageId}`);
        break;
      case 'already-sent':
        lines.push(`${d.day}: ${what} already sent (delivery ${d.deliveryId}, ${d.messageId}); nothing sent. Use --resend to send it again.`);
        break;
      case 'skipped':
        lines.push(`${d.day}: no data; nothing sent (reports.dailyYield.noData: skip)`);
        break;
      case 'in-progress':
        lines.push(`${d.day}: another run is sending this ${what} (delivery ${d.deliveryId}); nothing sent`);
        break;
      case 'unconfirmed':
        lines.push(`${d.day}: an earlier delivery (${d.deliveryId}, ${d.messageId}) never confirmed; nothing sent automatically. Use --resend to send it again.`);
        break;
      case 'queued':
        lines.push(`${d.day}: ${what} queued in the outbox (message ${d.outboxId}), not sent yet: ${d.error ?? ''}; the worker keeps trying`);
        break;
      case 'expired':
        lines.push(`${d.day}: ${what} expired unsent (delivery ${d.deliveryId}); kept as ${d.keptFile ?? '–'}. Use --resend to send it again.`);
        break;
    }
    if (d.workbook && d.outcome === 'sent') lines.push(`  workbook ${d.workbook}`);
    if (d.transport === 'file' && d.location && d.outcome === 'sent') lines.push(`  email written to ${d.location}`);
  }
  lines.push(`run ${r.runId} took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}
