/**
 * The daily-yield-report job: for each production day, read the summaries, write the workbook and
 * charts, compose the email, and deliver it once (report_deliveries). A day without summary rows
 * gets a short notice (or nothing, by configuration); a day whose summary run failed gets a notice
 * that says so instead of numbers an earlier run left behind.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import { lastCompleteDay } from '../etl/periods.js';
import { finishRun, recordFailure, startRun } from '../etl/run-log.js';
import type { EtlContext } from '../etl/context.js';
import { MACHINE_COLUMNS, PROD_COLUMNS, PROD_TEST_COLUMNS, REJECT_COLUMNS } from './columns.js';
import { detailRows, kpiLine, loadDailyYieldData, rejectRows, type DailyYieldData } from './daily-yield-data.js';
import { writeDailyYieldWorkbook, type DetailSheet } from './daily-yield-workbook.js';
import { defectTraceSection, processFlowSection, spcSection, type ReportSection } from './daily-yield-sections.js';
import { paretoChartSpec, renderPng, trendChartSpec } from './charts.js';
import { composeDailyYieldEmail, composeNoDataNotice, composeSummaryFailedNotice, pctText, pointsText, type ComposedEmail } from './daily-yield-email.js';
import { createMailer, mailSettings, newMessageId, type MailAttachment, type Mailer, type MailSettings } from './mail.js';
import { claimDelivery, findDelivery, dedupeKey, markFailed, markSent, markSkipped, type DeliveryKind, type DeliveryRequest, type Recipients } from './deliveries.js';

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
  /** A mailer the caller keeps open across jobs (a worker); default: one for this run. */
  mailer?: Mailer;
  /** Called with the share of days done. */
  onProgress?: (fraction: number) => void;
}

export type DayOutcome = 'sent' | 'already-sent' | 'in-progress' | 'unconfirmed' | 'skipped';

export interface DayReport {
  day: string;
  kind: DeliveryKind;
  outcome: DayOutcome;
  resend: boolean;
  deliveryId: number | null;
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

async function reportDay(ctx: EtlContext, day: string, req: DailyYieldReportRequest, mailer: Mailer, runId: number): Promise<DayReport> {
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

  // Cheap check first: a retry of a delivered report need not build the workbook again.
  const key = dedupeKey({ report: DAILY_YIELD_REPORT, periodType: 'day', periodStart: day, kind, summaryRunId });
  const earlier = await findDelivery(ctx, key);
  if (earlier && !req.resend && (earlier.status === 'sent' || earlier.status === 'skipped' || earlier.status === 'unconfirmed')) {
    log.info({ deliveryId: earlier.id, status: earlier.status }, 'already delivered; nothing sent');
    return {
      ...base,
      outcome: earlier.status === 'sent' ? 'already-sent' : earlier.status === 'skipped' ? 'skipped' : 'unconfirmed',
      deliveryId: earlier.id,
      subject: earlier.subject,
      messageId: earlier.messageId,
      transport: earlier.transport,
      location: earlier.location,
      workbook: earlier.attachment,
    };
  }

  if (kind === 'no-data' && cfg.noData === 'skip' && !req.resend) {
    const claim = await claimDelivery(ctx, request(`Daily yield ${day} · ${ctx.config.plant.name} · no data (not sent)`, null, null));
    if (claim.claimed) await markSkipped(ctx, claim.id, 'no summary rows for the day; reports.dailyYield.noData is skip');
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
  const claim = await claimDelivery(ctx, request(built.email.subject, messageId, built.workbook));
  if (!claim.claimed) {
    const e = claim.existing;
    log.info({ deliveryId: e.id, why: claim.why }, 'delivery claimed elsewhere or done; nothing sent');
    const outcome: DayOutcome = claim.why === 'sent' ? 'already-sent' : claim.why;
    return { ...base, outcome, deliveryId: e.id, subject: e.subject, messageId: e.messageId, transport: e.transport, location: e.location, workbook: e.attachment };
  }
  let sent: Awaited<ReturnType<Mailer['send']>>;
  try {
    sent = await mailer.send({
      to: cfg.to,
      cc: cfg.cc,
      replyTo: cfg.replyTo,
      subject: built.email.subject,
      text: built.email.text,
      html: built.email.html,
      attachments: built.attachments,
      messageId,
      fileStem: `${slug(ctx.config.plant.name)}_daily-yield_${day}${kind === 'report' ? '' : `_${kind}`}`,
    });
  } catch (err) {
    await markFailed(ctx, claim.id, (err as Error).message).catch((e: Error) => log.error({ err: e.message }, 'could not record the failed delivery'));
    throw err;
  }
  const location = sent.file ?? sent.response ?? null;
  try {
    await markSent(ctx, claim.id, { messageId: sent.messageId, transport: sent.transport, location, rejected: sent.rejected });
  } catch (err) {
    // Not marked failed: that would let a retry send it again. The claim stays open and turns
    // unconfirmed, which only --resend sends again.
    throw new Error(
      `the ${day} report was sent (${sent.messageId}) but recording that in report_deliveries (id ${claim.id}) failed: ${(err as Error).message}; it will not be sent again automatically`,
    );
  }
  log.info({ deliveryId: claim.id, messageId: sent.messageId, transport: sent.transport, resend: claim.resend }, 'report delivered');
  return {
    ...base,
    outcome: 'sent',
    resend: claim.resend,
    deliveryId: claim.id,
    subject: built.email.subject,
    messageId: sent.messageId,
    transport: sent.transport,
    location,
    workbook: built.workbook,
    sheetRows: built.sheetRows,
  };
}

export async function runDailyYieldReport(ctx: EtlContext, req: DailyYieldReportRequest): Promise<DailyYieldReportResult> {
  const t0 = Date.now();
  const cfg = ctx.config.reports.dailyYield;
  if (cfg.to.length === 0) {
    throw new Error('reports.dailyYield.to is empty: list who receives the daily yield report (e.g. to: [quality-team@example.com])');
  }
  const days = req.days?.length ? [...new Set(req.days)].sort() : [lastCompleteDay(req.now ?? DateTime.now(), ctx.clock)];
  const mailer = req.mailer ?? createMailer(req.mail ?? mailSettings(ctx.config), ctx.log.child({ component: 'mail' }));
  const startedAt = new Date();
  const runId = await startRun(
    ctx,
    { job: DAILY_YIELD_REPORT, days, triggeredBy: req.triggeredBy, reason: req.resend ? `resend${req.reason ? `: ${req.reason}` : ''}` : req.reason, queueJobId: req.queueJobId, attempt: req.attempt },
    startedAt,
  );
  const reports: DayReport[] = [];
  try {
    for (const day of days) {
      reports.push(await reportDay(ctx, day, req, mailer, runId));
      req.onProgress?.(reports.length / days.length);
    }
    const unconfirmed = reports.filter((r) => r.outcome === 'unconfirmed');
    if (unconfirmed.length) {
      // Not sent again by itself (it may have gone out), but not a success either: someone must look.
      throw new Error(
        unconfirmed
          .map((r) => `${r.day}: delivery ${r.deliveryId} (${r.messageId}) was claimed but never confirmed; check whether the recipients got it, then: yieldrun run daily-yield-report --date ${r.day} --resend`)
          .join('\n'),
      );
    }
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
  } finally {
    if (!req.mailer) mailer.close();
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
    }
    if (d.workbook && d.outcome === 'sent') lines.push(`  workbook ${d.workbook}`);
    if (d.transport === 'file' && d.location && d.outcome === 'sent') lines.push(`  email written to ${d.location}`);
  }
  lines.push(`run ${r.runId} took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}
