/**
 * The nightly-summary job: choose the periods, aggregate them in the source database, replace
 * their rows in the target database, and record the run (DESIGN.md "The flow of one night").
 */
import { DateTime } from 'luxon';
import type { Knex } from 'knex';
import {
  addDays,
  dateRange,
  isoDate,
  lastCompleteDay,
  periodsForDays,
  productionDay,
  sourceTimestamp,
  weekBatches,
  weekMonday,
  type Period,
} from './periods.js';
import { assembleSummaries, type FineRow, type SummaryRows } from './summary-rows.js';
import { loadSummaries, type RejectRow } from './load-summaries.js';
import { finishRun, recordFailure, setRunDays, startRun, type JobRequest, type RunTotals } from './run-log.js';
import { targetTable, type EtlContext } from './context.js';
import { buildRowCountStatement, buildSummaryStatement, type SummaryQueryInput } from '../sql/summary-query.js';
import { readTestRecordSource, resultSynonyms, type TestRecordSource } from './test-record-source.js';
import { runStatement } from '../sql/statement.js';
import { dayPartsOf, readDayParts, type DayPartsRow } from './day-parts.js';

export const NIGHTLY_SUMMARY = 'nightly-summary';

/** Production days omitted: yesterday plus the lookback days that need it. */
export interface NightlySummaryRequest extends JobRequest {
  /**
   * Progress as the fraction of the work done, weighted by days: 0 once the days are chosen (named
   * in `detail`), then after each batch's aggregate statement and after its load.
   */
  onProgress?: (fraction: number, detail?: { days?: readonly string[] }) => void;
}

export interface NightlySummaryResult {
  runId: number;
  days: string[];
  periods: string[];
  rowsRead: number;
  rowsValid: number;
  rowsRejected: number;
  duplicatesDropped: number;
  excessAttempts: number;
  rowsWritten: number;
  rejectsByReason: Record<string, number>;
  durationMs: number;
  /** Why each automatically chosen day was chosen. */
  selection?: Record<string, string>;
}

/** How many ISO weeks one statement aggregates; a long backfill is split into such batches. */
const WEEKS_PER_BATCH = 5;

/** The part of a batch's time its aggregate statement takes (the load writes only the summary rows). */
const AGGREGATE_SHARE = 0.8;


/** Every production day from the first to the last touched ISO week, for the statement's day slots. */
function slotDays(periods: readonly Period[]): string[] {
  const weeks = periods.filter((p) => p.type === 'week').map((p) => p.start).sort();
  return dateRange(weeks[0]!, addDays(weeks[weeks.length - 1]!, 6));
}

export { readTestRecordSource, type TestRecordSource } from './test-record-source.js';

/**
 * The days of the batch's first ISO week before its first day: a run takes their aggregates from
 * etl_day_parts, where all are stored, and reads whole only the records from its first day on.
 */
function storedDaysBefore(days: readonly string[]): string[] {
  const first = days[0]!;
  const monday = weekMonday(first);
  return monday === first ? [] : dateRange(monday, addDays(first, -1));
}

function queryInput(
  ctx: EtlContext,
  source: TestRecordSource,
  periods: readonly Period[],
  readFromDay?: string,
): { input: SummaryQueryInput; slotPeriods: number[][] } {
  const mode = ctx.config.source.timestamps;
  const days = slotDays(periods);
  const slots = days.map((d) => productionDay(d, ctx.clock));
  const pidOf = new Map(periods.map((p, pid) => [`${p.type}:${p.start}`, pid]));
  const slotPeriods = days.map((d) =>
    [pidOf.get(`day:${d}`), pidOf.get(`week:${weekMonday(d)}`)].filter((x): x is number => x !== undefined),
  );
  const earliest = slots[0]!.from;
  return {
    input: {
      dialect: ctx.sourceDialect,
      ...source,
      ...resultSynonyms(ctx),
      maxAttempts: ctx.config.yield.maxAttempts,
      slots: slots.map((p) => ({ from: sourceTimestamp(p.from, mode, ctx.clock), to: sourceTimestamp(p.to, mode, ctx.clock) })),
      reportSlots: days.flatMap((d, i) => (pidOf.has(`day:${d}`) ? [i] : [])),
      historyFrom: sourceTimestamp(earliest.minus({ days: ctx.config.yield.historyDays }), mode, ctx.clock),
      ...(readFromDay ? { readFrom: sourceTimestamp(productionDay(readFromDay, ctx.clock).from, mode, ctx.clock) } : {}),
      rejectLimit: Math.max(1, ctx.config.etl.maxRejectsStored),
    },
    slotPeriods,
  };
}

/**
 * The days a scheduled run computes: yesterday, and every day in the lookback that was never
 * computed, still has pending units (a retest may still raise its cumulative yield), or whose
 * raw row count changed since it was computed (late data).
 */
