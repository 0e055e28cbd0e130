/**
 * What the daily yield report shows, read from the summary tables (and etl_runs, etl_periods,
 * etl_rejects for the state of the day and its data quality). The queries are at the bottom; the
 * shaping above them is pure, so the rules for the headline numbers are tested on worked examples.
 *
 * The report adds no metric of its own to metrics.md. Where it needs a number the summary tables do
 * not hold, the rule is written here and in the README ("Daily yield report"):
 *  - a product's first-pass / cumulative yield is its rolled yield from summary_prod;
 *  - "All products" and 7-day averages of yields are means of those stored yields weighted by the
 *    rows' units_tested (the cohort the yields describe), so a product or day with more unit-tests
 *    counts for more and one without a yield counts for nothing;
 *  - the 7-day average is over the 7 days before the report's day, counting only days with summary
 *    rows (counts are the mean per such day);
 *  - "previous day" is the latest day before the report's day with summary rows (within 30 days).
 */
import type { Knex } from 'knex';
import type { DateTime } from 'luxon';
import { targetTable, type EtlContext } from '../etl/context.js';
import { addDays, isoWeekLabel, productionDay, weekMonday } from '../etl/periods.js';
import { isoDate, NIGHTLY_SUMMARY } from '../etl/nightly-summary.js';
import type { CellKind, ColumnDef } from './columns.js';

export const ALL_PRODUCTS = 'All products';
export const TREND_DAYS = 30;
export const AVERAGE_DAYS = 7;

export interface Targets {
  firstPassYield: number;
  cumulativeYield: number;
}

/** The part of a summary_prod day row the Overview needs. */
export interface ProdDay {
  day: string;
  product: string;
  load_qty: number;
  test_count: number;
  units_tested: number;
  rolled_first_pass_yield: number | null;
  rolled_cumulative_yield: number | null;
  run_id: number;
  computed_at: Date | null;
}

/** A summary_machine day row. */
export interface MachineDay {
  machine: string;
  test_count: number;
  pass_count: number;
  passing_rate: number | null;
  units_tested: number;
  first_pass_units: number;
  first_pass_yield: number | null;
  cumulative_yield: number | null;
  retest_count: number;
}

export type KpiKey = 'load_qty' | 'test_count' | 'first_pass_yield' | 'cumulative_yield';

export const KPI_LABELS: Record<KpiKey, string> = {
  load_qty: 'Load qty',
  test_count: 'Tests',
  first_pass_yield: 'First-pass yield',
  cumulative_yield: 'Cumulative yield',
};

export const KPI_KEYS: readonly KpiKey[] = ['load_qty', 'test_count', 'first_pass_yield', 'cumulative_yield'];

export const isYield = (k: KpiKey) => k === 'first_pass_yield' || k === 'cumulative_yield';

export interface KpiLine {
  /** null: all products. */
  product: string | null;
  kpi: KpiKey;
  value: number | null;
  previous: number | null;
  average: number | null;
  /** Yields only. */
  target: number | null;
  vsPrevious: number | null;
  vsAverage: number | null;
  vsTarget: number | null;
  belowTarget: boolean;
}

export interface Headline {
  day: string;
  /** The latest earlier day with summary rows, or null. */
  previousDay: string | null;
  /** The days of the 7 before `day` that have summary rows. */
  averageDays: string[];
  /** All products first, then each product of the day by name; KPIs in KPI_KEYS order. */
  lines: KpiLine[];
}

export interface StationRank extends MachineDay {
  rank: number;
}

export interface WorstStations {
  stations: StationRank[];
  /** Stations with a first-pass yield on the day, and how many of them had too few units to be ranked. */
  withYield: number;
  tooFewUnits: number;
  minUnits: number;
}

export interface ParetoBar {
  machine: string;
  /** First-pass failures: units_tested − first_pass_units, the unit-tests that needed a retest or failed. */
  failures: number;
  /** Share of all the day's first-pass failures, running total in rank order. */
  cumulativeShare: number;
}

