/**
 * The defect-trace job (sources.md "Battery cell assembly", README "Defect trace"): for production
 * days and their ISO weeks, CEF infusion and filling defects per winder (traced through cell_id to
 * the winding record; cells without one on the '(untraced)' row) and each winder's gap statistics,
 * into summary_defect_winder; then the lead indicator (etl/lead-indicator.ts) for the last day.
 *
 * The pattern of the nightly summary: one set-based statement per batch in the source database,
 * pure assembly here, the periods' rows replaced in one target transaction, the run in etl_runs.
 */
import type { Knex } from 'knex';
import { addDays, dateRange, periodsForDays, productionDay, sourceTimestamp, weekBatches, weekMonday, type Period } from './periods.js';
import { finishRun, recordFailure, requestedDays, startRun, type JobRequest, type RunTotals } from './run-log.js';
import { targetTable, type EtlContext } from './context.js';
import { isoDate } from './nightly-summary.js';
import {
  UNTRACED,
  analysisSpan,
  defectRate,
  gapStatsOf,
  poolGapStats,
  rankWinders,
  type GapStats,
  type LeadIndicatorSettings,
  type WinderDay,
  type WinderVerdict,
} from './lead-indicator.js';
import { checkSourceTable } from '../sql/source-check.js';
import { insertBatched } from '../sql/batch-insert.js';
import { buildDefectTraceStatement, type DefectTraceFineRow } from '../sql/defect-trace-query.js';
import { runStatement } from '../sql/statement.js';
import { deletePeriods } from './load-summaries.js';

export const DEFECT_TRACE = 'defect-trace';
export const DEFECT_TRACE_TABLE = 'summary_defect_winder';

/** ISO weeks per statement: a long backfill is split so each statement stays small. */
const WEEKS_PER_BATCH = 5;

/** Production days omitted: yesterday. */
export type DefectTraceRequest = JobRequest;

/** A row of summary_defect_winder, without run_id and computed_at. */
export interface DefectWinderRow {
  winder: string;
  period_type: 'day' | 'week';
  period_start: string;
  period_label: string;
  cells_assembled: number;
  infusion_defects: number;
  filling_defects: number;
  infusion_defect_rate: number | null;
  gap_n: number;
  gap_mean: number | null;
  gap_min: number | null;
  gap_max: number | null;
  gap_sd: number | null;
  gap_below_lsl: number;
  gap_above_usl: number;
  gap_lsl: number;
  gap_usl: number;
}

export interface DefectTraceResult {
  runId: number;
  /** Every day computed: the requested ones and those of the analysis window never computed before. */
  days: string[];
  /** The days asked for (a scheduled run: yesterday); the lead indicator is for the last of them. */
  requested: string[];
  /** Why each computed day was computed. */
  selection: Record<string, string>;
  periods: string[];
  /** CEF results read on the computed days; of them without a winding record; infusion defects; gap readings. */
  cells: number;
  untracedCells: number;
  infusionDefects: number;
  gapReadings: number;
  rowsWritten: number;
  durationMs: number;
  /** The day the ranking is for. */
  day: string;
  /** Winders of `day`, ranked, with their lead-indicator verdict. */
  ranking: WinderVerdict[];
  /** `day`'s CEF results without a winding record. */
  untraced: { cells: number; infusionDefects: number; fillingDefects: number };
}

