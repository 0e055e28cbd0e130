/**
 * The outbox table: every email yieldrun sends is written here, rendered to the byte, before it is
 * sent. The states:
 *
 *   pending ──claim──► sending ──► sent
 *      ▲                  │  ├───► unconfirmed   handed over, no reply: may have been delivered; sent
 *      └── not delivered ─┘  │                   again only on purpose (a resend is a message of its own)
 *                            └───► expired       refused for good, or still not sent at expires_at:
 *   pending past expires_at ─────► expired       one admin alert, the .eml kept on disk
 *
 * A `sending` claim older than STALE_AFTER_MS belongs to a process that died mid-send: unconfirmed.
 *
 * Claiming never relies on the driver's row counts (SQL Server and Babelfish do not give them
 * reliably): the UPDATE writes a fresh token where the row is still claimable, and the claimer
 * reads the row back by that token. Whoever reads it holds the message; every later change of a
 * held message is guarded by the same token, so of two senders exactly one sends.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Knex } from 'knex';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { instantOf } from '../daily-yield-data.js';
import type { RenderedMail } from '../mail.js';

export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'unconfirmed' | 'expired';

/** A claim still `sending` after this was taken by a process that died between sending and recording. */
export const STALE_AFTER_MS = 30 * 60_000;

const TABLE = 'outbox';

/** What the outbox knows of a message, without its bytes. */
export interface OutboxEntry {
  id: number;
  dedupeKey: string;
  kind: string;
  status: OutboxStatus;
  messageId: string;
  subject: string | null;
  envelope: { from: string; to: string[] };
  fileStem: string | null;
  resendHint: string | null;
  attempts: number;
  nextAttemptAt: Date;
  expiresAt: Date;
  claimedBy: string | null;
  claimedAt: Date | null;
  lastError: string | null;
  transport: 'smtp' | 'file' | null;
  location: string | null;
  keptFile: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

/** A held message: the entry, its bytes and the token that proves the hold. */
export interface HeldMessage extends OutboxEntry {
  mail: RenderedMail;
  token: string;
}

export interface QueueRequest {
  /** Unique per message and purpose: the same key is queued once. */
  dedupeKey: string;
  kind: string;
  mail: RenderedMail;
  subject: string;
  /** Start of the .eml file name. */
  fileStem: string;
  /** The command that sends it again on purpose, shown when it ends unconfirmed or expired. */
  resendHint?: string | null;
  /** Default: now + mail.outbox.expireAfterMs. */
  expiresAt?: Date;
}

const ENTRY_COLUMNS = [
  'id', 'dedupe_key', 'kind', 'status', 'message_id', 'subject', 'envelope', 'file_stem', 'resend_hint', 'attempts',
  'next_attempt_at', 'expires_at', 'claimed_by', 'claimed_at', 'last_error', 'transport', 'location', 'kept_file', 'created_at', 'sent_at',
];

const outbox = (ctx: Pick<EtlContext, 'targetSchema'>, db: Knex | Knex.Transaction) => targetTable(ctx, db, TABLE);

function entryOf(r: Record<string, unknown>): OutboxEntry {
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: Number(r.id),
    dedupeKey: String(r.dedupe_key),
    kind: String(r.kind),
    status: String(r.status) as OutboxStatus,
    messageId: String(r.message_id),
    subject: str(r.subject),
    envelope: JSON.parse(String(r.envelope)) as OutboxEntry['envelope'],
    fileStem: str(r.file_stem),
    resendHint: str(r.resend_hint),
    attempts: Number(r.attempts ?? 0),
    nextAttemptAt: instantOf(r.next_attempt_at)!,
    expiresAt: instantOf(r.expires_at)!,
    claimedBy: str(r.claimed_by),
    claimedAt: instantOf(r.claimed_at),
    lastError: str(r.last_error),
    transport: str(r.transport) as OutboxEntry['transport'],
    location: str(r.location),
    keptFile: str(r.kept_file),
    createdAt: instantOf(r.created_at)!,
    sentAt: instantOf(r.sent_at),
  };
}

