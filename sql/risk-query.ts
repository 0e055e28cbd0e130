/**
 * The cell-risk job's features, one set-based statement for all three dialects (README "Cell
 * risk"): per cell whose end of ageing (formation table, fmt_dt) falls in a range, its formation
 * values and K-value, the winder and the winder's gap readings just before and just after the
 * winding, the CEF defect code, the OQC result and the outcome, each as known before a cut-off.
 *
 * The gap reading nearest the winding is an as-of join done with window functions, never with a
 * correlated subquery per cell (which ran for most of an hour on the demo data on PostgreSQL): the
 * windings and the gap readings of the winders are put in one list, and per winder in time order
 * the latest reading at or before each winding and the first at or after it are found by window
 * aggregates (no join back). Both readings are returned with their times; the caller keeps the
 * closer one, so no dialect's date arithmetic is needed. The readings are restricted to the
 * windings' range and a margin.
 *
 * Every value is a bound parameter; identifiers come from validated config and are quoted here.
 */
import type { Config } from '../config/schema.js';
import { quoteIdent, quoteTable, timestampExpr, timestampParam, trimmedText, type Dialect } from './dialect.js';
import { SqlText, type Statement } from './statement.js';

type Source = Config['source'];
type Mapped<K extends keyof Source> = Source[K] extends { table: string; columns: infer C } ? { table: string; columns: C } : never;

export interface RiskQueryInput {
  dialect: Dialect;
  formation: Mapped<'formation'>;
  assembly: Mapped<'assembly'>;
  winding: Mapped<'winding'>;
  inspection: Mapped<'inspection'>;
  oqc: Mapped<'oqc'>;
  outcome: Mapped<'outcome'>;
  /** Source timestamps 'YYYY-MM-DD HH:MM:SS' as the source stores time. */
  ageingFrom: string;
  ageingTo: string;
  /** Windings are looked for in [windingFrom, ageingTo). */
  windingFrom: string;
  /** Gap readings are read in [gapFrom, gapTo): the windings' range widened by the margin. */
  gapFrom: string;
  gapTo: string;
  /** OQC results and outcomes recorded before this are known. */
  knownBefore: string;
  gapItemCode: string;
}

/** One row of the result: a cell. Times as the driver returns them (text, or a Date on SQL Server). */
export interface RiskFeatureRow {
  cell_id: string;
  lot_id: string | null;
  fmt_eqp: string | null;
  fmt_dt: unknown;
  ocv1: number | string | null;
  ocv2: number | string | null;
  age_days: number | string | null;
  k_value: number | string | null;
  capacity: number | string | null;
  dcir: number | string | null;
  winder: string | null;
  wound_at: unknown;
  gap_before: number | string | null;
  gap_before_at: unknown;
  gap_after: number | string | null;
  gap_after_at: unknown;
  dfct_cd: number | string | null;
  oqc_result: string | null;
  oqc_value: number | string | null;
  outcome: string | null;
  outcome_dt: unknown;
}

type NullKind = 'text' | 'float' | 'time';

/** A typed NULL, so every branch of a UNION agrees on its columns' types. */
function nullOf(d: Dialect, kind: NullKind): string {
  if (kind === 'float') return 'CAST(NULL AS float)';
  if (d === 'sqlite') return 'NULL';
  if (kind === 'text') return d === 'mssql' ? 'CAST(NULL AS nvarchar(4000))' : 'CAST(NULL AS text)';
  return d === 'mssql' ? 'CAST(NULL AS datetime2(3))' : 'CAST(NULL AS timestamp)';
}

