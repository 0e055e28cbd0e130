/**
 * report_deliveries: each report delivery, and the guard that sends a report for a period once.
 *
 * A delivery is claimed before anything is sent, by inserting a row whose dedupe_key (report, period,
 * kind) is unique in the table: of two runs of the same report, only one insert succeeds, and a
 * retried job finds the row of its earlier attempt. The states:
 *
 *   sending ──► sent            the message left (SMTP accepted it, or the .eml was written)
 *      │  └──► failed ──► sending   a failed delivery may be claimed again by a retry
 *      └─────► unconfirmed      a claim older than STALE_AFTER_MS that never finished: the process
 *                               died between sending and recording; the message may or may not have
 *                               gone out, so nothing is sent automatically (at most once) and
 *                               `--resend` is the way to send it again
 *   skipped                     nothing to send by configuration (a day without data, noData: skip)
 *
 * A resend (`--resend`) is recorded as a row of its own with a unique key, so every message sent is
 * one row here.
 */
import { randomUUID } from 'node:crypto';
import { targetTable, type EtlContext } from '../etl/context.js';
import { isoDate } from '../etl/nightly-summary.js';
import { instantOf } from './daily-yield-data.js';

export type DeliveryKind = 'report' | 'no-data' | 'summary-failed';
export type DeliveryStatus = 'sending' | 'sent' | 'failed' | 'skipped' | 'unconfirmed';

/** A claim older than this that is still `sending` is taken as a crash between send and record. */
export const STALE_AFTER_MS = 30 * 60_000;

export interface Recipients {
  to: readonly string[];
  cc: readonly string[];
  replyTo: readonly string[];
}

export interface DeliveryRow {
  id: number;
  report: string;
  periodType: string;
  periodStart: string;
  periodLabel: string;
  kind: DeliveryKind;
  dedupeKey: string;
  resend: boolean;
  status: DeliveryStatus;
  recipients: Recipients | null;
  subject: string | null;
  messageId: string | null;
  transport: 'smtp' | 'file' | null;
  location: string | null;
  attachment: string | null;
  summaryRunId: number | null;
  runId: number | null;
  triggeredBy: string | null;
  reason: string | null;
  attempts: number;
  error: string | null;
  createdAt: Date | null;
  updatedAt: Date | null;
  sentAt: Date | null;
}

export interface DeliveryRequest {
  report: string;
  periodType: 'day' | 'week';
  periodStart: string;
  periodLabel: string;
  kind: DeliveryKind;
  /** For a summary-failed notice: the failed run, so a later failure gets its own notice. */
  summaryRunId?: number | null;
  resend?: boolean;
  recipients: Recipients;
  subject: string;
  messageId: string | null;
  attachment?: string | null;
  runId?: number | null;
  triggeredBy: string;
  reason?: string | null;
}

export type Claim =
  | { claimed: true; id: number; resend: boolean; attempt: number }
  | { claimed: false; existing: DeliveryRow; why: 'sent' | 'skipped' | 'in-progress' | 'unconfirmed' };

const TABLE = 'report_deliveries';

/** The key that makes a delivery unique: one report of one kind per period (per failed run for notices). */
export function dedupeKey(r: Pick<DeliveryRequest, 'report' | 'periodType' | 'periodStart' | 'kind' | 'summaryRunId'>): string {
  const kind = r.kind === 'summary-failed' ? `${r.kind}#${r.summaryRunId ?? 'none'}` : r.kind;
  return `${r.report}|${r.periodType}|${r.periodStart}|${kind}`;
}

function fromDb(r: Record<string, unknown>): DeliveryRow {
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  const int = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  let recipients: Recipients | null = null;
  try {
    recipients = r.recipients ? (JSON.parse(String(r.recipients)) as Recipients) : null;
  } catch {
    recipients = null;
  }
  return {
    id: Number(r.id),
    report: String(r.report),
    periodType: String(r.period_type),
    periodStart: isoDate(r.period_start),
    periodLabel: String(r.period_label),
    kind: String(r.kind) as DeliveryKind,
    dedupeKey: String(r.dedupe_key),
    resend: r.resend === true || Number(r.resend) === 1,
    status: String(r.status) as DeliveryStatus,
    recipients,
    subject: str(r.subject),
    messageId: str(r.message_id),
    transport: str(r.transport) as DeliveryRow['transport'],
    location: str(r.location),
    attachment: str(r.attachment),
    summaryRunId: int(r.summary_run_id),
    runId: int(r.run_id),
    triggeredBy: str(r.triggered_by),
    reason: str(r.reason),
    attempts: Number(r.attempts ?? 1),
    error: str(r.error),
    createdAt: instantOf(r.created_at),
    updatedAt: instantOf(r.updated_at),
    sentAt: instantOf(r.sent_at),
  };
}

/** pg 23505, SQLite SQLITE_CONSTRAINT_UNIQUE, SQL Server 2627 / 2601. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; number?: number; message?: string };
  return (
    e.code === '23505' ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e.number === 2627 ||
    e.number === 2601 ||
    /UNIQUE constraint failed|duplicate key/i.test(e.message ?? '')
  );
}

export async function findDelivery(ctx: EtlContext, key: string): Promise<DeliveryRow | undefined> {
  const r = (await targetTable(ctx, ctx.target, TABLE).where('dedupe_key', key).first()) as Record<string, unknown> | undefined;
  return r ? fromDb(r) : undefined;
}

/** Every delivery of a report for a period, oldest first. */
export async function deliveriesOf(ctx: EtlContext, report: string, periodStart: string): Promise<DeliveryRow[]> {
  const rows = (await targetTable(ctx, ctx.target, TABLE).where({ report, period_start: periodStart }).orderBy('id')) as Record<string, unknown>[];
  return rows.map(fromDb);
}

