/**
 * MES-style production orders for the demo's loopback MES (data/loopback-mes.ts), seeded and in the
 * shape of docs/mes-api.yaml: per product of the test floor, an order completed in the first half
 * of the generated days, and an open one from the middle to a week after the last day whose
 * quantity is the product's expected good output over its days times a factor drawn between 0.8
 * and 1.4, so that some open orders are at risk and others are not; two products also have an
 * order released for later.
 */
import { PRODUCTS } from './test-floor.js';
import { createRng } from './random.js';
import { addDays } from '../etl/periods.js';
import type { ProductionOrderDoc } from './loopback-mes.js';

export interface MesOrderOptions {
  seed: number;
  /** Test records generated (data/generate.ts --rows). */
  rows: number;
  /** First generated day and how many. */
  start: string;
  days: number;
}

/** A serial's records are about its route's steps, plus retests (about one in ten). */
const RECORDS_PER_STEP = 1.1;

export function mesProductionOrders(o: MesOrderOptions): ProductionOrderDoc[] {
  const rng = createRng(o.seed, 'mes-orders');
  const half = Math.floor(o.days / 2);
  const due = addDays(o.start, o.days + 6);
  const out: ProductionOrderDoc[] = [];
  PRODUCTS.forEach((p, i) => {
    const unitsPerDay = (o.rows * p.share) / (o.days * p.route.length * RECORDS_PER_STEP);
    const n = String(i + 1).padStart(2, '0');
    const order = (suffix: string, from: string, to: string, days: number, factor: number, status: string): ProductionOrderDoc => ({
      id: `PO-${n}${suffix}`,
      material: { id: p.name },
      quantity: { value: Math.max(1, Math.round(unitsPerDay * days * factor)), unit: 'units' },
      scheduledStart: from,
      dueDate: to,
      status,
    });
    out.push(order('A', o.start, addDays(o.start, half - 1), half, 0.8, 'completed'));
    out.push(order('B', addDays(o.start, half), due, o.days - half + 6, rng.between(0.8, 1.4), rng.chance(0.5) ? 'running' : 'released'));
    if (i % 5 === 0) out.push(order('C', addDays(due, 1), addDays(due, 14), 14, 1, 'planned'));
  });
  return out;
}
