/**
 * The lot-sampling job: every lot inspected on a production day judged by its plan under its
 * product × class's inspection state, into lot_dispositions; the states into sampling_state; every
 * change of state into sampling_state_history; an alert through the outbox when a product × class
 * is discontinued.
 *
 * The state a day starts with is the state the last lot before it left (lot_dispositions keeps it
 * with every lot), so a rerun of a day gives the same answer; because every later day follows
 * from it, a rerun also recomputes every later day already judged.
 */
import type { Knex } from 'knex';
import type { EtlContext } from '../context.js';
import { targetTable } from '../context.js';
import { isoDate } from '../nightly-summary.js';
import { productionDay } from '../periods.js';
import { finishRun, recordFailure, requestedDays, startRun, type JobRequest, type RunTotals } from '../run-log.js';
import { insertBatched } from '../../sql/batch-insert.js';
import { mailSettings, type MailSettings } from '../../reports/mail.js';
import { queueAndSend, type SenderOptions } from '../../reports/outbox/sender.js';
import { applyResume, disposeLots, type Disposition, type LotDecision } from './dispositions.js';
import { checkLotSource, readLots, type InspectedLot } from './lot-source.js';
import { initialState, type InspectionState, type StateChange, type SwitchingState } from './switching.js';

export const LOT_SAMPLING = 'lot-sampling';

export const SAMPLING_TABLES = { dispositions: 'lot_dispositions', state: 'sampling_state', history: 'sampling_state_history' } as const;

/** Production days omitted: yesterday. */
export interface LotSamplingRequest extends JobRequest {
  /** Mail transport; default from the config and SMTP_URL. */
  mail?: MailSettings;
}

export interface LotFinding {
  day: string;
  lotId: string;
  product: string;
  inspectionClass: string;
  supplier: string | null;
  plan: string | null;
  n: number | null;
  ac: number | null;
  re: number | null;
  inspected: number | null;
  defectives: number | null;
  decision: LotDecision;
  stateAfter: InspectionState;
}

export interface StateChangeFinding extends StateChange {
  day: string;
  lotId: string | null;
  product: string;
  inspectionClass: string;
}

export interface StopAlert {
  product: string;
  inspectionClass: string;
  day: string;
  status: 'sent' | 'queued' | 'failed' | 'no-recipients';
  to: string[];
  error?: string;
}

export interface LotSamplingResult {
  runId: number;
  /** The days asked for. */
  days: string[];
  /** Every day judged: the days asked for and every later day already judged. */
  judgedDays: string[];
  lots: number;
  byDecision: Record<LotDecision, number>;
  /** Rejected lots of the days asked for. */
  rejected: LotFinding[];
  changes: StateChangeFinding[];
  alerts: StopAlert[];
  rowsWritten: number;
  durationMs: number;
  /** sampling.plans is empty: nothing was read. */
  unconfigured?: boolean;
}

type Grain = { product: string; inspectionClass: string };
const grainKey = (g: Grain) => `${g.product}\u0000${g.inspectionClass}`;

function parseDetail(text: unknown): SwitchingState {
  try {
    const s = JSON.parse(String(text)) as SwitchingState;
    if (s && typeof s.state === 'string') return { ...initialState(s.state), ...s };
  } catch {
    // fall through: a damaged row starts the grain afresh, which the run's log says
  }
  return initialState();
}

interface ManualChange {
  day: string;
  id: number;
}

/** The state each grain starts `firstDay` with: the last disposition before it. */
async function stateBefore(ctx: EtlContext, g: Grain, firstDay: string): Promise<{ state: SwitchingState; lastDay: string | null }> {
  const row = (await targetTable(ctx, ctx.target, SAMPLING_TABLES.dispositions)
    .where({ product: g.product, inspection_class: g.inspectionClass })
    .andWhere('production_day', '<', firstDay)
    .orderBy([
      { column: 'production_day', order: 'desc' },
      { column: 'seq', order: 'desc' },
    ])
    .first('state_detail', 'production_day')) as { state_detail: string; production_day: unknown } | undefined;
  return row ? { state: parseDetail(row.state_detail), lastDay: isoDate(row.production_day) } : { state: initialState(), lastDay: null };
}

