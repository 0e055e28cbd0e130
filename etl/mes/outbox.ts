/**
 * mes_outbox: every result pushed to the MES is written here, as the exact JSON body, under its
 * idempotency key, before it is sent. The states:
 *
 *   pending ──claim──► sending ──► acknowledged   2xx with the key echoed, or 409 (the MES had it)
 *      ▲                  │  └───► rejected       a 4xx that will not pass later (400, 422, …); kept
 *      └── no ack ────────┘                       timeout, dropped connection, 5xx, 429: try again
 *   pending past expires_at ─────► expired        logged; the payload is kept
 *
 * Unlike an email, a push whose answer was lost is simply tried again: the MES applies each key
 * once and answers a repeat with 409. So a `sending` claim left by a process that died goes back
 * to `pending`, and an acknowledged push is never claimed again.
 *
 * Claims follow reports/outbox/outbox.ts: the UPDATE writes a fresh token where the row is still
 * claimable and the claimer reads the row back by that token, so of two senders exactly one
 * sends, without relying on the driver's row counts.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { targetTable, type EtlContext } from '../context.js';
import { instantOf } from '../../reports/daily-yield-data.js';
import { claimUpdateIn, dueIdsIn, expireUpdateIn, isUniqueViolation } from '../../reports/outbox/outbox.js';

export type PushStatus = 'pending' | 'sending' | 'acknowledged' | 'rejected' | 'expired';

export const MES_OUTBOX = 'mes_outbox';

export interface PushEntry {
  id: number;
  idempotencyKey: string;
  kind: string;
  day: string;
  entity: string;
  status: PushStatus;
  payload: string;
  attempts: number;
  nextAttemptAt: Date;
  expiresAt: Date;
  claimedBy: string | null;
  claimedAt: Date | null;
  lastError: string | null;
  httpStatus: number | null;
  receipt: string | null;
  runId: number | null;
  acknowledgedAt: Date | null;
}

export interface HeldPush extends PushEntry {
  token: string;
}

const COLUMNS = [
  'id', 'idempotency_key', 'kind', 'day', 'entity', 'status', 'payload', 'attempts', 'next_attempt_at', 'expires_at', 'claimed_by',
  'claimed_at', 'last_error', 'http_status', 'receipt', 'run_id', 'acknowledged_at',
];

const table = (ctx: Pick<EtlContext, 'targetSchema'>, db: Knex | Knex.Transaction) => targetTable(ctx, db, MES_OUTBOX);

function entryOf(r: Record<string, unknown>): PushEntry {
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: Number(r.id),
    idempotencyKey: String(r.idempotency_key),
    kind: String(r.kind),
    day: String(r.day),
    entity: String(r.entity),
    status: String(r.status) as PushStatus,
    payload: String(r.payload),
    attempts: Number(r.attempts ?? 0),
    nextAttemptAt: instantOf(r.next_attempt_at)!,
    expiresAt: instantOf(r.expires_at)!,
    claimedBy: str(r.claimed_by),
    claimedAt: instantOf(r.claimed_at),
    lastError: str(r.last_error),
    httpStatus: r.http_status === null || r.http_status === undefined ? null : Number(r.http_status),
    receipt: str(r.receipt),
    runId: r.run_id === null || r.run_id === undefined ? null : Number(r.run_id),
    acknowledgedAt: instantOf(r.acknowledged_at),
  };
}

/**
 * The idempotency key of a result: `yieldrun:<kind>:<day>:<entity>`. An entity too long for the
 * column is replaced by its SHA-256, so the key stays the same for the same entity.
 */
export function idempotencyKey(kind: string, day: string, entity: string): string {
  const key = `yieldrun:${kind}:${day}:${entity}`;
  return key.length <= 200 ? key : `yieldrun:${kind}:${day}:sha256-${createHash('sha256').update(entity).digest('hex')}`;
}

export interface PushRequest {
  kind: string;
  day: string;
  entity: string;
  payload: string;
  runId: number;
}

/**
 * What became of a queued result: `queued` new; `updated` the body of a push never tried yet
 * replaced by the newer result; `kept` an earlier push of the key that was tried already (the MES
 * may hold that body; sending another under the same key would be a conflicting repeat), or was
 * acknowledged, rejected or expired.
 */
export type QueueOutcome = { id: number; outcome: 'queued' | 'updated' | 'kept' | 'unchanged'; status: PushStatus };

