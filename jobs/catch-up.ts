/**
 * Catch-up: the target database says what happened (etl_periods, etl_runs, report_deliveries),
 * Redis only what is queued; a day in the lookback that should have run and did not, and for which
 * nothing is queued, is enqueued, oldest first. BullMQ's schedulers do not run what was missed
 * while no worker was up, and a Redis that restarts without persistence forgets what was queued.
 *
 * - The summary: a day without a successful one is enqueued like a scheduled night, with the
 *   nightly schedule's dependents, so it also gets its report, SPC and trace.
 * - The dependents: a day whose summary succeeded but whose report, SPC or trace never ran (its
 *   flow was lost, or it was computed without them) gets each missing one enqueued alone.
 *
 * Two strictnesses. On start and after each scheduled summary (`not-succeeded`) a day counts as
 * done only once it succeeded, so failed days are tried again once a night. The periodic catch-up
 * (`never-run`) leaves alone a day whose last attempt failed for good (its alert went out; an admin
 * decides), so a broken source does not alert every few minutes; it picks up only what was lost.
 */
import { DateTime } from 'luxon';
import { Job, type ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { targetTable, type EtlContext } from '../etl/context.js';
import { addDays, dateRange, lastCompleteDay, type PlantClock } from '../etl/periods.js';
import { isoDate, NIGHTLY_SUMMARY } from '../etl/nightly-summary.js';
import { DAILY_YIELD_REPORT } from '../reports/daily-yield-report.js';
import { enqueueIfNeeded, type Enqueued } from './enqueue.js';
import { DEPENDENTS_QUEUE, openQueue, type QueuedJobData } from './queues.js';
import { SCHEDULE_QUEUE, firingTime, previousRunTime } from './schedules.js';
import { logDays } from './log.js';

export type CatchUpMode = 'not-succeeded' | 'never-run';

/** The schedule that runs the nightly summary, if any. */
function nightlySchedule(cfg: ResolvedConfig) {
  return Object.values(cfg.schedules).find((s) => s.job === NIGHTLY_SUMMARY);
}

/** The dependents of the schedule that runs the nightly summary (none without one). */
export function nightlyDependents(cfg: ResolvedConfig): string[] {
  return nightlySchedule(cfg)?.dependents ?? [];
}

/**
 * The last day that is due: the day the nightly schedule last fired for (a later day is its next
 * firing's, not ours to run early), or yesterday without a schedule.
 */
export function lastDueDay(cfg: ResolvedConfig, clock: PlantClock, now: DateTime): string {
  const s = nightlySchedule(cfg);
  return lastCompleteDay(s ? previousRunTime(s.cron, cfg.plant.timezone, now) : now, clock);
}

function lookback(ctx: EtlContext, now: DateTime): string[] {
  const last = lastDueDay(ctx.config, ctx.clock, now);
  return dateRange(addDays(last, -ctx.config.yield.lookbackDays), last);
}

/** Statuses of an etl_runs row that settle its days, by strictness. */
function settles(mode: CatchUpMode, run: { status: string; attempt: number }, attempts: number): boolean {
  if (run.status === 'succeeded') return true;
  if (mode === 'not-succeeded') return false;
  // Running: someone has it. Failed on its last attempt: alerted, left to an admin.
  return run.status === 'running' || (run.status === 'failed' && run.attempt >= attempts);
}

/** For each job, the days of `days` that a run of it settles. */
async function settledByRuns(ctx: EtlContext, jobs: readonly string[], days: readonly string[], mode: CatchUpMode): Promise<Map<string, Set<string>>> {
  const out = new Map(jobs.map((j) => [j, new Set<string>()]));
  if (jobs.length === 0 || days.length === 0) return out;
  const wanted = new Set(days);
  const rows = (await targetTable(ctx, ctx.target, 'etl_runs')
    .whereIn('job', [...jobs])
    .where('period_to', '>=', days[0]!)
    .where('period_from', '<=', days[days.length - 1]!)
    .select('job', 'periods', 'status', 'attempt')) as { job: string; periods: string | null; status: string; attempt: number }[];
  for (const r of rows) {
    if (!settles(mode, { status: r.status, attempt: Number(r.attempt) }, ctx.config.runner.attempts)) continue;
    for (const d of JSON.parse(r.periods ?? '[]') as string[]) if (wanted.has(d)) out.get(r.job)!.add(d);
  }
  return out;
}

/** Days of `days` whose daily report was delivered, or claimed by a delivery (report_deliveries is the truth for mail). */
async function reportDelivered(ctx: EtlContext, days: readonly string[]): Promise<Set<string>> {
  const rows = (await targetTable(ctx, ctx.target, 'report_deliveries')
    .where({ report: DAILY_YIELD_REPORT, period_type: 'day' })
    .whereIn('kind', ['report', 'no-data'])
    .whereIn('period_label', [...days])
    .select('period_label')) as { period_label: string }[];
  return new Set(rows.map((r) => r.period_label));
}

async function summarised(ctx: EtlContext, days: readonly string[]): Promise<Set<string>> {
  const schema = ctx.targetSchema ? ctx.target.schema.withSchema(ctx.targetSchema) : ctx.target.schema;
  if (!(await schema.hasTable('etl_periods'))) {
    throw new Error(`catch-up: the target database has no etl_periods table${ctx.targetSchema ? ` in schema ${ctx.targetSchema}` : ''}; run \`yieldrun migrate\` first`);
  }
  const done = (await targetTable(ctx, ctx.target, 'etl_periods')
    .where('period_type', 'day')
    .whereIn('period_start', [...days])
    .select('period_start')) as { period_start: unknown }[];
  return new Set(done.map((r) => isoDate(r.period_start)));
}

/** Days from the last due day back through the lookback that have no successfully computed summary. */
export async function missingDays(ctx: EtlContext, now: DateTime): Promise<string[]> {
  const days = lookback(ctx, now);
  const have = await summarised(ctx, days);
  return days.filter((d) => !have.has(d));
}

/** States of a queued job that will still run (or is running). */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * The days that queued work will cover: the days of every unfinished job of these queues, or for a
 * job that chooses its days (a scheduled run), the day before its firing.
 */
export async function queuedDays(cfg: ResolvedConfig, connection: ConnectionOptions, queues: readonly string[], clock: PlantClock): Promise<Set<string>> {
  const out = new Set<string>();
  for (const name of new Set(queues)) {
    const queue = openQueue(cfg, name, connection);
    try {
      const jobs = (await queue.getJobs([...UNFINISHED], 0, -1)) as (Job<QueuedJobData> | undefined)[];
      for (const job of jobs) {
        if (!job) continue;
        const days = job.data.days ?? [lastCompleteDay(job.data.firedAt ? DateTime.fromISO(job.data.firedAt) : firingTime(job), clock)];
        for (const d of days) out.add(d);
      }
    } finally {
      await queue.close();
    }
  }
  return out;
}

/** What the target database says was done over some days: by the summary and by each dependent. */
interface DoneState {
  summarised: Set<string>;
  runs: Map<string, Set<string>>;
  delivered: Set<string>;
}

async function doneState(ctx: EtlContext, days: readonly string[], dependents: readonly string[], mode: CatchUpMode): Promise<DoneState> {
  return {
    summarised: await summarised(ctx, days),
    runs: await settledByRuns(ctx, [NIGHTLY_SUMMARY, ...dependents], days, mode),
    delivered: dependents.includes(DAILY_YIELD_REPORT) ? await reportDelivered(ctx, days) : new Set<string>(),
  };
}

const summaryDone = (s: DoneState, day: string) => s.summarised.has(day) || s.runs.get(NIGHTLY_SUMMARY)!.has(day);
const dependentDone = (s: DoneState, job: string, day: string) => s.runs.get(job)!.has(day) || (job === DAILY_YIELD_REPORT && s.delivered.has(day));

export interface CatchUp {
  /** Summaries enqueued (each with the nightly dependents), oldest day first. */
  summaries: Enqueued[];
  /** Dependents enqueued alone for a day whose summary succeeded. */
  dependents: (Enqueued & { job: string; day: string })[];
}

export async function enqueueCatchUp(
  ctx: EtlContext,
  connection: ConnectionOptions,
  log: Logger,
  now: DateTime = DateTime.now(),
  mode: CatchUpMode = 'not-succeeded',
): Promise<CatchUp> {
  const cfg = ctx.config;
  const days = lookback(ctx, now);
  const dependents = nightlyDependents(cfg);
  const queued = await queuedDays(cfg, connection, [SCHEDULE_QUEUE, NIGHTLY_SUMMARY, DEPENDENTS_QUEUE, ...dependents], ctx.clock);
  const done = await doneState(ctx, days, dependents, mode);
  // Read again for the one day under the enqueue's lock: a run that finished since the read above
  // (another catch-up's, another worker's) did the work, and is not queued a second time.
  const recheck = (day: string, isDone: (s: DoneState) => boolean) => async () => !isDone(await doneState(ctx, [day], dependents, mode));

  const out: CatchUp = { summaries: [], dependents: [] };
  const open = days.filter((d) => !queued.has(d));
  const missing = open.filter((d) => !summaryDone(done, d));
  const summaryDays: string[] = [];
  for (const day of missing) {
    const data = { days: [day], triggeredBy: 'catch-up', reason: 'no successful summary for this day' };
    const e = await enqueueIfNeeded(cfg, connection, NIGHTLY_SUMMARY, data, dependents, recheck(day, (s) => summaryDone(s, day)));
    if (e) {
      out.summaries.push(e);
      summaryDays.push(day);
    }
  }
  for (const day of open.filter((d) => done.summarised.has(d))) {
    for (const job of dependents) {
      if (dependentDone(done, job, day)) continue;
      const data = { days: [day], triggeredBy: 'catch-up', reason: `the summary of ${day} succeeded but ${job} never ran for it` };
      const e = await enqueueIfNeeded(cfg, connection, job, data, [], recheck(day, (s) => dependentDone(s, job, day)));
      if (e) out.dependents.push({ ...e, job, day });
    }
  }
  if (out.summaries.length) {
    log.info(
      { mode, days: logDays(summaryDays), dependents, alreadyQueued: out.summaries.filter((e) => e.deduplicated).map((e) => e.jobId) },
      'catch-up enqueued missed days',
    );
  }
  if (out.dependents.length) {
    const byJob = Object.fromEntries(dependents.map((j) => [j, logDays(out.dependents.filter((e) => e.job === j).map((e) => e.day))]));
    log.info({ mode, days: byJob, alreadyQueued: out.dependents.filter((e) => e.deduplicated).length }, 'catch-up enqueued dependents that never ran');
  }
  return out;
}
