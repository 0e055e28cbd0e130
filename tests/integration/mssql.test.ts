/**
 * Everything yieldrun sends to SQL Server, against a real one, when MSSQL_URL names it
 * (e.g. mssql://sa:Passw0rd!@127.0.0.1:1433/master?encrypt=false). Without it the suite says it
 * skipped. One server, a fresh schema per part: migrate (from empty, twice at once, over a schema
 * knex's migrator made), the spec's worked example, then the generated demo data written through
 * the bulk load and every job on it, each against PostgreSQL on the same data: the nightly summary,
 * SPC twice for the same day, the defect trace, the daily report and a resend, and the process flow.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Knex } from 'knex';
import { createBackend, configFor, openMigrated, readSummary, silentLog, writeTestRecords, type Backend } from '../support/backends.js';
import { migrateWithKnexMigrator } from '../support/knex-migrated.js';
import { smtpSettings, startSmtp, type TestSmtp } from './report-fixture.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import { openEtlContext, targetTable, type EtlContext } from '../../etl/context.js';
import { defaultConfigPath, resolveConfig } from '../../config/load.js';
import { connect } from '../../sql/connection.js';
import { MIGRATIONS, MIGRATION_LOCK_TABLE, MIGRATIONS_TABLE, migrate } from '../../sql/migrations.js';
import { generate, type GenerateManifest } from '../../data/generate.js';
import { addDays, dateRange } from '../../etl/periods.js';
import { DateTime } from 'luxon';
import { runSpc } from '../../etl/spc-job.js';
import { runCellRisk } from '../../etl/risk/cell-risk-job.js';
import { listModels, readScores } from '../../etl/risk/model-store.js';
import { runDefectTrace } from '../../etl/defect-trace.js';
import { runDailyYieldReport } from '../../reports/daily-yield-report.js';
import { runProcessFlow } from '../../etl/flow/process-flow-job.js';

const url = process.env.MSSQL_URL;
if (!url) console.warn('SQL Server integration suite skipped: set MSSQL_URL to run it');

const ALL = MIGRATIONS.map((m) => m.name);

/** 'YYYY-MM-DD HH:MM:SS.fff' of a naive timestamp as tedious (a Date of UTC fields) or pg (text without trailing zeros) returns it. */
function wallClock(v: unknown): string {
  if (v instanceof Date) return v.toISOString().replace('T', ' ').slice(0, 23);
  const [whole, frac = ''] = String(v).split('.');
  return `${whole}.${frac.padEnd(3, '0')}`;
}

/** The timestamp columns of a schema with their type and fractional digits. */
async function timestampColumns(db: Knex, schema: string): Promise<string[]> {
  const rows = (await db.raw(
    "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, DATA_TYPE AS type, DATETIME_PRECISION AS p FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = ? AND DATA_TYPE IN ('datetime', 'datetime2', 'datetimeoffset', 'smalldatetime')",
    [schema],
  )) as { t: string; c: string; type: string; p: number }[];
  return rows.map((r) => `${r.t}.${r.c} ${r.type}(${r.p})`).sort();
}

