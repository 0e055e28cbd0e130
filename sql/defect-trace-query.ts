/**
 * The set-based SQL of the defect trace (sources.md "Battery cell assembly"), one statement for all
 * three dialects.
 *
 * It reads the CEF results (assembly table) and the winders' gap readings (inspection table) of the
 * batch's day slots once, looks each CEF cell up in the winding table through cell_id, and returns
 * only aggregates per day slot × winder: cells and defects (part C; winder NULL = no winding record),
 * and the gap's n, mean, min, max, sum of squared deviations and out-of-spec counts (part G).
 * Weeks are pooled from their seven day slots in Node, so a week costs no second pass.
 *
 * Every value is a bound parameter; identifiers come from validated config and are quoted here.
 */
import type { Dialect } from './dialect.js';
import { quoteIdent, quoteTable, timestampExpr, timestampParam, trimmedText } from './dialect.js';
import type { DaySlot } from './summary-query.js';
import { SqlText, type Statement } from './statement.js';
import type { Config } from '../config/schema.js';

type Columns<K extends 'assembly' | 'winding' | 'inspection'> = Config['source'][K]['columns'];

export interface DefectTraceQueryInput {
  dialect: Dialect;
  assembly: { table: string; columns: Columns<'assembly'> };
  winding: { table: string; columns: Columns<'winding'> };
  inspection: { table: string; columns: Columns<'inspection'> };
  /** Production days, in time order, as the source stores time; a row's slot is its index here. */
  slots: readonly DaySlot[];
  gapItemCode: string;
  lsl: number;
  usl: number;
  infusionCode: number;
  fillingCode: number;
}

/**
 * One row of the statement's result. Part C: v1 CEF results, v2 infusion defects, v3 filling defects.
 * Part G: v1 readings, v2 mean, v3 min, v4 max, v5 Σ(x − mean)², v6 below LSL, v7 above USL.
 */
export interface DefectTraceFineRow {
  part: 'C' | 'G';
  k: number | string;
  winder: string | null;
  v1: number | string | null;
  v2: number | string | null;
  v3: number | string | null;
  v4: number | string | null;
  v5: number | string | null;
  v6: number | string | null;
  v7: number | string | null;
}

export function buildDefectTraceStatement(input: DefectTraceQueryInput): Statement {
  const d = input.dialect;
  if (input.slots.length === 0) throw new Error('internal: a defect-trace query needs day slots');
  const q = new SqlText();
  const add = (text: string, ...values: (string | number)[]) => void q.add(text, ...values);
  const ts = timestampParam(d);
  const col = (alias: string, name: string) => `${alias}.${quoteIdent(d, name)}`;
  const asb = input.assembly.columns;
  const wnd = input.winding.columns;
  const isp = input.inspection.columns;
  const first = input.slots[0]!.from;
  const last = input.slots[input.slots.length - 1]!.to;

  // Slots as a small table joined by range: the same bounds serve both timed tables, and a batch
  // needs two parameters per day whatever the number of tables.
  add('WITH slots AS (');
  input.slots.forEach((s, i) => add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS k, ${ts} AS ps, ${ts} AS pe`, i, s.from, s.to));
  add('),\n');

  // CEF results of the slots: the assembly day is the production day of the CEF time, whenever the
  // cell was wound. The outer range lets the database use its index on the timestamp first.
  const asbAt = timestampExpr(d, col('a', asb.prodDt));
  add(
    `cef AS (SELECT sl.k AS slot, ${col('a', asb.cellId)} AS cell_id, ${col('a', asb.dfctCd)} AS dfct_cd
    FROM ${quoteTable(d, input.assembly.table)} a JOIN slots sl ON ${asbAt} >= sl.ps AND ${asbAt} < sl.pe
    WHERE ${asbAt} >= ${ts} AND ${asbAt} < ${ts}),\n`,
    first,
    last,
  );
  // The winding record of each of those cells (looked up by cell_id, whenever it was wound). A cell
  // wound more than once counts for its latest winding with a named winder; a record without one
  // traces the cell to no winder, so such a cell is untraced like a cell without any record.
  const winder = trimmedText(col('w', wnd.eqpId));
  const woundAt = timestampExpr(d, col('w', wnd.prodDt));
  add(`wound AS (SELECT ${col('w', wnd.cellId)} AS cell_id, ${winder} AS winder,
      ROW_NUMBER() OVER (PARTITION BY ${col('w', wnd.cellId)} ORDER BY CASE WHEN ${winder} IS NULL THEN 1 ELSE 0 END,
        CASE WHEN ${woundAt} IS NULL THEN 1 ELSE 0 END, ${woundAt} DESC, ${winder}) AS rn
    FROM ${quoteTable(d, input.winding.table)} w WHERE ${col('w', wnd.cellId)} IN (SELECT cell_id FROM cef)),
  cells AS (SELECT c.slot, c.dfct_cd, wd.winder FROM cef c LEFT JOIN wound wd ON wd.cell_id = c.cell_id AND wd.rn = 1),\n`);
  // Gap readings of the slots; two passes (mean, then squared deviations from it) keep the digits
  // that Σx² − n·x̄² would cancel away for values near 1 mm with a spread of hundredths.
  const inspAt = timestampExpr(d, col('i', isp.inspDt));
  add(
    `readings AS (SELECT sl.k AS slot, ${trimmedText(col('i', isp.eqpId))} AS winder, ${col('i', isp.inspVal)} AS val
    FROM ${quoteTable(d, input.inspection.table)} i JOIN slots sl ON ${inspAt} >= sl.ps AND ${inspAt} < sl.pe
    WHERE ${trimmedText(col('i', isp.itemCd))} = ? AND ${col('i', isp.inspVal)} IS NOT NULL AND ${inspAt} >= ${ts} AND ${inspAt} < ${ts}),
  gap_means AS (SELECT slot, winder, COUNT(*) AS n, AVG(val) AS m FROM readings WHERE winder IS NOT NULL GROUP BY slot, winder)\n`,
    input.gapItemCode,
    first,
    last,
  );
  const none = 'CAST(NULL AS float)';
  add(
    `SELECT 'C' AS part, slot AS k, winder, COUNT(*) AS v1,
      SUM(CASE WHEN dfct_cd = ? THEN 1 ELSE 0 END) AS v2, SUM(CASE WHEN dfct_cd = ? THEN 1 ELSE 0 END) AS v3,
      ${none} AS v4, ${none} AS v5, ${none} AS v6, ${none} AS v7
    FROM cells GROUP BY slot, winder\n`,
    input.infusionCode,
    input.fillingCode,
  );
  add(
    `UNION ALL SELECT 'G', r.slot, r.winder, g.n, g.m, MIN(r.val), MAX(r.val), SUM((r.val - g.m) * (r.val - g.m)),
      SUM(CASE WHEN r.val < ? THEN 1 ELSE 0 END), SUM(CASE WHEN r.val > ? THEN 1 ELSE 0 END)
    FROM readings r JOIN gap_means g ON g.slot = r.slot AND g.winder = r.winder
    GROUP BY r.slot, r.winder, g.n, g.m`,
    input.lsl,
    input.usl,
  );
  return q.statement();
}
