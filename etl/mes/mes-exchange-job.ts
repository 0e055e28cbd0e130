/**
 * The MES exchange job (`yieldrun run mes-exchange --date D`), for each production day:
 *
 *   1. pull: the MES's production orders into mes_orders (once per run, every page);
 *   2. delivery risk: each open order's good units so far and projected at its due date, into
 *      mes_order_risk (etl/mes/delivery-risk.ts);
 *   3. push: the day's results from every configured provider (etl/mes/providers.ts) queued in
 *      mes_outbox under their idempotency keys, then sent at once (etl/mes/sender.ts).
 *
 * A pull that fails leaves the orders of the last pull in place: the risk is computed from them
 * and the pushes still go, and the run fails so that it is retried and the admins hear of it. A
 * push still not acknowledged after the run's own tries fails the run too; the worker keeps
 * sending it under the same key. Rerunning a day queues nothing twice: a key already acknowledged
 * is never pushed again.
 */
import type { EtlContext } from '../context.js';
import { finishRun, recordFailure, requestedDays, startRun, type JobRequest, type RunTotals } from '../run-log.js';
import { mesClientSettings, type MesClientSettings } from './client.js';
import { pullOrders, readOrders, type PullResult } from './orders.js';
import { computeRisk, storeRisk } from './risk-store.js';
import { collectResults, type PushProvider, PROVIDERS } from './providers.js';
import { queuePush, type QueueOutcome } from './outbox.js';
import { pushNow, type PushCounts } from './sender.js';

export const MES_EXCHANGE = 'mes-exchange';

/** Production days omitted: yesterday. */
export interface MesExchangeRequest extends JobRequest {
  /** Default: mes.url, mes.timeoutMs and MES_TOKEN. */
  client?: MesClientSettings;
  providers?: readonly PushProvider[];
}

export interface DayExchange {
  day: string;
  openOrders: number;
  atRisk: string[];
  results: number;
  /** Kinds skipped because their table is missing. */
  skipped: string[];
}

export interface MesExchangeResult {
  runId: number;
  days: string[];
  enabled: boolean;
  pull: PullResult | null;
  pullError: string | null;
  perDay: DayExchange[];
  queued: Record<QueueOutcome['outcome'], number>;
  pushes: PushCounts;
  durationMs: number;
}

/** The run's work is done but not all of it arrived: the run is recorded as failed and retried. */
export class MesExchangeIncompleteError extends Error {
  override name = 'MesExchangeIncompleteError';
  constructor(
    message: string,
    readonly result: MesExchangeResult,
  ) {
    super(message);
  }
}

