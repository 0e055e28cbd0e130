/**
 * What `yieldrun migrate` and the bookkeeping writes send to SQL Server, on an empty database and
 * on a schema that knex's migrator migrated: recorded by a dry-run client (no SQL Server runs
 * here), then checked for the forms SQL Server refuses and for typed Date parameters.
 * tests/integration/mssql.test.ts runs the same against a real server when MSSQL_URL is set.
 */
import { describe, expect, it } from 'vitest';
import { mssqlDryRun, type SentStatement } from '../support/mssql-dry-run.js';
import { tsqlProblems } from '../support/tsql-check.js';
import { MIGRATIONS, MIGRATIONS_TABLE, migrate, mssqlCreateSchemaStatement } from '../../sql/migrations.js';
import { insertBatched } from '../../sql/batch-insert.js';
import { finishRun, startRun } from '../../etl/run-log.js';
import { bulkColumns, instant } from '../../sql/mssql-bulk-load.js';
import { silentLog } from '../support/backends.js';
import type { EtlContext } from '../../etl/context.js';

const ALL = MIGRATIONS.map((m) => m.name);

/** Every parameter bound from a Date: DATETIMEOFFSET with 3 fractional digits, never DATETIME. */
function untypedDates(sent: readonly SentStatement[]) {
  return sent.flatMap((st) => st.parameters.filter((p) => p.value instanceof Date && !(p.type === 'DateTimeOffset' && p.scale === 3)).map((p) => `${p.type}(${p.scale}) in ${st.sql}`));
}

async function migrateDryRun(existing: readonly string[]) {
  const { db, sent } = mssqlDryRun((st) => {
    // An existing schema: every table is there (knex's hasTable), and these migrations are recorded.
    if (existing.length && st.sql.startsWith('SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES')) return [{ TABLE_NAME: 'x' }];
    if (st.sql.startsWith(`select [name], [batch] from [dbo].[${MIGRATIONS_TABLE}]`)) return existing.map((name) => ({ name, batch: 1 }));
    return [];
  });
  const applied = await migrate(db, 'dbo');
  await db.destroy();
  return { applied, sent: sent() };
}

/**
 * The statements of the i-th migration migrate() applied: those after the previous one's row in the
 * migrations table (or after the read of that table) and before its own.
 */
function statementsOf<T extends { sql: string }>(sent: readonly T[], i: number): T[] {
  const bounds = sent.flatMap((s, k) => (s.sql.startsWith(`select [name], [batch] from [dbo].[${MIGRATIONS_TABLE}]`) || s.sql.startsWith(`insert into [dbo].[${MIGRATIONS_TABLE}]`) ? [k] : []));
  return sent.slice(bounds[i]! + 1, bounds[i + 1]);
}

describe('the T-SQL check itself', () => {
  it('finds the statement that made migrate fail on SQL Server, and passes its replacement', () => {
    expect(tsqlProblems("IF SCHEMA_ID(@p0) IS NULL EXEC('CREATE SCHEMA ' + QUOTENAME(@p1))")).toEqual([
      "EXEC(...) holds more than literals and variables: EXEC('' + QUOTENAME(@p1))",
    ]);
    expect(tsqlProblems(mssqlCreateSchemaStatement('yr').sql)).toEqual([]);
    expect(tsqlProblems("EXEC(N'SELECT 1' + @sql)")).toEqual([]);
    expect(tsqlProblems('create table [t] ([a] datetimeoffset not null)')).toHaveLength(1);
    expect(tsqlProblems('create table [t] ([a] datetime2(7))')).toHaveLength(1);
    expect(tsqlProblems('SELECT CAST(@p0 AS datetime) AS t')).toHaveLength(1);
    expect(tsqlProblems('SELECT a FROM t LIMIT 10')).toHaveLength(1);
    expect(tsqlProblems('CREATE TABLE IF NOT EXISTS [t] ([a] int)')).toHaveLength(1);
    expect(tsqlProblems("SELECT 'a' || 'b'")).toHaveLength(1);
  });
});

