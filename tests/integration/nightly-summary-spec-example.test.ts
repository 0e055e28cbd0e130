/**
 * metrics.md §9, the worked example, on SQLite and PostgreSQL: every column of every row,
 * with the answers worked out by hand below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend, configFor, openMigrated, readSummary, writeTestRecords, type Backend } from '../support/backends.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import type { EtlContext } from '../../etl/context.js';

const ROWS = [
  { serial: 'A1', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 07:00:00', result: 'FAIL', duration: 10 },
  { serial: 'A1', product: 'P1', test: 'TX', machine: 'M2', at: '2026-11-20 07:10:00', result: 'PASS', duration: 12 },
  { serial: 'A2', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 08:00:00', result: 'PASS', duration: 14 },
  { serial: 'A3', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-21 05:50:00', result: 'FAIL', duration: 20 },
  { serial: 'A3', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-21 06:10:00', result: 'FAIL', duration: null },
];

const day = (start: string) => ({ period_type: 'day', period_start: start, period_label: start });

describe.each(['sqlite', 'postgres'] as const)('spec worked example on %s', (backendName) => {
  let backend: Backend;
  let ctx: EtlContext;

  beforeAll(async () => {
    backend = await createBackend(backendName);
    ctx = await openMigrated(configFor(backend, { yield: { maxAttempts: 3 } }));
    await writeTestRecords(ctx, ROWS);
    await runNightlySummary(ctx, { days: ['2026-11-20', '2026-11-21'], triggeredBy: 'test' });
  });
  afterAll(async () => {
    await ctx?.close();
    await backend?.cleanup();
  });

  it('summary_prod_test for 2026-11-20: the numbers of §9', async () => {
    // Day 2026-11-20 runs 06:00 Nov 20 to 06:00 Nov 21: A1 ×2, A2, A3's 05:50 attempt → 4 attempts, 2 PASS.
    // Cohort: A1 (FAIL then PASS: passed, not first pass), A2 (first pass), A3 (FAIL, FAIL: pending).
    // Retests: A1's attempt 2 and A3's attempt 2 (on Nov 21, but A3 belongs to the Nov 20 cohort) → 2.
    // Durations: PASS 12, 14 → 13; FAIL 10, 20 → 15.
    expect(await readSummary(ctx, 'summary_prod_test', 'day', '2026-11-20')).toEqual([
      {
        product: 'P1', test: 'TX', ...day('2026-11-20'),
        test_count: 4, pass_count: 2, fail_count: 2, passing_rate: 2 / 4,
        units_tested: 3, first_pass_units: 1, passed_units: 2, scrapped_units: 0, pending_units: 1,
        first_pass_yield: 1 / 3, cumulative_yield: 2 / 3, retest_count: 2,
        avg_duration_pass_s: 13, avg_duration_fail_s: 15,
      },
    ]);
  });

  it('summary_machine for 2026-11-20: M1 holds the cohort, M2 only a retest', async () => {
    // M1 attempts: A1 07:00 FAIL(10), A2 PASS(14), A3 05:50 FAIL(20) → 3, 1 PASS; cohort A1, A2, A3 all started on M1.
    // M2 attempts: A1 07:10 PASS(12); no unit started on M2 → units 0, yields NULL.
    expect(await readSummary(ctx, 'summary_machine', 'day', '2026-11-20')).toEqual([
      {
        machine: 'M1', ...day('2026-11-20'),
        test_count: 3, pass_count: 1, fail_count: 2, passing_rate: 1 / 3,
        units_tested: 3, first_pass_units: 1, passed_units: 2, scrapped_units: 0, pending_units: 1,
        first_pass_yield: 1 / 3, cumulative_yield: 2 / 3, retest_count: 2,
        avg_duration_pass_s: 14, avg_duration_fail_s: 15,
      },
      {
        machine: 'M2', ...day('2026-11-20'),
        test_count: 1, pass_count: 1, fail_count: 0, passing_rate: 1,
        units_tested: 0, first_pass_units: 0, passed_units: 0, scrapped_units: 0, pending_units: 0,
        first_pass_yield: null, cumulative_yield: null, retest_count: 0,
        avg_duration_pass_s: 12, avg_duration_fail_s: null,
      },
    ]);
  });

  it('summary_prod for 2026-11-20: load, sums and rolled yields', async () => {
    // One test, so the rolled yields are TX's yields. A1, A2, A3 first tested this day → load 3.
    expect(await readSummary(ctx, 'summary_prod', 'day', '2026-11-20')).toEqual([
      {
        product: 'P1', ...day('2026-11-20'), load_qty: 3,
        test_count: 4, pass_count: 2, fail_count: 2, passing_rate: 0.5,
        avg_duration_pass_s: 13, avg_duration_fail_s: 15,
        units_tested: 3, first_pass_units: 1, passed_units: 2, scrapped_units: 0, pending_units: 1,
        rolled_first_pass_yield: 1 / 3, rolled_cumulative_yield: 2 / 3, scrapped_serials: 0,
      },
    ]);
  });

  it('2026-11-21 holds only A3 second attempt, with no cohort', async () => {
    expect(await readSummary(ctx, 'summary_prod_test', 'day', '2026-11-21')).toEqual([
      {
        product: 'P1', test: 'TX', ...day('2026-11-21'),
        test_count: 1, pass_count: 0, fail_count: 1, passing_rate: 0,
        units_tested: 0, first_pass_units: 0, passed_units: 0, scrapped_units: 0, pending_units: 0,
        first_pass_yield: null, cumulative_yield: null, retest_count: 0,
        avg_duration_pass_s: null, avg_duration_fail_s: null,
      },
    ]);
    const [prod] = await readSummary(ctx, 'summary_prod', 'day', '2026-11-21');
    expect(prod).toMatchObject({ load_qty: 0, units_tested: 0, rolled_first_pass_yield: null, rolled_cumulative_yield: null });
  });

  it('week 2026-W47 holds all five attempts and the whole cohort', async () => {
    // Week of Monday 2026-11-16 06:00 to Monday 2026-11-23 06:00.
    expect(await readSummary(ctx, 'summary_prod_test', 'week', '2026-11-16')).toEqual([
      {
        product: 'P1', test: 'TX', period_type: 'week', period_start: '2026-11-16', period_label: '2026-W47',
        test_count: 5, pass_count: 2, fail_count: 3, passing_rate: 2 / 5,
        units_tested: 3, first_pass_units: 1, passed_units: 2, scrapped_units: 0, pending_units: 1,
        first_pass_yield: 1 / 3, cumulative_yield: 2 / 3, retest_count: 2,
        avg_duration_pass_s: 13, avg_duration_fail_s: 15,
      },
    ]);
  });

  it('records the run in etl_runs', async () => {
    const q = ctx.targetSchema ? ctx.target.withSchema(ctx.targetSchema).table('etl_runs') : ctx.target.table('etl_runs');
    const runs = await q.select('*');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      job: 'nightly-summary', status: 'succeeded', triggered_by: 'test',
      period_from: '2026-11-20', period_to: '2026-11-21', rows_read: 5, rows_valid: 5, rows_rejected: 0, duplicates_dropped: 0,
    });
  });
});