export function buildRiskFeatureStatement(input: RiskQueryInput): Statement {
  const d = input.dialect;
  const q = new SqlText();
  const ts = timestampParam(d);
  const col = (alias: string, name: string) => `${alias}.${quoteIdent(d, name)}`;
  const at = (alias: string, name: string) => timestampExpr(d, col(alias, name));
  const num = (expr: string) => `CAST(${expr} AS float)`;
  const nul = (kind: NullKind) => nullOf(d, kind);
  const f = input.formation.columns;
  const a = input.assembly.columns;
  const w = input.winding.columns;
  const i = input.inspection.columns;
  const o = input.oqc.columns;
  const r = input.outcome.columns;

  // The cells whose ageing ended in the range; a cell formed twice counts with its last ageing.
  q.add(
    `WITH fmt AS (SELECT ${col('f', f.cellId)} AS cell_id, ${trimmedText(col('f', f.lotId))} AS lot_id, ${trimmedText(col('f', f.eqpId))} AS fmt_eqp,
      ${at('f', f.fmtDt)} AS fmt_dt, ${num(col('f', f.ocv1))} AS ocv1, ${num(col('f', f.ocv2))} AS ocv2, ${num(col('f', f.ageDays))} AS age_days,
      ${num(col('f', f.capacity))} AS capacity, ${num(col('f', f.dcir))} AS dcir,
      ROW_NUMBER() OVER (PARTITION BY ${col('f', f.cellId)} ORDER BY ${at('f', f.fmtDt)} DESC) AS rn
    FROM ${quoteTable(d, input.formation.table)} f
    WHERE ${col('f', f.cellId)} IS NOT NULL AND ${at('f', f.fmtDt)} >= ${ts} AND ${at('f', f.fmtDt)} < ${ts}),
  cells AS (SELECT * FROM fmt WHERE rn = 1),\n`,
    input.ageingFrom,
    input.ageingTo,
  );
  // The latest winding of each cell with a named winder (as the defect trace counts it).
  const winder = trimmedText(col('w', w.eqpId));
  q.add(
    `wound AS (SELECT ${col('w', w.cellId)} AS cell_id, ${winder} AS winder, ${at('w', w.prodDt)} AS wound_at,
      ROW_NUMBER() OVER (PARTITION BY ${col('w', w.cellId)} ORDER BY ${at('w', w.prodDt)} DESC) AS rn
    FROM ${quoteTable(d, input.winding.table)} w
    WHERE ${col('w', w.cellId)} IN (SELECT cell_id FROM cells) AND ${winder} IS NOT NULL AND ${at('w', w.prodDt)} >= ${ts} AND ${at('w', w.prodDt)} < ${ts}),\n`,
    input.windingFrom,
    input.ageingTo,
  );
  // The gap readings of the range, one value per winder and time (two at the same instant averaged).
  q.add(
    `gaps AS (SELECT ${trimmedText(col('i', i.eqpId))} AS winder, ${at('i', i.inspDt)} AS read_at, AVG(${num(col('i', i.inspVal))}) AS val
    FROM ${quoteTable(d, input.inspection.table)} i
    WHERE ${trimmedText(col('i', i.itemCd))} = ? AND ${col('i', i.inspVal)} IS NOT NULL AND ${trimmedText(col('i', i.eqpId))} IS NOT NULL
      AND ${at('i', i.inspDt)} >= ${ts} AND ${at('i', i.inspDt)} < ${ts}
    GROUP BY ${trimmedText(col('i', i.eqpId))}, ${at('i', i.inspDt)}),\n`,
    input.gapItemCode,
    input.gapFrom,
    input.gapTo,
  );
  // The as-of join without a join back: per winder in time order, a running count of readings
  // numbers the groups that each begin with one reading, so a winding's latest reading at or before
  // it is the one reading of its group, found by a MAX over the group; the same backwards gives the
  // first reading at or after it. At equal times a reading sorts before a winding both ways, so a
  // reading taken at the winding's instant is both.
  q.add(`events AS (SELECT winder, wound_at AS t, 0 AS is_reading, cell_id, ${nul('float')} AS val FROM wound WHERE rn = 1
    UNION ALL SELECT winder, read_at, 1, ${nul('text')}, val FROM gaps),
  numbered AS (SELECT winder, t, is_reading, cell_id, val,
      SUM(is_reading) OVER (PARTITION BY winder ORDER BY t, is_reading DESC ROWS UNBOUNDED PRECEDING) AS fwd,
      SUM(is_reading) OVER (PARTITION BY winder ORDER BY t DESC, is_reading DESC ROWS UNBOUNDED PRECEDING) AS bwd
    FROM events),
  asof AS (SELECT cell_id, winder, t AS wound_at, is_reading,
      MAX(CASE WHEN is_reading = 1 THEN val END) OVER (PARTITION BY winder, fwd) AS gap_before,
      MAX(CASE WHEN is_reading = 1 THEN t END) OVER (PARTITION BY winder, fwd) AS gap_before_at,
      MAX(CASE WHEN is_reading = 1 THEN val END) OVER (PARTITION BY winder, bwd) AS gap_after,
      MAX(CASE WHEN is_reading = 1 THEN t END) OVER (PARTITION BY winder, bwd) AS gap_after_at
    FROM numbered),\n`);
  q.add(
    `cef AS (SELECT ${col('a', a.cellId)} AS cell_id, ${col('a', a.dfctCd)} AS dfct_cd,
      ROW_NUMBER() OVER (PARTITION BY ${col('a', a.cellId)} ORDER BY ${at('a', a.prodDt)} DESC) AS rn
    FROM ${quoteTable(d, input.assembly.table)} a WHERE ${col('a', a.cellId)} IN (SELECT cell_id FROM cells)),
  oqc AS (SELECT ${col('o', o.cellId)} AS cell_id, ${trimmedText(col('o', o.result))} AS result, ${num(col('o', o.value))} AS val,
      ROW_NUMBER() OVER (PARTITION BY ${col('o', o.cellId)} ORDER BY ${at('o', o.inspDt)} DESC) AS rn
    FROM ${quoteTable(d, input.oqc.table)} o WHERE ${col('o', o.cellId)} IN (SELECT cell_id FROM cells) AND ${at('o', o.inspDt)} < ${ts}),
  outcome AS (SELECT ${col('r', r.cellId)} AS cell_id, ${trimmedText(col('r', r.outcome))} AS outcome, ${at('r', r.outcomeDt)} AS outcome_dt,
      ROW_NUMBER() OVER (PARTITION BY ${col('r', r.cellId)} ORDER BY ${at('r', r.outcomeDt)}) AS rn
    FROM ${quoteTable(d, input.outcome.table)} r WHERE ${col('r', r.cellId)} IN (SELECT cell_id FROM cells) AND ${at('r', r.outcomeDt)} < ${ts}),\n`,
    input.knownBefore,
    input.knownBefore,
  );
  // One row per cell and source, gathered by a GROUP BY rather than joined: a join chain of these
  // sets is planned as nested loops when the source tables have no statistics (an MES database
  // that is never analysed), and ran for minutes on the demo data; an aggregate cannot go quadratic.
  const F = ['cell_id', 'lot_id', 'fmt_eqp', 'fmt_dt', 'ocv1', 'ocv2', 'age_days', 'capacity', 'dcir', 'winder', 'wound_at', 'gap_before', 'gap_before_at', 'gap_after', 'gap_after_at', 'dfct_cd', 'oqc_result', 'oqc_value', 'outcome', 'outcome_dt'] as const;
  type Field = (typeof F)[number];
  const kinds: Record<Field, NullKind> = {
    cell_id: 'text', lot_id: 'text', fmt_eqp: 'text', fmt_dt: 'time', ocv1: 'float', ocv2: 'float', age_days: 'float', capacity: 'float', dcir: 'float',
    winder: 'text', wound_at: 'time', gap_before: 'float', gap_before_at: 'time', gap_after: 'float', gap_after_at: 'time',
    dfct_cd: 'float', oqc_result: 'text', oqc_value: 'float', outcome: 'text', outcome_dt: 'time',
  };
  const branch = (from: string, given: Partial<Record<Field, string>>) =>
    `SELECT ${F.map((f) => `${given[f] ?? nul(kinds[f])} AS ${f}`).join(', ')} FROM ${from}`;
  const same = (...fields: Field[]) => Object.fromEntries(fields.map((f) => [f, f])) as Partial<Record<Field, string>>;
  q.add(`facts AS (${[
    branch('cells', same('cell_id', 'lot_id', 'fmt_eqp', 'fmt_dt', 'ocv1', 'ocv2', 'age_days', 'capacity', 'dcir')),
    branch('asof WHERE is_reading = 0', same('cell_id', 'winder', 'wound_at', 'gap_before', 'gap_before_at', 'gap_after', 'gap_after_at')),
    branch('cef WHERE rn = 1', { cell_id: 'cell_id', dfct_cd: num('dfct_cd') }),
    branch('oqc WHERE rn = 1', { cell_id: 'cell_id', oqc_result: 'result', oqc_value: 'val' }),
    branch('outcome WHERE rn = 1', same('cell_id', 'outcome', 'outcome_dt')),
  ].join('\n    UNION ALL ')})\n`);
  const agg = (f: Field) => `MAX(${f})`;
  q.add(`SELECT cell_id, ${F.filter((f) => f !== 'cell_id').map((f) => `${agg(f)} AS ${f}`).join(', ')},
    CASE WHEN MAX(age_days) > 0 THEN (MAX(ocv1) - MAX(ocv2)) * 1000.0 / MAX(age_days) END AS k_value
  FROM facts GROUP BY cell_id HAVING MAX(fmt_dt) IS NOT NULL
  ORDER BY cell_id`);
  return q.statement();
}