/** The config keys the lead indicator reads, from the defectTrace config. */
export function leadSettings(ctx: Pick<EtlContext, 'config'>): LeadIndicatorSettings {
  return ctx.config.defectTrace;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
/**
 * Means and SDs rounded to 1e-9 mm: the database may add the readings in any order, and a rerun on
 * the same data must give identical rows (metrics.md §8). Gaps are read to 1e-4 mm.
 */
const nano = (v: number | null) => (v === null ? null : Math.round(v * 1e9) / 1e9);

interface SlotCounts {
  cells: number;
  infusion: number;
  filling: number;
}

/**
 * The table's rows for the periods from the statement's per-slot aggregates (pure). A period has a
 * row for every winder with a CEF cell or a gap reading in it, and an '(untraced)' row when some
 * of its CEF cells have no winding record.
 */
export function assembleDefectRows(
  fine: readonly DefectTraceFineRow[],
  periods: readonly Period[],
  slotDays: readonly string[],
  limits: { lsl: number; usl: number },
): DefectWinderRow[] {
  const counts = new Map<string, SlotCounts>();
  const gaps = new Map<string, GapStats>();
  const key = (slot: number, winder: string) => `${slot}\u0000${winder}`;
  for (const r of fine) {
    const slot = Number(r.k);
    if (r.part === 'C') {
      counts.set(key(slot, r.winder ?? UNTRACED), { cells: num(r.v1), infusion: num(r.v2), filling: num(r.v3) });
    } else if (r.winder !== null) {
      gaps.set(key(slot, r.winder), gapStatsOf(num(r.v1), numOrNull(r.v2), numOrNull(r.v5), numOrNull(r.v3), numOrNull(r.v4), num(r.v6), num(r.v7)));
    }
  }
  const slotOf = new Map(slotDays.map((d, i) => [d, i]));
  const rows: DefectWinderRow[] = [];
  for (const p of periods) {
    const slots = (p.type === 'day' ? [p.start] : dateRange(p.start, addDays(p.start, 6))).map((d) => slotOf.get(d)!);
    const winders = new Set<string>();
    for (const k of [...counts.keys(), ...gaps.keys()]) {
      const [slot, winder] = k.split('\u0000') as [string, string];
      if (slots.includes(Number(slot))) winders.add(winder);
    }
    for (const winder of [...winders].sort()) {
      const c = slots.map((s) => counts.get(key(s, winder))).filter((x): x is SlotCounts => x !== undefined);
      const cells = c.reduce((a, x) => a + x.cells, 0);
      const infusion = c.reduce((a, x) => a + x.infusion, 0);
      const g = poolGapStats(slots.map((s) => gaps.get(key(s, winder))).filter((x): x is GapStats => x !== undefined));
      rows.push({
        winder,
        period_type: p.type,
        period_start: p.start,
        period_label: p.label,
        cells_assembled: cells,
        infusion_defects: infusion,
        filling_defects: c.reduce((a, x) => a + x.filling, 0),
        infusion_defect_rate: defectRate(infusion, cells),
        gap_n: g.n,
        gap_mean: nano(g.mean),
        gap_min: g.min,
        gap_max: g.max,
        gap_sd: nano(g.sd),
        gap_below_lsl: g.belowLsl,
        gap_above_usl: g.aboveUsl,
        gap_lsl: limits.lsl,
        gap_usl: limits.usl,
      });
    }
  }
  return rows;
}

/** Aggregates one batch of days (and their ISO weeks) in the source database: one statement. */
export async function computeDefectTrace(ctx: EtlContext, days: readonly string[]): Promise<{ periods: Period[]; rows: DefectWinderRow[] }> {
  const periods = periodsForDays(days, ctx.clock);
  // Every day of the touched weeks is a slot: a week's row needs all seven, whichever days were asked for.
  const slotDays = periods.filter((p) => p.type === 'week').flatMap((w) => dateRange(w.start, addDays(w.start, 6)));
  const mode = ctx.config.source.timestamps;
  const { assembly, winding, inspection } = ctx.config.source;
  const t = ctx.config.defectTrace;
  const statement = buildDefectTraceStatement({
    dialect: ctx.sourceDialect,
    assembly,
    winding,
    inspection,
    slots: slotDays.map((d) => {
      const p = productionDay(d, ctx.clock);
      return { from: sourceTimestamp(p.from, mode, ctx.clock), to: sourceTimestamp(p.to, mode, ctx.clock) };
    }),
    gapItemCode: t.gapItemCode,
    lsl: t.lsl,
    usl: t.usl,
    infusionCode: t.defectCodes.infusion,
    fillingCode: t.defectCodes.filling,
  });
  const fine = await runStatement<DefectTraceFineRow>(ctx.source, statement);
  return { periods, rows: assembleDefectRows(fine, periods, slotDays, t) };
}

/** The stored day rows from `from` to `to`, as the lead indicator reads them. */
export async function readWinderDays(ctx: EtlContext, db: Knex | Knex.Transaction, from: string, to: string): Promise<WinderDay[]> {
  const rows = (await targetTable(ctx, db, DEFECT_TRACE_TABLE)
    .where('period_type', 'day')
    .whereBetween('period_start', [from, to])
    .select('*')) as Record<string, unknown>[];
  return rows
    .map((r) => ({
      winder: String(r.winder),
      day: isoDate(r.period_start),
      cells: num(r.cells_assembled),
      infusionDefects: num(r.infusion_defects),
      fillingDefects: num(r.filling_defects),
      gap: {
        n: num(r.gap_n),
        mean: numOrNull(r.gap_mean),
        sd: numOrNull(r.gap_sd),
        min: numOrNull(r.gap_min),
        max: numOrNull(r.gap_max),
        belowLsl: num(r.gap_below_lsl),
        aboveUsl: num(r.gap_above_usl),
      },
    }))
    .sort((a, b) => (a.day + a.winder < b.day + b.winder ? -1 : 1));
}

/** What the report reads for `day`: the stored day rows of its analysis span and the settings. */
export interface DefectTraceInput {
  day: string;
  rows: WinderDay[];
  settings: LeadIndicatorSettings;
}

export async function loadDefectTrace(ctx: EtlContext, day: string): Promise<DefectTraceInput> {
  const settings = leadSettings(ctx);
  const span = analysisSpan(day, settings);
  return { day, rows: await readWinderDays(ctx, ctx.target, span.from, span.to), settings };
}

/** Days from `from` to `to` that no successful defect-trace run has computed. */
async function neverComputed(ctx: EtlContext, from: string, to: string): Promise<string[]> {
  const runs = (await targetTable(ctx, ctx.target, 'etl_runs')
    .where({ job: DEFECT_TRACE, status: 'succeeded' })
    .where('period_from', '<=', to)
    .where('period_to', '>=', from)
    .select('periods')) as { periods: string | null }[];
  const done = new Set(runs.flatMap((r) => (r.periods ? (JSON.parse(r.periods) as string[]) : [])));
  return dateRange(from, to).filter((d) => !done.has(d));
}

async function replacePeriods(ctx: EtlContext, trx: Knex.Transaction, periods: readonly Period[], rows: readonly DefectWinderRow[], stamp: object): Promise<number> {
  await deletePeriods(ctx, trx, DEFECT_TRACE_TABLE, periods);
  return insertBatched(trx, ctx.targetDialect, DEFECT_TRACE_TABLE, rows.map((r) => ({ ...r, ...stamp })), { schema: ctx.targetSchema });
}

export async function runDefectTrace(ctx: EtlContext, req: DefectTraceRequest): Promise<DefectTraceResult> {
  const t0 = Date.now();
  const { assembly, winding, inspection } = ctx.config.source;
  await checkSourceTable(ctx.source, assembly.table, assembly.columns, 'source.assembly');
  await checkSourceTable(ctx.source, winding.table, winding.columns, 'source.winding');
  await checkSourceTable(ctx.source, inspection.table, inspection.columns, 'source.inspection');

  const requested = requestedDays(req, ctx.clock);
  const day = requested[requested.length - 1]!;
  const settings = leadSettings(ctx);
  // The lead indicator compares the report day with the days before it; days of its window that
  // were never computed are computed now, so a first run (or a gap in the schedule) gives a full
  // baseline instead of a verdict on missing rows.
  const span = analysisSpan(requested[0]!, settings);
  const selection: Record<string, string> = Object.fromEntries(requested.map((d) => [d, 'requested']));
  for (const d of await neverComputed(ctx, span.from, day)) selection[d] ??= 'window: never computed';
  const days = Object.keys(selection).sort();

  const startedAt = new Date();
  const runId = await startRun(
    ctx,
    { job: DEFECT_TRACE, days, triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt },
    startedAt,
  );
  const log = ctx.log.child({ job: DEFECT_TRACE, runId, from: days[0], to: days[days.length - 1] });
  log.info({ days: days.length, requested }, 'defect trace started');

  const totals: RunTotals = { rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, rows_written: 0, stats: {} };
  const tally = { cells: 0, untracedCells: 0, infusionDefects: 0, gapReadings: 0 };
  const labels: string[] = [];
  let ranking: WinderVerdict[] = [];
  let untraced = { cells: 0, infusionDefects: 0, fillingDefects: 0 };
  try {
    const batches = weekBatches(days, WEEKS_PER_BATCH);
    for (const [i, batch] of batches.entries()) {
      const { periods, rows } = await computeDefectTrace(ctx, batch);
      const batchDays = new Set(batch);
      for (const r of rows) {
        if (r.period_type !== 'day' || !batchDays.has(r.period_start)) continue;
        tally.cells += r.cells_assembled;
        tally.infusionDefects += r.infusion_defects;
        tally.gapReadings += r.gap_n;
        if (r.winder === UNTRACED) tally.untracedCells += r.cells_assembled;
        if (r.winder === UNTRACED && r.period_start === day) {
          untraced = { cells: r.cells_assembled, infusionDefects: r.infusion_defects, fillingDefects: r.filling_defects };
        }
      }
      labels.push(...periods.map((p) => p.label));
      const last = i === batches.length - 1;
      await ctx.target.transaction(async (trx) => {
        const written = await replacePeriods(ctx, trx, periods, rows, { run_id: runId, computed_at: new Date() });
        totals.rows_written += written;
        if (!last) return;
        // Ranked inside the transaction, on the rows it is about to commit, so the run's recorded
        // findings and the table agree.
        const span = analysisSpan(day, settings);
        ranking = rankWinders(await readWinderDays(ctx, trx, span.from, day), day, settings);
        totals.rows_read = tally.cells + tally.gapReadings;
        totals.rows_valid = totals.rows_read;
        totals.stats = {
          ...tally,
          periods: labels,
          selection,
          day,
          above: ranking.filter((r) => r.above).map((r) => ({ winder: r.winder, rate: r.rate, riseDay: r.riseDay, verdict: r.verdict, firstSignalDay: r.firstSignalDay })),
        };
        await finishRun(ctx, trx, runId, startedAt, { status: 'succeeded', totals });
      });
      log.info({ batch: i + 1, of: batches.length, written: totals.rows_written }, 'periods replaced');
      req.onProgress?.((i + 1) / batches.length);
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'defect trace failed');
    await recordFailure(ctx, runId, startedAt, err, totals);
    throw err;
  }
  const result: DefectTraceResult = {
    runId,
    days,
    requested,
    selection,
    periods: labels,
    ...tally,
    rowsWritten: totals.rows_written,
    durationMs: Date.now() - t0,
    day,
    ranking,
    untraced,
  };
  log.info({ runId, days: days.length, rowsWritten: result.rowsWritten, above: ranking.filter((r) => r.above).map((r) => r.winder) }, 'defect trace succeeded');
  return result;
}

const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(2)} %`);

/** Lines for a person: what the run did and found. */
export function describeDefectTrace(r: DefectTraceResult): string[] {
  const filled = r.days.length - r.requested.length;
  const lines = [
    `run ${r.runId}: ${r.requested.length} day(s) ${r.requested[0]}${r.requested.length > 1 ? ` … ${r.requested[r.requested.length - 1]}` : ''}` +
      `${filled > 0 ? `, plus ${filled} day(s) of the analysis window never computed before` : ''}, ${r.periods.length} period(s) replaced`,
    `CEF cells ${r.cells}, infusion defects ${r.infusionDefects}, untraced cells ${r.untracedCells}, gap readings ${r.gapReadings}, rows written ${r.rowsWritten}`,
  ];
  const above = r.ranking.filter((w) => w.above);
  if (above.length === 0) lines.push(`${r.day}: no winder above the infusion-defect threshold`);
  for (const w of above) {
    lines.push(
      `${r.day}: ${w.winder} infusion-defect rate ${pct(w.rate)} (${w.infusionDefects}/${w.cells}), rising since ${w.riseDay}; gap before the rise: ${w.verdict}` +
        `${w.firstSignalDay ? ` from ${w.firstSignalDay}` : ''}`,
    );
  }
  if (r.untraced.cells > 0) lines.push(`${r.day}: ${r.untraced.cells} cell(s) without a winding record, ${r.untraced.infusionDefects} with an infusion defect`);
  lines.push(`took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}
