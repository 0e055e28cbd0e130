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
  sourceDaySlots,
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
import { runAggregateStatement, runStatement } from '../sql/statement.js';
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
  /** Days computed from their stored parts without reading their records (a scheduled run's pending days). */
  assembledDays: string[];
}

/** How many ISO weeks one statement aggregates; a long backfill is split into such batches. */
const WEEKS_PER_BATCH = 5;

/** The part of a batch's time its aggregate statement takes (the load writes only the summary rows). */
const AGGREGATE_SHARE = 0.8;


/**
 * The statement's day slots for a batch: every production day from the ISO week `lookbackDays`
 * before its first day to the end of its last week. The periods' own days begin at the first day's
 * week; the slots before it only name attempt 1's day of the attempts in the periods, so that the
 * parts a run stores for its days (etl/day-parts.ts) give the cohort of every earlier day that a
 * later run in the lookback assembles from them.
 */
function batchSlotDays(ctx: EtlContext, days: readonly string[]): string[] {
  return dateRange(weekMonday(addDays(days[0]!, -ctx.config.yield.lookbackDays)), addDays(weekMonday(days[days.length - 1]!), 6));
}

export { readTestRecordSource, type TestRecordSource } from './test-record-source.js';

/**
 * Where a batch reads its records: `from` the first production day read whole (records before it
 * only as history of the serials read), and whether those serials include the ones of records after
 * the slots (needed where slots before `from` come from stored parts: a later retest of their units).
 */
export interface ReadWindow {
  from: string;
  openEnded: boolean;
}

function queryInput(
  ctx: EtlContext,
  source: TestRecordSource,
  periods: readonly Period[],
  slotDay: readonly string[],
  read: ReadWindow,
): { input: SummaryQueryInput; slotPeriods: number[][] } {
  const mode = ctx.config.source.timestamps;
  const ts = (t: DateTime) => sourceTimestamp(t, mode, ctx.clock);
  const pidOf = new Map(periods.map((p, pid) => [`${p.type}:${p.start}`, pid]));
  const slotPeriods = slotDay.map((d) =>
    [pidOf.get(`day:${d}`), pidOf.get(`week:${weekMonday(d)}`)].filter((x): x is number => x !== undefined),
  );
  // History is counted from the periods' first week, not from the slots that only name attempt 1's day.
  const firstWeek = periods.find((p) => p.type === 'week')!;
  return {
    input: {
      dialect: ctx.sourceDialect,
      ...source,
      ...resultSynonyms(ctx),
      maxAttempts: ctx.config.yield.maxAttempts,
      slots: sourceDaySlots(slotDay, mode, ctx.clock),
      reportSlots: slotDay.flatMap((d, i) => (d >= read.from && pidOf.has(`day:${d}`) ? [i] : [])),
      historyFrom: ts(productionDay(firstWeek.start, ctx.clock).from.minus({ days: ctx.config.yield.historyDays })),
      readFrom: ts(productionDay(read.from, ctx.clock).from),
      ...(read.openEnded ? { openEnded: true } : {}),
      rejectLimit: Math.max(1, ctx.config.etl.maxRejectsStored),
    },
    slotPeriods,
  };
}

/**
 * The days a scheduled run computes: yesterday, and every day in the lookback that was never
 * computed, whose raw row count changed since it was computed (late data), or that still has
 * pending units (a retest may still raise its cumulative yield). The last need no reading: their
 * records are as they were (`pendingOnly`).
 */