export interface Pareto {
  bars: ParetoBar[];
  totalFailures: number;
  stationsWithFailures: number;
}

export interface TrendPoint {
  product: string;
  day: string;
  value: number | null;
  units: number;
}

export interface RejectCount {
  reason: string;
  count: number;
}

export interface DataQuality {
  /** From etl_periods; null when the day has never been summarised. */
  rowsRead: number | null;
  rowsValid: number | null;
  rowsRejected: number | null;
  duplicatesDropped: number | null;
  excessAttempts: number | null;
  pendingUnits: number | null;
  /** Stored rejects of the day by reason (etl.maxRejectsStored may have kept fewer than were counted). */
  rejectsByReason: RejectCount[];
  rejectsStored: number;
  /** Rejected records without a timestamp: they belong to no day. */
  undatedRejects: number;
}

export interface SummaryRunInfo {
  id: number;
  status: string;
  triggeredBy: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: string | null;
}

/**
 * What the report can say about the day. `summary-failed` and `summary-running` win over the rows:
 * rows left from an earlier run would be old numbers presented as today's.
 */
export type DayState =
  | { kind: 'report'; run: SummaryRunInfo | null }
  | { kind: 'no-data'; run: SummaryRunInfo | null }
  | { kind: 'summary-failed'; run: SummaryRunInfo }
  | { kind: 'summary-running'; run: SummaryRunInfo };

export interface DailyYieldData {
  day: string;
  /** The production day's bounds, plant time. */
  from: DateTime;
  to: DateTime;
  weekStart: string;
  weekLabel: string;
  state: DayState;
  headline: Headline;
  worst: WorstStations;
  pareto: Pareto;
  trend: TrendPoint[];
  quality: DataQuality;
  /** Summary runs that wrote the day's product rows, and when the last of them wrote. */
  summaryRunIds: number[];
  computedAt: Date | null;
}

export interface DailyYieldOptions {
  targets: Targets;
  worstStations: number;
  worstStationsMinUnits: number;
  /** Bars in the Pareto chart. */
  paretoBars?: number;
}

// ---------------------------------------------------------------------------------------------
// Pure shaping

type Weighted = { units_tested: number; y: number | null };

/** Σ units·y / Σ units over the rows with a yield; null when none has one. */
export function weightedYield(rows: readonly Weighted[]): number | null {
  let num = 0;
  let den = 0;
  for (const r of rows) {
    if (r.y === null || r.units_tested <= 0) continue;
    num += r.units_tested * r.y;
    den += r.units_tested;
  }
  return den === 0 ? null : num / den;
}

const yieldOf = (r: ProdDay, k: 'first_pass_yield' | 'cumulative_yield') =>
  k === 'first_pass_yield' ? r.rolled_first_pass_yield : r.rolled_cumulative_yield;

/** One KPI over a set of product rows of one day (one product's row, or all products'). */
function kpiOfDay(rows: readonly ProdDay[], k: KpiKey): number | null {
  if (rows.length === 0) return null;
  if (k === 'load_qty' || k === 'test_count') return rows.reduce((s, r) => s + r[k], 0);
  return weightedYield(rows.map((r) => ({ units_tested: r.units_tested, y: yieldOf(r, k) })));
}

/** A KPI over several days: the mean per day for counts, the unit-weighted mean for yields. */
function kpiOverDays(byDay: ReadonlyMap<string, readonly ProdDay[]>, k: KpiKey): number | null {
  const days = [...byDay.values()].filter((rows) => rows.length > 0);
  if (days.length === 0) return null;
  if (k === 'load_qty' || k === 'test_count') return days.reduce((s, rows) => s + (kpiOfDay(rows, k) ?? 0), 0) / days.length;
  return weightedYield(days.flat().map((r) => ({ units_tested: r.units_tested, y: yieldOf(r, k) })));
}

const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);

