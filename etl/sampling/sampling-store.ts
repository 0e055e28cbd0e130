/**
 * Reads what the lot-sampling job stored for a production day, for the report.
 */
import type { EtlContext } from '../context.js';
import { targetTable } from '../context.js';
import { isoDate } from '../nightly-summary.js';
import { SAMPLING_TABLES } from './lot-sampling-job.js';

export interface StoredDisposition {
  seq: number;
  lot_id: string;
  product: string;
  inspection_class: string;
  supplier: string | null;
  inspected_at: Date;
  lot_size: number | null;
  inspected: number | null;
  defectives: number | null;
  plan_type: string | null;
  plan: string | null;
  code_letter: string | null;
  sample_size: number | null;
  ac: number | null;
  re: number | null;
  decision: string;
  note: string | null;
  state_before: string;
  state_after: string;
  aql: number | null;
  ltpd: number | null;
  alpha: number | null;
  beta: number | null;
  ltpd_at_pa10: number | null;
  aoql: number | null;
}

export interface StoredChange {
  product: string;
  inspection_class: string;
  lot_id: string | null;
  from_state: string;
  to_state: string;
  reason: string;
  changed_by: string;
}

/** A stored instant: a Date (PostgreSQL, SQL Server), epoch milliseconds (SQLite) or text. */
function instant(v: unknown): Date {
  if (v instanceof Date) return v;
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) return new Date(Number(v));
  return new Date(String(v));
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export async function loadSamplingDay(ctx: EtlContext, day: string): Promise<{ day: string; lots: StoredDisposition[]; changes: StoredChange[] }> {
  const rows = (await targetTable(ctx, ctx.target, SAMPLING_TABLES.dispositions).where({ production_day: day }).orderBy(['product', 'inspection_class', 'seq'])) as Record<string, unknown>[];
  const lots = rows.map(
    (r): StoredDisposition => ({
      seq: Number(r.seq),
      lot_id: String(r.lot_id),
      product: String(r.product),
      inspection_class: String(r.inspection_class),
      supplier: (r.supplier as string | null) ?? null,
      inspected_at: instant(r.inspected_at),
      lot_size: num(r.lot_size),
      inspected: num(r.inspected),
      defectives: num(r.defectives),
      plan_type: (r.plan_type as string | null) ?? null,
      plan: (r.plan as string | null) ?? null,
      code_letter: (r.code_letter as string | null) ?? null,
      sample_size: num(r.sample_size),
      ac: num(r.ac),
      re: num(r.re),
      decision: String(r.decision),
      note: (r.note as string | null) ?? null,
      state_before: String(r.state_before),
      state_after: String(r.state_after),
      aql: num(r.aql),
      ltpd: num(r.ltpd),
      alpha: num(r.alpha),
      beta: num(r.beta),
      ltpd_at_pa10: num(r.ltpd_at_pa10),
      aoql: num(r.aoql),
    }),
  );
  const changes = (await targetTable(ctx, ctx.target, SAMPLING_TABLES.history)
    .where({ production_day: day })
    .orderBy('id')
    .select('product', 'inspection_class', 'lot_id', 'from_state', 'to_state', 'reason', 'changed_by')) as StoredChange[];
  return { day: isoDate(day), lots, changes };
}