export async function chooseDays(ctx: EtlContext, source: TestRecordSource, now: DateTime): Promise<{ days: string[]; why: Record<string, string> }> {
  const yesterday = lastCompleteDay(now, ctx.clock);
  const why: Record<string, string> = { [yesterday]: 'yesterday' };
  const lookback = ctx.config.yield.lookbackDays;
  if (lookback === 0) return { days: [yesterday], why };
  const candidates = dateRange(addDays(yesterday, -lookback), addDays(yesterday, -1));
  const stored = (await targetTable(ctx, ctx.target, 'etl_periods')
    .where('period_type', 'day')
    .whereIn('period_start', candidates)
    .select('period_start', 'rows_read', 'pending_units')) as { period_start: unknown; rows_read: number; pending_units: number }[];
  const state = new Map(stored.map((r) => [isoDate(r.period_start), r]));
  const mode = ctx.config.source.timestamps;
  const slots = candidates.map((d) => productionDay(d, ctx.clock)).map((p) => ({ from: sourceTimestamp(p.from, mode, ctx.clock), to: sourceTimestamp(p.to, mode, ctx.clock) }));
  const counts = await runStatement<{ slot: number | string; n: number | string }>(ctx.source, buildRowCountStatement({ dialect: ctx.sourceDialect, ...source, slots }));
  const now_ = new Map(counts.map((c) => [candidates[Number(c.slot)]!, Number(c.n)]));
  for (const day of candidates) {
    const s = state.get(day);
    const rows = now_.get(day) ?? 0;
    if (!s) why[day] = 'never computed';
    else if (s.pending_units > 0) why[day] = `${s.pending_units} pending units`;
    else if (s.rows_read !== rows) why[day] = `late data: ${s.rows_read} → ${rows} rows`;
  }
  return { days: Object.keys(why).sort(), why };
}

export { isoDate } from './periods.js';

/**
 * The rejected rows for etl_rejects, with their values as read (metrics.md §3). A number stays a
 * number where the column holds numbers; text, and what JSON cannot hold (NaN, Infinity), stays text.
 */
function rejectRows(ctx: EtlContext, source: TestRecordSource, runId: number, slotDay: readonly string[], fine: readonly FineRow[]): RejectRow[] {
  // SQLite's driver already returns each value with its own type.
  const numeric = ['float', 'numeric', 'exact'].includes(source.kinds.durationS);
  const duration = (v: unknown) => {
    if (typeof v !== 'string' || !numeric) return v;
    const n = Number(v);
    return v.trim() !== '' && Number.isFinite(n) ? n : v;
  };
  return fine
    .filter((r) => r.part === 'R')
    .map((r) => ({
      run_id: runId,
      source_table: source.table,
      period_start: r.k === null ? null : slotDay[Number(r.k)]!,
      reason: String(r.t2),
      row_values: JSON.stringify({
        serial: r.t1,
        product: r.product,
        test: r.test,
        machine: r.machine,
        tested_at: r.t5,
        result: r.t3,
        duration_s: duration(r.t6),
        error_code: r.t4,
      }),
    }));
}

/**
 * The aggregate statement of one batch (also what the benchmark's plan report explains). With
 * `readFromDay`, the records before that day are read only as the history of later serials.
 */
export function summaryStatement(ctx: EtlContext, source: TestRecordSource, days: readonly string[], readFromDay?: string) {
  const periods = periodsForDays(days, ctx.clock);
  const { input, slotPeriods } = queryInput(ctx, source, periods, readFromDay);
  return { periods, slotPeriods, statement: buildSummaryStatement(input) };
}

/**
 * Aggregates one batch in the source database: one statement, over the records from the batch's
 * first day on where the days of its week before it have stored parts (etl/day-parts.ts), which
 * then stand in for those days' slots; over the whole week otherwise.
 */
export async function computeSummaries(
  ctx: EtlContext,
  source: TestRecordSource,
  days: readonly string[],
  runId: number,
): Promise<{ periods: Period[]; rows: SummaryRows; rejects: RejectRow[]; dayParts: DayPartsRow[] }> {
  const slotDay = slotDays(periodsForDays(days, ctx.clock));
  const before = storedDaysBefore(days);
  const stored = await readDayParts(ctx, before, slotDay);
  const { periods, slotPeriods, statement } = summaryStatement(ctx, source, days, stored && before.length ? days[0] : undefined);
  let fine =
    ctx.sourceDialect === 'postgres'
      ? await ctx.source.transaction(async (trx) => {
          // A validated size (config etl.postgresWorkMem); SET takes no bound parameters.
          await trx.raw(`SET LOCAL work_mem = '${ctx.config.etl.postgresWorkMem}'`);
          return runStatement<FineRow>(trx, statement);
        })
      : await runStatement<FineRow>(ctx.source, statement);
  if (stored && before.length) {
    // The statement's rows of the slots before the first day hold the read serials only.
    const first = before.length;
    fine = [...fine.filter((r) => r.part === 'R' || r.k === null || Number(r.k) >= first), ...stored];
  }
  const rows = assembleSummaries(fine, periods, slotPeriods);
  return { periods, rows, rejects: rejectRows(ctx, source, runId, slotDay, fine), dayParts: dayPartsOf(fine, slotDay, days) };
}

