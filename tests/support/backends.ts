/**
 * Real databases for tests: a fresh SQLite file, or a fresh schema in the machine's PostgreSQL.
 * Each backend gives a config whose source and target point at it, and cleans up after itself.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { pino } from 'pino';
import { resolveConfig, type ResolvedConfig } from '../../config/load.js';
import { openEtlContext, type EtlContext } from '../../etl/context.js';
import { migrate } from '../../sql/migrations.js';
import { connect } from '../../sql/connection.js';
import { assemblyMapper, createSourceTables, inspectionMapper, windingMapper } from '../../data/source-tables.js';
import type { AssemblyRow, InspectionRow, WindingRow } from '../../data/cell-assembly.js';

export const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type BackendName = 'sqlite' | 'postgres' | 'mssql';

export interface Backend {
  name: BackendName;
  /** Source table name for test records (schema-qualified on PostgreSQL). */
  table: (name: string) => string;
  url: string;
  schema?: string;
  cleanup(): Promise<void>;
}

export async function createBackend(name: BackendName): Promise<Backend> {
  if (name === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-test-'));
    return {
      name,
      url: `sqlite:${path.join(dir, 'db.sqlite')}`,
      table: (t) => t,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `yr_${randomBytes(5).toString('hex')}`;
  if (name === 'mssql') return createMssqlBackend(schema);
  const admin = knexFactory({ client: 'pg', connection: PG_URL });
  await admin.raw(`CREATE SCHEMA ${schema}`);
  await admin.destroy();
  return {
    name,
    url: PG_URL,
    schema,
    table: (t) => `${schema}.${t}`,
    cleanup: async () => {
      const a = knexFactory({ client: 'pg', connection: PG_URL });
      await a.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await a.destroy();
    },
  };
}

/** A fresh schema in the SQL Server given by MSSQL_URL. */
async function createMssqlBackend(schema: string): Promise<Backend> {
  const url = process.env.MSSQL_URL;
  if (!url) throw new Error('MSSQL_URL is not set');
  const db = connect(url);
  await db.raw(`CREATE SCHEMA [${schema}]`);
  await db.destroy();
  return {
    name: 'mssql',
    url,
    schema,
    table: (t) => `${schema}.${t}`,
    cleanup: async () => {
      const a = connect(url);
      const tables = (await a.raw('SELECT name FROM sys.tables WHERE schema_id = SCHEMA_ID(?)', [schema])) as { name: string }[];
      for (const t of tables) await a.raw(`DROP TABLE [${schema}].[${t.name}]`);
      await a.raw(`DROP SCHEMA [${schema}]`);
      await a.destroy();
    },
  };
}

export const silentLog = pino({ level: 'silent' });

/** A resolved config on the backend; `overrides` are merged into the raw YAML-shaped object. */
export function configFor(b: Backend, overrides: Record<string, any> = {}): ResolvedConfig {
  const raw = {
    ...overrides,
    plant: { timezone: 'Europe/Berlin', dayStart: '06:00', ...(overrides.plant ?? {}) },
    source: {
      timestamps: 'local',
      ...(overrides.source ?? {}),
      testRecords: { table: b.table('test_records'), ...(overrides.source?.testRecords ?? {}) },
    },
    target: { ...(b.schema ? { schema: b.schema } : {}), ...(overrides.target ?? {}) },
  };
  return resolveConfig(raw, { SOURCE_DATABASE_URL: b.url }, 'test');
}

export async function openMigrated(cfg: ResolvedConfig): Promise<EtlContext> {
  const ctx = openEtlContext(cfg, silentLog);
  await migrate(ctx.target, ctx.targetSchema);
  return ctx;
}

export interface TestRecord {
  serial: string | null;
  product: string | null;
  test: string | null;
  machine: string | null;
  at: string | null;
  result: string | null;
  duration?: number | null;
  error?: string | null;
}

/**
 * Creates the default-named test_records table and writes rows (timestamps as 'YYYY-MM-DD HH:MM:SS').
 * `serialIndex`: the new table also gets an index on its serial column, which the summary's history
 * read seeks by (sql/valid-attempts.ts); without it the history window is scanned.
 */
export async function writeTestRecords(ctx: EtlContext, rows: readonly TestRecord[], table = ctx.config.source.testRecords.table, opts: { serialIndex?: boolean } = {}): Promise<void> {
  const db = ctx.source;
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const sb = schema ? db.schema.withSchema(schema) : db.schema;
  if (!(await sb.hasTable(name))) {
    await sb.createTable(name, (t) => {
      t.string('SerialNum', 64);
      t.string('ProductName', 64);
      t.string('TestName', 64);
      t.string('MachineID', 64);
      if (ctx.sourceDialect === 'sqlite') t.text('TestTimeStamp');
      else t.specificType('TestTimeStamp', ctx.sourceDialect === 'mssql' ? 'datetime2(3)' : 'timestamp(3)');
      t.string('TestResult', 16);
      t.double('TestDuration_s');
      t.string('ErrorCode', 32);
      if (opts.serialIndex) t.index(['SerialNum'], `ix_${name}_serial`);
    });
  }
  if (rows.length === 0) return;
  const q = schema ? db.withSchema(schema).table(name) : db.table(name);
  await q.insert(
    rows.map((r) => ({
      SerialNum: r.serial,
      ProductName: r.product,
      TestName: r.test,
      MachineID: r.machine,
      TestTimeStamp: r.at,
      TestResult: r.result,
      TestDuration_s: r.duration ?? null,
      ErrorCode: r.error ?? null,
    })),
  );
}

/** Summary rows of a table for one period, ordered by grain, without run_id / computed_at. */
export async function readSummary(ctx: EtlContext, table: string, periodType: 'day' | 'week', periodStart: string): Promise<Record<string, any>[]> {
  const q = ctx.targetSchema ? ctx.target.withSchema(ctx.targetSchema).table(table) : ctx.target.table(table);
  const rows = (await q.where({ period_type: periodType }).select('*')) as Record<string, any>[];
  return rows
    .map((r) => {
      const { run_id: _r, computed_at: _c, ...rest } = r;
      return { ...rest, period_start: String(rest.period_start instanceof Date ? rest.period_start.toISOString() : rest.period_start).slice(0, 10) };
    })
    .filter((r) => r.period_start === periodStart)
    .sort((a, b) => JSON.stringify(grainOf(a)).localeCompare(JSON.stringify(grainOf(b))));
}

function grainOf(r: Record<string, any>) {
  return [r.product ?? '', r.test ?? '', r.machine ?? ''];
}

/** configFor overrides that map the three battery tables to their default names on the backend (schema-qualified on PostgreSQL). */
export function batterySource(b: Backend) {
  return { assembly: { table: b.table('asb_data') }, winding: { table: b.table('wnd_data') }, inspection: { table: b.table('isp_ifo_h') } };
}

export interface BatteryRows {
  assembly?: readonly AssemblyRow[];
  winding?: readonly WindingRow[];
  inspection?: readonly InspectionRow[];
}

/**
 * Creates the battery tables under the configured names, with the generator's column types, and
 * writes rows (timestamps as 'YYYY-MM-DD HH:MM:SS', the way the source stores them).
 */
export async function writeBatteryTables(ctx: EtlContext, rows: BatteryRows): Promise<void> {
  const mapping = ctx.config.source;
  await createSourceTables(ctx.source, mapping, { assembly: true });
  const write = async (table: string, values: readonly Record<string, unknown>[]) => {
    const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
    for (let i = 0; i < values.length; i += 200) {
      await (schema ? ctx.source.withSchema(schema).table(name) : ctx.source.table(name)).insert(values.slice(i, i + 200));
    }
  };
  await write(mapping.assembly.table, (rows.assembly ?? []).map(assemblyMapper(mapping.assembly.columns)));
  await write(mapping.winding.table, (rows.winding ?? []).map(windingMapper(mapping.winding.columns)));
  await write(mapping.inspection.table, (rows.inspection ?? []).map(inspectionMapper(mapping.inspection.columns)));
}
