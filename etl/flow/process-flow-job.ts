/**
 * The process-flow job (process-flow.md): for production days and their ISO weeks, the
 * directly-follows edges, steps, variants, conformance and shift view of the test floor (case =
 * serial) and of the battery line (case = cell), into the summary_flow_* tables.
 *
 * The pattern of the nightly summary: one set-based statement per event log and batch in the
 * source database (sql/flow-query.ts), pure assembly here (flow-rows.ts), the periods' rows
 * replaced in one target transaction, the run in etl_runs.
 */
import type { Knex } from 'knex';
import type { DateTime } from 'luxon';
import { addDays, dateRange, periodsForDays, productionDay, sourceDaySlots, sourceTimestamp, weekBatches, type Period } from '../periods.js';
import { finishRun, recordFailure, requestedDays, startRun, type JobRequest, type RunTotals } from '../run-log.js';
import type { EtlContext } from '../context.js';
import { deletePeriods } from '../load-summaries.js';
import { readTestRecordSource, resultSynonyms, type TestRecordSource } from '../test-record-source.js';
import { checkSourceTable, SourceMappingError } from '../../sql/source-check.js';
import { timeKind } from '../../sql/source-values.js';
import { insertBatched } from '../../sql/batch-insert.js';
import { runAggregateStatement } from '../../sql/statement.js';
import { buildFlowStatement, type BatteryEventsInput, type FlowFineRow, type FlowPart, type FlowQueryInput, type ShiftSlot } from '../../sql/flow-query.js';
import type { DaySlot } from '../../sql/valid-attempts.js';
import { assembleFlowRows, discoveredRoutes, type FlowRows, type FlowStepRow, type Route } from './flow-rows.js';
import { orderedShifts, shiftPieces, type Shift } from './shifts.js';

export const PROCESS_FLOW = 'process-flow';

export const FLOW_TABLES = {
  edges: 'summary_flow_edges',
  steps: 'summary_flow_steps',
  variants: 'summary_flow_variants',
  conformance: 'summary_flow_conformance',
  shifts: 'summary_flow_shifts',
  skips: 'summary_flow_skips',
} as const satisfies Record<keyof FlowRows, string>;

/** ISO weeks per statement: a long backfill is split so each statement stays small. */
export const WEEKS_PER_BATCH = 5;

/** Production days omitted: yesterday. */
export type ProcessFlowRequest = JobRequest;

/** What the run found on its last day, per product: for people and the logs. */
export interface ProductFlowFinding {
  product: string;
  cases: number;
  bottleneck: { step: string; medianWaitInS: number } | null;
  worstRework: { step: string; reworkRate: number; reworkEvents: number } | null;
  fitness: number | null;
  route: string | null;
  routeSource: 'config' | 'discovered' | null;
}

export interface ProcessFlowResult {
  runId: number;
  days: string[];
  periods: string[];
  /** Cases whose first event falls on the run's days. */
  cases: number;
  rowsWritten: number;
  durationMs: number;
  /** The last day of the run. */
  day: string;
  findings: ProductFlowFinding[];
}

/** The event logs a run reads: the test records, and the battery line unless flow.battery is false. */
export interface EventLogs {
  tests: TestRecordSource;
  battery: Omit<BatteryEventsInput, 'slots' | 'historyFrom' | 'dialect'> | null;
}

async function readEventLogs(ctx: EtlContext): Promise<EventLogs> {
  const tests = await readTestRecordSource(ctx);
  if (!ctx.config.flow.battery) return { tests, battery: null };
  const { winding, assembly } = ctx.config.source;
  const check = (table: string, columns: Record<string, string>, key: string) =>
    checkSourceTable(ctx.source, table, columns, key).catch((err: unknown) => {
      if (err instanceof SourceMappingError) throw new SourceMappingError(`${err.message}; or set flow.battery: false to leave the battery line out of the process flow`);
      throw err;
    });
  const w = await check(winding.table, winding.columns, 'source.winding');
  const a = await check(assembly.table, assembly.columns, 'source.assembly');
  const d = ctx.sourceDialect;
  return {
    tests,
    battery: {
      winding: { ...winding, timeKind: timeKind(d, w.prodDt?.type) },
      assembly: { ...assembly, timeKind: timeKind(d, a.prodDt?.type) },
    },
  };
}

/** A batch's periods as day-slot ranges, its day slots and its shift pieces, as the source stores time. */
export interface BatchFrame {
  periods: Period[];
  slotDays: string[];
  slots: DaySlot[];
  ranges: FlowQueryInput['periods'];
  shifts: ShiftSlot[];
  historyFrom: string;
}

/** What building the statements needs of a context (the SQL Server tests build them without a server). */
type StatementContext = Pick<EtlContext, 'config' | 'clock' | 'sourceDialect'>;

