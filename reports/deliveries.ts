/**
 * report_deliveries: each report delivery, and the guard that sends a report for a period once.
 *
 * A delivery is claimed by inserting a row whose dedupe_key (report, period, kind) is unique in the
 * table, in one transaction with the rendered message in the outbox (reports/outbox/): of two runs
 * of the same report only one insert succeeds, and a retried job finds the row of its earlier
 * attempt and its message. From then on the outbox sends it, and the delivery's state is its
 * message's (read from the outbox here, and repeated in the row's status, attempts, error,
 * transport, location and sent_at by every change the outbox makes, for whoever reads the table):
 *
 *   pending       queued, not sent yet (the mail server was unreachable): tried again with backoff
 *   sending       an attempt under way
 *   sent          the mail server accepted it, or the .eml was written
 *   unconfirmed   handed over without a reply, or the sending process died mid-send: it may have
 *                 gone out, so nothing is sent by itself (at most once); `--resend` sends it on purpose
 *   expired       refused for good, or not sent within mail.outbox.expireAfterMs: the admins are
 *                 told once and the .eml is kept
 *   skipped       nothing to send by configuration (a day without data, noData: skip)
 *
 * Rows from before the outbox have no message: `sending` (unconfirmed once stale), `sent`, `failed`
 * (a retry claims it again, by a token it reads back: never by a row count).
 *
 * A resend (`--resend`) is recorded as a row of its own with a unique key, so every message sent is
 * one row here.
 */
import { randomUUID } from 'node:crypto';
import { targetTable, type EtlContext } from '../etl/context.js';
import { isoDate } from '../etl/nightly-summary.js';
import { instantOf } from './daily-yield-data.js';
import type { RenderedMail } from './mail.js';
import { findMessage, insertMessage, isUniqueViolation, STALE_AFTER_MS, type OutboxEntry } from './outbox/outbox.js';

export type DeliveryKind = 'report' | 'no-data' | 'summary-failed';
export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'unconfirmed' | 'expired' | 'skipped' | 'failed';

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
  /** The outbox message that carries it (none: skipped, or from before the outbox). */
  outboxId: number | null;
  /** When a pending message is tried again, and when it expires. */
  nextAttemptAt: Date | null;
  expiresAt: Date | null;
  /** The .eml kept when it expired. */
  keptFile: string | null;
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

/** The rendered message a claim queues, with what names it in the outbox. */
export interface QueuedMail {
  mail: RenderedMail;
  fileStem: string;
  /** The command that sends it again on purpose. */
  resendHint: string;
}

export type Claim =
  | { claimed: true; id: number; outboxId: number | null; resend: boolean; attempt: number }
  | { claimed: false; existing: DeliveryRow; why: 'sent' | 'skipped' | 'in-progress' | 'unconfirmed' | 'pending' | 'expired' };

const TABLE = 'report_deliveries';

/** The key that makes a delivery unique: one report of one kind per period (per failed run for notices). */
export function dedupeKey(r: Pick<DeliveryRequest, 'report' | 'periodType' | 'periodStart' | 'kind' | 'summaryRunId'>): string {
  const kind = r.kind === 'summary-failed' ? `${r.kind}#${r.summaryRunId ?? 'none'}` : r.kind;
  return `${r.report}|${r.periodType}|${r.periodStart}|${kind}`;
}

const staleSince = (at: Date | null, now: Date) => now.getTime() - (at?.getTime() ?? 0) > STALE_AFTER_MS;

function fromDb(r: Record<string, unknown>, message: OutboxEntry | undefined, now: Date): DeliveryRow {
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  const int = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  let recipients: Recipients | null = null;
  try {
    recipients = r.recipients ? (JSON.parse(String(r.recipients)) as Recipients) : null;
  } catch {
    recipients = null;
  }
  const row: DeliveryRow = {
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
    outboxId: int(r.outbox_id),
    nextAttemptAt: null,
    expiresAt: null,
    keptFile: null,
    createdAt: instantOf(r.created_at),
    updatedAt: instantOf(r.updated_at),
    sentAt: instantOf(r.sent_at),
  };
  if (!message) {
    // A claim from before the outbox that never finished: the process died between send and record.
    if (row.status === 'sending' && staleSince(row.updatedAt, now)) row.status = 'unconfirmed';
    return row;
  }
  return {
    ...row,
    // A claim whose process died is unconfirmed already, before a sender settles it.
    status: message.status === 'sending' && staleSince(message.claimedAt, now) ? 'unconfirmed' : message.status,
    messageId: message.messageId,
    transport: message.transport,
    location: message.location,
    attempts: message.attempts,
    error: message.lastError,
    nextAttemptAt: message.nextAttemptAt,
    expiresAt: message.expiresAt,
    keptFile: message.keptFile,
    sentAt: message.sentAt,
  };
}

async function withMessage(ctx: EtlContext, r: Record<string, unknown>, now = new Date()): Promise<DeliveryRow> {
  const message = r.outbox_id === null || r.outbox_id === undefined ? undefined : await findMessage(ctx, Number(r.outbox_id));
  return fromDb(r, message, now);
}

export async function findDelivery(ctx: EtlContext, key: string): Promise<DeliveryRow | undefined> {
  const r = (await targetTable(ctx, ctx.target, TABLE).where('dedupe_key', key).first()) as Record<string, unknown> | undefined;
  return r ? withMessage(ctx, r) : undefined;
}