async function manualChanges(ctx: EtlContext): Promise<Map<string, ManualChange[]>> {
  const rows = (await targetTable(ctx, ctx.target, SAMPLING_TABLES.history)
    .whereNull('run_id')
    .where({ to_state: 'tightened', from_state: 'discontinued' })
    .orderBy('id')
    .select('id', 'product', 'inspection_class', 'production_day')) as { id: unknown; product: string; inspection_class: string; production_day: unknown }[];
  const out = new Map<string, ManualChange[]>();
  for (const r of rows) {
    const k = grainKey({ product: r.product, inspectionClass: r.inspection_class });
    out.set(k, [...(out.get(k) ?? []), { id: Number(r.id), day: isoDate(r.production_day) }]);
  }
  return out;
}

async function laterJudgedDays(ctx: EtlContext, after: string): Promise<string[]> {
  const rows = (await targetTable(ctx, ctx.target, SAMPLING_TABLES.dispositions).where('production_day', '>', after).distinct('production_day')) as { production_day: unknown }[];
  return rows.map((r) => isoDate(r.production_day));
}

function groupByGrain(lots: readonly InspectedLot[]): Map<string, { grain: Grain; lots: InspectedLot[] }> {
  const out = new Map<string, { grain: Grain; lots: InspectedLot[] }>();
  for (const l of lots) {
    const grain = { product: l.product || '(none)', inspectionClass: l.inspectionClass || '(none)' };
    const k = grainKey(grain);
    if (!out.has(k)) out.set(k, { grain, lots: [] });
    out.get(k)!.lots.push(l);
  }
  return out;
}

function dispositionRow(d: Disposition, stamp: { run_id: number; computed_at: Date }) {
  return {
    production_day: d.day,
    seq: d.seq,
    lot_id: d.lot.lotId.slice(0, 100) || '(none)',
    product: d.lot.product.slice(0, 100) || '(none)',
    inspection_class: d.lot.inspectionClass.slice(0, 100) || '(none)',
    supplier: d.lot.supplier?.slice(0, 100) ?? null,
    inspected_at: d.lot.inspectedAt.isValid ? d.lot.inspectedAt.toJSDate() : productionDay(d.day, { timezone: 'UTC', dayStart: '00:00' }).from.toJSDate(),
    lot_size: Number.isInteger(d.lot.lotSize) ? d.lot.lotSize : null,
    inspected: Number.isInteger(d.lot.inspected) ? d.lot.inspected : null,
    defectives: Number.isInteger(d.lot.defectives) ? d.lot.defectives : null,
    plan_type: d.planType,
    plan: d.plan?.label.slice(0, 200) ?? null,
    code_letter: d.plan?.codeLetter ?? null,
    sample_size: d.plan?.n ?? null,
    ac: d.plan?.ac ?? null,
    re: d.plan?.re ?? null,
    decision: d.decision,
    note: d.note?.slice(0, 500) ?? null,
    state_before: d.before,
    state_after: d.after.state,
    state_detail: JSON.stringify(d.after),
    aql: d.aql,
    ltpd: d.ltpd,
    alpha: d.alpha,
    beta: d.beta,
    ltpd_at_pa10: d.ltpdAtPa10,
    aoql: d.aoql,
    ...stamp,
  };
}

const DECISIONS: LotDecision[] = ['accept', 'reject', 'sample_too_small', 'no_plan', 'invalid'];

async function sendStopAlert(ctx: EtlContext, c: StateChangeFinding, runId: number, sender: SenderOptions): Promise<StopAlert> {
  const to = ctx.config.sampling.alert.to;
  const base = { product: c.product, inspectionClass: c.inspectionClass, day: c.day, to: [...to] };
  if (to.length === 0) return { ...base, status: 'no-recipients' };
  const subject = `Lot sampling stopped: ${c.product} · ${c.inspectionClass} · ${ctx.config.plant.name}`;
  const text = [
    `Acceptance inspection of ${c.product} (class ${c.inspectionClass}) is discontinued after lot ${c.lotId ?? '–'} on ${c.day}:`,
    c.reason + '.',
    '',
    'Lots of this product and class are still judged by the tightened plan and listed as discontinued until the cause is corrected.',
    `Once it is: yieldrun sampling resume --product "${c.product}" --class "${c.inspectionClass}" --by NAME (inspection restarts on tightened).`,
    '',
    `run ${runId}`,
  ].join('\n');
  try {
    const entry = await queueAndSend(
      ctx,
      { dedupeKey: `lot-sampling-stop|${c.product}|${c.inspectionClass}|${c.lotId ?? ''}|${c.day}`, kind: 'lot-sampling-stop', message: { to, subject, text } },
      sender,
    );
    if (entry.status === 'sent') return { ...base, status: 'sent' };
    if (entry.status === 'pending' || entry.status === 'sending') return { ...base, status: 'queued', error: entry.lastError ?? undefined };
    return { ...base, status: 'failed', error: entry.lastError ?? entry.status };
  } catch (err) {
    return { ...base, status: 'failed', error: (err as Error).message };
  }
}