export function frameOf(ctx: StatementContext, periods: Period[], slotDays: string[], shifts: readonly Shift[]): BatchFrame {
  const mode = ctx.config.source.timestamps;
  const src = (t: DateTime) => sourceTimestamp(t, mode, ctx.clock);
  const index = new Map(slotDays.map((d, i) => [d, i]));
  const slots = sourceDaySlots(slotDays, mode, ctx.clock);
  const ranges = periods.map((p, pid) => {
    const lo = index.get(p.start)!;
    return { pid, lo, hi: p.type === 'day' ? lo : lo + 6 };
  });
  const pieces = slotDays.flatMap((d) => shiftPieces(d, shifts, ctx.clock));
  return {
    periods,
    slotDays,
    slots,
    ranges,
    shifts: pieces.map((p) => ({ shift: p.shift, from: src(p.from), to: src(p.to) })),
    historyFrom: src(productionDay(slotDays[0]!, ctx.clock).from.minus({ days: ctx.config.yield.historyDays })),
  };
}

export function statementsFor(ctx: StatementContext, logs: EventLogs, frame: BatchFrame, parts: readonly FlowPart[]): FlowQueryInput[] {
  const d = ctx.sourceDialect;
  const common = { periods: frame.ranges, shifts: frame.shifts };
  const inputs: FlowQueryInput[] = [
    {
      ...common,
      parts,
      events: { log: 'tests', attempts: { dialect: d, ...logs.tests, ...resultSynonyms(ctx), slots: frame.slots, historyFrom: frame.historyFrom } },
    },
  ];
  if (logs.battery) {
    // Cells have no test result: no shift yields.
    inputs.push({
      ...common,
      parts: parts.filter((p) => p !== 'H'),
      events: { log: 'battery', battery: { dialect: d, ...logs.battery, slots: frame.slots, historyFrom: frame.historyFrom } },
    });
  }
  return inputs;
}

async function runFlowStatements(ctx: EtlContext, inputs: readonly FlowQueryInput[]): Promise<FlowFineRow[]> {
  const rows: FlowFineRow[] = [];
  for (const input of inputs) {
    const statement = buildFlowStatement(input);
    rows.push(...(await runAggregateStatement<FlowFineRow>(ctx.source, ctx.sourceDialect === 'postgres', ctx.config.etl.postgresWorkMem, statement)));
  }
  return rows;
}

/**
 * Routes of the products without a configured one: the rank-1 variant of the cases whose first
 * event falls in the flow.discoverDays days ending with `lastDay`.
 */
async function discoverRoutes(ctx: EtlContext, logs: EventLogs, lastDay: string): Promise<Map<string, string[]>> {
  const days = dateRange(addDays(lastDay, 1 - ctx.config.flow.discoverDays), lastDay);
  const window: Period = { ...productionDay(days[0]!, ctx.clock), to: productionDay(lastDay, ctx.clock).to };
  const frame = frameOf(ctx, [window], days, []);
  frame.ranges = [{ pid: 0, lo: 0, hi: days.length - 1 }];
  return discoveredRoutes(await runFlowStatements(ctx, statementsFor(ctx, logs, frame, ['V'])));
}

/** A batch's day and week periods over every day of the ISO weeks it touches. */
export function batchFrame(ctx: StatementContext, batch: readonly string[]): BatchFrame {
  const periods = periodsForDays(batch, ctx.clock);
  const mondays = periods.filter((p) => p.type === 'week').map((p) => p.start);
  const slotDays = dateRange(mondays[0]!, addDays(mondays[mondays.length - 1]!, 6));
  return frameOf(ctx, periods, slotDays, orderedShifts(ctx.config.plant.shifts));
}

/** Computes one batch: its periods' rows. */
export async function computeFlow(ctx: EtlContext, logs: EventLogs, batch: readonly string[]): Promise<{ periods: Period[]; rows: FlowRows }> {
  const frame = batchFrame(ctx, batch);
  const { periods } = frame;
  const shifts = orderedShifts(ctx.config.plant.shifts);
  const fine = await runFlowStatements(ctx, statementsFor(ctx, logs, frame, ['E', 'S', 'V', 'H', 'K']));
  const configured = ctx.config.flow.routes;
  const products = new Set(fine.map((r) => r.product));
  const discovered = [...products].some((p) => !configured[p]) ? await discoverRoutes(ctx, logs, batch[batch.length - 1]!) : new Map<string, string[]>();
  const routeOf = (product: string): Route | undefined => {
    if (configured[product]) return { steps: configured[product]!, source: 'config' };
    const found = discovered.get(product);
    return found ? { steps: found, source: 'discovered' } : undefined;
  };
  return { periods, rows: assembleFlowRows(fine, { periods, minCases: ctx.config.flow.minCases, shifts, routeOf }) };
}

async function replaceFlowPeriods(ctx: EtlContext, trx: Knex.Transaction, periods: readonly Period[], rows: FlowRows, stamp: { run_id: number; computed_at: Date }): Promise<number> {
  let written = 0;
  for (const [key, table] of Object.entries(FLOW_TABLES) as [keyof FlowRows, string][]) {
    await deletePeriods(ctx, trx, table, periods);
    written += await insertBatched(trx, ctx.targetDialect, table, rows[key].map((r) => ({ ...r, ...stamp })), { schema: ctx.targetSchema });
  }
  return written;
}

