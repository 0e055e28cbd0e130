/**
 * The state of each job on each production day, as the grid, the rerun preview and "retry failed
 * days" see it: the latest run covering the day (etl_runs), overridden by a queued or running job
 * for the day (BullMQ), and for the nightly summary `stale` where its own choice of days
 * (chooseDays: late data or pending units) would compute the day again.
 */
import type { ConnectionOptions } from 'bullmq';
import { DateTime } from 'luxon';
import type { ResolvedConfig } from '../../config/load.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { NIGHTLY_SUMMARY, chooseDays, readTestRecordSource } from '../../etl/nightly-summary.js';
import { addDays, dateRange, lastCompleteDay } from '../../etl/periods.js';
import { openQueue } from '../queues.js';

export type DayState = 'succeeded' | 'failed' | 'running' | 'queued' | 'never-run' | 'stale';
export const DAY_STATES: readonly DayState[] = ['succeeded', 'failed', 'running', 'queued', 'stale', 'never-run'];

export interface DayCell {
  state: DayState;
  /** The latest run covering the day, if any. */
  runId?: number;
  runStatus?: string;
  /** Why stale (late data, pending units), or the queued job's id. */
  note?: string;
  queueJobId?: string;
}

/** job → day → cell. */
export type DayGrid = Map<string, Map<string, DayCell>>;

/** The last `n` production days, newest first, ending with the last complete one. */
export function recentDays(cfg: ResolvedConfig, n: number, now = DateTime.now()): string[] {
  const last = lastCompleteDay(now, { timezone: cfg.plant.timezone, dayStart: cfg.plant.dayStart });
  return dateRange(addDays(last, -(n - 1)), last).reverse();
}

function daysOfRun(r: { period_from: unknown; period_to: unknown; periods: unknown }): string[] {
  if (typeof r.periods === 'string' && r.periods.startsWith('[')) {
    try {
      return (JSON.parse(r.periods) as unknown[]).filter((d): d is string => typeof d === 'string');
    } catch {
      /* fall back to the ends */
    }
  }
  return r.period_from && r.period_to ? dateRange(String(r.period_from), String(r.period_to)) : [];
}

const UNFINISHED_STATES = ['waiting', 'prioritized', 'delayed', 'waiting-children', 'active'] as const;

export async function dayGrid(ctx: EtlContext, connection: ConnectionOptions, jobs: readonly string[], days: readonly string[], opts: { stale?: boolean } = {}): Promise<DayGrid> {
  const grid: DayGrid = new Map(jobs.map((j) => [j, new Map<string, DayCell>()]));
  if (days.length === 0) return grid;
  const sorted = [...days].sort();
  const wanted = new Set(days);
  const runs = (await targetTable(ctx, ctx.target, 'etl_runs')
    .whereIn('job', [...jobs])
    .where('period_to', '>=', sorted[0]!)
    .where('period_from', '<=', sorted[sorted.length - 1]!)
    .orderBy('id', 'desc')
    .limit(10_000)
    .select('id', 'job', 'status', 'period_from', 'period_to', 'periods')) as { id: number; job: string; status: string; period_from: unknown; period_to: unknown; periods: unknown }[];
  for (const r of runs) {
    const cells = grid.get(r.job)!;
    for (const d of daysOfRun(r)) {
      if (!wanted.has(d) || cells.has(d)) continue;
      const state: DayState = r.status === 'succeeded' ? 'succeeded' : r.status === 'running' ? 'running' : 'failed';
      cells.set(d, { state, runId: Number(r.id), runStatus: r.status });
    }
  }
  for (const job of jobs) {
    const cells = grid.get(job)!;
    const queue = openQueue(ctx.config, job, connection);
    try {
      for (const j of await queue.getJobs([...UNFINISHED_STATES], 0, 500)) {
        const state = j.processedOn && !j.finishedOn ? 'running' : 'queued';
        for (const d of j.data.days ?? []) {
          if (!wanted.has(d)) continue;
          const prev = cells.get(d);
          if (prev?.state === 'running') continue;
          cells.set(d, { ...prev, state, queueJobId: j.id, note: `job ${j.id}` });
        }
      }
    } finally {
      await queue.close();
    }
    for (const d of days) if (!cells.has(d)) cells.set(d, { state: 'never-run' });
  }
  const summary = grid.get(NIGHTLY_SUMMARY);
  if (summary && opts.stale !== false) {
    // What the next scheduled run would compute again: the same rule, so the grid never disagrees with it.
    const chosen = await readTestRecordSource(ctx)
      .then((source) => chooseDays(ctx, source, DateTime.now()))
      .catch((e: Error) => {
        ctx.log.warn({ err: e.message }, 'stale days not known: the source could not be read');
        return undefined;
      });
    for (const [d, why] of Object.entries(chosen?.why ?? {})) {
      const cell = summary.get(d);
      if (cell?.state === 'succeeded' && why !== 'yesterday' && why !== 'never computed') summary.set(d, { ...cell, state: 'stale', note: why });
    }
  }
  return grid;
}

export type RerunPolicy = 'all' | 'failed-and-never-run';

/** Whether a day runs under the policy, from what exists now. */
export function willRun(policy: RerunPolicy, cell: DayCell | undefined): boolean {
  if (policy === 'all') return true;
  return !cell || cell.state === 'failed' || cell.state === 'never-run';
}
