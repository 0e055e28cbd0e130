/**
 * Sending what the outbox holds. Whoever claims a message sends it: the run that queued it, at
 * once (sendNow), and every worker, periodically (sendDue, started by startOutboxSender), which
 * also expires what waited too long and settles the claims of processes that died mid-send.
 *
 * A failed attempt that cannot have delivered the message is retried with a doubling wait, across
 * runs and restarts, until it is sent or expires; an attempt whose outcome is unknown is never
 * retried (reports/outbox/attempt.ts). An expired message, a refused one, and (found by the
 * periodic sender) an unconfirmed one each get one admin notice, itself an outbox message.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { EtlContext } from '../../etl/context.js';
import { emlFileName, renderMail, type MailMessage, type MailSettings } from '../mail.js';
import { attemptDelivery } from './attempt.js';
import {
  claimExpired,
  claimMessage,
  dueIds,
  findMessage,
  findMessageByKey,
  insertMessage,
  queueMessage,
  settleHeld,
  settleStale,
  staleClaims,
  STALE_AFTER_MS,
  type HeldMessage,
  type OutboxEntry,
  type OutboxStatus,
} from './outbox.js';

export interface SenderOptions {
  /** SMTP (smtpUrl) or .eml files, timeouts, mail.retries and mail.retryDelayMs. */
  mail: MailSettings;
  log: Logger;
  /** The clock; tests move it. */
  now?: () => Date;
  staleAfterMs?: number;
}

/** Kinds of the admin notices about other messages: never noticed themselves, so nothing loops. */
const NOTICE_KINDS = new Set(['outbox-expired', 'outbox-unconfirmed']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The wait after the `attempts`-th failed attempt: mail.retryDelayMs doubling, up to mail.outbox.maxRetryDelayMs. */
export function retryDelayMs(ctx: Pick<EtlContext, 'config'>, settings: Pick<MailSettings, 'retryDelayMs'>, attempts: number): number {
  return Math.min(ctx.config.mail.outbox.maxRetryDelayMs, settings.retryDelayMs * 2 ** Math.max(0, attempts - 1));
}

const clockOf = (o: SenderOptions) => o.now ?? (() => new Date());

/** The admin notice about `entry`, or null when there is nobody to tell (or it is a notice itself). */
async function composeNotice(ctx: EtlContext, o: SenderOptions, entry: OutboxEntry, what: 'expired' | 'unconfirmed', why: string, keptFile?: string) {
  const admins = ctx.config.alerts.admins;
  if (admins.length === 0 || NOTICE_KINDS.has(entry.kind)) return null;
  const to = entry.envelope.to.join(', ');
  const lines =
    what === 'expired'
      ? [
          `An email from yieldrun at ${ctx.config.plant.name} was not delivered and will not be tried again.`,
          '',
          `Subject:     ${entry.subject ?? ''}`,
          `To:          ${to}`,
          `Message-ID:  ${entry.messageId} (outbox message ${entry.id}, ${entry.kind})`,
          `Queued:      ${entry.createdAt.toISOString()}, ${entry.attempts} attempt(s)`,
          `Why:         ${why}`,
          '',
          `The message is kept as ${keptFile ?? '(could not be written: see the worker log)'}: open it in a mail client or forward it.`,
        ]
      : [
          `An email from yieldrun at ${ctx.config.plant.name} was handed to the mail server, but no reply came: it may or may not have arrived.`,
          'It is not sent again by itself, so that nobody gets it twice.',
          '',
          `Subject:     ${entry.subject ?? ''}`,
          `To:          ${to}`,
          `Message-ID:  ${entry.messageId} (outbox message ${entry.id}, ${entry.kind})`,
          `Why:         ${why}`,
          '',
          'Ask a recipient whether it arrived (the Message-ID identifies it).',
        ];
  if (entry.resendHint) lines.push('', `To send it again on purpose: ${entry.resendHint}`);
  const subject = `[yieldrun] email ${what === 'expired' ? 'not delivered' : 'perhaps not delivered'} · ${ctx.config.plant.name} · ${entry.subject ?? entry.messageId}`;
  const mail = await renderMail(o.mail, { to: admins, subject, text: lines.join('\n') });
  return { dedupeKey: `outbox-${what}|${entry.id}`, kind: `outbox-${what}`, mail, subject, fileStem: `alert-outbox-${what}` };
}

type Notice = Awaited<ReturnType<typeof composeNotice>>;

/**
 * Changes the message and queues its notice in one transaction, so the notice is queued exactly
 * when the change is made; its dedupe key keeps it to one whoever makes the change.
 */
async function changeWithNotice(ctx: EtlContext, notice: Notice, change: (trx: Knex.Transaction) => Promise<boolean>, now: Date): Promise<boolean> {
  return ctx.target.transaction(async (trx) => {
    const made = await change(trx);
    if (made && notice && !(await findMessageByKey(ctx, notice.dedupeKey, trx))) await insertMessage(ctx, trx, notice, now);
    return made;
  });
}

/** A held message's change, with its notice. */
function settleWithNotice(ctx: EtlContext, notice: Notice, held: HeldMessage, change: Parameters<typeof settleHeld>[2], now: Date): Promise<boolean> {
  return changeWithNotice(
    ctx,
    notice,
    async (trx) => {
      await settleHeld(ctx, held, change, now, trx);
      return true;
    },
    now,
  );
}

/** Where an expired message is kept: under mail.outDir/expired, named like every .eml. */
function keptPath(o: SenderOptions, entry: OutboxEntry): string {
  return path.resolve(o.mail.outDir, 'expired', emlFileName(entry.fileStem ?? 'message'));
}

function keepEml(o: SenderOptions, held: HeldMessage, file: string): string | undefined {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, held.mail.raw);
    return file;
  } catch (err) {
    o.log.error({ outboxId: held.id, file, err: (err as Error).message }, 'could not keep the expired email as .eml');
    return undefined;
  }
}

