/**
 * Sending what mes_outbox holds. The run that queued its pushes sends them at once (pushNow,
 * mes.retries more tries with a doubling wait); every worker sends what is due periodically
 * (pushDue, a task of jobs/housekeeping.ts), expires what waited past mes.expireAfterMs, and puts
 * the claims of senders that died back to pending. Whatever the failure, a push is tried again
 * under the same idempotency key until the MES acknowledges it, refuses it, or it expires.
 */
import type { Logger } from 'pino';
import type { EtlContext } from '../context.js';
import { pushResult, type MesClientSettings } from './client.js';
import { claimPush, duePushIds, expirePush, findPush, releaseStaleClaims, settlePush, type HeldPush, type PushStatus } from './outbox.js';

export interface PushOptions {
  client: MesClientSettings;
  log: Logger;
  /** The clock; tests move it. */
  now?: () => Date;
  /** A `sending` claim older than this belongs to a sender that died (default: 5 × mes.timeoutMs, at least a minute). */
  staleAfterMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clockOf = (o: PushOptions) => o.now ?? (() => new Date());

/** The wait after the `attempts`-th failed attempt: mes.retryDelayMs doubling, up to mes.maxRetryDelayMs, at least what Retry-After asked. */
export function pushRetryDelayMs(ctx: Pick<EtlContext, 'config'>, attempts: number, retryAfterMs = 0): number {
  const m = ctx.config.mes;
  return Math.max(retryAfterMs, Math.min(m.maxRetryDelayMs, m.retryDelayMs * 2 ** Math.max(0, attempts - 1)));
}

/** One attempt at a held push, its outcome recorded; the push's new status and the wait asked for. */
async function attemptHeld(ctx: EtlContext, held: HeldPush, o: PushOptions): Promise<{ status: PushStatus; waitMs: number }> {
  const log = o.log.child({ pushId: held.id, key: held.idempotencyKey, attempt: held.attempts });
  const a = await pushResult(o.client, held.idempotencyKey, held.payload);
  const now = clockOf(o)();
  switch (a.kind) {
    case 'acknowledged':
      await settlePush(ctx, held, { status: 'acknowledged', httpStatus: a.status, receipt: a.receipt, acknowledgedAt: now, lastError: null }, now);
      log.info({ status: a.status, receipt: a.receipt, duplicate: a.duplicate }, a.duplicate ? 'MES push acknowledged: the MES had it already' : 'MES push acknowledged');
      return { status: 'acknowledged', waitMs: 0 };
    case 'retry': {
      const waitMs = pushRetryDelayMs(ctx, held.attempts, a.retryAfterMs);
      const next = new Date(now.getTime() + waitMs);
      await settlePush(ctx, held, { status: 'pending', lastError: a.error, nextAttemptAt: next, ...(a.status ? { httpStatus: a.status } : {}) }, now);
      log.warn({ err: a.error, nextAttemptAt: next.toISOString() }, 'MES push not acknowledged; tried again under the same key');
      return { status: 'pending', waitMs };
    }
    case 'rejected':
      await settlePush(ctx, held, { status: 'rejected', lastError: a.error, httpStatus: a.status }, now);
      log.error({ err: a.error, status: a.status }, 'MES push refused: kept in mes_outbox as rejected, not sent again');
      return { status: 'rejected', waitMs: 0 };
  }
}

export interface PushCounts {
  acknowledged: number;
  pending: number;
  rejected: number;
  expired: number;
}

/**
 * Sends the run's pushes now, each tried again mes.retries times after a failure that may pass.
 * A push another sender holds is left to it. Returns how the pushes stand afterwards.
 */
export async function pushNow(ctx: EtlContext, ids: readonly number[], o: PushOptions): Promise<PushCounts> {
  const counts: PushCounts = { acknowledged: 0, pending: 0, rejected: 0, expired: 0 };
  let todo = [...ids];
  for (let round = 0; todo.length > 0 && round <= ctx.config.mes.retries; round++) {
    let wait = 0;
    const again: number[] = [];
    for (const id of todo) {
      const held = await claimPush(ctx, id, clockOf(o)());
      if (!held) continue;
      const r = await attemptHeld(ctx, held, o);
      if (r.status === 'pending') {
        again.push(id);
        wait = Math.max(wait, r.waitMs);
      }
    }
    todo = again;
    if (todo.length > 0 && round < ctx.config.mes.retries) await sleep(wait);
  }
  for (const id of ids) {
    const e = await findPush(ctx, id);
    if (e?.status === 'acknowledged') counts.acknowledged++;
    else if (e?.status === 'rejected') counts.rejected++;
    else if (e?.status === 'expired') counts.expired++;
    else counts.pending++;
  }
  return counts;
}

export function staleAfterOf(ctx: Pick<EtlContext, 'config'>, o: Pick<PushOptions, 'staleAfterMs'>): number {
  return o.staleAfterMs ?? Math.max(60_000, 5 * ctx.config.mes.timeoutMs);
}

/**
 * One pass of the periodic sender: stale claims back to pending, what waited past its expiry
 * expires (logged), and every pending push that is due is claimed and tried once.
 */
export async function pushDue(ctx: EtlContext, o: PushOptions, limit = 200): Promise<PushCounts & { released: number }> {
  const result = { acknowledged: 0, pending: 0, rejected: 0, expired: 0, released: 0 };
  const now = clockOf(o)();
  result.released = await releaseStaleClaims(ctx, now, staleAfterOf(ctx, o));
  const { due, expired } = await duePushIds(ctx, now, limit);
  for (const id of expired) {
    const e = await expirePush(ctx, id, now);
    if (!e) continue;
    result.expired++;
    o.log.error({ pushId: e.id, key: e.idempotencyKey, attempts: e.attempts, err: e.lastError }, 'MES push expired: not acknowledged within mes.expireAfterMs; its payload is kept in mes_outbox');
  }
  for (const id of due) {
    const held = await claimPush(ctx, id, now, now);
    if (!held) continue;
    const r = await attemptHeld(ctx, held, o);
    result[r.status === 'acknowledged' ? 'acknowledged' : r.status === 'rejected' ? 'rejected' : 'pending']++;
  }
  return result;
}