/** Every delivery of a report for a period, oldest first. */
export async function deliveriesOf(ctx: EtlContext, report: string, periodStart: string): Promise<DeliveryRow[]> {
  const rows = (await targetTable(ctx, ctx.target, TABLE).where({ report, period_start: periodStart }).orderBy('id')) as Record<string, unknown>[];
  return Promise.all(rows.map((r) => withMessage(ctx, r)));
}

/** The deliveries a run made, oldest first, each with its message's state in the outbox. */
export async function deliveriesOfRun(ctx: EtlContext, runId: number): Promise<DeliveryRow[]> {
  const rows = (await targetTable(ctx, ctx.target, TABLE).where({ run_id: runId }).orderBy('id')) as Record<string, unknown>[];
  return Promise.all(rows.map((r) => withMessage(ctx, r)));
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

/** The outbox key of a delivery's message: one per delivery row (and per re-claim of an old failed one). */
function queueRequest(req: DeliveryRequest, key: string, q: QueuedMail, attempt = 1) {
  return { dedupeKey: `delivery|${key}${attempt > 1 ? `|${attempt}` : ''}`, kind: req.report, mail: q.mail, subject: req.subject, fileStem: q.fileStem, resendHint: q.resendHint };
}

/** The delivery row and its message, in one transaction; undefined when the key is taken. */
async function insertClaim(ctx: EtlContext, req: DeliveryRequest, key: string, resend: boolean, queued: QueuedMail | null, now: Date): Promise<{ id: number; outboxId: number | null } | undefined> {
  try {
    return await ctx.target.transaction(async (trx) => {
      const outboxId = queued ? await insertMessage(ctx, trx, queueRequest(req, key, queued), now) : null;
      const inserted = await targetTable(ctx, trx, TABLE).insert(
        {
          report: req.report,
          period_type: req.periodType,
          period_start: req.periodStart,
          period_label: req.periodLabel,
          kind: req.kind,
          dedupe_key: key,
          resend,
          status: queued ? 'pending' : 'skipped',
          ...requestColumns(req),
          attempts: 1,
          outbox_id: outboxId,
          created_at: now,
          updated_at: now,
        },
        ['id'],
      );
      const first = inserted[0] as { id: number } | number;
      return { id: typeof first === 'object' ? Number(first.id) : Number(first), outboxId };
    });
  } catch (err) {
    if (isUniqueViolation(err)) return undefined;
    throw err;
  }
}

/**
 * A delivery that failed before the outbox existed, claimed again with its new message. The token
 * written where the row is still `failed`, and read back, decides which of two retries holds it.
 */
async function reclaimFailed(ctx: EtlContext, req: DeliveryRequest, existing: DeliveryRow, queued: QueuedMail, now: Date): Promise<number | undefined> {
  const token = randomUUID();
  const attempt = existing.attempts + 1;
  return ctx.target.transaction(async (trx) => {
    await targetTable(ctx, trx, TABLE)
      .where({ id: existing.id, status: 'failed' })
      .update({ status: 'pending', claim_token: token, attempts: attempt, updated_at: now, error: null, ...requestColumns(req) });
    const held = await targetTable(ctx, trx, TABLE).where({ id: existing.id, claim_token: token }).first('id');
    if (!held) return undefined;
    const outboxId = await insertMessage(ctx, trx, queueRequest(req, existing.dedupeKey, queued, attempt), now);
    await targetTable(ctx, trx, TABLE).where({ id: existing.id, claim_token: token }).update({ outbox_id: outboxId });
    return outboxId;
  });
}

/**
 * Claims the delivery of `req` and queues `queued` with it (null: records it as skipped): claimed
 * when this caller holds it and its message is in the outbox. Not claimed when it was sent,
 * skipped, is queued or being sent already, or ended unconfirmed or expired; with `resend`, a
 * delivery that is not still on its way is claimed anew as a resend of its own.
 */
export async function claimDelivery(ctx: EtlContext, req: DeliveryRequest, queued: QueuedMail | null, now = new Date()): Promise<Claim> {
  const key = dedupeKey(req);
  for (let tries = 0; tries < 3; tries++) {
    const first = await insertClaim(ctx, req, key, false, queued, now);
    if (first) return { claimed: true, id: first.id, outboxId: first.outboxId, resend: false, attempt: 1 };

    const existing = await findDelivery(ctx, key);
    if (!existing) continue; // removed between our insert and read: try the insert again

    if (existing.status === 'failed' && queued) {
      const outboxId = await reclaimFailed(ctx, req, existing, queued, now);
      if (outboxId !== undefined) return { claimed: true, id: existing.id, outboxId, resend: false, attempt: existing.attempts + 1 };
      continue;
    }
    if (req.resend && existing.status !== 'sending' && existing.status !== 'pending') {
      const resendKey = `${key}|resend|${now.toISOString()}|${randomUUID().slice(0, 8)}`;
      const r = await insertClaim(ctx, req, resendKey, true, queued, now);
      if (!r) throw new Error(`could not record the resend of ${key}`);
      return { claimed: true, id: r.id, outboxId: r.outboxId, resend: true, attempt: 1 };
    }
    const why = existing.status === 'sending' || existing.status === 'failed' ? 'in-progress' : existing.status;
    return { claimed: false, existing, why };
  }
  throw new Error(`could not claim the delivery ${key}: it changed under three attempts`);
}
