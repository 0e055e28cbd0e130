/**
 * The nightly summary's rules on real databases, each on a small data set whose answers are
 * worked out by hand in the comments. Every suite runs on SQLite and on PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { createBackend, configFor, openMigrated, readSummary, writeTestRecords, type Backend, type TestRecord } from '../support/backends.js';
import { readTestRecordSource, runNightlySummary } from '../../etl/nightly-summary.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { addDays, dateRange, isoDate } from '../../etl/periods.js';

const BACKENDS = ['sqlite', 'postgres'] as const;
/** Each suite runs with the history window scanned and sought by a serial index (the same rows). */
const HISTORY_READS = BACKENDS.flatMap((b) => [
  [b, 'scanned'],
  [b, 'sought by the serial index'],
] as const);

function rec(serial: string | null, at: string | null, result: string | null, extra: Partial<TestRecord> = {}): TestRecord {
  return { serial, product: 'P1', test: 'TX', machine: 'M1', at, result, duration: 10, ...extra };
}

describe.each(HISTORY_READS)('nightly summary on %s, the history %s', (backendName, historyRead) => {
  let backend: Backend;
  let ctx: EtlContext | undefined;

  beforeEach(async () => {
    backend = await createBackend(backendName);
  });
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
    await backend.cleanup();
  });

  async function setup(rows: TestRecord[], overrides: Record<string, any> = {}) {
    ctx = await openMigrated(configFor(backend, overrides));
    await writeTestRecords(ctx, rows, undefined, { serialIndex: historyRead !== 'scanned' });
    expect((await readTestRecordSource(ctx)).serialIndex !== null).toBe(historyRead !== 'scanned');
    return ctx;
  }

  const prodTest = (day: string, type: 'day' | 'week' = 'day') => readSummary(ctx!, 'summary_prod_test', type, day);

  describe('DST change days (Europe/Berlin, dayStart 06:00)', () => {
    // Spring: 2026-03-29 02:00 CET → 03:00 CEST, inside production day 2026-03-28, which lasts
    // 23 h: 2026-03-28 05:00Z to 2026-03-29 04:00Z. Fall: 2026-10-25 03:00 CEST → 02:00 CET,
    // inside production day 2026-10-24, which lasts 25 h: 2026-10-24 04:00Z to 2026-10-25 05:00Z.
    it('UTC source: each attempt lands in the day that contains its instant', async () => {
      await setup(
        [
          rec('S1', '2026-03-28 05:00:00', 'PASS'), // 06:00 CET, first second of day 03-28
          rec('S2', '2026-03-29 03:59:00', 'PASS'), // 05:59 CEST, last minute of day 03-28
          rec('S3', '2026-03-29 04:00:00', 'FAIL'), // 06:00 CEST: day 03-29 (24 h after the start would still be 03-28)
          rec('F1', '2026-10-24 04:00:00', 'PASS'), // 06:00 CEST, first second of day 10-24
          rec('F2', '2026-10-25 00:30:00', 'PASS'), // 02:30 CEST, first pass through the repeated hour
          rec('F3', '2026-10-25 01:30:00', 'PASS'), // 02:30 CET, second pass through it
          rec('F4', '2026-10-25 04:30:00', 'FAIL'), // 05:30 CET: still day 10-24 (25 h long)
          rec('F5', '2026-10-25 05:00:00', 'PASS'), // 06:00 CET: day 10-25
        ],
        { source: { timestamps: 'utc' } },
      );
      await runNightlySummary(ctx!, { days: ['2026-03-28', '2026-03-29', '2026-10-24', '2026-10-25'], triggeredBy: 'test' });
      expect((await prodTest('2026-03-28'))[0]).toMatchObject({ test_count: 2, pass_count: 2, units_tested: 2 });
      expect((await prodTest('2026-03-29'))[0]).toMatchObject({ test_count: 1, fail_count: 1, units_tested: 1 });
      expect((await prodTest('2026-10-24'))[0]).toMatchObject({ test_count: 4, pass_count: 3, fail_count: 1, units_tested: 4, first_pass_yield: 3 / 4 });
      expect((await prodTest('2026-10-25'))[0]).toMatchObject({ test_count: 1, pass_count: 1 });
      // Week 2026-W43 (Mon 2026-10-19 06:00 CEST to Mon 2026-10-26 06:00 CET) holds F1..F5.
      expect((await prodTest('2026-10-19', 'week'))[0]).toMatchObject({ period_label: '2026-W43', test_count: 5, units_tested: 5 });
    });

    it('local-naive source: wall-clock bounds, the repeated hour counted twice in its day', async () => {
      await setup([
        rec('S1', '2026-03-28 06:00:00', 'PASS'),
        rec('S2', '2026-03-29 05:59:00', 'PASS'),
        rec('S3', '2026-03-29 06:00:00', 'FAIL'),
        rec('F2', '2026-10-25 02:30:00', 'PASS'), // first 02:30 (CEST)
        rec('F3', '2026-10-25 02:30:00', 'PASS'), // second 02:30 (CET): another unit, same wall clock
        rec('F4', '2026-10-25 05:59:00', 'FAIL'),
        rec('F5', '2026-10-25 06:00:00', 'PASS'),
      ]);
      await runNightlySummary(ctx!, { days: ['2026-03-28', '2026-03-29', '2026-10-24', '2026-10-25'], triggeredBy: 'test' });
      expect((await prodTest('2026-03-28'))[0]).toMatchObject({ test_count: 2, units_tested: 2 });
      expect((await prodTest('2026-03-29'))[0]).toMatchObject({ test_count: 1, units_tested: 1 });
      expect((await prodTest('2026-10-24'))[0]).toMatchObject({ test_count: 3, pass_count: 2, units_tested: 3 });
      expect((await prodTest('2026-10-25'))[0]).toMatchObject({ test_count: 1, units_tested: 1 });
    });

    it('ISO week 53 and the year boundary', async () => {
      await setup([
        rec('Y1', '2026-12-31 10:00:00', 'FAIL'),
        rec('Y1', '2027-01-01 10:00:00', 'PASS'), // retest on the next calendar year, same ISO week
        rec('Y2', '2027-01-03 12:00:00', 'PASS'),
        rec('Y3', '2027-01-04 05:00:00', 'PASS'), // Monday 05:00 < dayStart: still production day 2027-01-03, week 2026-W53
        rec('Y4', '2027-01-04 06:00:00', 'PASS'), // 2027-W01
      ]);
      await runNightlySummary(ctx!, { days: ['2026-12-31', '2027-01-01', '2027-01-03', '2027-01-04'], triggeredBy: 'test' });
      const w53 = await prodTest('2026-12-28', 'week');
      // Attempts: Y1 ×2, Y2, Y3 → 4; cohort Y1 (retest pass), Y2, Y3 → FPY 2/3, CY 3/3.
      expect(w53[0]).toMatchObject({ period_label: '2026-W53', test_count: 4, units_tested: 3, first_pass_yield: 2 / 3, cumulative_yield: 1, retest_count: 1 });
      expect((await prodTest('2027-01-04', 'week'))[0]).toMatchObject({ period_label: '2027-W01', test_count: 1 });
      expect((await prodTest('2027-01-03'))[0]).toMatchObject({ test_count: 2 });
    });
  });

  describe('retests', () => {
    it('across midnight with days starting at 00:00: the retest counts on its own day, the unit on the first', async () => {
      await setup(
        [
          rec('R1', '2026-11-20 23:50:00', 'FAIL'),
          rec('R1', '2026-11-21 00:10:00', 'PASS'),
          rec('R2', '2026-11-21 00:20:00', 'PASS'),
        ],
        { plant: { dayStart: '00:00' } },
      );
      await runNightlySummary(ctx!, { days: ['2026-11-20', '2026-11-21'], triggeredBy: 'test' });
      // Day 20: one FAIL attempt; cohort R1 passed on retest → FPY 0, CY 1, one retest.
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({
        test_count: 1, fail_count: 1, passing_rate: 0, units_tested: 1, first_pass_units: 0, passed_units: 1,
        pending_units: 0, first_pass_yield: 0, cumulative_yield: 1, retest_count: 1,
      });
      // Day 21: R1's retest and R2; cohort R2 only.
      expect((await prodTest('2026-11-21'))[0]).toMatchObject({
        test_count: 2, pass_count: 2, units_tested: 1, first_pass_units: 1, first_pass_yield: 1, retest_count: 0,
      });
    });

    it('a retest arriving the next day raises the earlier day on the next scheduled run', async () => {
      const c = await setup([rec('A1', '2026-11-20 09:00:00', 'FAIL'), rec('A2', '2026-11-20 09:05:00', 'PASS')], { yield: { lookbackDays: 3 } });
      // Scheduled run on the morning of the 21st (07:00): yesterday is 2026-11-20.
      const first = await runNightlySummary(c, { triggeredBy: 'schedule', now: DateTime.fromISO('2026-11-21T07:00', { zone: 'Europe/Berlin' }) });
      expect(first.days).toContain('2026-11-20');
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({ units_tested: 2, passed_units: 1, pending_units: 1, cumulative_yield: 1 / 2 });

      // A1's retest passes on the 21st; the next morning's run recomputes the 20th (pending units) too.
      await writeTestRecords(c, [rec('A1', '2026-11-21 10:00:00', 'PASS')]);
      const second = await runNightlySummary(c, { triggeredBy: 'schedule', now: DateTime.fromISO('2026-11-22T07:00', { zone: 'Europe/Berlin' }) });
      expect(second.selection).toMatchObject({ '2026-11-21': 'yesterday', '2026-11-20': '1 pending units' });
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({
        units_tested: 2, first_pass_units: 1, passed_units: 2, pending_units: 0, first_pass_yield: 1 / 2, cumulative_yield: 1, retest_count: 1,
      });
      // The 21st has the retest attempt but no cohort of its own.
      expect((await prodTest('2026-11-21'))[0]).toMatchObject({ test_count: 1, units_tested: 0, first_pass_yield: null });

      // Nothing pending any more, no new rows: the next run computes only its yesterday.
      const third = await runNightlySummary(c, { triggeredBy: 'schedule', now: DateTime.fromISO('2026-11-23T07:00', { zone: 'Europe/Berlin' }) });
      expect(Object.keys(third.selection!).filter((d) => d >= '2026-11-20')).toEqual(['2026-11-22']);

      // A late row for the 20th (no pending units there now) is noticed by its row count.
      await writeTestRecords(c, [rec('A9', '2026-11-20 11:00:00', 'PASS')]);
      const fourth = await runNightlySummary(c, { triggeredBy: 'schedule', now: DateTime.fromISO('2026-11-23T07:00', { zone: 'Europe/Berlin' }) });
      expect(fourth.selection!['2026-11-20']).toBe('late data: 2 → 3 rows');
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({ units_tested: 3, passed_units: 3 });
    });

    it("late data is counted on the parsed timestamp, in the lookback's days only", async () => {
      const c = await setup([rec('A1', '2026-11-19 09:00:00', 'PASS'), rec('A2', '2026-11-20 09:00:00', 'PASS')], { yield: { lookbackDays: 3 } });
      const now = DateTime.fromISO('2026-11-22T07:00', { zone: 'Europe/Berlin' });
      const first = await runNightlySummary(c, { triggeredBy: 'schedule', now });
      expect(first.days).toEqual(['2026-11-18', '2026-11-19', '2026-11-20', '2026-11-21']);
      await writeTestRecords(c, [
        // Padded and without seconds where the column is text (SQLite): the 20th all the same.
        rec('A3', backendName === 'sqlite' ? ' 2026-11-20 11:00' : '2026-11-20 11:00:00', 'PASS'),
        rec('A4', '2026-11-20 05:59:00', 'PASS'), // before 06:00: the 19th
        rec('A5', '2026-11-10 09:00:00', 'PASS'), // before the lookback: not looked at
      ]);
      const again = await runNightlySummary(c, { triggeredBy: 'schedule', now });
      expect(again.selection).toEqual({ '2026-11-21': 'yesterday', '2026-11-19': 'late data: 1 → 2 rows', '2026-11-20': 'late data: 1 → 2 rows' });
    });

    it('excess attempts count as tests but not in yields or retests; maxAttempts FAILs scrap the unit', async () => {
      await setup([
        // E1: FAIL, PASS, PASS — the third attempt comes after the first PASS: excess.
        rec('E1', '2026-11-20 07:00:00', 'FAIL'),
        rec('E1', '2026-11-20 07:10:00', 'PASS'),
        rec('E1', '2026-11-20 07:20:00', 'PASS'),
        // E2: four FAILs, maxAttempts 3 → scrapped after the third; the fourth is excess.
        rec('E2', '2026-11-20 08:00:00', 'FAIL'),
        rec('E2', '2026-11-20 08:10:00', 'FAIL'),
        rec('E2', '2026-11-20 08:20:00', 'FAIL'),
        rec('E2', '2026-11-20 08:30:00', 'FAIL'),
        // E3: FAIL, FAIL, FAIL, PASS — the PASS is attempt 4, beyond maxAttempts: still scrapped, excess.
        rec('E3', '2026-11-20 09:00:00', 'FAIL'),
        rec('E3', '2026-11-20 09:10:00', 'FAIL'),
        rec('E3', '2026-11-20 09:20:00', 'FAIL'),
        rec('E3', '2026-11-20 09:30:00', 'PASS'),
      ]);
      const r = await runNightlySummary(ctx!, { days: ['2026-11-20'], triggeredBy: 'test' });
      // 11 attempts, 3 PASS; cohort E1 passed, E2 and E3 scrapped; retests: E1 1, E2 2, E3 2 → 5; excess 3.
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({
        test_count: 11, pass_count: 3, fail_count: 8, units_tested: 3, first_pass_units: 0, passed_units: 1,
        scrapped_units: 2, pending_units: 0, cumulative_yield: 1 / 3, retest_count: 5,
      });
      expect(r.excessAttempts).toBe(3);
      const [prod] = await readSummary(ctx!, 'summary_prod', 'day', '2026-11-20');
      expect(prod).toMatchObject({ scrapped_units: 2, scrapped_serials: 2, load_qty: 3 });
      const [q] = (await targetTable(ctx!, ctx!.target, 'etl_periods').where({ period_type: 'day' })) as any[];
      expect(q).toMatchObject({ excess_attempts: 3, rows_read: 11, rows_valid: 11 });
    });

    it('ties on the timestamp: machine order, then FAIL before PASS', async () => {
      await setup([
        rec('T1', '2026-11-20 07:00:00', 'PASS', { machine: 'M2' }),
        rec('T1', '2026-11-20 07:00:00', 'FAIL', { machine: 'M1' }), // M1 < M2: this is attempt 1
        rec('T2', '2026-11-20 08:00:00', 'PASS', { machine: 'M1' }),
        rec('T2', '2026-11-20 08:00:00', 'FAIL', { machine: 'M1' }), // same machine: FAIL first
      ]);
      await runNightlySummary(ctx!, { days: ['2026-11-20'], triggeredBy: 'test' });
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({ units_tested: 2, first_pass_units: 0, passed_units: 2, retest_count: 2 });
      const machines = await readSummary(ctx!, 'summary_machine', 'day', '2026-11-20');
      expect(machines.map((m) => [m.machine, m.units_tested])).toEqual([['M1', 2], ['M2', 0]]);
    });
  });

  describe('validation', () => {
    it('rejects each malformed row with the first reason that applies, and keeps it in etl_rejects', async () => {
      await setup([
        rec('V1', '2026-11-20 07:00:00', 'PASS'),
        rec(null, '2026-11-20 07:01:00', 'PASS', { product: null }), // missing_serial wins over missing_product
        rec('  ', '2026-11-20 07:02:00', 'PASS'), // blank after trimming: missing_serial
        rec('V2', '2026-11-20 07:03:00', 'PASS', { product: ' ' }),
        rec('V3', '2026-11-20 07:04:00', 'PASS', { test: null }),
        rec('V4', '2026-11-20 07:05:00', 'PASS', { machine: '' }),
        rec('V5', null, 'PASS'),
        rec('V6', '2026-11-20 07:06:00', 'PAS'),
        rec('V7', '2026-11-20 07:07:00', null),
        rec('V8', '2026-11-20 07:08:00', 'PASS', { duration: -1 }),
        // V9's earliest valid row names P1; its later row naming P2 conflicts.
        rec('V9', '2026-11-20 07:09:00', 'PASS'),
        rec('V9', '2026-11-20 07:30:00', 'PASS', { product: 'P2', test: 'RX' }),
        // W1: two earliest rows at the same instant; the smaller product name (PA) wins.
        rec('W1', '2026-11-20 08:00:00', 'PASS', { product: 'PX' }),
        rec('W1', '2026-11-20 08:00:00', 'PASS', { product: 'PA', test: 'RX' }),
        // Trimmed, upper-cased, synonyms: valid.
        rec(' V10 ', '2026-11-20 09:00:00', ' ok ', { product: ' P1 ', machine: ' M1' }),
        rec('V11', '2026-11-20 09:01:00', 'ng'),
        rec('V12', '2026-11-20 09:02:00', 'Pass', { duration: null }),
      ]);
      const r = await runNightlySummary(ctx!, { days: ['2026-11-20'], triggeredBy: 'test' });
      expect(r.rejectsByReason).toEqual({
        missing_serial: 2, missing_product: 1, missing_test: 1, missing_machine: 1, missing_timestamp: 1,
        bad_result: 2, negative_duration: 1, conflicting_product: 2,
      });
      expect(r).toMatchObject({ rowsRead: 17, rowsValid: 6, rowsRejected: 11 });
      const rejects = (await targetTable(ctx!, ctx!.target, 'etl_rejects').select('*')) as any[];
      expect(rejects).toHaveLength(11);
      const v9 = rejects.find((x) => JSON.parse(x.row_values).serial === 'V9');
      expect(v9).toMatchObject({ reason: 'conflicting_product', source_table: ctx!.config.source.testRecords.table, run_id: r.runId });
      expect(JSON.parse(v9.row_values)).toMatchObject({ product: 'P2', test: 'RX', result: 'PASS' });
      expect(String(v9.period_start).slice(0, 10)).toBe('2026-11-20');
      const undated = rejects.find((x) => x.reason === 'missing_timestamp');
      expect(undated.period_start).toBeNull();
      const w1 = rejects.find((x) => JSON.parse(x.row_values).serial === 'W1');
      expect(JSON.parse(w1.row_values).product).toBe('PX');

      // Valid: V1, V10 (P1 after trim, OK=PASS), V11 (NG=FAIL), V12 (Pass) and V9's first row on P1/TX; W1 on PA/RX.
      const rows = await prodTest('2026-11-20');
      expect(rows.map((x) => [x.product, x.test, x.test_count, x.pass_count])).toEqual([
        ['P1', 'TX', 5, 4],
        ['PA', 'RX', 1, 1],
      ]);
      // V12 has no duration: the PASS mean is over V1, V9, V10 (10 s each).
      expect(rows[0]).toMatchObject({ avg_duration_pass_s: 10, avg_duration_fail_s: 10 });
    });

    it('exact duplicates count once; their number is a run statistic, not a reject', async () => {
      await setup([
        rec('D1', '2026-11-20 07:00:00', 'FAIL'),
        rec('D1', '2026-11-20 07:00:00', 'FAIL'),
        rec('D1', '2026-11-20 07:00:00', 'FAIL'),
        rec('D1', '2026-11-20 07:05:00', 'PASS'),
        rec('D1', '2026-11-20 07:05:00', 'PASS', { machine: 'M2' }), // other machine: not a duplicate
      ]);
      const r = await runNightlySummary(ctx!, { days: ['2026-11-20'], triggeredBy: 'test' });
      expect(r).toMatchObject({ rowsRead: 5, rowsValid: 5, rowsRejected: 0, duplicatesDropped: 2, excessAttempts: 1 });
      // Attempts: FAIL 07:00 (M1), PASS 07:05 (M1), PASS 07:05 (M2, after the first PASS: excess).
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({ test_count: 3, pass_count: 2, fail_count: 1, units_tested: 1, retest_count: 1 });
    });
  });

  describe('periods and reruns', () => {
    it('an empty period writes no summary rows and does not fail', async () => {
      await setup([rec('X1', '2026-11-20 07:00:00', 'PASS')]);
      const r = await runNightlySummary(ctx!, { days: ['2026-11-25'], triggeredBy: 'test' });
      expect(r).toMatchObject({ rowsRead: 0, rowsWritten: 0, periods: ['2026-11-25', '2026-W48'] });
      expect(await prodTest('2026-11-25')).toEqual([]);
      const q = (await targetTable(ctx!, ctx!.target, 'etl_periods').where({ period_type: 'day' })) as any[];
      expect(q).toHaveLength(1);
      expect(q[0]).toMatchObject({ rows_read: 0, pending_units: 0 });
    });

    it("a week's load adds up its days, and a serial scrapped on two days counts once", async () => {
      // ISO week 2026-W47 (Mon 11-16 … Sun 11-22), days from 06:00.
      await setup([
        rec('W1', '2026-11-17 07:00:00', 'PASS'),
        rec('W2', '2026-11-17 08:00:00', 'PASS'),
        rec('W2', '2026-11-18 07:00:00', 'PASS', { test: 'RX' }), // loaded on the 17th, not again on the 18th
        rec('W4', '2026-11-18 07:00:00', 'FAIL'),
        rec('W4', '2026-11-18 07:10:00', 'FAIL'),
        rec('W4', '2026-11-18 07:20:00', 'FAIL'), // TX scrapped in the 18th's cohort
        rec('W4', '2026-11-19 07:00:00', 'FAIL', { test: 'RX' }),
        rec('W4', '2026-11-19 07:10:00', 'FAIL', { test: 'RX' }),
        rec('W4', '2026-11-19 07:20:00', 'FAIL', { test: 'RX' }), // RX scrapped in the 19th's cohort
        rec('W3', '2026-11-19 08:00:00', 'PASS'),
      ]);
      await runNightlySummary(ctx!, { days: ['2026-11-17', '2026-11-18', '2026-11-19'], triggeredBy: 'test' });
      const prod = async (type: 'day' | 'week', start: string) => (await readSummary(ctx!, 'summary_prod', type, start))[0]!;
      expect([await prod('day', '2026-11-17'), await prod('day', '2026-11-18'), await prod('day', '2026-11-19')].map((r) => [r.load_qty, r.scrapped_serials])).toEqual([
        [2, 0],
        [1, 1],
        [1, 1],
      ]);
      expect(await prod('week', '2026-11-16')).toMatchObject({ load_qty: 4, scrapped_serials: 1, units_tested: 6, scrapped_units: 2 });
    });

    it('a week run one day at a time, each day reading its own records and its serials\' history, equals the week computed whole', async () => {
      // ISO week 2026-W46: Mon 11-09 06:00 to Mon 11-16 06:00 (days from 06:00); P1 / TX on M1 unless named.
      const week = dateRange('2026-11-09', '2026-11-15');
      await setup([
        rec('A1', '2026-11-09 07:00:00', 'FAIL'),
        rec('A1', '2026-11-10 05:30:00', 'PASS', { machine: 'M2' }), // before 06:00: still Monday's day
        rec('A2', '2026-11-09 08:00:00', 'PASS'),
        rec('A3', '2026-11-09 09:00:00', 'FAIL'),
        rec('A3', '2026-11-11 07:00:00', 'PASS'), // Wednesday's retest of a Monday unit
        rec('A4', '2026-11-08 07:00:00', 'FAIL'), // the Sunday before: the unit is last week's
        rec('A4', '2026-11-10 07:00:00', 'PASS'), // a test of this week, a retest of last week's cohort
        rec('A5', '2026-11-10 07:00:00', 'FAIL'),
        rec('A5', '2026-11-10 07:10:00', 'FAIL'),
        rec('A5', '2026-11-12 07:00:00', 'FAIL'), // attempt 3 (maxAttempts) on Thursday: scrapped
        rec('A6', '2026-11-09 10:00:00', 'FAIL'),
        rec('A6', '2026-11-16 07:00:00', 'PASS'), // the Monday after: passed, in this week's cohort
        rec('A7', '2026-11-10 08:00:00', 'PASS'),
        rec('A7', '2026-11-10 08:00:00', 'PASS'), // an exact duplicate
        rec('A8', '2026-11-09 11:00:00', 'PASS'),
        rec('A8', '2026-11-13 07:00:00', 'PASS', { product: 'P2', test: 'RX' }), // conflicting_product on Friday
        rec(null, '2026-11-09 12:00:00', 'PASS'), // missing_serial on Monday
        rec('A9', '2026-11-14 07:00:00', 'bogus'), // bad_result on Saturday
        rec('B1', null, 'PASS'), // missing_timestamp, in no period
        rec('B2', '2026-11-15 07:00:00', 'PASS', { test: 'RX', machine: 'M3' }),
      ]);
      const snapshot = async () => {
        const out: Record<string, unknown> = {};
        for (const table of ['summary_prod_test', 'summary_machine', 'summary_prod', 'etl_periods']) {
          for (const day of week) out[`${table} ${day}`] = await readSummary(ctx!, table, 'day', day);
          out[`${table} W46`] = await readSummary(ctx!, table, 'week', week[0]!);
        }
        return out;
      };
      const parts = async () => ((await targetTable(ctx!, ctx!.target, 'etl_day_parts').select('day')) as { day: unknown }[]).map((r) => isoDate(r.day)).sort();

      for (const day of week) await runNightlySummary(ctx!, { days: [day], triggeredBy: 'test' });
      expect(await parts()).toEqual(week);
      const dayByDay = await snapshot();
      // By hand, the week's P1 / TX: tests A1 ×2, A2, A3 ×2, A4 (Tuesday), A5 ×3, A6 (Monday), A7, A8 = 12,
      // 6 passes; units A1, A2, A3, A5, A6, A7, A8 = 7, first pass A2, A7, A8, passed all but A5
      // (scrapped), retests A1, A3, A6 one each and A5 two.
      expect((dayByDay['summary_prod_test W46'] as any[]).find((r) => r.test === 'TX')).toMatchObject({
        test_count: 12, pass_count: 6, fail_count: 6, units_tested: 7, first_pass_units: 3, passed_units: 6,
        scrapped_units: 1, pending_units: 0, retest_count: 5, first_pass_yield: 3 / 7, cumulative_yield: 6 / 7,
      });
      expect((dayByDay['etl_periods W46'] as any[])[0]).toMatchObject({ rows_rejected: 3, duplicates_dropped: 1 });

      await runNightlySummary(ctx!, { days: week, triggeredBy: 'test' });
      expect(await snapshot()).toEqual(dayByDay);

      // Tuesday's run takes Monday from its stored parts: a Monday-only unit removed from the source
      // since stays in the week until Monday is computed again.
      await ctx!.source.table(ctx!.config.source.testRecords.table).where('SerialNum', 'A2').delete();
      await runNightlySummary(ctx!, { days: ['2026-11-10'], triggeredBy: 'test' });
      expect(await snapshot()).toEqual(dayByDay);
      await runNightlySummary(ctx!, { days: ['2026-11-09'], triggeredBy: 'test' });
      expect((await readSummary(ctx!, 'summary_prod_test', 'week', week[0]!)).find((r) => r.test === 'TX')).toMatchObject({ units_tested: 6, first_pass_units: 2 });
      // Parts are kept for the weeks a run still takes them for: from the week of the lookback's first day (7 days).
      await runNightlySummary(ctx!, { days: ['2026-11-24'], triggeredBy: 'test' });
      expect(await parts()).toEqual(['2026-11-24']);
    });

    it('scheduled nights assemble the days with pending units from their parts (not read again) and give what a recompute of every day gives', async () => {
      // Records arrive day by day; each morning's run at 07:00 computes yesterday and the lookback's
      // days with pending units. Weeks 2026-W47 (Mon 11-16) and W48 (Mon 11-23), days from 06:00.
      const arrivals: Record<string, TestRecord[]> = {
        '2026-11-19': [rec('P1', '2026-11-19 09:00:00', 'FAIL'), rec('Q1', '2026-11-19 09:10:00', 'PASS'), rec('Q2', '2026-11-19 09:20:00', 'PASS', { machine: null })],
        '2026-11-20': [rec('P2', '2026-11-20 09:00:00', 'FAIL'), rec('P1', '2026-11-20 09:30:00', 'FAIL', { machine: 'M2' })],
        '2026-11-21': [rec('R1', '2026-11-21 09:00:00', 'PASS', { test: 'RX' })],
        '2026-11-22': [rec('P1', '2026-11-22 09:00:00', 'PASS'), rec('P2', '2026-11-22 09:10:00', 'FAIL')],
        '2026-11-23': [rec('P2', '2026-11-23 09:00:00', 'PASS'), rec('P3', '2026-11-23 09:10:00', 'FAIL')],
        '2026-11-24': [rec('P3', '2026-11-24 09:00:00', 'FAIL'), rec('P3', '2026-11-24 09:10:00', 'FAIL')],
      };
      const c = await setup([]);
      const nights: Record<string, { runId: number; selection: Record<string, string>; assembled: string[] }> = {};
      for (const [day, rows] of Object.entries(arrivals)) {
        await writeTestRecords(c, rows);
        const r = await runNightlySummary(c, { triggeredBy: 'schedule', now: DateTime.fromISO(`${addDays(day, 1)}T07:00`, { zone: 'Europe/Berlin' }) });
        nights[day] = { runId: r.runId, selection: r.selection!, assembled: r.assembledDays };
      }
      // 11-19 (P1) is pending until P1 passes on the 22nd; 11-20 (P2) until P2 passes on the 23rd, in the next week.
      expect(nights['2026-11-22']!.selection).toEqual({ '2026-11-19': '1 pending units', '2026-11-20': '1 pending units', '2026-11-22': 'yesterday' });
      expect(nights['2026-11-23']!.selection).toEqual({ '2026-11-20': '1 pending units', '2026-11-23': 'yesterday' });
      expect(nights['2026-11-24']!.selection).toEqual({ '2026-11-23': '1 pending units', '2026-11-24': 'yesterday' });
      expect(nights['2026-11-22']!.assembled).toEqual(['2026-11-19', '2026-11-20']);
      const stats = JSON.parse((await targetTable(c, c.target, 'etl_runs').where({ id: nights['2026-11-24']!.runId }).first()).stats);
      expect(stats.assembledDays).toEqual(['2026-11-23']);
      // Assembled, not read: the 19th's rows are the last run's that computed it, its rejects still those of the run that read it.
      const rejects19 = (await targetTable(c, c.target, 'etl_rejects')).filter((r: any) => isoDate(r.period_start) === '2026-11-19');
      expect(rejects19.map((r: any) => [r.reason, r.run_id])).toEqual([['missing_machine', nights['2026-11-19']!.runId]]);
      const p19 = (await targetTable(c, c.target, 'summary_prod').where({ period_type: 'day' })).find((r: any) => isoDate(r.period_start) === '2026-11-19');
      expect(p19.run_id).toBe(nights['2026-11-22']!.runId);
      // By hand: the 19th's TX cohort P1 (passed at attempt 3 on the 22nd: 2 retests) and Q1; the
      // 20th's P2 (passed at attempt 3 on the 23rd, in W48: 2 retests); W47's TX units P1, Q1, P2;
      // W48's P3, scrapped.
      const tx = async (type: 'day' | 'week', start: string) => (await prodTest(start, type)).find((r) => r.test === 'TX');
      expect(await tx('day', '2026-11-19')).toMatchObject({ test_count: 2, units_tested: 2, first_pass_units: 1, passed_units: 2, pending_units: 0, retest_count: 2 });
      expect(await tx('day', '2026-11-20')).toMatchObject({ test_count: 2, units_tested: 1, passed_units: 1, pending_units: 0, retest_count: 2 });
      expect(await tx('week', '2026-11-16')).toMatchObject({ test_count: 6, units_tested: 3, first_pass_units: 1, passed_units: 3, retest_count: 4 });
      expect(await tx('week', '2026-11-23')).toMatchObject({ test_count: 4, units_tested: 1, scrapped_units: 1, passed_units: 0 });

      const days = dateRange('2026-11-12', '2026-11-24');
      const snapshot = async () => {
        const out: Record<string, unknown> = {};
        for (const table of ['summary_prod_test', 'summary_machine', 'summary_prod', 'etl_periods']) {
          for (const day of days) out[`${table} ${day}`] = await readSummary(c, table, 'day', day);
          for (const week of ['2026-11-09', '2026-11-16', '2026-11-23']) out[`${table} ${week}`] = await readSummary(c, table, 'week', week);
        }
        return out;
      };
      const nightly = await snapshot();
      await runNightlySummary(c, { days, triggeredBy: 'test' });
      expect(await snapshot()).toEqual(nightly);
    });

    it('a rerun of the same period gives identical rows', async () => {
      await setup([
        rec('I1', '2026-11-20 07:00:00', 'FAIL', { duration: 1.1 }),
        rec('I1', '2026-11-20 07:05:00', 'PASS', { duration: 2.2, machine: 'M2' }),
        rec('I2', '2026-11-20 08:00:00', 'PASS', { duration: 3.3 }),
        rec('I3', '2026-11-21 05:00:00', 'FAIL', { duration: 0.7 }),
      ]);
      const snapshot = async () => ({
        pt: await prodTest('2026-11-20'),
        m: await readSummary(ctx!, 'summary_machine', 'day', '2026-11-20'),
        p: await readSummary(ctx!, 'summary_prod', 'week', '2026-11-16'),
      });
      const a = await runNightlySummary(ctx!, { days: ['2026-11-20'], triggeredBy: 'test' });
      const before = await snapshot();
      const b = await runNightlySummary(ctx!, { days: ['2026-11-20'], triggeredBy: 'test' });
      expect(b.runId).not.toBe(a.runId);
      expect(await snapshot()).toEqual(before);
      expect(before.pt[0]).toMatchObject({ avg_duration_pass_s: 2.75, avg_duration_fail_s: 0.9 });
    });

    it('a failure in the middle of the load leaves the previous rows intact and records a failed run', async () => {
      const c = await setup([rec('L1', '2026-11-20 07:00:00', 'PASS'), rec('L2', '2026-11-20 08:00:00', 'FAIL')]);
      await runNightlySummary(c, { days: ['2026-11-20'], triggeredBy: 'test' });
      const before = { pt: await prodTest('2026-11-20'), m: await readSummary(c, 'summary_machine', 'day', '2026-11-20') };

      // New data, then a load that fails after summary_prod_test and summary_machine were replaced
      // inside the transaction: summary_prod is not there to write to.
      await writeTestRecords(c, [rec('L3', '2026-11-20 09:00:00', 'PASS', { machine: 'M9' })]);
      const rename = async (from: string, to: string) =>
        (c.targetSchema ? c.target.schema.withSchema(c.targetSchema) : c.target.schema).renameTable(from, to);
      await rename('summary_prod', 'summary_prod_away');
      await expect(runNightlySummary(c, { days: ['2026-11-20'], triggeredBy: 'test' })).rejects.toThrow(/summary_prod/);
      await rename('summary_prod_away', 'summary_prod');

      expect(await prodTest('2026-11-20')).toEqual(before.pt);
      expect(await readSummary(c, 'summary_machine', 'day', '2026-11-20')).toEqual(before.m);
      const runs = (await targetTable(c, c.target, 'etl_runs').orderBy('id')) as any[];
      expect(runs.map((r) => r.status)).toEqual(['succeeded', 'failed']);
      expect(runs[1].error).toMatch(/summary_prod/);

      // The next run succeeds and picks up L3.
      await runNightlySummary(c, { days: ['2026-11-20'], triggeredBy: 'test' });
      expect((await prodTest('2026-11-20'))[0]).toMatchObject({ test_count: 3, units_tested: 3 });
    });
  });
});