describe.skipIf(!url)('migrate on SQL Server (MSSQL_URL)', () => {
  const backends: Backend[] = [];
  const open: Knex[] = [];
  const fresh = async () => {
    const b = await createBackend('mssql');
    backends.push(b);
    const db = connect(b.url);
    open.push(db);
    return { b, db };
  };
  afterAll(async () => {
    for (const db of open) await db.destroy();
    for (const b of backends) await b.cleanup();
  });

  it('from an empty schema: every migration, every timestamp DATETIMEOFFSET(3) (migration_time DATETIME2(3)), then nothing', async () => {
    const { b, db } = await fresh();
    expect(await migrate(db, b.schema)).toEqual(ALL);
    expect(await migrate(db, b.schema)).toEqual([]);
    const cols = await timestampColumns(db, b.schema!);
    expect(cols.length).toBe(21);
    expect(cols.filter((c) => !c.endsWith(' datetimeoffset(3)'))).toEqual([`${MIGRATIONS_TABLE}.migration_time datetime2(3)`]);
  });

  it('creates a schema that does not exist yet (CREATE SCHEMA through a variable)', async () => {
    const { b, db } = await fresh();
    const schema = `${b.schema}_new`;
    try {
      expect(await migrate(db, schema)).toEqual(ALL);
      expect(((await db.raw('SELECT SCHEMA_ID(?) AS id', [schema])) as { id: number | null }[])[0]!.id).not.toBeNull();
    } finally {
      const tables = (await db.raw('SELECT name FROM sys.tables WHERE schema_id = SCHEMA_ID(?)', [schema])) as { name: string }[];
      for (const t of tables) await db.raw(`DROP TABLE [${schema}].[${t.name}]`);
      await db.raw(`DROP SCHEMA [${schema}]`);
    }
  });

  it('two migrate() at once on two connections: one applies everything, the other waits on the lock and applies nothing', async () => {
    const { b, db } = await fresh();
    const other = connect(b.url);
    open.push(other);
    const [x, y] = await Promise.all([migrate(db, b.schema), migrate(other, b.schema)]);
    expect([x, y].sort((p, q) => q.length - p.length)).toEqual([ALL, []]);
    expect(await targetTable({ targetSchema: b.schema }, db, MIGRATION_LOCK_TABLE).select('*')).toEqual([]);
  });

  it('over a schema knex migrated: applies 005, which alters the DATETIMEOFFSET(7) columns and keeps the rows and indexes', async () => {
    const { b, db } = await fresh();
    await migrateWithKnexMigrator(db, b.schema);
    expect((await timestampColumns(db, b.schema!)).filter((c) => c.endsWith('datetimeoffset(7)')).length).toBe(20);
    const t = (name: string) => targetTable({ targetSchema: b.schema }, db, name);
    await t('etl_runs').insert({ job: 'spc', triggered_by: 'test', started_at: new Date('2026-11-21T05:30:00.385Z'), status: 'succeeded' });
    expect(await migrate(db, b.schema)).toEqual(['005_mssql_timestamp_precision']);
    const cols = await timestampColumns(db, b.schema!);
    expect(cols.filter((c) => !c.endsWith('(3)'))).toEqual([]);
    const [run] = (await t('etl_runs').select('started_at')) as { started_at: Date }[];
    expect(run!.started_at.toISOString()).toBe('2026-11-21T05:30:00.385Z');
    const indexes = (await db.raw('SELECT i.name FROM sys.indexes i WHERE i.object_id IN (OBJECT_ID(?), OBJECT_ID(?), OBJECT_ID(?)) ORDER BY i.name', [
      `[${b.schema}].[etl_runs]`, `[${b.schema}].[spc_points]`, `[${b.schema}].[spc_violations]`,
    ])) as { name: string | null }[];
    expect(indexes.map((i) => i.name ?? '').filter((n) => /^(ix|ux)_/.test(n))).toEqual(['ix_etl_runs_job_started', 'ix_spc_points_key_time', 'ix_spc_points_measure_time', 'ix_spc_violations_seen', 'ux_spc_violations_point_rule']);
  });
});