/** The bottleneck, worst rework step and fitness per product on one day (pure). */
export function findings(rows: FlowRows, day: string, minCases: number): ProductFlowFinding[] {
  const onDay = <T extends { period_type: string; period_start: string }>(xs: readonly T[]) => xs.filter((x) => x.period_type === 'day' && x.period_start === day);
  const steps = onDay(rows.steps);
  return onDay(rows.conformance)
    .map((c) => {
      const own = steps.filter((s) => s.product === c.product);
      const b = own.find((s) => s.bottleneck_rank === 1);
      const rework = own
        .filter((s): s is FlowStepRow & { rework_rate: number } => s.cases >= minCases && s.rework_rate !== null && s.rework_events > 0)
        .sort((x, y) => y.rework_rate - x.rework_rate || x.step.localeCompare(y.step))[0];
      return {
        product: c.product,
        cases: c.cases,
        bottleneck: b ? { step: b.step, medianWaitInS: b.median_wait_in_s! } : null,
        worstRework: rework ? { step: rework.step, reworkRate: rework.rework_rate, reworkEvents: rework.rework_events } : null,
        fitness: c.fitness,
        route: c.route,
        routeSource: c.route_source,
      };
    })
    .sort((x, y) => x.product.localeCompare(y.product));
}

export async function runProcessFlow(ctx: EtlContext, req: ProcessFlowRequest): Promise<ProcessFlowResult> {
  const t0 = Date.now();
  const days = requestedDays(req, ctx.clock);
  const day = days[days.length - 1]!;
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: PROCESS_FLOW, days, triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt }, startedAt);
  const log = ctx.log.child({ job: PROCESS_FLOW, runId, from: days[0], to: day });
  log.info({ days: days.length }, 'process flow started');
  const totals: RunTotals = { rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, rows_written: 0, stats: {} };
  const labels: string[] = [];
  let cases = 0;
  let found: ProductFlowFinding[] = [];
  try {
    const logs = await readEventLogs(ctx);
    const batches = weekBatches(days, WEEKS_PER_BATCH);
    for (const [i, batch] of batches.entries()) {
      const { periods, rows } = await computeFlow(ctx, logs, batch);
      const batchDays = new Set(batch);
      cases += rows.conformance.filter((c) => c.period_type === 'day' && batchDays.has(c.period_start)).reduce((a, c) => a + c.cases, 0);
      labels.push(...periods.map((p) => p.label));
      const last = i === batches.length - 1;
      if (last) found = findings(rows, day, ctx.config.flow.minCases);
      await ctx.target.transaction(async (trx) => {
        totals.rows_written += await replaceFlowPeriods(ctx, trx, periods, rows, { run_id: runId, computed_at: new Date() });
        if (!last) return;
        totals.stats = { periods: labels, cases, day, findings: found };
        await finishRun(ctx, trx, runId, startedAt, { status: 'succeeded', totals });
      });
      log.info({ batch: i + 1, of: batches.length, written: totals.rows_written }, 'periods replaced');
      req.onProgress?.((i + 1) / batches.length);
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'process flow failed');
    await recordFailure(ctx, runId, startedAt, err, totals);
    throw err;
  }
  const result: ProcessFlowResult = { runId, days, periods: labels, cases, rowsWritten: totals.rows_written, durationMs: Date.now() - t0, day, findings: found };
  log.info({ runId, days: days.length, cases, rowsWritten: result.rowsWritten }, 'process flow succeeded');
  return result;
}

const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)} %`);
const minutes = (s: number) => `${(s / 60).toFixed(1)} min`;

/** Lines for a person: what the run did and, per product, its last day's bottleneck, worst loop and fitness. */
export function describeProcessFlow(r: ProcessFlowResult): string[] {
  const lines = [
    `run ${r.runId}: ${r.days.length} day(s) ${r.days[0]}${r.days.length > 1 ? ` … ${r.day}` : ''}, ${r.periods.length} period(s) replaced, ${r.cases} cases, ${r.rowsWritten} rows written`,
  ];
  for (const f of r.findings) {
    const parts = [
      `${f.cases} cases`,
      f.bottleneck ? `bottleneck ${f.bottleneck.step} (median wait ${minutes(f.bottleneck.medianWaitInS)})` : 'no bottleneck ranked',
      f.worstRework ? `most rework at ${f.worstRework.step} (${pct(f.worstRework.reworkRate)})` : 'no rework',
      `fitness ${pct(f.fitness)} against the ${f.routeSource ?? 'missing'} route ${f.route ?? ''}`.trim(),
    ];
    lines.push(`${r.day} ${f.product}: ${parts.join(', ')}`);
  }
  lines.push(`took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}