describe('a wrong source mapping fails before any work, naming the config key, and the failed run is recorded', () => {
  it.each(BACKENDS)('on %s', async (backendName) => {
    const backend = await createBackend(backendName);
    const ctx = await openMigrated(configFor(backend, { source: { testRecords: { columns: { machine: 'StationID' } } } }));
    try {
      await writeTestRecords(ctx, []);
      await expect(runNightlySummary(ctx, { days: ['2026-11-20'], triggeredBy: 'test' })).rejects.toThrow(
        /has no column for source\.testRecords\.columns\.machine = 'StationID'/,
      );
      const missing = await openMigrated(configFor(backend, { source: { testRecords: { table: backend.table('no_such_table') } } }));
      await expect(runNightlySummary(missing, { days: ['2026-11-20'], triggeredBy: 'test' })).rejects.toThrow(
        /source table '.*no_such_table' does not exist \(set source\.testRecords\.table/,
      );
      // Scheduled (no days): the run is for yesterday until it has chosen its days.
      await expect(runNightlySummary(missing, { triggeredBy: 'schedule', now: DateTime.fromISO('2026-11-21T07:00', { zone: 'Europe/Berlin' }) })).rejects.toThrow(/no_such_table/);
      await missing.close();
      // No summary rows, and each attempt is in the run history as failed, with the key to fix.
      expect(await targetTable(ctx, ctx.target, 'summary_prod_test').select('product')).toEqual([]);
      const runs = (await targetTable(ctx, ctx.target, 'etl_runs').orderBy('id')) as any[];
      expect(runs.map((r) => [r.status, r.periods])).toEqual([
        ['failed', '["2026-11-20"]'],
        ['failed', '["2026-11-20"]'],
        ['failed', '["2026-11-20"]'],
      ]);
      expect(runs[0].error).toMatch(/source\.testRecords\.columns\.machine/);
      expect(runs[1].error).toMatch(/set source\.testRecords\.table/);
    } finally {
      await ctx.close();
      await backend.cleanup();
    }
  });
});