describe('migrate on SQL Server', () => {
  it('on an empty database: creates the schema through a variable, the bookkeeping tables, and every table; all valid forms', async () => {
    const { applied, sent } = await migrateDryRun([]);
    expect(applied).toEqual(ALL);
    expect(sent[0]).toMatchObject({ sql: "DECLARE @create_schema nvarchar(300) = N'CREATE SCHEMA ' + QUOTENAME(@p0); IF SCHEMA_ID(@p1) IS NULL EXEC(@create_schema);" });
    const problems = sent.flatMap((st) => tsqlProblems(st.sql).map((p) => `${p}: ${st.sql}`));
    expect(problems).toEqual([]);
    expect(untypedDates(sent)).toEqual([]);
    const sql = sent.map((s) => s.sql);
    expect(sql).toContain(`CREATE TABLE [dbo].[${MIGRATIONS_TABLE}] ([id] int identity(1,1) not null primary key, [name] nvarchar(255), [batch] int, [migration_time] datetime2(3))`);
    expect(sql).toContain('CREATE TABLE [dbo].[yieldrun_migrations_mutex] ([id] int, CONSTRAINT [yieldrun_migrations_mutex_pkey] PRIMARY KEY ([id]))');
    // The lock: the transaction's first statement inserts the key, its last deletes it, no row count read.
    const begin = sql.indexOf('BEGIN TRANSACTION');
    expect(sql.slice(begin, begin + 3)).toEqual(['BEGIN TRANSACTION', 'insert into [dbo].[yieldrun_migrations_mutex] ([id]) values (@p0)', `select [name], [batch] from [dbo].[${MIGRATIONS_TABLE}]`]);
    expect(sql.slice(-2)).toEqual(['DELETE FROM [dbo].[yieldrun_migrations_mutex] WHERE [id] = @p0', 'COMMIT TRANSACTION']);
    expect(sql.filter((s) => s.startsWith(`insert into [dbo].[${MIGRATIONS_TABLE}]`))).toHaveLength(ALL.length);
  });

  it('on a schema migrated by knex: applies 005 and what came after, and 005 alters every timestamp column of 001–004 to DATETIMEOFFSET(3) with its nullability', async () => {
    const all = await migrateDryRun(ALL.slice(0, 4));
    // Every migration after knex's last (004): 005 and the ones that came after it.
    expect(all.applied).toEqual(MIGRATIONS.slice(4).map((m) => m.name));
    expect(all.sent.flatMap((st) => tsqlProblems(st.sql))).toEqual([]);
    expect(untypedDates(all.sent)).toEqual([]);
    const sent = statementsOf(all.sent, 0);
    expect(sent.some((s) => s.sql.startsWith('CREATE TABLE'))).toBe(false);

    // The timestamp columns 001–004 create on an empty database, and how 005 alters them.
    const emptyDb = (await migrateDryRun([])).sent;
    const fresh = [0, 1, 2, 3].flatMap((i) => statementsOf(emptyDb, i)).map((s) => s.sql).filter((s) => s.startsWith('CREATE TABLE'));
    const created = fresh.flatMap((s) => {
      const table = /^CREATE TABLE \[dbo\]\.\[(\w+)\]/.exec(s)![1];
      return [...s.matchAll(/\[(\w+)\] datetimeoffset\(3\)( not null)?/g)].map((m) => `${table}.${m[1]} ${m[2] ? 'NOT NULL' : 'NULL'}`);
    });
    const sql = sent.map((s) => s.sql);
    const altered = sql.flatMap((s) => {
      const m = /^ALTER TABLE \[dbo\]\.\[(\w+)\] ALTER COLUMN \[(\w+)\] datetimeoffset\(3\) (NOT NULL|NULL)$/.exec(s);
      return m ? [`${m[1]}.${m[2]} ${m[3]}`] : [];
    });
    expect(created.length).toBe(20);
    expect([...altered].sort()).toEqual([...created].sort());
    expect(sql).toContain(`ALTER TABLE [dbo].[${MIGRATIONS_TABLE}] ALTER COLUMN [migration_time] datetime2(3) NULL`);

    // SQL Server refuses to alter an indexed column: each index over one is dropped before and re-created after.
    const firstAlter = sql.findIndex((s) => s.startsWith('ALTER TABLE'));
    const lastAlter = sql.length - 1 - [...sql].reverse().findIndex((s) => s.startsWith('ALTER TABLE'));
    for (const ix of ['ix_etl_runs_job_started', 'ix_spc_points_measure_time', 'ix_spc_points_key_time', 'ux_spc_violations_point_rule']) {
      expect(sql.findIndex((s) => s.startsWith(`DROP INDEX [${ix}]`))).toBeLessThan(firstAlter);
      expect(sql.findIndex((s) => s.startsWith(`CREATE `) && s.includes(`INDEX [${ix}]`))).toBeGreaterThan(lastAlter);
    }
    expect(sql).toContain(
      'CREATE UNIQUE INDEX [ux_spc_violations_point_rule] ON [dbo].[spc_violations] ([measure], [chart_key], [point_time], [panel], [rule]) WHERE [measure] IS NOT NULL AND [chart_key] IS NOT NULL AND [point_time] IS NOT NULL AND [panel] IS NOT NULL AND [rule] IS NOT NULL',
    );
  });
});