export async function runNightlySummary(ctx: EtlContext, req: NightlySummaryRequest): Promise<NightlySummaryResult> {
  const t0 = Date.now();
  const asked = req.days?.length ? [...new Set(req.days)].sort() : null;
  const startedAt = new Date();
  // Recorded before the source is touched: a source outage or a wrong mapping is then a failed run
  // in the history, for the day it was for (a scheduled run: yesterday, until it has chosen its days),
  // and the daily report of that day says the summary failed instead of showing older numbers.
  const runId = await startRun(
    ctx,
    { job: NIGHTLY_SUMMARY, days: asked ?? [lastCompleteDay(req.now ?? DateTime.now(), ctx.clock)], triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt },
    startedAt,
  );
  let selection: Record<string, string> | undefined;
  let days: string[];
  let source: TestRecordSource;
  try {
    source = await readTestRecordSource(ctx);
    if (asked) days = asked;
    else {
      const chosen = await chooseDays(ctx, source, req.now ?? DateTime.now());
      days = chosen.days;
      selection = chosen.why;
      await setRunDays(ctx, runId, days);
    }
  } catch (err) {
    await recordFailure(ctx, runId, startedAt, err);
    throw err;
  }
  // Before the run's own log lines: the caller may bind the chosen days to the logger they come from.
  req.onProgress?.(0, { days });
  const log = ctx.log.child({ job: NIGHTLY_SUMMARY, runId, from: days[0], to: days[days.length - 1] });
  log.info({ dayCount: days.length, selection }, 'nightly summary started');

  const totals: RunTotals = { rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, rows_written: 0, stats: {} };
  const rejectsByReason: Record<string, number> = {};
  let excessAttempts = 0;
  const labels: string[] = [];
  try {
    const batches = weekBatches(days, WEEKS_PER_BATCH);
    let daysDone = 0;
    for (const [i, batch] of batches.entries()) {
      const { periods, rows, rejects, dayParts } = await computeSummaries(ctx, source, batch, runId);
      req.onProgress?.((daysDone + AGGREGATE_SHARE * batch.length) / days.length);
      const last = i === batches.length - 1;
      const batchDays = new Set(batch);
      for (const q of rows.quality) {
        if (q.period_type !== 'day' || !batchDays.has(q.period_start)) continue;
        totals.rows_read += q.rows_read;
        totals.rows_valid += q.rows_valid;
        totals.rows_rejected += q.rows_rejected;
        totals.duplicates_dropped += q.duplicates_dropped;
        excessAttempts += q.excess_attempts;
      }
      // Rows without a timestamp are found by every batch; count them once, with the last.
      const reasons = last ? [rows.rejectsByReason, rows.undatedByReason] : [rows.rejectsByReason];
      for (const byReason of reasons) {
        for (const [reason, n] of Object.entries(byReason)) rejectsByReason[reason] = (rejectsByReason[reason] ?? 0) + n;
      }
      if (last) {
        const undated = Object.values(rows.undatedByReason).reduce((a, b) => a + b, 0);
        totals.rows_read += undated;
        totals.rows_rejected += undated;
      }
      labels.push(...periods.map((p) => p.label));
      const written = await loadSummaries(
        ctx,
        { runId, computedAt: new Date(), periods, rows, rejects, dayParts },
        last
          ? async (trx) => {
              totals.stats = { rejectsByReason, excessAttempts, periods: labels, selection };
              await finishRun(ctx, trx, runId, startedAt, {
                status: 'succeeded',
                totals: { ...totals, rows_written: totals.rows_written + rowsWrittenOf(rows) },
              });
            }
          : undefined,
      );
      totals.rows_written += written;
      log.info({ batch: i + 1, of: batches.length, written }, 'periods replaced');
      daysDone += batch.length;
      req.onProgress?.(daysDone / days.length);
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'nightly summary failed');
    await recordFailure(ctx, runId, startedAt, err, totals);
    throw err;
  }
  const result: NightlySummaryResult = {
    runId,
    days,
    periods: labels,
    rowsRead: totals.rows_read,
    rowsValid: totals.rows_valid,
    rowsRejected: totals.rows_rejected,
    duplicatesDropped: totals.duplicates_dropped,
    excessAttempts,
    rowsWritten: totals.rows_written,
    rejectsByReason,
    durationMs: Date.now() - t0,
    selection,
  };
  log.info({ ...result, periods: undefined, selection: undefined }, 'nightly summary succeeded');
  return result;
}

function rowsWrittenOf(rows: SummaryRows): number {
  return rows.prodTest.length + rows.machine.length + rows.prod.length;
}