function requestColumns(req: DeliveryRequest) {
  return {
    recipients: JSON.stringify({ to: req.recipients.to, cc: req.recipients.cc, replyTo: req.recipients.replyTo }),
    subject: req.subject.slice(0, 512),
    message_id: req.messageId,
    attachment: req.attachment ?? null,
    summary_run_id: req.summaryRunId ?? null,
    run_id: req.runId ?? null,
    triggered_by: req.triggeredBy.slice(0, 128),
    reason: req.reason?.slice(0, 512) ?? null,
  };
}

async function insertClaim(ctx: EtlContext, req: DeliveryRequest, key: string, resend: boolean, now: Date): Promise<number | undefined> {
  try {
    const inserted = await targetTable(ctx, ctx.target, TABLE).insert(
      {
        report: req.report,
        period_type: req.periodType,
        period_start: req.periodStart,
        period_label: req.periodLabel,
        kind: req.kind,
        dedupe_key: key,
        resend,
        status: 'sending',
        ...requestColumns(req),
        attempts: 1,
        created_at: now,
        updated_at: now,
      },
      ['id'],
    );
    const first = inserted[0] as { id: number } | number;
    return typeof first === 'object' ? Number(first.id) : Number(first);
  } catch (err) {
    if (isUniqueViolation(err)) return undefined;
    throw err;
  }
}

/**
 * Claims the delivery of `req`: true when this caller may send it now. Not claimed when it was sent
 * (or skipped) already, another run is sending it, or an earlier attempt ended unconfirmed; with
 * `resend`, a sent or unconfirmed delivery is claimed anew as a resend.
 */
export async function claimDelivery(ctx: EtlContext, req: DeliveryRequest, now = new Date(), staleAfterMs = STALE_AFTER_MS): Promise<Claim> {
  const key = dedupeKey(req);
  for (let tries = 0; tries < 3; tries++) {
    const id = await insertClaim(ctx, req, key, false, now);
    if (id !== undefined) return { claimed: true, id, resend: false, attempt: 1 };

    let existing = await findDelivery(ctx, key);
    if (!existing) continue; // removed between our insert and read: try the insert again

    if (existing.status === 'failed') {
      // The version check (attempts) makes two retries racing for the same failed row claim it once.
      const n = await targetTable(ctx, ctx.target, TABLE)
        .where({ id: existing.id, status: 'failed', attempts: existing.attempts })
        .update({ status: 'sending', attempts: existing.attempts + 1, updated_at: now, error: null, ...requestColumns(req) });
      if (Number(n) === 1) return { claimed: true, id: existing.id, resend: false, attempt: existing.attempts + 1 };
      continue;
    }
    if (existing.status === 'sending') {
      const age = now.getTime() - (existing.updatedAt?.getTime() ?? 0);
      if (age <= staleAfterMs) {
        if (!req.resend) return { claimed: false, existing, why: 'in-progress' };
      } else {
        await targetTable(ctx, ctx.target, TABLE)
          .where({ id: existing.id, status: 'sending', attempts: existing.attempts })
          .update({ status: 'unconfirmed', updated_at: now, error: `no outcome recorded within ${Math.round(staleAfterMs / 60_000)} min of the claim; the message may or may not have been sent` });
        existing = (await findDelivery(ctx, key))!;
      }
    }
    if (req.resend) {
      const resendKey = `${key}|resend|${now.toISOString()}|${randomUUID().slice(0, 8)}`;
      const rid = await insertClaim(ctx, req, resendKey, true, now);
      if (rid === undefined) throw new Error(`could not record the resend of ${key}`);
      return { claimed: true, id: rid, resend: true, attempt: 1 };
    }
    const why = existing.status === 'sent' ? 'sent' : existing.status === 'skipped' ? 'skipped' : existing.status === 'sending' ? 'in-progress' : 'unconfirmed';
    return { claimed: false, existing, why };
  }
  throw new Error(`could not claim the delivery ${key}: it changed under three attempts`);
}

export async function markSent(
  ctx: EtlContext,
  id: number,
  sent: { messageId: string; transport: 'smtp' | 'file'; location: string | null; rejected?: readonly string[] },
  now = new Date(),
): Promise<void> {
  await targetTable(ctx, ctx.target, TABLE)
    .where({ id })
    .update({
      status: 'sent',
      message_id: sent.messageId,
      transport: sent.transport,
      location: sent.location,
      error: sent.rejected?.length ? `refused recipients: ${sent.rejected.join(', ')}` : null,
      sent_at: now,
      updated_at: now,
    });
}

export async function markFailed(ctx: EtlContext, id: number, error: string, now = new Date()): Promise<void> {
  await targetTable(ctx, ctx.target, TABLE).where({ id }).update({ status: 'failed', error: error.slice(0, 4000), updated_at: now });
}

export async function markSkipped(ctx: EtlContext, id: number, why: string, now = new Date()): Promise<void> {
  await targetTable(ctx, ctx.target, TABLE).where({ id }).update({ status: 'skipped', error: why, updated_at: now });
}