describe('bookkeeping writes on SQL Server', () => {
  it('binds every Date of a run record and of inserted rows as DATETIMEOFFSET(3), exact to the millisecond', async () => {
    const { db, sent } = mssqlDryRun((st) => (st.sql.startsWith('insert into [dbo].[etl_runs]') ? [{ id: 7 }] : []));
    const ctx = { target: db, targetSchema: 'dbo', log: silentLog } as unknown as EtlContext;
    const at = new Date('2026-11-21T05:30:00.385Z');
    expect(await startRun(ctx, { job: 'spc', days: ['2026-11-20'], triggeredBy: 'test', queueJobId: 'q1' }, at)).toBe(7);
    await finishRun(ctx, db, 7, at, { status: 'failed', error: 'x' });
    await insertBatched(db, 'mssql', 'spc_points', [{ measure: 'm', point_time: at }, { measure: 'm', point_time: new Date(at.getTime() + 1) }], { schema: 'dbo' });
    await db.destroy();
    const dates = sent().flatMap((s) => s.parameters.filter((p) => p.value instanceof Date));
    expect(dates.length).toBeGreaterThanOrEqual(5);
    expect(untypedDates(sent())).toEqual([]);
    expect(dates.find((p) => (p.value as Date).getTime() === at.getTime())).toMatchObject({ type: 'DateTimeOffset', scale: 3 });
    expect(sent().flatMap((s) => tsqlProblems(s.sql))).toEqual([]);
    // The insert's OUTPUT gives the new id; no statement relies on a row count.
    expect(sent()[1]!.sql).toBe('insert into [dbo].[etl_runs] ([attempt], [host], [job], [period_from], [period_to], [periods], [queue_job_id], [reason], [started_at], [status], [triggered_by]) output inserted.[id] values (@p0, @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9, @p10)');
  });
});

describe('bulk load columns', () => {
  const declared = [
    { name: 'SerialNum', type_name: 'nvarchar', max_length: 128, precision: 0, scale: 0, is_nullable: true },
    { name: 'TestTimeStamp', type_name: 'datetime2', max_length: 8, precision: 23, scale: 3, is_nullable: true },
    { name: 'row_values', type_name: 'nvarchar', max_length: -1, precision: 0, scale: 0, is_nullable: false },
    { name: 'computed_at', type_name: 'datetimeoffset', max_length: 10, precision: 30, scale: 3, is_nullable: false },
    { name: 'TestDuration_s', type_name: 'float', max_length: 8, precision: 53, scale: 0, is_nullable: true },
  ];

  it('types each key as the table declares it, whatever the case of the key', () => {
    const cols = bulkColumns('[dbo].[t]', ['serialnum', 'TestTimeStamp', 'row_values', 'computed_at', 'TestDuration_s'], declared);
    expect(cols.map((c) => [c.name, c.type.name, c.options])).toEqual([
      ['SerialNum', 'NVarChar', { nullable: true, length: 64 }],
      ['TestTimeStamp', 'DateTime2', { nullable: true, scale: 3 }],
      ['row_values', 'NVarChar', { nullable: false, length: Infinity }],
      ['computed_at', 'DateTimeOffset', { nullable: false, scale: 3 }],
      ['TestDuration_s', 'Float', { nullable: true }],
    ]);
    expect(() => bulkColumns('[dbo].[t]', ['Station'], declared)).toThrow("bulk load into [dbo].[t]: the table has no column 'Station'");
    expect(() => bulkColumns('[dbo].[t]', ['x'], [])).toThrow(/does not exist or this login cannot see its columns/);
    expect(() => bulkColumns('[dbo].[t]', ['x'], [{ ...declared[0]!, name: 'x', type_name: 'xml' }])).toThrow(/column 'x' has type xml, which the bulk load does not write/);
  });

  it('writes naive text timestamps as their wall-clock time, to the millisecond', () => {
    const ts = instant('[dbo].[t]', 'TestTimeStamp');
    expect(ts('2026-11-20 07:00:00.385')!.toISOString()).toBe('2026-11-20T07:00:00.385Z');
    expect(ts('2026-11-20T07:00:00.5')!.toISOString()).toBe('2026-11-20T07:00:00.500Z');
    expect(ts('2026-11-20 07:00')!.toISOString()).toBe('2026-11-20T07:00:00.000Z');
    expect(ts('2026-11-20')!.toISOString()).toBe('2026-11-20T00:00:00.000Z');
    expect(ts('2026-11-20T07:00:00.385+01:00')!.toISOString()).toBe('2026-11-20T06:00:00.385Z');
    expect(ts(Date.UTC(2026, 10, 20))!.toISOString()).toBe('2026-11-20T00:00:00.000Z');
    expect(ts(null)).toBeNull();
    expect(() => ts('not a date')).toThrow("bulk load into [dbo].[t]: 'not a date' in column 'TestTimeStamp' is not a timestamp");
  });
});
