/**
 * The plan a lot is judged by (pure): from its plan specification (config `sampling.plans`), its
 * lot size and the inspection state of its product × class.
 *
 * - `mil-std-105e`: Table I code letter at the level, then Table II-A / II-B / II-C by state.
 * - `zero-acceptance`, in the manner of MIL-STD-1916: accept on zero; the sample size from the
 *   lot size and a verification level, read from a configured table (the plant's contract).
 * - `lot-size-table`: a fixed table lot size → (n, Ac), such as the plant's sampling code table.
 * - `fixed`: one (n, c) for every lot.
 *
 * A sample size of at least the lot size means 100 % inspection: n becomes N (MIL-STD-105E § 9.4).
 * Only the MIL-STD-105E plans change with the inspection state; the others are the same plan in
 * every state (the switching state is still kept, and its stop rule applies).
 */
import { milStd105ePlan, SamplingPlanError } from './code-letters.js';
import type { InspectionLevel } from './mil-std-105e.js';
import { severityOf, type InspectionState } from './switching.js';

export interface LotSizeRow {
  /** Lot sizes up to this one (inclusive); null: every larger lot. */
  upTo: number | null;
  n: number;
  ac: number;
}

export interface ZeroAcceptanceTable {
  levels: readonly string[];
  /** Per band, the sample size at each of `levels` (same order). */
  rows: readonly { upTo: number | null; n: readonly number[] }[];
}

export type PlanSpec =
  | { type: 'mil-std-105e'; aql: number; level: InspectionLevel; reduced: { enabled: boolean; limitNumber: number | null } }
  | { type: 'zero-acceptance'; table: string; level: string }
  | { type: 'lot-size-table'; table: string }
  | { type: 'fixed'; n: number; c: number };

export interface PlanTables {
  lotSizeTables: Readonly<Record<string, { rows: readonly LotSizeRow[] }>>;
  zeroAcceptanceTables: Readonly<Record<string, ZeroAcceptanceTable>>;
}

export interface LotPlan {
  /** Sample size to inspect (at most the lot size). */
  n: number;
  ac: number;
  re: number;
  /** How a person reads it: "MIL-STD-105E II-A K 1.0 % (level II)", "fixed n=20 c=0", … */
  label: string;
  /** The table's sample size before the 100 % rule. */
  tableN: number;
  codeLetter: string | null;
}

function band<T extends { upTo: number | null }>(rows: readonly T[], lotSize: number, what: string): T {
  const row = rows.find((r) => r.upTo === null || lotSize <= r.upTo);
  if (!row) throw new SamplingPlanError(`lot size ${lotSize} is larger than every row of ${what} (largest ${rows[rows.length - 1]?.upTo}); add a row with upTo: null`);
  return row;
}

const TABLE_NAMES = { normal: 'II-A', tightened: 'II-B', reduced: 'II-C' } as const;

export function planFor(spec: PlanSpec, lotSize: number, state: InspectionState, tables: PlanTables): LotPlan {
  const cap = (n: number) => Math.min(n, lotSize);
  switch (spec.type) {
    case 'mil-std-105e': {
      const severity = severityOf(state);
      const p = milStd105ePlan(lotSize, spec.aql, spec.level, severity);
      const via = p.planLetter === p.codeLetter ? p.codeLetter : `${p.codeLetter}→${p.planLetter}`;
      return { n: cap(p.n), ac: p.ac, re: p.re, tableN: p.n, codeLetter: p.codeLetter, label: `MIL-STD-105E ${TABLE_NAMES[severity]} ${via} AQL ${spec.aql} % (level ${spec.level})` };
    }
    case 'zero-acceptance': {
      const table = tables.zeroAcceptanceTables[spec.table];
      if (!table) throw new SamplingPlanError(`zero-acceptance table '${spec.table}' is not configured (sampling.zeroAcceptanceTables)`);
      const i = table.levels.indexOf(spec.level);
      if (i < 0) throw new SamplingPlanError(`zero-acceptance table '${spec.table}' has no verification level '${spec.level}' (levels: ${table.levels.join(', ')})`);
      const n = band(table.rows, lotSize, `zero-acceptance table '${spec.table}'`).n[i]!;
      return { n: cap(n), ac: 0, re: 1, tableN: n, codeLetter: null, label: `c=0 ${spec.table} level ${spec.level}` };
    }
    case 'lot-size-table': {
      const table = tables.lotSizeTables[spec.table];
      if (!table) throw new SamplingPlanError(`lot-size table '${spec.table}' is not configured (sampling.lotSizeTables)`);
      const row = band(table.rows, lotSize, `lot-size table '${spec.table}'`);
      return { n: cap(row.n), ac: row.ac, re: row.ac + 1, tableN: row.n, codeLetter: null, label: `${spec.table} table n=${row.n} Ac=${row.ac}` };
    }
    case 'fixed':
      return { n: cap(spec.n), ac: spec.c, re: spec.c + 1, tableN: spec.n, codeLetter: null, label: `fixed n=${spec.n} c=${spec.c}` };
  }
}

export type Decision = 'accept' | 'reject' | 'sample_too_small';

/** The decision on a lot: fewer inspected than n cannot be judged; otherwise Ac / Re (d ≥ Re rejects). */
export function decide(plan: Pick<LotPlan, 'n' | 'ac' | 're'>, inspected: number, defectives: number): Decision {
  if (inspected < plan.n) return 'sample_too_small';
  return defectives >= plan.re ? 'reject' : 'accept';
}
