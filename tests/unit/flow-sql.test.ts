/**
 * The process-flow SQL for SQL Server, held honest by the SQL it generates (no server runs here):
 * SQL Server 2016 syntax (no STRING_AGG, WINDOW, GREATEST, LIMIT), bound values only, and the
 * largest batch under the limit of 2,100 bound parameters. The same builders run on SQLite and
 * PostgreSQL in tests/integration/process-flow.test.ts.
 */
import { describe, expect, it } from 'vitest';
import knexFactory from 'knex';
import { resolveConfig } from '../../config/load.js';
import { batchFrame, statementsFor, WEEKS_PER_BATCH } from '../../etl/flow/process-flow-job.js';
import { buildFlowStatement, MSSQL_VARIANT_STEPS } from '../../sql/flow-query.js';
import { TEST_RECORD_COLUMNS } from '../../config/schema.js';
import { dateRange } from '../../etl/periods.js';

const mssql = knexFactory({ client: 'mssql' });
const SQL_SERVER_PARAM_LIMIT = 2100;

const config = resolveConfig(
  { plant: { timezone: 'Europe/Berlin', dayStart: '06:00', shifts: { A: '06:00', B: '14:00', C: '22:00' } }, source: { url: 'mssql://reader@mes:1433/MES' } },
  {},
  'test',
);
const ctx = { config, clock: { timezone: config.plant.timezone, dayStart: config.plant.dayStart }, sourceDialect: 'mssql' as const };
const logs = {
  tests: { table: 'dbo.test_records', columns: { ...TEST_RECORD_COLUMNS, errorCode: 'ErrorCode' }, kinds: { testedAt: 'native', durationS: 'exact' } as const, serialIndex: null },
  battery: {
    winding: { ...config.source.winding, timeKind: 'native' as const },
    assembly: { ...config.source.assembly, timeKind: 'native' as const },
  },
};

// The largest batch: five ISO weeks of days, three shifts a day, across the October DST change.
const fiveWeeks = dateRange('2026-10-05', '2026-11-08');
expect(fiveWeeks.length).toBe(7 * WEEKS_PER_BATCH);

describe('process-flow SQL for SQL Server', () => {
  const statements = statementsFor(ctx, logs, batchFrame(ctx, fiveWeeks), ['E', 'S', 'V', 'H', 'K']).map(buildFlowStatement);

  it('is T-SQL for SQL Server 2016: brackets, datetime2 parameters, DATEDIFF_BIG, no STRING_AGG', () => {
    expect(statements).toHaveLength(2);
    const [tests, battery] = statements.map((s) => s.sql);
    expect(tests).toContain('FROM [dbo].[test_records] s');
    expect(battery).toContain('FROM [wnd_data] s');
    expect(battery).toContain('FROM [asb_data] s');
    for (const sql of [tests!, battery!]) {
      expect(sql).toContain('CAST(? AS datetime2)');
      expect(sql).toContain('DATEDIFF_BIG(millisecond, prev_at, tested_at)');
      expect(sql).not.toMatch(/STRING_AGG|string_agg|group_concat|GREATEST|LEAST|PERCENTILE|WINDOW |MATERIALIZED|LIMIT|unixepoch|EXTRACT|::|"|`/);
      expect(sql).not.toContain('2026-'); // dates are parameters, never literals
    }
    // The variant without STRING_AGG: one piece per position up to the bound, then a marker.
    expect(tests).toContain(`vseq = ${MSSQL_VARIANT_STEPS} THEN N'>' + test`);
    expect(tests).toContain(`WHEN vseq > ${MSSQL_VARIANT_STEPS} THEN N'>…'`);
    // The shift part only where there are test results.
    expect(tests).toContain("SELECT 'H' AS part");
    expect(battery).not.toContain("SELECT 'H' AS part");
  });

  it('stays under the 2,100-parameter limit with the largest batch, and binds every value', () => {
    for (const st of statements) {
      const native = mssql.raw(st.sql, st.bindings).toSQL().toNative();
      expect(native.bindings.length).toBe(st.bindings.length);
      expect(native.sql).not.toContain('?');
      expect(st.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
      expect(st.bindings.length).toBeGreaterThan(35 * 3); // every shift piece's bounds are bound
    }
  });
});
