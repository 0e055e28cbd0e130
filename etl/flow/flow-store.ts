/**
 * Reads what the process-flow job stored for a production day, for the report.
 */
import type { EtlContext } from '../context.js';
import { targetTable } from '../context.js';
import { isoDate } from '../nightly-summary.js';
import { FLOW_TABLES } from './process-flow-job.js';
import type { FlowRows } from './flow-rows.js';

const bool = (v: unknown) => v === true || v === 1 || v === '1';

/** The day's rows of the five summary_flow_* tables (run_id and computed_at left out). */
export async function loadFlowDay(ctx: EtlContext, day: string): Promise<FlowRows> {
  const read = async (table: string) => {
    const rows = (await targetTable(ctx, ctx.target, table).where({ period_type: 'day', period_start: day }).select('*')) as Record<string, unknown>[];
    return rows.map(({ run_id: _r, computed_at: _c, ...r }) => ({ ...r, period_start: isoDate(r.period_start) }));
  };
  const out = {} as Record<keyof FlowRows, unknown[]>;
  for (const [key, table] of Object.entries(FLOW_TABLES) as [keyof FlowRows, string][]) out[key] = await read(table);
  const rows = out as unknown as FlowRows;
  for (const e of rows.edges) e.is_rework = bool(e.is_rework);
  return rows;
}
