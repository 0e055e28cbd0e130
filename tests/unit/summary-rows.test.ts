/**
 * Assembling the summary rows from the statement's fine rows (etl/summary-rows.ts): the rolled
 * yields multiply in ascending test-name order (metrics.md §7), whatever order the database
 * returned the rows in, so a range run and a single-day rerun give the same bits.
 */
import { describe, expect, it } from 'vitest';
import { assembleSummaries, type FineRow } from '../../etl/summary-rows.js';
import { periodsForDays } from '../../etl/periods.js';

const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };

/**
 * The cohort of an F row of slot 0 whose attempt 1 was in slot 0 on M1: `units` unit-tests of which
 * `firstPass` passed first time (its attempt counts are not what these tests look at).
 */
function cohort(test: string, units: number, firstPass: number): FineRow {
  const none = { t1: 'M1', t2: null, t3: null, t4: null, t5: null, t6: null };
  const attempts = { v1: units, v2: firstPass, v3: units - firstPass, v4: null, v5: 0, v6: null, v7: 0, v8: 0, v9: 0 };
  return { part: 'F', k: 0, product: 'P', test, machine: 'M1', ...none, ...attempts, v10: 0, v11: units, v12: firstPass, v13: firstPass, v14: 0, v15: 0 };
}

describe('rolled yields', () => {
  const periods = periodsForDays(['2026-11-20'], clock);
  // Slot 0 is the day (period 0) and its week (period 1).
  const slotPeriods = [[0, 1]];
  // First-pass yields A 1/3, B 1/7, C 5/13. In floating point the order of the product shows:
  // (1/3 · 1/7) · 5/13 = 0.018315018315018316, but (1/3 · 5/13) · 1/7 = 0.018315018315018312.
  const ascending = (1 / 3) * (1 / 7) * (5 / 13);
  const otherOrder = (1 / 3) * (5 / 13) * (1 / 7);

  it('multiply in ascending test-name order, whatever order the rows arrive in', () => {
    expect(ascending).not.toBe(otherOrder); // the example would prove nothing otherwise
    for (const order of [['A', 'B', 'C'], ['A', 'C', 'B'], ['C', 'B', 'A'], ['B', 'C', 'A']]) {
      const units = { A: [3, 1], B: [7, 1], C: [13, 5] } as const;
      const rows = order.map((t) => cohort(t, ...(units[t as keyof typeof units] as [number, number])));
      const prod = assembleSummaries(rows, periods, slotPeriods).prod.find((p) => p.period_type === 'day')!;
      expect(prod.rolled_first_pass_yield).toBe(ascending);
      expect(prod.rolled_cumulative_yield).toBe(ascending);
    }
  });

  it('leave out tests whose yield is NULL, and are NULL when all are', () => {
    const rows = [cohort('A', 4, 1), cohort('B', 2, 1)];
    const day = assembleSummaries(rows, periods, slotPeriods).prod.find((p) => p.period_type === 'day')!;
    expect(day.rolled_first_pass_yield).toBe(0.25 * 0.5);
    // Attempts whose attempt 1 was before the batch: no cohort in the day.
    const onlyAttempts: FineRow = { ...cohort('A', 0, 0), v1: 1, v2: 1, v3: 0, v4: 1, v5: 1, v6: 0, v7: 0, v8: 0, v9: 0, v10: null };
    const empty = assembleSummaries([onlyAttempts], periods, slotPeriods).prod.find((p) => p.period_type === 'day')!;
    expect(empty.rolled_first_pass_yield).toBeNull();
  });
});