/**
 * One attempt at a held message, its outcome recorded; the message's new status. `notify`: an
 * unconfirmed or refused message gets its admin notice (the periodic sender; a run that sends its
 * own message reports the outcome itself, so the admins are not told twice).
 */
async function attemptHeld(ctx: EtlContext, held: HeldMessage, o: SenderOptions, notify: boolean): Promise<OutboxStatus> {
  const log = o.log.child({ outboxId: held.id, messageId: held.messageId, kind: held.kind, attempt: held.attempts });
  const a = await attemptDelivery(o.mail, held.mail, held.fileStem ?? 'message');
  const now = clockOf(o)();
  switch (a.kind) {
    case 'sent':
      await settleHeld(ctx, held, { status: 'sent', transport: a.transport, location: a.location, sentAt: now, lastError: a.rejected.length ? `refused recipients: ${a.rejected.join(', ')}` : null }, now);
      log.info({ transport: a.transport, location: a.location, rejected: a.rejected.length }, 'email sent');
      return 'sent';
    case 'retry': {
      const next = new Date(now.getTime() + retryDelayMs(ctx, o.mail, held.attempts));
      await settleHeld(ctx, held, { status: 'pending', lastError: a.error, nextAttemptAt: next }, now);
      log.warn({ err: a.error, nextAttemptAt: next.toISOString(), expiresAt: held.expiresAt.toISOString() }, 'email not sent; will be tried again');
      return 'pending';
    }
    case 'unknown': {
      const notice = notify ? await composeNotice(ctx, o, held, 'unconfirmed', a.error) : null;
      await settleWithNotice(ctx, notice, held, { status: 'unconfirmed', lastError: a.error }, now);
      log.error({ err: a.error, resend: held.resendHint }, 'email outcome unknown: unconfirmed, not sent again by itself');
      return 'unconfirmed';
    }
    case 'refused': {
      const keptFile = keepEml(o, held, keptPath(o, held));
      const why = `refused: ${a.error}`;
      const notice = notify ? await composeNotice(ctx, o, held, 'expired', why, keptFile) : null;
      await settleWithNotice(ctx, notice, held, { status: 'expired', lastError: why, keptFile }, now);
      log.error({ err: a.error, keptFile }, 'email refused for good: expired, kept as .eml');
      return 'expired';
    }
  }
}

/**
 * Sends message `id` now, for the run that queued it: claimed without waiting for its backoff, and
 * tried again mail.retries times with a doubling wait after a failure that cannot have delivered it.
 * Whatever is still pending then is left to the worker's periodic sender. Returns the message as it
 * is then, and whether this call tried to send it (not: another sender holds or held it); the
 * caller tells of a message that ended unconfirmed or expired (a report run fails and says so).
 */
export async function sendNow(ctx: EtlContext, id: number, o: SenderOptions): Promise<OutboxEntry & { attempted: boolean }> {
  let attempted = false;
  for (let tries = 0; ; tries++) {
    const held = await claimMessage(ctx, id, clockOf(o)());
    if (!held) {
      // Sent, unconfirmed or expired: nothing to do. Held by another sender (the periodic one):
      // its attempt decides, so wait for it, and try again if it failed.
      const after = await outcomeOfOtherAttempt(ctx, id, o);
      if (after?.status !== 'pending' || tries >= o.mail.retries) break;
      continue;
    }
    attempted = true;
    const status = await attemptHeld(ctx, held, o, false);
    if (status !== 'pending' || tries >= o.mail.retries) break;
    await sleep(retryDelayMs(ctx, o.mail, held.attempts));
  }
  const entry = await findMessage(ctx, id);
  if (!entry) throw new Error(`outbox message ${id} does not exist`);
  return { ...entry, attempted };
}

/** The message once another sender's attempt is over: at most as long as one attempt may take. */
async function outcomeOfOtherAttempt(ctx: EtlContext, id: number, o: SenderOptions): Promise<OutboxEntry | undefined> {
  const until = Date.now() + o.mail.connectionTimeoutMs + o.mail.greetingTimeoutMs + o.mail.socketTimeoutMs;
  for (;;) {
    const m = await findMessage(ctx, id);
    if (m?.status !== 'sending' || Date.now() > until) return m;
    await sleep(100);
  }
}

export interface SendDueResult {
  sent: number;
  retried: number;
  unconfirmed: number;
  expired: number;
}