/** 7-bit MIME (what nodemailer writes) is stored as text; anything else as base64, so the bytes survive. */
function storedRaw(raw: Buffer): { raw: string; raw_encoding: 'utf8' | 'base64' } {
  const text = raw.toString('latin1');
  return /^[\x00-\x7f]*$/.test(text) ? { raw: text, raw_encoding: 'utf8' } : { raw: raw.toString('base64'), raw_encoding: 'base64' };
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

/** `host:pid`, recorded with a claim. */
export const HOLDER = `${os.hostname()}:${process.pid}`.slice(0, 128);

/**
 * Inserts the message as pending, due now; in `db` (a transaction, to queue it together with the
 * record it belongs to). Throws the unique violation when the key is queued already.
 */
export async function insertMessage(ctx: EtlContext, db: Knex | Knex.Transaction, req: QueueRequest, now = new Date()): Promise<number> {
  const expiresAt = req.expiresAt ?? new Date(now.getTime() + ctx.config.mail.outbox.expireAfterMs);
  const inserted = await outbox(ctx, db).insert(
    {
      dedupe_key: req.dedupeKey.slice(0, 255),
      kind: req.kind.slice(0, 64),
      status: 'pending',
      message_id: req.mail.messageId,
      subject: req.subject.slice(0, 512),
      envelope: JSON.stringify(req.mail.envelope),
      ...storedRaw(req.mail.raw),
      file_stem: req.fileStem.slice(0, 128),
      resend_hint: req.resendHint?.slice(0, 512) ?? null,
      attempts: 0,
      next_attempt_at: now,
      expires_at: expiresAt,
      created_at: now,
      updated_at: now,
    },
    ['id'],
  );
  const first = inserted[0] as { id: number } | number;
  return typeof first === 'object' ? Number(first.id) : Number(first);
}

/**
 * Queues a message once per dedupe key: `queued: false` and the earlier message's id when the key
 * was queued before (whatever became of it).
 */
export async function queueMessage(ctx: EtlContext, req: QueueRequest, now = new Date()): Promise<{ id: number; queued: boolean }> {
  try {
    return { id: await insertMessage(ctx, ctx.target, req, now), queued: true };
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const earlier = await findMessageByKey(ctx, req.dedupeKey);
    if (!earlier) throw err;
    return { id: earlier.id, queued: false };
  }
}

export async function findMessage(ctx: EtlContext, id: number): Promise<OutboxEntry | undefined> {
  const r = (await outbox(ctx, ctx.target).where({ id }).first(ENTRY_COLUMNS)) as Record<string, unknown> | undefined;
  return r ? entryOf(r) : undefined;
}

export async function findMessageByKey(ctx: EtlContext, dedupeKey: string, db: Knex | Knex.Transaction = ctx.target): Promise<OutboxEntry | undefined> {
  const r = (await outbox(ctx, db).where({ dedupe_key: dedupeKey }).first(ENTRY_COLUMNS)) as Record<string, unknown> | undefined;
  return r ? entryOf(r) : undefined;
}

/** Messages of some kinds, oldest first (for people and tests). */
export async function messagesOf(ctx: EtlContext, kinds?: readonly string[]): Promise<OutboxEntry[]> {
  const q = outbox(ctx, ctx.target).select(ENTRY_COLUMNS).orderBy('id');
  if (kinds) q.whereIn('kind', [...kinds]);
  return ((await q) as Record<string, unknown>[]).map(entryOf);
}

async function readHeld(ctx: EtlContext, db: Knex | Knex.Transaction, id: number, token: string): Promise<HeldMessage | undefined> {
  const r = (await outbox(ctx, db).where({ id, claim_token: token }).first([...ENTRY_COLUMNS, 'raw', 'raw_encoding'])) as Record<string, unknown> | undefined;
  if (!r) return undefined;
  const e = entryOf(r);
  const raw = Buffer.from(String(r.raw), r.raw_encoding === 'base64' ? 'base64' : 'latin1');
  return { ...e, token, mail: { raw, messageId: e.messageId, envelope: e.envelope } };
}

/**
 * Takes message `id` for one attempt: held when it is pending, not expired, and due by `dueBy`
 * (a run sending its own message passes no dueBy: it need not wait for the backoff).
 */
export async function claimMessage(ctx: EtlContext, id: number, now: Date, dueBy?: Date): Promise<HeldMessage | undefined> {
  const token = randomUUID();
  await claimStatement(ctx, ctx.target, id, token, now, dueBy);
  const held = await readHeld(ctx, ctx.target, id, token);
  if (held) await mirrorToDelivery(ctx, ctx.target, id, now);
  return held;
}

/** The claim's UPDATE: the token lands only where the message is still claimable; its count is never read. */
export function claimStatement(ctx: Pick<EtlContext, 'targetSchema'>, db: Knex, id: number, token: string, now: Date, dueBy?: Date) {
  return claimUpdateIn(ctx, db, TABLE, id, token, now, dueBy);
}

/**
 * The claim's UPDATE on an outbox table (this one, or the MES pushes' mes_outbox): row `id` gets
 * `token` only while it is pending, not expired and due by `dueBy`; the holder reads it back by token.
 */
export function claimUpdateIn(ctx: Pick<EtlContext, 'targetSchema'>, db: Knex | Knex.Transaction, table: string, id: number, token: string, now: Date, dueBy?: Date) {
  const q = targetTable(ctx, db, table).where({ id, status: 'pending' }).where('expires_at', '>', now);
  if (dueBy) q.where('next_attempt_at', '<=', dueBy);
  return q.update({ status: 'sending', claim_token: token, claimed_by: HOLDER, claimed_at: now, attempts: db.raw('attempts + 1'), updated_at: now });
}

/** The expiry's UPDATE on an outbox table: row `id` becomes expired under `token` only while pending and past its expiry. */
export function expireUpdateIn(ctx: Pick<EtlContext, 'targetSchema'>, db: Knex | Knex.Transaction, table: string, id: number, token: string, now: Date) {
  return targetTable(ctx, db, table)
    .where({ id, status: 'pending' })
    .where('expires_at', '<=', now)
    .update({ status: 'expired', claim_token: token, claimed_by: HOLDER, claimed_at: now, updated_at: now });
}

/** Takes a pending message past its expiry, to expire it; in `db` so the admin alert is queued with it. */
export async function claimExpired(ctx: EtlContext, db: Knex.Transaction, id: number, now: Date): Promise<HeldMessage | undefined> {
  const token = randomUUID();
  await expireUpdateIn(ctx, db, TABLE, id, token, now);
  const held = await readHeld(ctx, db, id, token);
  if (held) await mirrorToDelivery(ctx, db, id, now);
  return held;
}

/** Changes a held message; nothing happens when the hold was lost. */
export async function settleHeld(
  ctx: EtlContext,
  held: Pick<HeldMessage, 'id' | 'token'>,
  change: { status: OutboxStatus; lastError?: string | null; nextAttemptAt?: Date; transport?: 'smtp' | 'file'; location?: string; keptFile?: string; sentAt?: Date },
  now: Date,
  db: Knex | Knex.Transaction = ctx.target,
): Promise<void> {
  await outbox(ctx, db)
    .where({ id: held.id, claim_token: held.token })
    .update({
      status: change.status,
      updated_at: now,
      ...(change.lastError !== undefined ? { last_error: change.lastError?.slice(0, 4000) ?? null } : {}),
      ...(change.nextAttemptAt ? { next_attempt_at: change.nextAttemptAt } : {}),
      ...(change.transport ? { transport: change.transport } : {}),
      ...(change.location !== undefined ? { location: change.location } : {}),
      ...(change.keptFile ? { kept_file: change.keptFile } : {}),
      ...(change.sentAt ? { sent_at: change.sentAt } : {}),
    });
  await mirrorToDelivery(ctx, db, held.id, now);
}

/** Ids of the pending messages due by `now`, and of those past their expiry, oldest first. */
export async function dueIds(ctx: EtlContext, now: Date, limit: number): Promise<{ due: number[]; expired: number[] }> {
  return dueIdsIn(ctx, TABLE, now, limit);
}

/** The same for any outbox-shaped table (status, next_attempt_at, expires_at): the MES outbox's too. */
export async function dueIdsIn(ctx: EtlContext, table: string, now: Date, limit: number): Promise<{ due: number[]; expired: number[] }> {
  const pending = () => targetTable(ctx, ctx.target, table).where({ status: 'pending' }).orderBy('id').limit(limit).pluck('id');
  const expired = (await pending().where('expires_at', '<=', now)) as unknown[];
  const due = (await pending().where('expires_at', '>', now).where('next_attempt_at', '<=', now)) as unknown[];
  return { due: due.map(Number), expired: expired.map(Number) };
}

/** Messages still `sending` from a claim before `now − staleAfterMs`: their process died mid-send. */
export async function staleClaims(ctx: EtlContext, now: Date, staleAfterMs = STALE_AFTER_MS): Promise<OutboxEntry[]> {
  const before = new Date(now.getTime() - staleAfterMs);
  const rows = (await outbox(ctx, ctx.target).where({ status: 'sending' }).where('claimed_at', '<=', before).select(ENTRY_COLUMNS)) as Record<string, unknown>[];
  return rows.map(entryOf);
}

/**
 * Makes a stale claim unconfirmed, in `db`. The change is the same whoever makes it, so it needs no
 * token and no row count: a claim renewed meanwhile (a newer claimed_at) is left alone.
 */
export async function settleStale(ctx: EtlContext, db: Knex.Transaction, entry: OutboxEntry, now: Date, staleAfterMs = STALE_AFTER_MS): Promise<void> {
  await outbox(ctx, db)
    .where({ id: entry.id, status: 'sending' })
    .where('claimed_at', '<=', new Date(now.getTime() - staleAfterMs))
    .update({
      status: 'unconfirmed',
      updated_at: now,
      last_error: `no outcome recorded within ${Math.round(staleAfterMs / 60_000)} min of the claim by ${entry.claimedBy ?? 'a sender'}: the sending process stopped; the message may or may not have been sent`,
    });  await mirrorToDelivery(ctx, db, entry.id, now);
}

/** The columns of report_deliveries that repeat its message's state, with the outbox column each comes from. */
const DELIVERY_MIRROR = { status: 'status', attempts: 'attempts', error: 'last_error', transport: 'transport', location: 'location', sent_at: 'sent_at' } as const;

/**
 * Copies message `id`'s state onto the report delivery that holds it (report_deliveries.outbox_id),
 * so that a dashboard or an admin reading that table sees what the outbox knows: one UPDATE whose
 * values are subqueries of the outbox row, so it copies whatever the row holds when it runs, in the
 * same transaction as the change. Messages of no delivery (alerts) match no row.
 */
export async function mirrorToDelivery(ctx: EtlContext, db: Knex | Knex.Transaction, id: number, now: Date): Promise<void> {
  const values: Record<string, unknown> = { updated_at: now };
  for (const [column, from] of Object.entries(DELIVERY_MIRROR)) values[column] = outbox(ctx, db).where('id', id).select(from);
  await targetTable(ctx, db, 'report_deliveries').where('outbox_id', id).update(values);
}