function groupByDay(rows: readonly ProdDay[]): Map<string, ProdDay[]> {
  const m = new Map<string, ProdDay[]>();
  for (const r of rows) m.set(r.day, [...(m.get(r.day) ?? []), r]);
  return m;
}

/**
 * The headline KPIs of `day` from summary_prod day rows of that day and the days before it
 * (rows of other days are ignored).
 */
export function buildHeadline(rows: readonly ProdDay[], day: string, targets: Targets): Headline {
  const earliest = addDays(day, -TREND_DAYS + 1);
  const byDay = groupByDay(rows.filter((r) => r.day >= earliest && r.day <= day));
  const today = byDay.get(day) ?? [];
  const earlierDays = [...byDay.keys()].filter((d) => d < day).sort();
  const previousDay = earlierDays.length ? earlierDays[earlierDays.length - 1]! : null;
  const avgFrom = addDays(day, -AVERAGE_DAYS);
  const averageDays = earlierDays.filter((d) => d >= avgFrom);

  const line = (product: string | null, k: KpiKey): KpiLine => {
    const pick = (rs: readonly ProdDay[]) => (product === null ? rs : rs.filter((r) => r.product === product));
    const value = kpiOfDay(pick(today), k);
    const previous = previousDay ? kpiOfDay(pick(byDay.get(previousDay)!), k) : null;
    const average = kpiOverDays(new Map(averageDays.map((d) => [d, pick(byDay.get(d)!)])), k);
    const target = k === 'first_pass_yield' ? targets.firstPassYield : k === 'cumulative_yield' ? targets.cumulativeYield : null;
    return {
      product,
      kpi: k,
      value,
      previous,
      average,
      target,
      vsPrevious: minus(value, previous),
      vsAverage: minus(value, average),
      vsTarget: minus(value, target),
      belowTarget: target !== null && value !== null && value < target,
    };
  };
  const products = [...new Set(today.map((r) => r.product))].sort();
  const lines = [null, ...products].flatMap((p) => KPI_KEYS.map((k) => line(p, k)));
  return { day, previousDay, averageDays, lines };
}

/** The headline line of one product (null: all products) and KPI. */
export function kpiLine(h: Headline, product: string | null, k: KpiKey): KpiLine | undefined {
  return h.lines.find((l) => l.product === product && l.kpi === k);
}

/**
 * Stations by first-pass yield, worst first (ties: more unit-tests first, then by name). Stations
 * with fewer than `minUnits` unit-tests are not ranked: one failed unit of two is not a finding.
 */
export function rankWorstStations(machines: readonly MachineDay[], n: number, minUnits: number): WorstStations {
  const withYield = machines.filter((m) => m.first_pass_yield !== null);
  const ranked = withYield
    .filter((m) => m.units_tested >= minUnits)
    .sort((a, b) => a.first_pass_yield! - b.first_pass_yield! || b.units_tested - a.units_tested || a.machine.localeCompare(b.machine));
  return {
    stations: ranked.slice(0, n).map((m, i) => ({ ...m, rank: i + 1 })),
    withYield: withYield.length,
    tooFewUnits: withYield.length - ranked.length,
    minUnits,
  };
}

/** First-pass failures by station, most first, with their running share of the day's total. */
export function buildPareto(machines: readonly MachineDay[], bars: number): Pareto {
  const failing = machines
    .map((m) => ({ machine: m.machine, failures: m.units_tested - m.first_pass_units }))
    .filter((m) => m.failures > 0)
    .sort((a, b) => b.failures - a.failures || a.machine.localeCompare(b.machine));
  const total = failing.reduce((s, m) => s + m.failures, 0);
  let running = 0;
  return {
    bars: failing.slice(0, bars).map((m) => {
      running += m.failures;
      return { ...m, cumulativeShare: running / total };
    }),
    totalFailures: total,
    stationsWithFailures: failing.length,
  };
}

