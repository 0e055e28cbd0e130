/**
 * Delivery risk of the open production orders (README "MES exchange"), pure:
 *
 *   good units of a product on a day = load_qty × rolled_cumulative_yield (summary_prod)
 *   good so far   = Σ good units of the order's product over [start date, min(day, due date)]
 *   rate per day  = Σ good units of the product over the rate window (the mes.rateWindowDays
 *                   production days ending with the day, days without summary rows counting 0) / window
 *   days left     = days after the day (or from the start date, if later) up to the due date
 *   projected     = good so far + rate × days left
 *   at risk       = projected < quantity
 *
 * Each order sees its product's whole output over its own days: where two open orders of one
 * product overlap, both count the same units (the MES tells no order per unit).
 */
import { addDays, dateRange, daysBetween } from '../periods.js';

export interface MesOrder {
  orderId: string;
  product: string;
  quantity: number;
  unit: string | null;
  startDate: string | null;
  dueDate: string;
  status: string;
}

export interface OrderRisk {
  day: string;
  orderId: string;
  product: string;
  quantity: number;
  startDate: string | null;
  dueDate: string;
  status: string;
  goodSoFar: number;
  ratePerDay: number;
  rateWindowDays: number;
  daysLeft: number;
  projectedGood: number;
  shortfall: number;
  atRisk: boolean;
}

/** Good units per product and production day. */
export type GoodUnits = ReadonlyMap<string, ReadonlyMap<string, number>>;

export function isOpen(order: Pick<MesOrder, 'status'>, openStatuses: readonly string[]): boolean {
  const s = order.status.trim().toLowerCase();
  return openStatuses.some((o) => o.trim().toLowerCase() === s);
}

/** The first production day whose good units the risk of `orders` as of `day` reads. */
export function firstDayRead(orders: readonly MesOrder[], day: string, rateWindowDays: number): string {
  const windowStart = addDays(day, 1 - rateWindowDays);
  return orders.reduce((min, o) => (o.startDate && o.startDate < min ? o.startDate : min), windowStart);
}

export function deliveryRisk(orders: readonly MesOrder[], good: GoodUnits, day: string, o: { rateWindowDays: number; openStatuses: readonly string[] }): OrderRisk[] {
  const sum = (product: string, from: string, to: string) => {
    if (from > to) return 0;
    const byDay = good.get(product);
    if (!byDay) return 0;
    return dateRange(from, to).reduce((s, d) => s + (byDay.get(d) ?? 0), 0);
  };
  return orders
    .filter((x) => isOpen(x, o.openStatuses))
    .map((x) => {
      const from = x.startDate ?? x.dueDate;
      const goodSoFar = sum(x.product, from, x.dueDate < day ? x.dueDate : day);
      const ratePerDay = sum(x.product, addDays(day, 1 - o.rateWindowDays), day) / o.rateWindowDays;
      const remainingFrom = x.startDate && x.startDate > addDays(day, 1) ? x.startDate : addDays(day, 1);
      const daysLeft = Math.max(0, daysBetween(remainingFrom, x.dueDate) + 1);
      const projectedGood = goodSoFar + ratePerDay * daysLeft;
      return {
        day,
        orderId: x.orderId,
        product: x.product,
        quantity: x.quantity,
        startDate: x.startDate,
        dueDate: x.dueDate,
        status: x.status,
        goodSoFar,
        ratePerDay,
        rateWindowDays: o.rateWindowDays,
        daysLeft,
        projectedGood,
        shortfall: Math.max(0, x.quantity - projectedGood),
        atRisk: projectedGood < x.quantity,
      };
    })
    .sort((a, b) => Number(b.atRisk) - Number(a.atRisk) || a.dueDate.localeCompare(b.dueDate) || a.orderId.localeCompare(b.orderId));
}
