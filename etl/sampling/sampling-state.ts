/**
 * The stored inspection states (sampling_state) and the one change a person makes: resuming a
 * discontinued inspection after corrective action, audited in sampling_state_history.
 */
import { DateTime } from 'luxon';
import type { EtlContext } from '../context.js';
import { targetTable } from '../context.js';
import { isoDate } from '../nightly-summary.js';
import { productionDayOf } from '../periods.js';
import { initialState, resume, type InspectionState, type SwitchingState } from './switching.js';

export class ResumeError extends Error {}

export interface StoredState {
  product: string;
  inspectionClass: string;
  state: InspectionState;
  /** The production day of the latest change of state, if any. */
  since: string | null;
  lastDay: string | null;
  lastLotId: string | null;
}

export async function listStates(ctx: EtlContext): Promise<StoredState[]> {
  const rows = (await targetTable(ctx, ctx.target, 'sampling_state').select('*').orderBy(['product', 'inspection_class'])) as Record<string, unknown>[];
  const changes = (await targetTable(ctx, ctx.target, 'sampling_state_history')
    .select('product', 'inspection_class')
    .max({ day: 'production_day' })
    .groupBy('product', 'inspection_class')) as { product: string; inspection_class: string; day: unknown }[];
  const since = new Map(changes.map((c) => [`${c.product}\u0000${c.inspection_class}`, isoDate(c.day)]));
  return rows.map((r) => ({
    product: String(r.product),
    inspectionClass: String(r.inspection_class),
    state: r.state as InspectionState,
    since: since.get(`${String(r.product)}\u0000${String(r.inspection_class)}`) ?? null,
    lastDay: r.last_day ? isoDate(r.last_day) : null,
    lastLotId: (r.last_lot_id as string | null) ?? null,
  }));
}

/** Resumes a discontinued product × class on tightened inspection, from the current production day. */
export async function resumeInspection(
  ctx: EtlContext,
  req: { product: string; inspectionClass: string; by: string; reason?: string; now?: DateTime },
): Promise<{ day: string; by: string }> {
  const day = productionDayOf(req.now ?? DateTime.now(), ctx.clock);
  const by = req.by.slice(0, 128);
  await ctx.target.transaction(async (trx) => {
    const grain = { product: req.product, inspection_class: req.inspectionClass };
    const row = (await targetTable(ctx, trx, 'sampling_state').where(grain).first()) as Record<string, unknown> | undefined;
    if (!row) throw new ResumeError(`no inspection state for product '${req.product}' class '${req.inspectionClass}' (yieldrun sampling states lists them)`);
    if (row.state !== 'discontinued') throw new ResumeError(`${req.product} / ${req.inspectionClass} is on ${String(row.state)} inspection, not discontinued: nothing to resume`);
    let stored: SwitchingState;
    try {
      stored = { ...initialState('discontinued'), ...(JSON.parse(String(row.state_detail)) as SwitchingState) };
    } catch {
      stored = initialState('discontinued');
    }
    const r = resume(stored);
    const now = new Date();
    await targetTable(ctx, trx, 'sampling_state').where(grain).delete();
    await targetTable(ctx, trx, 'sampling_state').insert({ ...grain, state: r.state.state, state_detail: JSON.stringify(r.state), last_day: row.last_day ? isoDate(row.last_day) : null, last_lot_id: row.last_lot_id ?? null, updated_at: now, updated_by: by });
    await targetTable(ctx, trx, 'sampling_state_history').insert({
      ...grain,
      production_day: day,
      lot_id: null,
      from_state: r.change.from,
      to_state: r.change.to,
      reason: (req.reason ? `${r.change.reason}: ${req.reason}` : r.change.reason).slice(0, 500),
      changed_by: by,
      run_id: null,
      recorded_at: now,
    });
  });
  return { day, by };
}