describe.skipIf(!url)('nightly summary on SQL Server (MSSQL_URL): the spec worked example', () => {
  let backend: Backend;
  let ctx: EtlContext;
  beforeAll(async () => {
    backend = await createBackend('mssql');
    ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, [
      { serial: 'A1', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 07:00:00', result: 'FAIL', duration: 10 },
      { serial: 'A1', product: 'P1', test: 'TX', machine: 'M2', at: '2026-11-20 07:10:00', result: 'PASS', duration: 12 },
      { serial: 'A2', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 08:00:00', result: 'PASS', duration: 14 },
      { serial: 'A3', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-21 05:50:00', result: 'FAIL', duration: 20 },
      { serial: 'A3', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-21 06:10:00', result: 'FAIL', duration: null },
      { serial: null, product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 09:00:00', result: 'PASS' },
      { serial: 'A4', product: 'P1', test: 'TX', machine: 'M1', at: null, result: 'PASS' },
    ]);
  });
  afterAll(async () => {
    await ctx?.close();
    await backend?.cleanup();
  });

  it('computes the spec worked example (metrics.md §9)', async () => {
    const r = await runNightlySummary(ctx, { days: ['2026-11-20', '2026-11-21'], triggeredBy: 'test' });
    expect(r.rejectsByReason).toEqual({ missing_serial: 1, missing_timestamp: 1 });
    expect((await readSummary(ctx, 'summary_prod_test', 'day', '2026-11-20'))[0]).toMatchObject({
      test_count: 4, passing_rate: 0.5, units_tested: 3, first_pass_units: 1, first_pass_yield: 1 / 3,
      passed_units: 2, pending_units: 1, cumulative_yield: 2 / 3, retest_count: 2, avg_duration_pass_s: 13, avg_duration_fail_s: 15,
    });
    const machines = await readSummary(ctx, 'summary_machine', 'day', '2026-11-20');
    expect(machines.map((m) => [m.machine, m.test_count, m.units_tested, m.first_pass_yield])).toEqual([
      ['M1', 3, 3, 1 / 3],
      ['M2', 1, 0, null],
    ]);
  });

  it('a rerun gives identical rows and records both runs', async () => {
    const before = await readSummary(ctx, 'summary_prod', 'week', '2026-11-16');
    await runNightlySummary(ctx, { days: ['2026-11-20'], triggeredBy: 'test' });
    expect(await readSummary(ctx, 'summary_prod', 'week', '2026-11-16')).toEqual(before);
    const runs = await targetTable(ctx, ctx.target, 'etl_runs').select('status');
    expect(runs.map((r: any) => r.status)).toEqual(['succeeded', 'succeeded']);
  });
});

const START = '2026-10-12';
const DAYS = 30;
const LAST = addDays(START, DAYS - 1);

/** config/default.yaml (its SPC measures and defect trace) on the backend, every table in its schema. */
function demoConfig(b: Backend, out: string) {
  const raw = parse(readFileSync(defaultConfigPath(), 'utf8')) as Record<string, any>;
  const q = (t: string) => b.table(t);
  raw.source = {
    ...raw.source,
    testRecords: { ...raw.source?.testRecords, table: q('test_records') },
    assembly: { ...raw.source?.assembly, table: q('asb_data') },
    winding: { ...raw.source?.winding, table: q('wnd_data') },
    inspection: { ...raw.source?.inspection, table: q('isp_ifo_h') },
    formation: { ...raw.source?.formation, table: q('fmt_data') },
    oqc: { ...raw.source?.oqc, table: q('oqc_data') },
    outcome: { ...raw.source?.outcome, table: q('cell_outcome') },
  };
  for (const m of Object.values(raw.spc.measures) as any[]) {
    m.source.table = q(m.source.table);
    if (m.source.lookup) m.source.lookup.table = q(m.source.lookup.table);
  }
  raw.target = { ...raw.target, schema: b.schema };
  raw.mail = { ...raw.mail, outDir: path.join(out, 'mail'), retryDelayMs: 20 };
  raw.reports = { ...raw.reports, outDir: path.join(out, 'reports'), dailyYield: { ...raw.reports?.dailyYield, to: ['quality-team@example.com'] } };
  return resolveConfig(raw, { SOURCE_DATABASE_URL: b.url }, 'test');
}

async function openDemo(name: 'mssql' | 'postgres', out: string): Promise<{ backend: Backend; ctx: EtlContext; manifest: GenerateManifest }> {
  const backend = await createBackend(name);
  const ctx = openEtlContext(demoConfig(backend, out), silentLog);
  await migrate(ctx.target, ctx.targetSchema);
  const manifest = await generate(ctx.source, {
    rows: 20_000, seed: 7, start: START, days: DAYS, timezone: ctx.config.plant.timezone, dayStart: ctx.config.plant.dayStart,
    timestamps: ctx.config.source.timestamps, mapping: ctx.config.source, cellQuality: true,
  });
  return { backend, ctx, manifest };
}

describe.skipIf(!url)('every job on the generated demo data on SQL Server (MSSQL_URL), against PostgreSQL', () => {
  let out: string;
  let ms: Awaited<ReturnType<typeof openDemo>>;
  let pg: Awaited<ReturnType<typeof openDemo>>;
  let smtp: TestSmtp;
  beforeAll(async () => {
    out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-mssql-'));
    ms = await openDemo('mssql', out);
    pg = await openDemo('postgres', out);
    smtp = await startSmtp();
  }, 600_000);
  afterAll(async () => {
    await smtp?.close();
    for (const d of [ms, pg]) {
      await d?.ctx.close();
      await d?.backend.cleanup();
    }
    rmSync(out, { recursive: true, force: true });
  });

  it('writes the generated rows through the bulk load: every one is there, timestamps to the millisecond', async () => {
    const records = (d: typeof ms) => d.ctx.source.withSchema(d.backend.schema!).table('test_records');
    const counted = (await records(ms).count({ n: '*' })) as { n: number }[];
    expect(Number(counted[0]!.n)).toBe(ms.manifest.testRecords);
    expect(ms.manifest).toEqual(pg.manifest);
    // The same rows in the same order: serials and wall-clock times (tedious reads DATETIME2 as UTC fields, pg as text).
    const sample = async (d: typeof ms) =>
      ((await records(d).whereNotNull('TestTimeStamp').whereNotNull('SerialNum').orderBy([{ column: 'TestTimeStamp' }, { column: 'SerialNum' }, { column: 'TestName' }, { column: 'MachineID' }]).limit(50).select('SerialNum', 'TestTimeStamp')) as any[]).map(
        (r) => `${r.SerialNum} ${wallClock(r.TestTimeStamp)}`,
      );
    expect(await sample(ms)).toEqual(await sample(pg));
  });

  it("the nightly summary of all 30 days gives the same rows as on PostgreSQL, and a Tuesday's rerun (Monday from its stored parts) the same week again", async () => {
    const days = dateRange(START, LAST);
    const [r1, r2] = [await runNightlySummary(ms.ctx, { days, triggeredBy: 'test' }), await runNightlySummary(pg.ctx, { days, triggeredBy: 'test' })];
    expect(r1.rejectsByReason).toEqual(r2.rejectsByReason);
    for (const table of ['summary_prod', 'summary_prod_test', 'summary_machine']) {
      for (const day of [START, '2026-10-25', LAST]) expect(await readSummary(ms.ctx, table, 'day', day)).toEqual(await readSummary(pg.ctx, table, 'day', day));
    }
    const before = await readSummary(ms.ctx, 'summary_prod_test', 'week', '2026-10-26');
    await runNightlySummary(ms.ctx, { days: ['2026-10-27'], triggeredBy: 'test' });
    expect(await readSummary(ms.ctx, 'summary_prod_test', 'week', '2026-10-26')).toEqual(before);
    // The morning after the last day, as the schedule runs it: the late-data check's count, and the
    // lookback's days with pending units assembled from their parts, give the same rows again.
    const lookback = dateRange(addDays(LAST, -ms.ctx.config.yield.lookbackDays), LAST);
    const snapshot = async () => Promise.all(lookback.map((day) => readSummary(ms.ctx, 'summary_prod_test', 'day', day)));
    const computed = await snapshot();
    const scheduled = await runNightlySummary(ms.ctx, { triggeredBy: 'schedule', now: DateTime.fromISO(`${addDays(LAST, 1)}T12:00`, { zone: ms.ctx.config.plant.timezone }) });
    expect(Object.values(scheduled.selection!).filter((why) => why.startsWith('late data') || why === 'never computed')).toEqual([]);
    expect(await snapshot()).toEqual(computed);
  }, 600_000);

  it('SPC twice for the same day: no duplicate key, the same points and violations, nothing alerted twice', async () => {
    const snapshot = async () => ({
      points: (await targetTable(ms.ctx, ms.ctx.target, 'spc_points').orderBy(['measure', 'chart_key', 'point_time']).select('measure', 'chart_key', 'point_time', 'value', 'cl', 'ucl', 'lcl')) as any[],
      violations: (await targetTable(ms.ctx, ms.ctx.target, 'spc_violations').orderBy('id').select('id', 'measure', 'chart_key', 'point_time', 'panel', 'rule', 'first_seen_run_id', 'alerted_at')) as any[],
    });
    const first = await runSpc(ms.ctx, { days: [LAST], triggeredBy: 'test', mail: smtpSettings(ms.ctx, smtp) });
    const a = await snapshot();
    expect(a.violations.length).toBeGreaterThan(0);
    // Points off the 1/300 s grid of DATETIME are stored to the millisecond.
    expect(a.points.some((p) => ![0, 3, 7].includes((p.point_time as Date).getUTCMilliseconds() % 10))).toBe(true);
    const mails = smtp.received.length;
    const second = await runSpc(ms.ctx, { days: [LAST], triggeredBy: 'test', mail: smtpSettings(ms.ctx, smtp) });
    const b = await snapshot();
    expect(b).toEqual(a);
    expect(second.measures.map((m) => m.points)).toEqual(first.measures.map((m) => m.points));
    expect(smtp.received.length).toBe(mails);
    // And the same charts as on PostgreSQL.
    await runSpc(pg.ctx, { days: [LAST], triggeredBy: 'test', mail: smtpSettings(pg.ctx, smtp) });
    const pgViolations = (await targetTable(pg.ctx, pg.ctx.target, 'spc_violations').select('measure', 'chart_key', 'point_time', 'panel', 'rule')) as any[];
    const key = (v: any) => `${v.measure}|${v.chart_key}|${new Date(v.point_time).toISOString()}|${v.panel}|${v.rule}`;
    expect(b.violations.map(key).sort()).toEqual(pgViolations.map(key).sort());
  }, 600_000);

  it('the defect trace names WND03 and WND07 on the last day, as on PostgreSQL, and a rerun replaces its rows', async () => {
    const run = await runDefectTrace(ms.ctx, { days: [LAST], triggeredBy: 'test' });
    const ref = await runDefectTrace(pg.ctx, { days: [LAST], triggeredBy: 'test' });
    expect(run.ranking.filter((w) => w.above).map((w) => w.winder).sort()).toEqual(['WND03', 'WND07']);
    expect(run.ranking).toEqual(ref.ranking);
    const rows = () => targetTable(ms.ctx, ms.ctx.target, 'summary_defect_winder').orderBy(['period_type', 'period_start', 'winder']).select('winder', 'period_type', 'period_start', 'cells_assembled', 'gap_n', 'gap_mean');
    const before = await rows();
    await runDefectTrace(ms.ctx, { days: [LAST], triggeredBy: 'test' });
    expect(await rows()).toEqual(before);
  }, 600_000);

  it('the cell-risk job fits the same model and writes the same scores as on PostgreSQL; a rerun replaces them with the same rows', async () => {
    const run = await runCellRisk(ms.ctx, { days: [LAST], triggeredBy: 'test' });
    const ref = await runCellRisk(pg.ctx, { days: [LAST], triggeredBy: 'test' });
    expect(run.perDay[0]!.fitted).toMatchObject({ version: 1 });
    expect(run.perDay[0]!.fitted).toEqual(ref.perDay[0]!.fitted);
    const [mm] = await listModels(ms.ctx);
    const [pm] = await listModels(pg.ctx);
    expect(mm!.columns).toEqual(pm!.columns);
    const scores = await readScores(ms.ctx, LAST);
    expect(scores.length).toBeGreaterThan(0);
    expect(scores).toEqual(await readScores(pg.ctx, LAST));
    await runCellRisk(ms.ctx, { days: [LAST], triggeredBy: 'test' });
    expect(await readScores(ms.ctx, LAST)).toEqual(scores);
  }, 600_000);

  it('the daily report is sent once, a retry sends nothing, and --resend sends it again', async () => {
    const mail = smtpSettings(ms.ctx, smtp);
    const before = smtp.received.length;
    const sent = await runDailyYieldReport(ms.ctx, { days: [LAST], triggeredBy: 'test', mail });
    expect(sent.days[0]).toMatchObject({ outcome: 'sent' });
    const retry = await runDailyYieldReport(ms.ctx, { days: [LAST], triggeredBy: 'test', mail });
    expect(retry.days[0]).toMatchObject({ outcome: 'already-sent' });
    const again = await runDailyYieldReport(ms.ctx, { days: [LAST], triggeredBy: 'test', mail, resend: true });
    expect(again.days[0]).toMatchObject({ outcome: 'sent', resend: true });
    expect(smtp.received.length).toBe(before + 2);
    const deliveries = (await targetTable(ms.ctx, ms.ctx.target, 'report_deliveries').orderBy('id').select('status', 'resend')) as any[];
    expect(deliveries.map((d) => [d.status, Boolean(d.resend)])).toEqual([
      ['sent', false],
      ['sent', true],
    ]);
  }, 600_000);

  it('a delivery the server refused past the retries stays pending (the table says so) and is sent by the next run, once', async () => {
    const day = addDays(LAST, -1);
    const busy = await startSmtp({ refuseFirst: 100 });
    try {
      await expect(runDailyYieldReport(ms.ctx, { days: [day], triggeredBy: 'test', mail: { ...smtpSettings(ms.ctx, busy), retries: 1 } })).rejects.toThrow(/421|busy/);
    } finally {
      await busy.close();
    }
    const delivery = () => targetTable(ms.ctx, ms.ctx.target, 'report_deliveries').where({ period_start: day }).select('status', 'attempts');
    expect(await delivery()).toEqual([{ status: 'pending', attempts: 2 }]);
    const before = smtp.received.length;
    const r = await runDailyYieldReport(ms.ctx, { days: [day], triggeredBy: 'test', mail: smtpSettings(ms.ctx, smtp) });
    expect(r.days[0]!.outcome).toBe('sent');
    await runDailyYieldReport(ms.ctx, { days: [day], triggeredBy: 'test', mail: smtpSettings(ms.ctx, smtp) });
    expect(smtp.received.length).toBe(before + 1);
    expect(await delivery()).toEqual([{ status: 'sent', attempts: 3 }]);
  }, 600_000);

  /** A table's rows without the run's own columns, numbers to 9 significant digits (the engines' float sums differ in the last bits), sorted. */
  const comparable = async (d: typeof ms, table: string) =>
    ((await targetTable(d.ctx, d.ctx.target, table).select('*')) as Record<string, unknown>[])
      .map(({ run_id: _r, computed_at: _c, id: _i, ...r }) =>
        JSON.stringify(
          Object.fromEntries(
            Object.entries(r)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) => [k, v instanceof Date ? v.toISOString() : typeof v === 'number' ? Number(v.toPrecision(9)) : typeof v === 'boolean' ? Number(v) : v]),
          ),
        ),
      )
      .sort();

  it('the process flow of the last week gives the same tables as on PostgreSQL, and a rerun the same again', async () => {
    const days = dateRange(addDays(LAST, -6), LAST);
    const [r1, r2] = [await runProcessFlow(ms.ctx, { days, triggeredBy: 'test' }), await runProcessFlow(pg.ctx, { days, triggeredBy: 'test' })];
    expect(r1.cases).toBeGreaterThan(0);
    expect(r1.cases).toBe(r2.cases);
    expect(r1.findings).toEqual(r2.findings);
    const tables = ['summary_flow_edges', 'summary_flow_steps', 'summary_flow_variants', 'summary_flow_conformance', 'summary_flow_shifts', 'summary_flow_skips'];
    const before: string[][] = [];
    for (const t of tables) {
      const rows = await comparable(ms, t);
      expect(rows, t).toEqual(await comparable(pg, t));
      before.push(rows);
    }
    await runProcessFlow(ms.ctx, { days: [LAST], triggeredBy: 'test' });
    for (const [i, t] of tables.entries()) expect(await comparable(ms, t), t).toEqual(before[i]);
  }, 600_000);
});
