/**
 * The inputs of the delivery risk read from the target (summary_prod, mes_orders) and its rows in
 * mes_order_risk, replaced per day in one transaction.
 */
import { targetTable, type EtlContext } from '../context.js';
import { isoDate } from '../nightly-summary.js';
import { insertBatched } from '../../sql/batch-insert.js';
import { deliveryRisk, firstDayRead, isOpen, type GoodUnits, type MesOrder, type OrderRisk } from './delivery-risk.js';
import { readOrders } from './orders.js';

export const MES_ORDER_RISK = 'mes_order_risk';

/** Good units (load_qty × rolled_cumulative_yield) per product and day, from summary_prod's day rows in [from, to]. */
export async function readGoodUnits(ctx: EtlContext, products: readonly string[], from: string, to: string): Promise<GoodUnits> {
  const good = new Map<string, Map<string, number>>();
  for (let i = 0; i < products.length; i += 500) {
    const rows = (await targetTable(ctx, ctx.target, 'summary_prod')
      .where({ period_type: 'day' })
      .whereIn('product', products.slice(i, i + 500))
      .where('period_start', '>=', from)
      .where('period_start', '<=', to)
      .select('product', 'period_start', 'load_qty', 'rolled_cumulative_yield')) as Record<string, unknown>[];
    for (const r of rows) {
      const cy = r.rolled_cumulative_yield === null || r.rolled_cumulative_yield === undefined ? 0 : Number(r.rolled_cumulative_yield);
      const byDay = good.get(String(r.product)) ?? new Map<string, number>();
      byDay.set(isoDate(r.period_start), Number(r.load_qty) * cy);
      good.set(String(r.product), byDay);
    }
  }
  return good;
}

/** The delivery risk of the stored orders as of `day`, computed from the summaries (not stored). */
export async function computeRisk(ctx: EtlContext, day: string, orders?: readonly MesOrder[]): Promise<OrderRisk[]> {
  const m = ctx.config.mes;
  const open = (orders ?? (await readOrders(ctx))).filter((o) => isOpen(o, m.openStatuses));
  if (open.length === 0) return [];
  const good = await readGoodUnits(ctx, [...new Set(open.map((o) => o.product))], firstDayRead(open, day, m.rateWindowDays), day);
  return deliveryRisk(open, good, day, m);
}

export async function storeRisk(ctx: EtlContext, day: string, rows: readonly OrderRisk[], runId: number, now: Date): Promise<void> {
  await ctx.target.transaction(async (trx) => {
    await targetTable(ctx, trx, MES_ORDER_RISK).where({ day }).delete();
    await insertBatched(
      trx,
      ctx.targetDialect,
      MES_ORDER_RISK,
      rows.map((r) => ({
        day: r.day,
        order_id: r.orderId,
        product: r.product,
        quantity: r.quantity,
        start_date: r.startDate,
        due_date: r.dueDate,
        status: r.status,
        good_so_far: r.goodSoFar,
        rate_per_day: r.ratePerDay,
        rate_window_days: r.rateWindowDays,
        days_left: r.daysLeft,
        projected_good: r.projectedGood,
        shortfall: r.shortfall,
        at_risk: r.atRisk,
        run_id: runId,
        computed_at: now,
      })),
      { schema: ctx.targetSchema },
    );
  });
}

const bool = (v: unknown) => v === true || v === 1 || v === '1';

/** The stored risk of `day`, at-risk orders first. */
export async function readRisk(ctx: EtlContext, day: string): Promise<OrderRisk[]> {
  const rows = (await targetTable(ctx, ctx.target, MES_ORDER_RISK).where({ day }).select('*')) as Record<string, unknown>[];
  return rows
    .map((r) => ({
      day: isoDate(r.day),
      orderId: String(r.order_id),
      product: String(r.product),
      quantity: Number(r.quantity),
      startDate: r.start_date === null || r.start_date === undefined ? null : String(r.start_date),
      dueDate: String(r.due_date),
      status: String(r.status),
      goodSoFar: Number(r.good_so_far),
      ratePerDay: Number(r.rate_per_day),
      rateWindowDays: Number(r.rate_window_days),
      daysLeft: Number(r.days_left),
      projectedGood: Number(r.projected_good),
      shortfall: Number(r.shortfall),
      atRisk: bool(r.at_risk),
    }))
    .sort((a, b) => Number(b.atRisk) - Number(a.atRisk) || a.dueDate.localeCompare(b.dueDate) || a.orderId.localeCompare(b.orderId));
}