export async function runLotSampling(ctx: EtlContext, req: LotSamplingRequest): Promise<LotSamplingResult> {
  const t0 = Date.now();
  const days = requestedDays(req, ctx.clock);
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: LOT_SAMPLING, days, triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt }, startedAt);
  const log = ctx.log.child({ job: LOT_SAMPLING, runId, from: days[0], to: days[days.length - 1] });
  const totals: RunTotals = { rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, rows_written: 0, stats: {} };
  const cfg = ctx.config.sampling;
  const asked = new Set(days);
  const all: Disposition[] = [];
  const changes: StateChangeFinding[] = [];
  let judgedDays: string[] = days;
  try {
    if (cfg.plans.length === 0) {
      // Nothing is configured to judge lots by: a scheduled run says so instead of failing on a source it never needed.
      log.info('sampling.plans is empty: no lots judged');
      totals.stats = { judgedDays: [], note: 'sampling.plans is empty' };
      await finishRun(ctx, ctx.target, runId, startedAt, { status: 'succeeded', totals });
      const none = Object.fromEntries(DECISIONS.map((k) => [k, 0])) as Record<LotDecision, number>;
      return { runId, days, judgedDays: [], lots: 0, byDecision: none, rejected: [], changes: [], alerts: [], rowsWritten: 0, durationMs: Date.now() - t0, unconfigured: true };
    }
    await checkLotSource(ctx);
    judgedDays = [...new Set([...days, ...(await laterJudgedDays(ctx, days[days.length - 1]!))])].sort();
    const manual = await manualChanges(ctx);
    const running = new Map<string, { state: SwitchingState; lastDay: string | null }>();
    for (const [i, day] of judgedDays.entries()) {
      const window = productionDay(day, ctx.clock);
      const lots = await readLots(ctx, window.from, window.to);
      totals.rows_read += lots.length;
      for (const [k, { grain, lots: own }] of groupByGrain(lots)) {
        let start = running.get(k) ?? (await stateBefore(ctx, grain, judgedDays[0]!));
        for (const m of manual.get(k) ?? []) {
          if ((start.lastDay === null || m.day > start.lastDay) && m.day <= day) {
            start = { ...start, state: applyResume(start.state).state };
          }
        }
        const { dispositions, state } = disposeLots(own, day, start.state, cfg);
        running.set(k, { state, lastDay: day });
        all.push(...dispositions);
        for (const d of dispositions) {
          if (d.change) changes.push({ ...d.change, day, lotId: d.lot.lotId, product: grain.product, inspectionClass: grain.inspectionClass });
        }
      }
      req.onProgress?.((i + 1) / (judgedDays.length + 1));
    }
    const byDecision = Object.fromEntries(DECISIONS.map((k) => [k, all.filter((d) => d.decision === k && asked.has(d.day)).length])) as Record<LotDecision, number>;
    totals.rows_valid = all.filter((d) => d.decision !== 'invalid').length;
    totals.rows_rejected = all.length - totals.rows_valid;
    await ctx.target.transaction(async (trx) => {
      const stamp = { run_id: runId, computed_at: new Date() };
      const t = (name: string) => targetTable(ctx, trx, name);
      for (const day of judgedDays) {
        await t(SAMPLING_TABLES.dispositions).where({ production_day: day }).delete();
        await t(SAMPLING_TABLES.history).where({ production_day: day }).whereNotNull('run_id').delete();
      }
      totals.rows_written += await insertBatched(trx, ctx.targetDialect, SAMPLING_TABLES.dispositions, all.map((d) => dispositionRow(d, stamp)), { schema: ctx.targetSchema });
      const history = changes.map((c) => ({
        product: c.product.slice(0, 100),
        inspection_class: c.inspectionClass.slice(0, 100),
        production_day: c.day,
        lot_id: c.lotId?.slice(0, 100) ?? null,
        from_state: c.from,
        to_state: c.to,
        reason: c.reason.slice(0, 500),
        changed_by: `run ${runId}`,
        run_id: runId,
        recorded_at: stamp.computed_at,
      }));
      totals.rows_written += await insertBatched(trx, ctx.targetDialect, SAMPLING_TABLES.history, history, { schema: ctx.targetSchema });
      const finals = new Map<string, Disposition>();
      for (const d of all) finals.set(grainKey({ product: d.lot.product || '(none)', inspectionClass: d.lot.inspectionClass || '(none)' }), d);
      for (const [k, d] of finals) {
        const grain = { product: (d.lot.product || '(none)').slice(0, 100), inspection_class: (d.lot.inspectionClass || '(none)').slice(0, 100) };
        // A resume recorded after the grain's last lot still stands.
        let after = d.after;
        for (const m of manual.get(k) ?? []) if (m.day > d.day) after = applyResume(after).state;
        await t(SAMPLING_TABLES.state).where(grain).delete();
        await t(SAMPLING_TABLES.state).insert({
          ...grain,
          state: after.state,
          state_detail: JSON.stringify(after),
          last_day: d.day,
          last_lot_id: d.lot.lotId.slice(0, 100) || null,
          updated_at: stamp.computed_at,
          updated_by: `run ${runId}`,
        });
        totals.rows_written += 1;
      }
      totals.stats = { judgedDays, byDecision, changes: changes.length };
      await finishRun(ctx, trx, runId, startedAt, { status: 'succeeded', totals });
    });
    // After the commit: an alert names a state that is stored. The dedupe key makes a rerun quiet.
    const sender: SenderOptions = { mail: req.mail ?? mailSettings(ctx.config), log };
    const alerts: StopAlert[] = [];
    for (const c of changes) if (c.to === 'discontinued') alerts.push(await sendStopAlert(ctx, c, runId, sender));
    req.onProgress?.(1);
    const rejected = all
      .filter((d) => d.decision === 'reject' && asked.has(d.day))
      .map((d): LotFinding => ({
        day: d.day,
        lotId: d.lot.lotId,
        product: d.lot.product,
        inspectionClass: d.lot.inspectionClass,
        supplier: d.lot.supplier,
        plan: d.plan?.label ?? null,
        n: d.plan?.n ?? null,
        ac: d.plan?.ac ?? null,
        re: d.plan?.re ?? null,
        inspected: d.lot.inspected,
        defectives: d.lot.defectives,
        decision: d.decision,
        stateAfter: d.after.state,
      }));
    const result: LotSamplingResult = {
      runId,
      days,
      judgedDays,
      lots: all.filter((d) => asked.has(d.day)).length,
      byDecision,
      rejected,
      changes,
      alerts,
      rowsWritten: totals.rows_written,
      durationMs: Date.now() - t0,
    };
    log.info({ lots: result.lots, rejected: rejected.length, changes: changes.length }, 'lot sampling succeeded');
    return result;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'lot sampling failed');
    await recordFailure(ctx, runId, startedAt, err, totals);
    throw err;
  }
}