export async function runMesExchange(ctx: EtlContext, req: MesExchangeRequest): Promise<MesExchangeResult> {
  const t0 = Date.now();
  const days = requestedDays(req, ctx.clock);
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: MES_EXCHANGE, days, triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt }, startedAt);
  const result: MesExchangeResult = {
    runId,
    days,
    enabled: ctx.config.mes.enabled,
    pull: null,
    pullError: null,
    perDay: [],
    queued: { queued: 0, updated: 0, kept: 0, unchanged: 0 },
    pushes: { acknowledged: 0, pending: 0, rejected: 0, expired: 0 },
    durationMs: 0,
  };
  const totals = (): RunTotals => ({
    rows_read: result.pull?.orders ?? 0,
    rows_valid: result.pull?.orders ?? 0,
    rows_rejected: result.pull?.rejected.length ?? 0,
    duplicates_dropped: 0,
    rows_written: result.queued.queued + result.queued.updated,
    stats: { ...result, runId: undefined, days: undefined },
  });
  try {
    if (!ctx.config.mes.enabled) {
      result.durationMs = Date.now() - t0;
      await finishRun(ctx, ctx.target, runId, startedAt, { status: 'succeeded', totals: totals() });
      return result;
    }
    const client = req.client ?? mesClientSettings(ctx.config);
    const log = ctx.log.child({ job: MES_EXCHANGE, runId });
    try {
      result.pull = await pullOrders(ctx, client, runId);
    } catch (err) {
      result.pullError = (err as Error).message;
      log.error({ err: result.pullError }, 'MES production orders not pulled: the delivery risk uses the orders of the last pull');
    }
    req.onProgress?.(0.3);
    const orders = await readOrders(ctx);
    const ids: number[] = [];
    for (const [i, day] of days.entries()) {
      const risk = await computeRisk(ctx, day, orders);
      await storeRisk(ctx, day, risk, runId, new Date());
      const collected = await collectResults(ctx, day, req.providers ?? PROVIDERS);
      for (const r of collected.results) {
        const q = await queuePush(ctx, { kind: r.kind, day, entity: r.entity, payload: JSON.stringify(r), runId }, new Date());
        result.queued[q.outcome]++;
        if (q.outcome === 'kept') log.warn({ pushId: q.id, kind: r.kind, day, entity: r.entity, status: q.status }, 'MES result changed after it was sent under its key: the MES keeps the first one');
        if (q.status === 'pending') ids.push(q.id);
      }
      result.perDay.push({ day, openOrders: risk.length, atRisk: risk.filter((x) => x.atRisk).map((x) => x.orderId), results: collected.results.length, skipped: collected.skipped.map((s) => s.kind) });
      req.onProgress?.(0.3 + (0.4 * (i + 1)) / days.length);
    }
    result.pushes = await pushNow(ctx, ids, { client, log });
    req.onProgress?.(1);
    result.durationMs = Date.now() - t0;
    const problems = [
      ...(result.pullError ? [`production orders not pulled (${result.pullError})`] : []),
      ...(result.pushes.pending ? [`${result.pushes.pending} push(es) not acknowledged yet: the worker keeps sending them under the same key`] : []),
      ...(result.pushes.rejected ? [`${result.pushes.rejected} push(es) refused by the MES: see mes_outbox.last_error`] : []),
    ];
    if (problems.length > 0) throw new MesExchangeIncompleteError(`MES exchange incomplete: ${problems.join('; ')}`, result);
    await finishRun(ctx, ctx.target, runId, startedAt, { status: 'succeeded', totals: totals() });
    return result;
  } catch (err) {
    result.durationMs = Date.now() - t0;
    await recordFailure(ctx, runId, startedAt, err, totals());
    throw err;
  }
}

export function describeMesExchange(r: MesExchangeResult): string[] {
  if (!r.enabled) return [`run ${r.runId}: the MES exchange is off (mes.enabled: false); nothing pulled or pushed`];
  const lines = [`run ${r.runId}: ${r.days.length} day(s) ${r.days[0] ?? ''}${r.days.length > 1 ? ` … ${r.days[r.days.length - 1]}` : ''}`];
  lines.push(r.pull ? `production orders pulled: ${r.pull.orders} in ${r.pull.pages} page(s)${r.pull.rejected.length ? `, ${r.pull.rejected.length} left out (${r.pull.rejected.slice(0, 3).map((x) => `${x.orderId ?? '?'}: ${x.reason}`).join('; ')})` : ''}` : `production orders NOT pulled: ${r.pullError}`);
  for (const d of r.perDay) {
    lines.push(`${d.day}: ${d.openOrders} open order(s), ${d.atRisk.length} at risk${d.atRisk.length ? ` (${d.atRisk.join(', ')})` : ''}; ${d.results} result(s)${d.skipped.length ? `; skipped (no table): ${d.skipped.join(', ')}` : ''}`);
  }
  lines.push(`queued ${r.queued.queued} new, ${r.queued.updated} updated, ${r.queued.unchanged + r.queued.kept} already queued; acknowledged ${r.pushes.acknowledged}, pending ${r.pushes.pending}, rejected ${r.pushes.rejected}`);
  return lines;
}