/** Daily first-pass yield over the 30 days up to `day`: all products first, then each product of the day. */
export function buildTrend(rows: readonly ProdDay[], day: string): TrendPoint[] {
  const first = addDays(day, -TREND_DAYS + 1);
  const inWindow = rows.filter((r) => r.day >= first && r.day <= day);
  const byDay = groupByDay(inWindow);
  const products = [...new Set(inWindow.filter((r) => r.day === day).map((r) => r.product))].sort();
  const days = [...byDay.keys()].sort();
  const out: TrendPoint[] = days.map((d) => ({
    product: ALL_PRODUCTS,
    day: d,
    value: kpiOfDay(byDay.get(d)!, 'first_pass_yield'),
    units: byDay.get(d)!.reduce((s, r) => s + r.units_tested, 0),
  }));
  for (const p of products) {
    for (const r of inWindow.filter((x) => x.product === p).sort((a, b) => a.day.localeCompare(b.day))) {
      out.push({ product: p, day: r.day, value: r.rolled_first_pass_yield, units: r.units_tested });
    }
  }
  return out;
}

/** The state of the day from the latest nightly-summary run that covered it and whether it has rows. */
export function dayState(run: SummaryRunInfo | null, hasRows: boolean): DayState {
  if (run?.status === 'running') return { kind: 'summary-running', run };
  // failed, or interrupted (its worker died): either way the rows may be an earlier run's.
  if (run && run.status !== 'succeeded') return { kind: 'summary-failed', run };
  return hasRows ? { kind: 'report', run } : { kind: 'no-data', run };
}

// ---------------------------------------------------------------------------------------------
// Reading the tables

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A timestamp as the driver returned it: a Date (pg, mssql) or epoch milliseconds / text (SQLite). */
export function instantOf(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(v);
  const s = String(v);
  if (/^\d+$/.test(s)) return new Date(Number(s));
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(' ', 'T')}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A row value converted to what a column of `kind` holds. */
export function cellValue(kind: CellKind, v: unknown): string | number | Date | null {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'text':
      return String(v);
    case 'date':
      return isoDate(v);
    case 'datetime':
      return instantOf(v);
    default: {
      const n = Number(v);
      return Number.isFinite(n) ? n : String(v);
    }
  }
}

export async function readProdDays(ctx: EtlContext, from: string, to: string): Promise<ProdDay[]> {
  const rows = (await targetTable(ctx, ctx.target, 'summary_prod')
    .where('period_type', 'day')
    .whereBetween('period_start', [from, to])
    .select('period_start', 'product', 'load_qty', 'test_count', 'units_tested', 'rolled_first_pass_yield', 'rolled_cumulative_yield', 'run_id', 'computed_at')) as Record<string, unknown>[];
  return rows.map((r) => ({
    day: isoDate(r.period_start),
    product: String(r.product),
    load_qty: num(r.load_qty),
    test_count: num(r.test_count),
    units_tested: num(r.units_tested),
    rolled_first_pass_yield: numOrNull(r.rolled_first_pass_yield),
    rolled_cumulative_yield: numOrNull(r.rolled_cumulative_yield),
    run_id: num(r.run_id),
    computed_at: instantOf(r.computed_at),
  }));
}

export async function readMachineDay(ctx: EtlContext, day: string): Promise<MachineDay[]> {
  const rows = (await targetTable(ctx, ctx.target, 'summary_machine')
    .where({ period_type: 'day', period_start: day })
    .select('machine', 'test_count', 'pass_count', 'passing_rate', 'units_tested', 'first_pass_units', 'first_pass_yield', 'cumulative_yield', 'retest_count')) as Record<string, unknown>[];
  return rows.map((r) => ({
    machine: String(r.machine),
    test_count: num(r.test_count),
    pass_count: num(r.pass_count),
    passing_rate: numOrNull(r.passing_rate),
    units_tested: num(r.units_tested),
    first_pass_units: num(r.first_pass_units),
    first_pass_yield: numOrNull(r.first_pass_yield),
    cumulative_yield: numOrNull(r.cumulative_yield),
    retest_count: num(r.retest_count),
  }));
}

