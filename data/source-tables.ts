/**
 * The MES source tables the generator writes, under the configured table and column names, with the
 * types an MES uses: short text, a timestamp without zone (millisecond precision), float measures.
 */
import type { Knex } from 'knex';
import { DEFAULT_ERROR_CODE_COLUMN, type Config } from '../config/schema.js';
import { dialectOf, quoteIdent, type Dialect } from '../sql/dialect.js';
import type { AssemblyRow, InspectionRow, WindingRow } from './cell-assembly.js';
import type { FormationRow, OqcRow, OutcomeRow } from './cell-quality.js';
import type { TestRecordRow } from './test-records.js';

export type SourceMapping = Config['source'];

export interface TableName {
  schema: string | undefined;
  table: string;
}

/** `table` or `schema.table` (config validation already restricted both to plain names). */
export function splitTableName(name: string): TableName {
  const dot = name.indexOf('.');
  return dot < 0 ? { schema: undefined, table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

const TEXT = 64;

export function timestampColumn(t: Knex.CreateTableBuilder, d: Dialect, column: string): void {
  // SQLite has no timestamp type: text 'YYYY-MM-DD HH:MM:SS.SSS' sorts and compares as time.
  if (d === 'sqlite') t.text(column);
  else t.specificType(column, d === 'mssql' ? 'datetime2(3)' : 'timestamp(3) without time zone');
}

/** Index names are unique per schema (PostgreSQL) or per database (SQLite): include the table. */
function indexName(table: string, column: string): string {
  return `ix_${table}_${column}`.slice(0, 60);
}

export interface SourceTableDef {
  /** The configured name, `table` or `schema.table`. */
  name: string;
  /** Declares the columns and indexes under the configured names. */
  build(t: Knex.CreateTableBuilder, d: Dialect): void;
}

export interface SourceTableOptions {
  /** The three battery tables (default true). */
  assembly?: boolean;
  /** The cell-quality tables of the cell-risk job: formation, OQC, outcomes (default false). */
  cellQuality?: boolean;
}

/** The source tables to create: test records; with `assembly` the three battery tables; with `cellQuality` the cell-quality ones. */
export function sourceTableDefs(mapping: SourceMapping, opts: SourceTableOptions = {}): SourceTableDef[] {
  const tr = mapping.testRecords.columns;
  const testRecords: SourceTableDef = {
    name: mapping.testRecords.table,
    build(t, d) {
      t.string(tr.serial, TEXT);
      t.string(tr.product, TEXT);
      t.string(tr.test, TEXT);
      t.string(tr.machine, TEXT);
      timestampColumn(t, d, tr.testedAt);
      t.string(tr.result, TEXT);
      t.double(tr.durationS);
      const errorCode = generatedErrorCodeColumn(tr);
      if (errorCode) t.string(errorCode, TEXT);
      // MES test tables are read by time range and looked up by unit; every plant has these indexes.
      // The nightly summary seeks its serials' history by the second (sql/valid-attempts.ts).
      t.index([tr.testedAt], indexName(splitTableName(mapping.testRecords.table).table, tr.testedAt));
      t.index([tr.serial], indexName(splitTableName(mapping.testRecords.table).table, tr.serial));
    },
  };
  if (!(opts.assembly ?? true)) return [testRecords];
  return [testRecords, ...batteryTableDefs(mapping), ...(opts.cellQuality ? cellQualityTableDefs(mapping) : [])];
}

function batteryTableDefs(mapping: SourceMapping): SourceTableDef[] {
  const asb = mapping.assembly.columns;
  const wnd = mapping.winding.columns;
  const isp = mapping.inspection.columns;
  return [
    {
      name: mapping.assembly.table,
      build(t, d) {
        t.string(asb.cellId, TEXT);
        t.string(asb.lotId, TEXT);
        t.string(asb.eqpId, TEXT);
        timestampColumn(t, d, asb.prodDt);
        t.integer(asb.dfctCd);
        t.index([asb.prodDt], indexName(splitTableName(mapping.assembly.table).table, asb.prodDt));
      },
    },
    {
      name: mapping.winding.table,
      build(t, d) {
        t.string(wnd.cellId, TEXT);
        t.string(wnd.lotId, TEXT);
        t.string(wnd.eqpId, TEXT);
        timestampColumn(t, d, wnd.prodDt);
        // The defect trace looks each CEF cell up here.
        t.index([wnd.cellId], indexName(splitTableName(mapping.winding.table).table, wnd.cellId));
      },
    },
    {
      name: mapping.inspection.table,
      build(t, d) {
        t.string(isp.eqpId, TEXT);
        timestampColumn(t, d, isp.inspDt);
        t.string(isp.itemCd, TEXT);
        t.double(isp.inspVal);
        t.index([isp.eqpId, isp.inspDt], indexName(splitTableName(mapping.inspection.table).table, isp.inspDt));
      },
    },
  ];
}

function cellQualityTableDefs(mapping: SourceMapping): SourceTableDef[] {
  const fmt = mapping.formation.columns;
  const oqc = mapping.oqc.columns;
  const out = mapping.outcome.columns;
  const short = (name: string) => splitTableName(name).table;
  return [
    {
      name: mapping.formation.table,
      build(t, d) {
        t.string(fmt.cellId, TEXT);
        t.string(fmt.lotId, TEXT);
        t.string(fmt.eqpId, TEXT);
        timestampColumn(t, d, fmt.fmtDt);
        t.double(fmt.ocv1);
        t.double(fmt.ocv2);
        t.double(fmt.ageDays);
        t.double(fmt.capacity);
        t.double(fmt.dcir);
        // The cell-risk job reads a range of ageing ends.
        t.index([fmt.fmtDt], indexName(short(mapping.formation.table), fmt.fmtDt));
      },
    },
    {
      name: mapping.oqc.table,
      build(t, d) {
        t.string(oqc.cellId, TEXT);
        t.string(oqc.lotId, TEXT);
        timestampColumn(t, d, oqc.inspDt);
        t.string(oqc.result, 8);
        t.double(oqc.value);
        t.index([oqc.cellId], indexName(short(mapping.oqc.table), oqc.cellId));
      },
    },
    {
      name: mapping.outcome.table,
      build(t, d) {
        t.string(out.cellId, TEXT);
        timestampColumn(t, d, out.outcomeDt);
        t.string(out.outcome, 32);
        t.index([out.cellId], indexName(short(mapping.outcome.table), out.cellId));
      },
    },
  ];
}

function schemaBuilder(db: Knex, schema: string | undefined): Knex.SchemaBuilder {
  return schema ? db.schema.withSchema(schema) : db.schema;
}

/** Creates a missing schema on PostgreSQL and SQL Server; SQLite has none to create. */
async function ensureSchema(db: Knex, d: Dialect, schema: string): Promise<void> {
  if (d === 'postgres') await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  // CREATE SCHEMA must be alone in its batch on SQL Server, hence EXEC; quoteIdent admits plain names only.
  else if (d === 'mssql') await db.raw(`IF SCHEMA_ID(?) IS NULL EXEC('CREATE SCHEMA ${quoteIdent(d, schema)}')`, [schema]);
  else if (schema !== 'main') {
    throw new Error(`SQLite has no schema '${schema}': map the source tables to plain names (source.*.table) for a SQLite database`);
  }
}

/**
 * Creates the source tables (test records; with `assembly`, also the battery tables) under their
 * mapped names where they do not exist yet. Existing tables are left as they are.
 */
export async function createSourceTables(db: Knex, mapping: SourceMapping, opts: SourceTableOptions = {}): Promise<void> {
  const d = dialectOf(db);
  for (const def of sourceTableDefs(mapping, opts)) {
    const { schema, table } = splitTableName(def.name);
    if (schema) await ensureSchema(db, d, schema);
    if (await schemaBuilder(db, schema).hasTable(table)) continue;
    await schemaBuilder(db, schema).createTable(table, (t) => def.build(t, d));
  }
}

/** The mapped tables that already hold rows. */
export async function nonEmptySourceTables(db: Knex, mapping: SourceMapping, opts: SourceTableOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const def of sourceTableDefs(mapping, opts)) {
    const { schema, table } = splitTableName(def.name);
    const q = schema ? db.withSchema(schema).table(table) : db.table(table);
    if ((await q.select(db.raw('1 AS x')).limit(1)).length > 0) out.push(def.name);
  }
  return out;
}

/** The generator writes error codes under the mapped name, the default name when unmapped, none when null. */
function generatedErrorCodeColumn(c: Columns<'testRecords'>): string | null {
  return c.errorCode === undefined ? DEFAULT_ERROR_CODE_COLUMN : c.errorCode;
}

type Columns<K extends 'testRecords' | 'assembly' | 'winding' | 'inspection' | 'formation' | 'oqc' | 'outcome'> = SourceMapping[K]['columns'];

/** Logical rows to rows keyed by the configured column names. */
export function testRecordMapper(c: Columns<'testRecords'>) {
  const errorCode = generatedErrorCodeColumn(c);
  return (r: TestRecordRow): Record<string, unknown> => ({
    [c.serial]: r.serial,
    [c.product]: r.product,
    [c.test]: r.test,
    [c.machine]: r.machine,
    [c.testedAt]: r.testedAt,
    [c.result]: r.result,
    [c.durationS]: r.durationS,
    ...(errorCode ? { [errorCode]: r.errorCode } : {}),
  });
}

export function assemblyMapper(c: Columns<'assembly'>) {
  return (r: AssemblyRow): Record<string, unknown> => ({ [c.cellId]: r.cellId, [c.lotId]: r.lotId, [c.eqpId]: r.eqpId, [c.prodDt]: r.prodDt, [c.dfctCd]: r.dfctCd });
}

export function windingMapper(c: Columns<'winding'>) {
  return (r: WindingRow): Record<string, unknown> => ({ [c.cellId]: r.cellId, [c.lotId]: r.lotId, [c.eqpId]: r.eqpId, [c.prodDt]: r.prodDt });
}

export function inspectionMapper(c: Columns<'inspection'>) {
  return (r: InspectionRow): Record<string, unknown> => ({ [c.eqpId]: r.eqpId, [c.inspDt]: r.inspDt, [c.itemCd]: r.itemCd, [c.inspVal]: r.inspVal });
}

export function formationMapper(c: Columns<'formation'>) {
  return (r: FormationRow): Record<string, unknown> => ({
    [c.cellId]: r.cellId,
    [c.lotId]: r.lotId,
    [c.eqpId]: r.eqpId,
    [c.fmtDt]: r.fmtDt,
    [c.ocv1]: r.ocv1V,
    [c.ocv2]: r.ocv2V,
    [c.ageDays]: r.ageDays,
    [c.capacity]: r.capacityAh,
    [c.dcir]: r.dcirMohm,
  });
}

export function oqcMapper(c: Columns<'oqc'>) {
  return (r: OqcRow): Record<string, unknown> => ({ [c.cellId]: r.cellId, [c.lotId]: r.lotId, [c.inspDt]: r.inspDt, [c.result]: r.result, [c.value]: r.acirMohm });
}

export function outcomeMapper(c: Columns<'outcome'>) {
  return (r: OutcomeRow): Record<string, unknown> => ({ [c.cellId]: r.cellId, [c.outcomeDt]: r.outcomeDt, [c.outcome]: r.outcome });
}