export async function queuePush(ctx: EtlContext, req: PushRequest, now: Date): Promise<QueueOutcome> {
  const key = idempotencyKey(req.kind, req.day, req.entity);
  try {
    const inserted = await table(ctx, ctx.target).insert(
      {
        idempotency_key: key,
        kind: req.kind,
        day: req.day,
        entity: req.entity.slice(0, 255),
        status: 'pending',
        payload: req.payload,
        attempts: 0,
        next_attempt_at: now,
        expires_at: new Date(now.getTime() + ctx.config.mes.expireAfterMs),
        run_id: req.runId,
        created_at: now,
        updated_at: now,
      },
      ['id'],
    );
    const first = inserted[0] as { id: number } | number;
    return { id: typeof first === 'object' ? Number(first.id) : Number(first), outcome: 'queued', status: 'pending' };
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  const before = await findPushByKey(ctx, key);
  if (!before) throw new Error(`mes_outbox: key ${key} is neither insertable nor present`);
  if (before.payload === req.payload) return { id: before.id, outcome: 'unchanged', status: before.status };
  if (before.status !== 'pending' || before.attempts > 0) return { id: before.id, outcome: 'kept', status: before.status };
  // Never tried: nobody has seen the old body. The guard keeps a claim made meanwhile intact.
  await table(ctx, ctx.target).where({ id: before.id, status: 'pending', attempts: 0 }).update({ payload: req.payload, run_id: req.runId, updated_at: now });
  const after = (await findPush(ctx, before.id))!;
  return { id: after.id, outcome: after.payload === req.payload ? 'updated' : 'kept', status: after.status };
}

export async function findPush(ctx: EtlContext, id: number): Promise<PushEntry | undefined> {
  const r = (await table(ctx, ctx.target).where({ id }).first(COLUMNS)) as Record<string, unknown> | undefined;
  return r ? entryOf(r) : undefined;
}

export async function findPushByKey(ctx: EtlContext, key: string): Promise<PushEntry | undefined> {
  const r = (await table(ctx, ctx.target).where({ idempotency_key: key }).first(COLUMNS)) as Record<string, unknown> | undefined;
  return r ? entryOf(r) : undefined;
}

/** Pushes, oldest first; of some days when given (for people and tests). */
export async function pushesOf(ctx: EtlContext, days?: readonly string[]): Promise<PushEntry[]> {
  const q = table(ctx, ctx.target).select(COLUMNS).orderBy('id');
  if (days) q.whereIn('day', [...days]);
  return ((await q) as Record<string, unknown>[]).map(entryOf);
}

/** Takes push `id` for one attempt: held when pending, not expired, and due by `dueBy` (a run's own push need not wait). */
export async function claimPush(ctx: EtlContext, id: number, now: Date, dueBy?: Date): Promise<HeldPush | undefined> {
  const token = randomUUID();
  await claimUpdateIn(ctx, ctx.target, MES_OUTBOX, id, token, now, dueBy);
  const r = (await table(ctx, ctx.target).where({ id, claim_token: token }).first(COLUMNS)) as Record<string, unknown> | undefined;
  return r ? { ...entryOf(r), token } : undefined;
}

/** Changes a held push; nothing happens when the hold was lost. */
export async function settlePush(
  ctx: EtlContext,
  held: Pick<HeldPush, 'id' | 'token'>,
  change: { status: PushStatus; lastError?: string | null; nextAttemptAt?: Date; httpStatus?: number; receipt?: string | null; acknowledgedAt?: Date },
  now: Date,
): Promise<void> {
  await table(ctx, ctx.target)
    .where({ id: held.id, claim_token: held.token })
    .update({
      status: change.status,
      updated_at: now,
      ...(change.lastError !== undefined ? { last_error: change.lastError?.slice(0, 4000) ?? null } : {}),
      ...(change.nextAttemptAt ? { next_attempt_at: change.nextAttemptAt } : {}),
      ...(change.httpStatus !== undefined ? { http_status: change.httpStatus } : {}),
      ...(change.receipt !== undefined ? { receipt: change.receipt?.slice(0, 255) ?? null } : {}),
      ...(change.acknowledgedAt ? { acknowledged_at: change.acknowledgedAt } : {}),
    });
}

/** Ids of the pending pushes due by `now`, and of those past their expiry, oldest first. */
export function duePushIds(ctx: EtlContext, now: Date, limit: number): Promise<{ due: number[]; expired: number[] }> {
  return dueIdsIn(ctx, MES_OUTBOX, now, limit);
}

/** Expires a pending push past its expiry; true when this call did (read back by its token). */
export async function expirePush(ctx: EtlContext, id: number, now: Date): Promise<PushEntry | undefined> {
  const token = randomUUID();
  await expireUpdateIn(ctx, ctx.target, MES_OUTBOX, id, token, now);
  const r = (await table(ctx, ctx.target).where({ id, claim_token: token }).first(COLUMNS)) as Record<string, unknown> | undefined;
  return r ? entryOf(r) : undefined;
}

/**
 * Puts `sending` claims older than `staleAfterMs` back to pending: their process died before
 * recording the answer. Safe to send again, the MES applies the key once. The change is the same
 * whoever makes it, so it needs no token; a claim renewed meanwhile (newer claimed_at) is left.
 */
export async function releaseStaleClaims(ctx: EtlContext, now: Date, staleAfterMs: number): Promise<number> {
  const before = new Date(now.getTime() - staleAfterMs);
  const stale = (await table(ctx, ctx.target).where({ status: 'sending' }).where('claimed_at', '<=', before).pluck('id')) as unknown[];
  for (const id of stale.map(Number)) {
    await table(ctx, ctx.target)
      .where({ id, status: 'sending' })
      .where('claimed_at', '<=', before)
      .update({ status: 'pending', next_attempt_at: now, updated_at: now, last_error: 'the sending process stopped before recording the answer; sent again under the same key' });
  }
  return stale.length;
}
