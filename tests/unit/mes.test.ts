/**
 * The MES exchange's pure delivery-risk maths on hand-worked orders, the order
 * parser, the idempotency key, the retry wait and the generator's orders (its configuration: tests/unit/config.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../config/load.js';
import { deliveryRisk, type MesOrder } from '../../etl/mes/delivery-risk.js';
import { daysBetween } from '../../etl/periods.js';
import { parseOrder } from '../../etl/mes/orders.js';
import { idempotencyKey } from '../../etl/mes/outbox.js';
import { pushRetryDelayMs } from '../../etl/mes/sender.js';
import { mesProductionOrders } from '../../data/mes-orders.js';
import { PRODUCTS } from '../../data/test-floor.js';
import { schemaValidator } from '../support/mes-server.js';

describe('delivery risk', () => {
  const o = (x: Partial<MesOrder>): MesOrder => ({ orderId: 'O', product: 'P', quantity: 100, unit: 'units', startDate: '2026-11-10', dueDate: '2026-11-20', status: 'released', ...x });
  // P: 10 good units a day from 11-10 to 11-14, none on 11-15.
  const good = new Map([['P', new Map(['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13', '2026-11-14'].map((d) => [d, 10]))]]);
  const opts = { rateWindowDays: 3, openStatuses: ['Released', 'running'] };

  it('counts the order\'s own days, projects the recent rate to the due date and flags a shortfall', () => {
    // As of 11-15: good 50 (11-10 … 11-14); rate (10 + 10 + 0) / 3 over 11-13 … 11-15; 5 days left (11-16 … 11-20).
    const [r] = deliveryRisk([o({})], good, '2026-11-15', opts);
    expect(r).toMatchObject({ goodSoFar: 50, daysLeft: 5, atRisk: true });
    expect(r!.ratePerDay).toBeCloseTo(20 / 3, 12);
    expect(r!.projectedGood).toBeCloseTo(50 + (5 * 20) / 3, 12);
    expect(r!.shortfall).toBeCloseTo(100 - 50 - 100 / 3, 12);
  });

  it('an order that starts later counts no earlier output and has its days from its start; an overdue one has none left', () => {
    // Starts 11-18: nothing so far; days left 11-18 … 11-20 = 3; projected 3 × 20/3 = 20.
    const [late] = deliveryRisk([o({ startDate: '2026-11-18', quantity: 20 })], good, '2026-11-15', opts);
    expect(late).toMatchObject({ goodSoFar: 0, daysLeft: 3, atRisk: false });
    expect(late!.projectedGood).toBeCloseTo(20, 12);
    // Due 11-12, asked for 40 as of 11-15: 11-10 … 11-12 gave 30; no day left; short 10.
    const [over] = deliveryRisk([o({ dueDate: '2026-11-12', quantity: 40 })], good, '2026-11-15', opts);
    expect(over).toMatchObject({ goodSoFar: 30, daysLeft: 0, projectedGood: 30, shortfall: 10, atRisk: true });
  });

  it('lists only open orders (status compared without case), at-risk ones first, then by due date', () => {
    const rows = deliveryRisk(
      [o({ orderId: 'A', quantity: 10, dueDate: '2026-11-16' }), o({ orderId: 'B', status: 'COMPLETED' }), o({ orderId: 'C', status: 'RUNNING', quantity: 1000 }), o({ orderId: 'D', quantity: 10, dueDate: '2026-11-15' })],
      good,
      '2026-11-15',
      opts,
    );
    expect(rows.map((r) => [r.orderId, r.atRisk])).toEqual([['C', true], ['D', false], ['A', false]]);
    expect(daysBetween('2026-03-28', '2026-03-30')).toBe(2); // across the spring DST change: calendar days
  });
});

describe('orders and keys', () => {
  const doc = { id: 'PO-1', material: { id: 'SFP' }, quantity: { value: 5, unit: 'units' }, scheduledStart: '2026-11-01', dueDate: '2026-11-09', status: 'released' };

  it('parses a documented order and names what is wrong with another', () => {
    expect(parseOrder(doc)).toEqual({ orderId: 'PO-1', product: 'SFP', quantity: 5, unit: 'units', startDate: '2026-11-01', dueDate: '2026-11-09', status: 'released' });
    expect(parseOrder({ ...doc, quantity: { value: 2.5 } })).toEqual({ orderId: 'PO-1', reason: 'quantity.value: expected a whole number of units ≥ 0' });
    expect(parseOrder({ ...doc, material: {} })).toEqual({ orderId: 'PO-1', reason: 'material.id: expected the product (material definition) id' });
    expect(parseOrder({ ...doc, scheduledStart: '2026-11-10' })).toEqual({ orderId: 'PO-1', reason: 'scheduledStart is after dueDate' });
    expect(parseOrder({ ...doc, id: '' })).toEqual({ orderId: null, reason: 'id: expected a non-empty string' });
    expect(parseOrder(null)).toEqual({ orderId: null, reason: 'id: expected a non-empty string' });
  });

  it('keys a result by kind, day and entity, hashing an entity too long for the column', () => {
    expect(idempotencyKey('product-yield', '2026-11-20', 'SFP-10G-LR')).toBe('yieldrun:product-yield:2026-11-20:SFP-10G-LR');
    const long = idempotencyKey('cell-risk', '2026-11-20', 'x'.repeat(300));
    expect(long).toMatch(/^yieldrun:cell-risk:2026-11-20:sha256-[0-9a-f]{64}$/);
    expect(long).toBe(idempotencyKey('cell-risk', '2026-11-20', 'x'.repeat(300)));
  });

  it('waits twice as long after each failed try, up to the longest wait, and at least what Retry-After asked', () => {
    const ctx = { config: resolveConfig({ mes: { retryDelayMs: 1000, maxRetryDelayMs: 5000 } }, {}) };
    expect([1, 2, 3, 4].map((n) => pushRetryDelayMs(ctx, n))).toEqual([1000, 2000, 4000, 5000]);
    expect(pushRetryDelayMs(ctx, 1, 30_000)).toBe(30_000);
  });
});

describe('the generator\'s production orders', () => {
  it('are seeded, in the documented shape, one completed and one open order per product, some planned', () => {
    const opts = { seed: 42, rows: 20_000, start: '2026-10-12', days: 30 };
    const orders = mesProductionOrders(opts);
    expect(mesProductionOrders(opts)).toEqual(orders);
    const valid = schemaValidator('ProductionOrder');
    for (const o of orders) expect(valid(o)).toEqual([]);
    expect(schemaValidator('ProductionOrderPage')({ items: orders, nextPageToken: null })).toEqual([]);
    expect(orders.filter((o) => o.status === 'completed')).toHaveLength(PRODUCTS.length);
    const open = orders.filter((o) => o.status === 'released' || o.status === 'running');
    expect(open.map((o) => o.material.id).sort()).toEqual(PRODUCTS.map((p) => p.name).sort());
    // Open orders run from the middle of the days to a week after the last one (2026-11-10).
    expect(new Set(open.map((o) => `${o.scheduledStart}..${o.dueDate}`))).toEqual(new Set(['2026-10-27..2026-11-17']));
    expect(orders.filter((o) => o.status === 'planned').length).toBeGreaterThan(0);
    expect(parseOrder(orders[0])).toMatchObject({ orderId: orders[0]!.id });
  });
});
