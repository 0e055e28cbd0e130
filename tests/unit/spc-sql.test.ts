/**
 * The SPC source SQL for SQL Server, held honest by the SQL it generates (no SQL Server runs here):
 * bracketed identifiers, datetime2 parameters, every value bound, and every statement under SQL
 * Server's 2,100 parameters at the largest sizes the job builds. The same builders run on SQLite
 * and PostgreSQL in tests/integration/spc-job.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { tsqlProblems } from '../support/tsql-check.js';
import knexFactory from 'knex';
import { resolveConfig } from '../../config/load.js';
import { dateRange, productionDay, sourceTimestamp } from '../../etl/periods.js';
import { keyBatches, MAX_BATCH_ROWS } from '../../etl/spc-inputs.js';
import { enabledMeasures, measureSpec, type MeasureSpec } from '../../etl/spc-measures.js';
import { maxBindParams } from '../../sql/dialect.js';
import { buildKeyCountStatement, buildProportionStatement, buildReadingsStatement, readingsBaseParams, type SpcSource } from '../../sql/spc-query.js';

const mssql = knexFactory({ client: 'mssql' });
const SQL_SERVER_PARAM_LIMIT = 2100;
const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };

function native(sql: string, bindings: readonly (string | number)[]) {
  return mssql.raw(sql, bindings as (string | number)[]).toSQL().toNative();
}

/** The shipped measures with dbo-qualified tables, as a SQL Server plant would map them. */
function measures(): MeasureSpec[] {
  const raw = {
    spc: {
      measures: {
        gap: { chart: 'I-MR', source: { table: 'dbo.isp_ifo_h', where: { item_cd: "SEP_ANODE_GAP' OR 1=1 --" } }, time: 'insp_dt', key: 'eqp_id', value: 'insp_val' },
        duration: {
          chart: 'Xbar-S',
          source: { table: 'dbo.test_records', where: { TestResult: ['PASS', 'P', 'OK'] } },
          time: 'TestTimeStamp',
          key: ['MachineID', 'TestName'],
          value: 'TestDuration_s',
          validRange: { min: 0 },
          subgroup: { by: 'hour' },
        },
        infusion: {
          chart: 'p',
          source: { table: 'dbo.asb_data', lookup: { table: 'dbo.wnd_data', match: 'cell_id', key: 'eqp_id', latest: 'prod_dt' } },
          time: 'prod_dt',
          defective: { column: 'dfct_cd', in: [5] },
        },
      },
    },
  };
  return enabledMeasures(resolveConfig(raw, {}));
}

const [gap, duration, infusion] = measures() as [MeasureSpec, MeasureSpec, MeasureSpec];

function slots(first: string, last: string) {
  return dateRange(first, last).map((d) => {
    const p = productionDay(d, clock);
    return { from: sourceTimestamp(p.from, 'local', clock), to: sourceTimestamp(p.to, 'local', clock) };
  });
}

const range = { from: '2026-10-12 06:00:00', to: '2026-11-11 06:00:00' };

