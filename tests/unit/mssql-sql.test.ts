/**
 * No SQL Server runs here, so the SQL Server path is held honest by the SQL it generates:
 * SQL Server syntax, and every statement under its limit of 2,100 bound parameters.
 * tests/integration/mssql.test.ts runs the same code against a real server when MSSQL_URL is set.
 */
import { describe, expect, it } from 'vitest';
import { tsqlProblems } from '../support/tsql-check.js';
import knexFactory from 'knex';
import { buildRowCountStatement, buildSummaryStatement, type SummaryQueryInput } from '../../sql/summary-query.js';
import { rowsPerStatement } from '../../sql/batch-insert.js';
import { deletePeriodStatements } from '../../etl/load-summaries.js';
import { TEST_RECORD_COLUMNS } from '../../config/schema.js';
import { DateTime } from 'luxon';
import { addDays, periodsForDays, productionDay, sourceTimestamp, dateRange } from '../../etl/periods.js';

const mssql = knexFactory({ client: 'mssql' });
const clock = { timezone: 'Asia/Taipei', dayStart: '06:00' };
const SQL_SERVER_PARAM_LIMIT = 2100;

/** The statement as tedious would send it: `?` become @p0, @p1, … */
function native(sql: string, bindings: readonly (string | number)[]) {
  return mssql.raw(sql, bindings as (string | number)[]).toSQL().toNative();
}

function input(days: string[]): SummaryQueryInput {
  const periods = periodsForDays(days, clock);
  const bound = (p: { from: DateTime; to: DateTime }) => ({ from: sourceTimestamp(p.from, 'local', clock), to: sourceTimestamp(p.to, 'local', clock) });
  const weeks = periods.filter((p) => p.type === 'week');
  const slotDays = dateRange(weeks[0]!.start, addDays(weeks[weeks.length - 1]!.start, 6));
  return {
    slots: slotDays.map((d) => bound(productionDay(d, clock))),
    reportSlots: slotDays.flatMap((d, i) => (days.includes(d) ? [i] : [])),
    rejectLimit: 100_000,
    dialect: 'mssql',
    table: 'dbo.test_records',
    columns: { ...TEST_RECORD_COLUMNS, errorCode: 'ErrorCode' },
    kinds: { testedAt: 'native', durationS: 'exact' },
    passSynonyms: ['PASS', 'P', 'OK'],
    failSynonyms: ['FAIL', 'F', 'NG'],
    maxAttempts: 3,
    historyFrom: '2026-09-01 06:00:00',
  };
}

// The largest batch the nightly summary builds: five ISO weeks of days (35 days + 5 weeks).
const fiveWeeks = dateRange('2026-10-05', '2026-11-08');

describe('summary SQL for SQL Server', () => {
  it('quotes identifiers with brackets, types timestamp parameters as datetime2, and binds every value', () => {
    const st = buildSummaryStatement(input(fiveWeeks));
    expect(st.sql).toContain('FROM [dbo].[test_records] s');
    expect(st.sql).toContain('s.[TestTimeStamp] >= CAST(? AS datetime2)');
    expect(st.sql).not.toMatch(/LIMIT|::|"|`/);
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(st.sql).not.toContain('2026-'); // dates are parameters, never literals
    const n = native(st.sql, st.bindings);
    expect(n.bindings.length).toBe(st.bindings.length);
    expect(n.sql).toContain('@p0');
    expect(n.sql).not.toContain('?');
  });

  it('stays under 2,100 parameters for the largest batch', () => {
    const st = buildSummaryStatement(input(fiveWeeks));
    // 6 synonyms, 5 window bounds (the batch's start; the history's start and end, and the batch's
    // start and end for its serials), 2 + 34 slot bounds (the slot search splits 35 days at 34 bounds),
    // 4 × maxAttempts, TOP, 35 report slots.
    expect(st.bindings.length).toBe(6 + 5 + 2 + 34 + 4 + 1 + 35);
    expect(st.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
    expect(st.sql).toContain("SELECT TOP (?) 'R' AS part");
    expect(st.sql).toContain('CONVERT(varchar(23), tested_at, 121)');
    const week = input(dateRange('2026-11-01', '2026-11-07'));
    const counts = buildRowCountStatement({ ...week, slots: week.slots.slice(0, 7) });
    // The raw column's range (2), then 2 + 6 slot bounds.
    expect(counts.bindings.length).toBe(2 + 2 + 6);
    expect(counts.sql).toContain('WHERE s.[TestTimeStamp] >= CAST(? AS datetime2) AND s.[TestTimeStamp] < CAST(? AS datetime2)');
    expect(tsqlProblems(counts.sql)).toEqual([]);
  });

  it("reads whole from a later day when the week's earlier days are stored: the batch's serials are then those of every row read whole", () => {
    const st = buildSummaryStatement({ ...input(['2026-11-11']), readFrom: '2026-11-11 06:00:00', openEnded: true });
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(st.sql).toContain('s.[TestTimeStamp] >= CAST(? AS datetime2) OR');
    expect(st.sql).toMatch(/h\.\[TestTimeStamp\] >= CAST\(\? AS datetime2\)\)\)/);
    // One window bound fewer than the default form (no end for the batch's serials); 7 slots: 2 + 6
    // slot bounds, then the 6 synonyms, then the window's.
    expect(st.bindings.length).toBe(6 + 4 + 2 + 6 + 4 + 1 + 1);
    expect(st.bindings.slice(14, 18)).toEqual(['2026-11-11 06:00:00', '2026-09-01 06:00:00', '2026-11-11 06:00:00', '2026-11-11 06:00:00']);
  });

  it('batches summary inserts under the parameter limit', () => {
    const row = {
      product: 'P', test: 'T', period_type: 'day', period_start: '2026-11-20', period_label: '2026-11-20',
      test_count: 1, pass_count: 1, fail_count: 0, passing_rate: 1, units_tested: 1, first_pass_units: 1, passed_units: 1,
      scrapped_units: 0, pending_units: 0, first_pass_yield: 1, cumulative_yield: 1, retest_count: 0,
      avg_duration_pass_s: 1, avg_duration_fail_s: null, run_id: 1, computed_at: new Date(),
    };
    const per = rowsPerStatement('mssql', Object.keys(row).length);
    const q = mssql.withSchema('dbo').table('summary_prod_test').insert(Array.from({ length: per }, () => row)).toSQL();
    expect(q.sql).toMatch(/^insert into \[dbo\]\.\[summary_prod_test\]/);
    expect(q.bindings.length).toBeLessThanOrEqual(2000);
    expect(per * Object.keys(row).length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
  });

  it('deletes a long backfill in chunks under the limit', () => {
    // 600 days: a DELETE of 500 days, one of the other 100, and one of their ISO weeks.
    const periods = periodsForDays(dateRange('2025-01-01', addDays('2025-01-01', 599)), clock);
    const weeks = periods.filter((p) => p.type === 'week').length;
    const statements = deletePeriodStatements({ targetSchema: 'dbo' }, mssql, 'summary_prod', periods).map((q) => q.toSQL().toNative());
    expect(statements.map((q) => q.bindings.length)).toEqual([1 + 500, 1 + 100, 1 + weeks]);
    expect(statements[0]!.sql).toMatch(/^delete from \[dbo\]\.\[summary_prod\] where \[period_type\] = @p0 and \[period_start\] in \(@p1, @p2, /);
    for (const q of statements) expect(q.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
    for (const q of statements) expect(tsqlProblems(q.sql)).toEqual([]);
  });
});