async function expirePending(ctx: EtlContext, o: SenderOptions, entry: OutboxEntry, now: Date): Promise<boolean> {
  let kept: HeldMessage | undefined;
  const why = `not sent within ${Math.round((entry.expiresAt.getTime() - entry.createdAt.getTime()) / 60_000)} min (mail.outbox.expireAfterMs); last error: ${entry.lastError ?? 'none'}`;
  const file = keptPath(o, entry);
  const notice = await composeNotice(ctx, o, entry, 'expired', why, file);
  const made = await changeWithNotice(
    ctx,
    notice,
    async (trx) => {
      kept = await claimExpired(ctx, trx, entry.id, now);
      return kept !== undefined;
    },
    now,
  );
  if (!made || !kept) return false;
  const keptFile = keepEml(o, kept, file);
  if (keptFile) await settleHeld(ctx, kept, { status: 'expired', keptFile, lastError: why }, now);
  o.log.error({ outboxId: entry.id, messageId: entry.messageId, kind: entry.kind, keptFile, err: entry.lastError }, 'email expired: not sent; kept as .eml');
  return true;
}

/**
 * One pass of the periodic sender: stale claims become unconfirmed, what waited past its expiry
 * expires, and every pending message that is due is claimed and tried once.
 */
export async function sendDue(ctx: EtlContext, o: SenderOptions, limit = 100): Promise<SendDueResult> {
  const result: SendDueResult = { sent: 0, retried: 0, unconfirmed: 0, expired: 0 };
  const now = clockOf(o)();
  const staleAfterMs = o.staleAfterMs ?? STALE_AFTER_MS;
  for (const entry of await staleClaims(ctx, now, staleAfterMs)) {
    const why = `the process that claimed it (${entry.claimedBy ?? 'unknown'}) stopped before recording the outcome`;
    const notice = await composeNotice(ctx, o, entry, 'unconfirmed', why);
    const made = await changeWithNotice(
      ctx,
      notice,
      async (trx) => {
        await settleStale(ctx, trx, entry, now, staleAfterMs);
        const r = (await findMessageByKey(ctx, entry.dedupeKey, trx))!;
        return r.status === 'unconfirmed';
      },
      now,
    );
    if (made) {
      result.unconfirmed++;
      o.log.error({ outboxId: entry.id, messageId: entry.messageId, claimedBy: entry.claimedBy }, 'email claim never finished: unconfirmed, not sent again by itself');
    }
  }
  const { due, expired } = await dueIds(ctx, now, limit);
  for (const id of expired) {
    const entry = await findMessage(ctx, id);
    if (entry && (await expirePending(ctx, o, entry, now))) result.expired++;
  }
  for (const id of due) {
    const held = await claimMessage(ctx, id, now, now);
    if (!held) continue;
    const status = await attemptHeld(ctx, held, o, true);
    if (status === 'sent') result.sent++;
    else if (status === 'pending') result.retried++;
    else if (status === 'unconfirmed') result.unconfirmed++;
    else result.expired++;
  }
  return result;
}

export interface OutboxSenderHandle {
  /** Stops the timer and waits for a pass under way. */
  stop(): Promise<void>;
}

/** Runs sendDue every `everyMs` (mail.outbox.sendEveryMs), the first pass at once; passes never overlap. */
export function startOutboxSender(ctx: EtlContext, o: SenderOptions & { everyMs?: number }): OutboxSenderHandle {
  const everyMs = o.everyMs ?? ctx.config.mail.outbox.sendEveryMs;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const run = () => {
    pass = sendDue(ctx, o)
      .then((r) => {
        if (r.sent + r.retried + r.unconfirmed + r.expired > 0) o.log.info(r, 'outbox pass');
      })
      .catch((err: Error) => o.log.error({ err: err.message }, 'outbox pass failed; the next pass tries again'))
      .finally(() => {
        if (!stopped) timer = setTimeout(run, everyMs);
      });
  };
  run();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}

export interface MailRequest {
  /** Unique per message and purpose: the same key is queued (and sent) once. */
  dedupeKey: string;
  /** What it is, for people and notices: failure-alert, spc-alert, … */
  kind: string;
  message: MailMessage;
  /** The command that sends it again on purpose, named when it ends unconfirmed or expired. */
  resendHint?: string;
}

/**
 * The outbox for a job that sends an email: renders `req.message`, queues it under its dedupe key,
 * and sends it now. A key queued before is not queued again; its message is sent now if it is still
 * pending. Returns the message as it is then: `pending` means the worker keeps trying.
 */
export async function queueAndSend(ctx: EtlContext, req: MailRequest, o: SenderOptions): Promise<OutboxEntry & { queued: boolean; attempted: boolean }> {
  const mail = await renderMail(o.mail, req.message);
  const { id, queued } = await queueMessage(
    ctx,
    { dedupeKey: req.dedupeKey, kind: req.kind, mail, subject: req.message.subject, fileStem: req.message.fileStem ?? req.kind, resendHint: req.resendHint },
    clockOf(o)(),
  );
  return { ...(await sendNow(ctx, id, o)), queued };
}