describe('SPC SQL for SQL Server', () => {
  it('quotes identifiers with brackets, types timestamp parameters as datetime2, binds every value', () => {
    const st = buildReadingsStatement('mssql', gap.source, range, [['WND03'], ['WND07']]);
    expect(st.sql).toContain('FROM [dbo].[isp_ifo_h] s');
    expect(st.sql).toContain('s.[insp_dt] >= CAST(? AS datetime2) AND s.[insp_dt] < CAST(? AS datetime2)');
    expect(st.sql).toContain('UPPER(LTRIM(RTRIM(s.[item_cd]))) IN (?)');
    expect(st.sql).toContain('CAST(s.[eqp_id] AS nvarchar(255))');
    expect(st.sql).toContain('CONVERT(varchar(23), at_, 121) AS t');
    expect(st.sql).not.toMatch(/"|`|::|LIMIT|MATERIALIZED/);
    expect(tsqlProblems(st.sql)).toEqual([]);
    // Values are parameters, never text of the statement: the quote in the filter value stays a value.
    expect(st.sql).not.toContain('2026-');
    expect(st.sql).not.toContain('SEP_ANODE_GAP');
    expect(st.sql).not.toContain('WND03');
    expect(st.bindings).toEqual([range.from, range.to, "SEP_ANODE_GAP' OR 1=1 --", 'WND03', 'WND07']);
    const n = native(st.sql, st.bindings);
    expect(n.bindings).toHaveLength(st.bindings.length);
    expect(n.sql).toContain('@p4');
    expect(n.sql).not.toContain('?');
  });

  it('looks the chart key up through the lookup table, one row per matched cell', () => {
    const st = buildProportionStatement('mssql', infusion.source, slots('2026-10-12', '2026-11-10'));
    expect(st.sql).toContain('FROM [dbo].[asb_data] s');
    expect(st.sql).toContain('FROM [dbo].[wnd_data] l WHERE l.[cell_id] IN (SELECT m_ FROM spc_base)');
    expect(st.sql).toContain('ROW_NUMBER() OVER (PARTITION BY l.[cell_id] ORDER BY CASE WHEN');
    expect(st.sql).toContain('l.[prod_dt] DESC');
    expect(st.sql).toContain('s.[dfct_cd] IN (?)');
    // Cells without a winding keep NULL keys (a LEFT join) and come back per day as untraced.
    expect(st.sql).toContain('FROM spc_base b LEFT JOIN spc_lookup lk ON lk.m_ = b.m_ AND lk.rn_ = 1');
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(st.sql).not.toMatch(/WHERE r\.k0 IS NOT NULL/);
    expect(st.sql).toContain('SELECT CAST(? AS integer) AS slot, CAST(? AS datetime2) AS ps, CAST(? AS datetime2) AS pe');
    expect(st.sql).not.toMatch(/"|MATERIALIZED/);
    expect(native(st.sql, st.bindings).bindings).toHaveLength(st.bindings.length);
  });

  it('stays under 2,100 parameters: a p-chart over the longest window (366 days)', () => {
    const st = buildProportionStatement('mssql', infusion.source, slots('2025-11-11', '2026-11-11'));
    // Three per day (index, start, end), two for the outer range, one for the defect code.
    expect(st.bindings.length).toBe(3 * 366 + 2 + 1);
    expect(st.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
  });

  it('stays under 2,100 parameters: the largest batch of keys the job reads at once', () => {
    // Two key columns: the batch is cut at the dialect's parameter budget, whatever the row counts.
    const counts = Array.from({ length: 5000 }, (_, i) => ({ parts: [`M${i}`, `T${i % 10}`], n: 3 }));
    const maxKeys = Math.floor((maxBindParams('mssql') - readingsBaseParams(duration.source)) / 2);
    const batches = keyBatches(counts, MAX_BATCH_ROWS, maxKeys);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toHaveLength(5000);
    for (const keys of batches) {
      const st = buildReadingsStatement('mssql', duration.source, range, keys);
      expect(st.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
    }
    const st = buildReadingsStatement('mssql', duration.source, range, batches[0]!);
    expect(st.sql).toContain('(k0 = ? AND k1 = ?) OR (k0 = ? AND k1 = ?)');
    expect(st.sql).toContain('AND v IS NOT NULL AND v >= ?');
    // Readings at one instant come back in a fixed order: by value after time.
    expect(st.sql).toMatch(/ORDER BY k0, k1, at_, v$/);
  });

  it('counts in one pass the readings per key, the rejected rows (no value, outside validRange) and the rows without a key', () => {
    const st = buildKeyCountStatement('mssql', duration.source, range);
    expect(st.sql).toContain('SELECT k0, k1, SUM(ok_) AS n, COUNT(*) - SUM(ok_) AS rejected FROM (SELECT k0, k1, CASE WHEN 1 = 1 AND v IS NOT NULL AND v >= ? THEN 1 ELSE 0 END AS ok_ FROM spc_rows) r GROUP BY k0, k1');
    // Rows without a key are not filtered out: they form the NULL group, which the job counts.
    expect(st.sql).not.toContain('k0 IS NOT NULL');
    expect(st.bindings).toEqual([range.from, range.to, 'PASS', 'P', 'OK', 0]);
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(native(st.sql, st.bindings).bindings).toHaveLength(st.bindings.length);
  });

  it('batches readings by a row budget, a large key alone', () => {
    const b = keyBatches(
      [
        { parts: ['A'], n: 10 },
        { parts: ['B'], n: 100 },
        { parts: ['C'], n: 5 },
        { parts: ['D'], n: 5 },
      ],
      20,
      1000,
    );
    expect(b).toEqual([[['A']], [['B']], [['C'], ['D']]]);
  });

  it('wraps an admin-written query as a derived table and filters around it', () => {
    const raw = { spc: { measures: { q: { chart: 'I-MR', source: { query: 'SELECT eqp_id, insp_dt, insp_val FROM dbo.isp_ifo_h' }, time: 'insp_dt', key: 'eqp_id', value: 'insp_val' } } } };
    const m = measureSpec('q', resolveConfig(raw, {}).spc.measures.q!);
    const st = buildKeyCountStatement('mssql', m.source, range);
    expect(st.sql).toContain('FROM (\nSELECT eqp_id, insp_dt, insp_val FROM dbo.isp_ifo_h\n) s WHERE s.[insp_dt] >= CAST(? AS datetime2)');
    expect(st.sql).toContain('GROUP BY k0');
  });

  it('PostgreSQL and SQLite quote with double quotes; SQLite materialises the rows it joins to the days', () => {
    const pg = buildProportionStatement('postgres', infusion.source, slots('2026-10-12', '2026-10-13'));
    expect(pg.sql).toContain('FROM "dbo"."asb_data" s');
    expect(pg.sql).toContain('CAST(? AS timestamp)');
    expect(pg.sql).not.toContain('MATERIALIZED');
    const lite = buildProportionStatement('sqlite', infusion.source, slots('2026-10-12', '2026-10-13'));
    expect(lite.sql).toContain('spc_rows AS MATERIALIZED (');
    expect(lite.sql).toContain(`typeof(s."prod_dt") IN ('integer', 'real')`);
  });

  const source: SpcSource = gap.source;
  it('counts parameters it needs besides the keys', () => {
    expect(readingsBaseParams(source)).toBe(3);
    expect(readingsBaseParams(duration.source)).toBe(2 + 3 + 1);
  });
});