/** The latest nightly-summary run whose days include `day`, or null. */
export async function readLatestSummaryRun(ctx: EtlContext, day: string): Promise<SummaryRunInfo | null> {
  const rows = (await targetTable(ctx, ctx.target, 'etl_runs')
    .where('job', NIGHTLY_SUMMARY)
    .where('period_from', '<=', day)
    .where('period_to', '>=', day)
    .orderBy('id', 'desc')
    .limit(50)
    .select('id', 'status', 'triggered_by', 'started_at', 'finished_at', 'error', 'periods')) as Record<string, unknown>[];
  // A range run lists its days; a run over scattered days may span `day` without computing it.
  const run = rows.find((r) => {
    try {
      const days = JSON.parse(String(r.periods ?? '[]')) as unknown;
      return Array.isArray(days) ? days.includes(day) : true;
    } catch {
      return true;
    }
  });
  if (!run) return null;
  return {
    id: num(run.id),
    status: String(run.status),
    triggeredBy: run.triggered_by === null || run.triggered_by === undefined ? null : String(run.triggered_by),
    startedAt: instantOf(run.started_at),
    finishedAt: instantOf(run.finished_at),
    error: run.error === null || run.error === undefined ? null : String(run.error),
  };
}

export async function readQuality(ctx: EtlContext, day: string): Promise<DataQuality> {
  const p = (await targetTable(ctx, ctx.target, 'etl_periods').where({ period_type: 'day', period_start: day }).first()) as
    | Record<string, unknown>
    | undefined;
  const reasons = (await targetTable(ctx, ctx.target, 'etl_rejects')
    .where('period_start', day)
    .groupBy('reason')
    .select('reason')
    .count({ n: '*' })) as { reason: string; n: number | string }[];
  const undated = (await targetTable(ctx, ctx.target, 'etl_rejects').whereNull('period_start').count({ n: '*' }).first()) as
    | { n: number | string }
    | undefined;
  const rejectsByReason = reasons
    .map((r) => ({ reason: String(r.reason), count: Number(r.n) }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  const field = (k: string) => (p ? num(p[k]) : null);
  return {
    rowsRead: field('rows_read'),
    rowsValid: field('rows_valid'),
    rowsRejected: field('rows_rejected'),
    duplicatesDropped: field('duplicates_dropped'),
    excessAttempts: field('excess_attempts'),
    pendingUnits: field('pending_units'),
    rejectsByReason,
    rejectsStored: rejectsByReason.reduce((s, r) => s + r.count, 0),
    undatedRejects: Number(undated?.n ?? 0),
  };
}

/** Everything the Overview and the email show for `day`. */
export async function loadDailyYieldData(ctx: EtlContext, day: string, opts: DailyYieldOptions): Promise<DailyYieldData> {
  const period = productionDay(day, ctx.clock);
  const [prodDays, machines, run, quality] = await Promise.all([
    readProdDays(ctx, addDays(day, -TREND_DAYS + 1), day),
    readMachineDay(ctx, day),
    readLatestSummaryRun(ctx, day),
    readQuality(ctx, day),
  ]);
  const today = prodDays.filter((r) => r.day === day);
  const computed = today.map((r) => r.computed_at).filter((d): d is Date => d !== null);
  return {
    day,
    from: period.from,
    to: period.to,
    weekStart: weekMonday(day),
    weekLabel: isoWeekLabel(weekMonday(day)),
    state: dayState(run, today.length > 0 || machines.length > 0),
    headline: buildHeadline(prodDays, day, opts.targets),
    worst: rankWorstStations(machines, opts.worstStations, opts.worstStationsMinUnits),
    pareto: buildPareto(machines, opts.paretoBars ?? 15),
    trend: buildTrend(prodDays, day),
    quality,
    summaryRunIds: [...new Set(today.map((r) => r.run_id))].sort((a, b) => a - b),
    computedAt: computed.length ? new Date(Math.max(...computed.map((d) => d.getTime()))) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Detail rows, a page at a time (the sheets may be long; memory stays bounded)

const PAGE = 5_000;

/** `(k1, k2, …) > (v1, v2, …)` written without row-value comparison, which SQL Server lacks. */
function afterKey(q: Knex.QueryBuilder, keys: readonly string[], last: readonly unknown[]): void {
  q.where(function (this: Knex.QueryBuilder) {
    keys.forEach((_, i) => {
      this.orWhere(function (this: Knex.QueryBuilder) {
        for (let j = 0; j < i; j++) this.where(keys[j]!, last[j] as Knex.Value);
        this.where(keys[i]!, '>', last[i] as Knex.Value);
      });
    });
  });
}

/** Rows of one summary table and period, ordered by `keys` (its grain), by keyset pages. */
export async function* pagedRows(
  ctx: EtlContext,
  table: string,
  filter: Record<string, string>,
  keys: readonly string[],
  pageSize = PAGE,
): AsyncGenerator<Record<string, unknown>> {
  let last: unknown[] | null = null;
  for (;;) {
    const q = targetTable(ctx, ctx.target, table).where(filter).select('*');
    if (last) afterKey(q, keys, last);
    for (const k of keys) q.orderBy(k);
    const rows = (await q.limit(pageSize)) as Record<string, unknown>[];
    for (const r of rows) yield r;
    if (rows.length < pageSize) return;
    const tail = rows[rows.length - 1]!;
    last = keys.map((k) => tail[k]);
  }
}

export type DetailTable = 'summary_prod' | 'summary_prod_test' | 'summary_machine';

export const GRAIN: Record<DetailTable, readonly string[]> = {
  summary_prod: ['product'],
  summary_prod_test: ['product', 'test'],
  summary_machine: ['machine'],
};

/** The day's rows, then the week's, as the sheet's columns hold them. */
export async function* detailRows(
  ctx: EtlContext,
  table: DetailTable,
  day: string,
  columns: readonly ColumnDef[],
): AsyncGenerator<Record<string, unknown>> {
  const periods = [
    { period_type: 'day', period_start: day },
    { period_type: 'week', period_start: weekMonday(day) },
  ];
  for (const filter of periods) {
    for await (const r of pagedRows(ctx, table, filter, GRAIN[table])) {
      yield Object.fromEntries(columns.map((c) => [c.key, cellValue(c.kind, r[c.key])]));
    }
  }
}

/** Up to `limit` stored rejects of the day, with the rejected record's values. */
export async function* rejectRows(ctx: EtlContext, day: string, limit: number, columns: readonly ColumnDef[]): AsyncGenerator<Record<string, unknown>> {
  let last = 0;
  let left = limit;
  while (left > 0) {
    const want = Math.min(PAGE, left);
    const rows = (await targetTable(ctx, ctx.target, 'etl_rejects')
      .where('period_start', day)
      .where('id', '>', last)
      .orderBy('id')
      .limit(want)
      .select('id', 'run_id', 'source_table', 'reason', 'row_values')) as Record<string, unknown>[];
    for (const r of rows) {
      let values: Record<string, unknown> = {};
      try {
        values = JSON.parse(String(r.row_values)) as Record<string, unknown>;
      } catch {
        /* an unreadable record shows its reason only */
      }
      const all: Record<string, unknown> = { ...values, reason: r.reason, source_table: r.source_table, run_id: r.run_id };
      // The rejected record's values are shown as stored: a duration that is not a number stays text.
      yield Object.fromEntries(columns.map((c) => [c.key, cellValue(c.kind, all[c.key])]));
    }
    left -= rows.length;
    if (rows.length < want) return;
    last = Number(rows[rows.length - 1]!.id);
  }
}
