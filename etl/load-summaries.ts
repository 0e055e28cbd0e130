/**
 * Replaces the rows of the computed periods in the target database, all in one transaction:
 * a reader sees the old rows or the new rows, never a mix (metrics.md §8). DELETE + INSERT with
 * plain bound parameters, no MERGE (see DESIGN.md).
 */
import type { Knex } from 'knex';
import { insertBatched } from '../sql/batch-insert.js';
import { targetTable, type EtlContext } from './context.js';
import type { Period } from './periods.js';
import type { SummaryRows } from './summary-rows.js';
import { replaceDayParts, type DayPartsRow } from './day-parts.js';

export interface RejectRow {
  run_id: number;
  source_table: string;
  period_start: string | null;
  reason: string;
  row_values: string;
}

export interface LoadInput {
  runId: number;
  computedAt: Date;
  periods: readonly Period[];
  rows: SummaryRows;
  rejects: readonly RejectRow[];
  /** The days whose rejects are replaced (their records were read); by default every day period. */
  rejectDays?: readonly string[];
  /** The fine aggregates of the computed days, kept for later runs in their weeks. */
  dayParts?: readonly DayPartsRow[];
}

const SUMMARY_TABLES = ['summary_prod_test', 'summary_machine', 'summary_prod', 'etl_periods'] as const;

/** Period starts per DELETE: with the period type, well under SQL Server's 2,100 parameters. */
const DELETE_CHUNK = 500;

/** DELETE … WHERE period_type = ? AND period_start IN (…), one statement per chunk of periods. */
export function deletePeriodStatements(ctx: Pick<EtlContext, 'targetSchema'>, db: Knex | Knex.Transaction, table: string, periods: readonly Period[]): Knex.QueryBuilder[] {
  const statements: Knex.QueryBuilder[] = [];
  for (const type of ['day', 'week'] as const) {
    const starts = periods.filter((p) => p.type === type).map((p) => p.start);
    for (let i = 0; i < starts.length; i += DELETE_CHUNK) {
      statements.push(targetTable(ctx, db, table).where('period_type', type).whereIn('period_start', starts.slice(i, i + DELETE_CHUNK)).delete());
    }
  }
  return statements;
}

export async function deletePeriods(ctx: EtlContext, trx: Knex.Transaction, table: string, periods: readonly Period[]): Promise<void> {
  for (const statement of deletePeriodStatements(ctx, trx, table, periods)) await statement;
}

/**
 * Writes one batch. `inTransaction` runs last inside the same transaction (the run's own
 * bookkeeping), so a run is recorded as succeeded exactly when its rows are visible.
 */
export async function loadSummaries(
  ctx: EtlContext,
  input: LoadInput,
  inTransaction?: (trx: Knex.Transaction) => Promise<void>,
): Promise<number> {
  const stamp = { run_id: input.runId, computed_at: input.computedAt };
  const insert = (trx: Knex.Transaction, table: string, rows: readonly object[]) =>
    insertBatched(trx, ctx.targetDialect, table, rows.map((r) => ({ ...r, ...stamp })), { schema: ctx.targetSchema });
  let written = 0;
  await ctx.target.transaction(async (trx) => {
    for (const table of SUMMARY_TABLES) await deletePeriods(ctx, trx, table, input.periods);
    written += await insert(trx, 'summary_prod_test', input.rows.prodTest);
    written += await insert(trx, 'summary_machine', input.rows.machine);
    written += await insert(trx, 'summary_prod', input.rows.prod);
    await insert(trx, 'etl_periods', input.rows.quality);

    // Rejects are current state per production day, like the summaries; undated rows are re-found by every run.
    const days = input.rejectDays ?? input.periods.filter((p) => p.type === 'day').map((p) => p.start);
    for (let i = 0; i < days.length; i += 500) {
      await targetTable(ctx, trx, 'etl_rejects').whereIn('period_start', days.slice(i, i + 500)).delete();
    }
    await targetTable(ctx, trx, 'etl_rejects').whereNull('period_start').delete();
    await insertBatched(trx, ctx.targetDialect, 'etl_rejects', input.rejects, { schema: ctx.targetSchema });
    if (input.dayParts) await replaceDayParts(ctx, trx, input.dayParts, stamp);
    if (inTransaction) await inTransaction(trx);
  });
  return written;
}