/** Lines for a person. */
export function describeLotSampling(r: LotSamplingResult): string[] {
  if (r.unconfigured) return [`run ${r.runId}: no lots judged: sampling.plans is empty (README "Lot sampling")`];
  const b = r.byDecision;
  const lines = [
    `run ${r.runId}: ${r.days.length} day(s) ${r.days[0]}${r.days.length > 1 ? ` … ${r.days[r.days.length - 1]}` : ''}${r.judgedDays.length > r.days.length ? ` (and ${r.judgedDays.length - r.days.length} later day(s) judged again)` : ''}, ${r.lots} lot(s): ${b.accept} accepted, ${b.reject} rejected, ${b.sample_too_small} sample too small, ${b.no_plan} without a plan, ${b.invalid} invalid`,
  ];
  for (const l of r.rejected) {
    lines.push(`${l.day} rejected ${l.lotId} ${l.product} / ${l.inspectionClass}${l.supplier ? ` from ${l.supplier}` : ''}: ${l.defectives} of ${l.inspected} nonconforming, ${l.plan} (Re ${l.re}); now ${l.stateAfter}`);
  }
  for (const c of r.changes) lines.push(`${c.day} ${c.product} / ${c.inspectionClass}: ${c.from} → ${c.to} after lot ${c.lotId ?? '–'} (${c.reason})`);
  for (const a of r.alerts) lines.push(`stop alert ${a.product} / ${a.inspectionClass}: ${a.status}${a.to.length ? ` to ${a.to.join(', ')}` : ' (sampling.alert.to is empty)'}${a.error ? ` (${a.error})` : ''}`);
  lines.push(`took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}