export async function chooseDays(
  ctx: EtlContext,
  source: TestRecordSource,
  now: DateTime,
): Promise<{ days: string[]; why: Record<string, string>; /** Chosen for pending units only: their records have not changed. */ pendingOnly: string[] }> {
  const yesterday = lastCompleteDay(now, ctx.clock);
  const why: Record<string, string> = { [yesterday]: 'yesterday' };
  const lookback = ctx.config.yield.lookbackDays;
  if (lookback === 0) return { days: [yesterday], why, pendingOnly: [] };
  const candidates = dateRange(addDays(yesterday, -lookback), addDays(yesterday, -1));
  const stored = (await targetTable(ctx, ctx.target, 'etl_periods')
    .where('period_type', 'day')
    .whereIn('period_start', candidates)
    .select('period_start', 'rows_read', 'pending_units')) as { period_start: unknown; rows_read: number; pending_units: number }[];
  const state = new Map(stored.map((r) => [isoDate(r.period_start), r]));
  const slots = sourceDaySlots(candidates, ctx.config.source.timestamps, ctx.clock);
  const counts = await runStatement<{ slot: number | string; n: number | string }>(ctx.source, buildRowCountStatement({ dialect: ctx.sourceDialect, ...source, slots }));
  const now_ = new Map(counts.map((c) => [candidates[Number(c.slot)]!, Number(c.n)]));
  const pendingOnly: string[] = [];
  for (const day of candidates) {
    const s = state.get(day);
    const rows = now_.get(day) ?? 0;
    if (!s) why[day] = 'never computed';
    else if (s.rows_read !== rows) why[day] = `late data: ${s.rows_read} → ${rows} rows`;
    else if (s.pending_units > 0) {
      why[day] = `${s.pending_units} pending units`;
      pendingOnly.push(day);
    }
  }
  return { days: Object.keys(why).sort(), why, pendingOnly };
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
 * The aggregate statement of one batch (also what the benchmark's plan report explains); by
 * default it reads whole every record from the batch's first week on.
 */
export function summaryStatement(ctx: EtlContext, source: TestRecordSource, days: readonly string[], read?: ReadWindow) {
  const periods = periodsForDays(days, ctx.clock);
  const slotDay = batchSlotDays(ctx, days);
  const { input, slotPeriods } = queryInput(ctx, source, periods, slotDay, read ?? { from: weekMonday(days[0]!), openEnded: false });
  return { periods, slotDay, slotPeriods, statement: buildSummaryStatement(input) };
}

export interface BatchSummaries {
  periods: Period[];
  rows: SummaryRows;
  rejects: RejectRow[];
  dayParts: DayPartsRow[];
  /** The batch's days whose records were read (the others were assembled from stored parts). */
  readDays: string[];
}

/**
 * Aggregates one batch: one statement in the source database over the records from the first day
 * that needs reading on, with the days of the batch's weeks before it taken from their stored parts
 * (etl/day-parts.ts), as far as every one of them has parts. A day in `assembleOnly` needs no
 * reading (its records have not changed since it was computed; a scheduled run's day with pending
 * units): its rows are assembled again from its parts and the later days' attempts of its units.
 */
export async function computeSummaries(
  ctx: EtlContext,
  source: TestRecordSource,
  days: readonly string[],
  runId: number,
  assembleOnly: ReadonlySet<string> = new Set(),
): Promise<BatchSummaries> {
  const periodsFrom = weekMonday(days[0]!);
  const wanted = days.find((d) => !assembleOnly.has(d)) ?? days[0]!;
  const before = wanted > periodsFrom ? dateRange(periodsFrom, addDays(wanted, -1)) : [];
  const stored = await readDayParts(ctx, before, batchSlotDays(ctx, days), periodsFrom);
  const from = before.find((d) => !stored.has(d)) ?? wanted;
  const { periods, slotDay, slotPeriods, statement } = summaryStatement(ctx, source, days, { from, openEnded: from > periodsFrom });
  const fine = await runAggregateStatement<FineRow>(ctx.source, ctx.sourceDialect === 'postgres', ctx.config.etl.postgresWorkMem, statement);
  // The statement's rows of the slots before `from` hold the read serials only: those slots come from their parts.
  const first = slotDay.indexOf(from);
  const rows = [
    ...fine.filter((r) => r.part === 'R' || r.k === null || Number(r.k) >= first),
    ...before.filter((d) => d < from).flatMap((d) => stored.get(d)!),
  ];
  const readDays = days.filter((d) => d >= from);
  return {
    periods,
    rows: assembleSummaries(rows, periods, slotPeriods),
    rejects: rejectRows(ctx, source, runId, slotDay, rows),
    dayParts: dayPartsOf(rows, slotDay, readDays),
    readDays,
  };
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
  let assembleOnly = new Set<string>();
  let source: TestRecordSource;
  try {
    source = await readTestRecordSource(ctx);
    if (asked) days = asked;
    else {
      const chosen = await chooseDays(ctx, source, req.now ?? DateTime.now());
      days = chosen.days;
      selection = chosen.why;
      assembleOnly = new Set(chosen.pendingOnly);
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
  const assembledDays: string[] = [];
  try {
    const batches = weekBatches(days, WEEKS_PER_BATCH);
    let daysDone = 0;
    for (const [i, batch] of batches.entries()) {
      const { periods, rows, rejects, dayParts, readDays } = await computeSummaries(ctx, source, batch, runId, assembleOnly);
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
      assembledDays.push(...batch.filter((d) => !readDays.includes(d)));
      const written = await loadSummaries(
        ctx,
        { runId, computedAt: new Date(), periods, rows, rejects, rejectDays: readDays, dayParts },
        last
          ? async (trx) => {
              totals.stats = { rejectsByReason, excessAttempts, periods: labels, selection, assembledDays };
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
    assembledDays,
  };
  log.info({ ...result, periods: undefined, selection: undefined }, 'nightly summary succeeded');
  return result;
}

function rowsWrittenOf(rows: SummaryRows): number {
  return rows.prodTest.length + rows.machine.length + rows.prod.length;
}
