/**
 * Production orders from the MES (GET /production-orders, paged by pageToken) into mes_orders.
 * Each page's orders replace their earlier rows in one transaction (DELETE + INSERT by order id:
 * no MERGE, no row counts). An order the MES no longer lists keeps its last row. An order that
 * is not what docs/mes-api.yaml describes is left out, named with its reason, and the rest go on.
 */
import type { Knex } from 'knex';
import { targetTable, type EtlContext } from '../context.js';
import { insertBatched } from '../../sql/batch-insert.js';
import { getJson, MesRequestError, ORDERS_PATH, type MesClientSettings } from './client.js';
import type { MesOrder } from './delivery-risk.js';
import { instantOf } from '../../reports/daily-yield-data.js';

export const MES_ORDERS = 'mes_orders';

/** A bound on pages per pull: a server that keeps handing out tokens does not keep a run busy for ever. */
const MAX_PAGES = 10_000;

export interface RejectedOrder {
  orderId: string | null;
  reason: string;
}

export interface PullResult {
  pages: number;
  orders: number;
  rejected: RejectedOrder[];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const realDate = (s: unknown): s is string => typeof s === 'string' && DATE.test(s) && new Date(`${s}T00:00:00Z`).toISOString().slice(0, 10) === s;

/** One order of the API's page as a MesOrder, or why not. */
export function parseOrder(item: unknown): MesOrder | RejectedOrder {
  const o = (item ?? {}) as Record<string, any>;
  const id = typeof o.id === 'string' && o.id.trim() ? o.id.trim() : null;
  const bad = (reason: string): RejectedOrder => ({ orderId: id, reason });
  if (!id) return bad('id: expected a non-empty string');
  if (id.length > 100) return bad('id: longer than 100 characters');
  const product = typeof o.material?.id === 'string' ? o.material.id.trim() : '';
  if (!product) return bad('material.id: expected the product (material definition) id');
  if (product.length > 100) return bad('material.id: longer than 100 characters');
  const q = o.quantity?.value;
  if (typeof q !== 'number' || !Number.isInteger(q) || q < 0 || q > 2_147_483_647) return bad('quantity.value: expected a whole number of units ≥ 0');
  if (!realDate(o.dueDate)) return bad(`dueDate: expected a date YYYY-MM-DD, got ${JSON.stringify(o.dueDate)}`);
  if (!realDate(o.scheduledStart)) return bad(`scheduledStart: expected a date YYYY-MM-DD, got ${JSON.stringify(o.scheduledStart)}`);
  if (o.scheduledStart > o.dueDate) return bad('scheduledStart is after dueDate');
  if (typeof o.status !== 'string' || !o.status.trim() || o.status.length > 32) return bad('status: expected a status such as released (at most 32 characters)');
  const unit = typeof o.quantity?.unit === 'string' ? o.quantity.unit.slice(0, 16) : null;
  return { orderId: id, product, quantity: q, unit, startDate: o.scheduledStart, dueDate: o.dueDate, status: o.status.trim() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One page, tried again mes.retries times with a doubling wait after a failure that may pass. */
async function page(ctx: EtlContext, s: MesClientSettings, token: string | undefined): Promise<{ items: unknown[]; next: string | null }> {
  const m = ctx.config.mes;
  for (let attempt = 0; ; attempt++) {
    try {
      const body = (await getJson(s, ORDERS_PATH, { limit: m.pageSize, pageToken: token })) as { items?: unknown; nextPageToken?: unknown };
      if (!Array.isArray(body?.items)) throw new MesRequestError(`GET ${ORDERS_PATH}: expected { items: [...] }`, false);
      const next = typeof body.nextPageToken === 'string' && body.nextPageToken ? body.nextPageToken : null;
      return { items: body.items, next };
    } catch (err) {
      const retryable = err instanceof MesRequestError && err.retryable;
      if (!retryable || attempt >= m.retries) throw err;
      ctx.log.warn({ err: (err as Error).message, attempt: attempt + 1 }, 'MES production orders: trying again');
      await sleep(Math.min(m.maxRetryDelayMs, m.retryDelayMs * 2 ** attempt));
    }
  }
}

async function storeOrders(ctx: EtlContext, orders: readonly MesOrder[], runId: number, now: Date): Promise<void> {
  if (orders.length === 0) return;
  await ctx.target.transaction(async (trx) => {
    for (let i = 0; i < orders.length; i += 500) {
      await targetTable(ctx, trx, MES_ORDERS).whereIn('order_id', orders.slice(i, i + 500).map((o) => o.orderId)).delete();
    }
    await insertBatched(
      trx,
      ctx.targetDialect,
      MES_ORDERS,
      orders.map((o) => ({
        order_id: o.orderId,
        product: o.product,
        quantity: o.quantity,
        unit: o.unit,
        start_date: o.startDate,
        due_date: o.dueDate,
        status: o.status,
        pulled_at: now,
        run_id: runId,
      })),
      { schema: ctx.targetSchema },
    );
  });
}

/** Pulls every page of production orders into mes_orders. */
export async function pullOrders(ctx: EtlContext, s: MesClientSettings, runId: number, now = new Date()): Promise<PullResult> {
  const result: PullResult = { pages: 0, orders: 0, rejected: [] };
  const seenTokens = new Set<string>();
  let token: string | undefined;
  for (;;) {
    const p = await page(ctx, s, token);
    result.pages++;
    const good = new Map<string, MesOrder>();
    for (const item of p.items) {
      const parsed = parseOrder(item);
      if ('reason' in parsed) result.rejected.push(parsed);
      else good.set(parsed.orderId, parsed); // the same id twice on a page: the later one
    }
    await storeOrders(ctx, [...good.values()], runId, now);
    result.orders += good.size;
    if (!p.next) break;
    if (seenTokens.has(p.next) || result.pages >= MAX_PAGES) throw new MesRequestError(`GET ${ORDERS_PATH}: the pages do not end (page token ${p.next} again, or over ${MAX_PAGES} pages)`, false);
    seenTokens.add(p.next);
    token = p.next;
  }
  for (const r of result.rejected) ctx.log.warn({ orderId: r.orderId, reason: r.reason }, 'MES production order left out');
  return result;
}

export async function readOrders(ctx: EtlContext, db: Knex = ctx.target): Promise<MesOrder[]> {
  const rows = (await targetTable(ctx, db, MES_ORDERS).select('*').orderBy('order_id')) as Record<string, unknown>[];
  return rows.map((r) => ({
    orderId: String(r.order_id),
    product: String(r.product),
    quantity: Number(r.quantity),
    unit: r.unit === null || r.unit === undefined ? null : String(r.unit),
    startDate: r.start_date === null || r.start_date === undefined ? null : String(r.start_date),
    dueDate: String(r.due_date),
    status: String(r.status),
  }));
}

/** When the orders were last pulled, or null when never. */
export async function lastPulledAt(ctx: EtlContext): Promise<Date | null> {
  const r = (await targetTable(ctx, ctx.target, MES_ORDERS).max({ at: 'pulled_at' }).first()) as { at: unknown } | undefined;
  return instantOf(r?.at);
}
