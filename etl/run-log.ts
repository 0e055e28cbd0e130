/**
 * etl_runs: what ran, when, for whom, over which periods, and what it found.
 */
import os from 'node:os';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { targetTable, type EtlContext } from './context.js';
import { lastCompleteDay, type PlantClock } from './periods.js';

export interface RunStart {
  job: string;
  days: readonly string[];
  triggeredBy: string;
  reason?: string;
  queueJobId?: string;
  attempt?: number;
}

/**
 * What a caller gives a job's run: who asks and why, as etl_runs records it; the production days
 * (omitted: the job's default, yesterday for most); "now", for choosing yesterday (tests pin it);
 * and where progress goes, as the fraction of the work done.
 */
export interface JobRequest extends Omit<RunStart, 'job' | 'days'> {
  days?: readonly string[];
  now?: DateTime;
  onProgress?: (fraction: number) => void;
}

/** The days a job request asks for, once each and in order; none: the last complete production day (yesterday). */
export function requestedDays(req: Pick<JobRequest, 'days' | 'now'>, clock: PlantClock): string[] {
  return req.days && req.days.length > 0 ? [...new Set(req.days)].sort() : [lastCompleteDay(req.now ?? DateTime.now(), clock)];
}

export interface RunTotals {
  rows_read: number;
  rows_valid: number;
  rows_rejected: number;
  duplicates_dropped: number;
  rows_written: number;
  /** Anything else worth keeping (rejects by reason, excess attempts…), stored as JSON. */
  stats: Record<string, unknown>;
}

export async function startRun(ctx: EtlContext, run: RunStart, startedAt: Date): Promise<number> {
  if (run.queueJobId) {
    // A retry of a queued job: an earlier attempt still marked running died with its worker.
    await targetTable(ctx, ctx.target, 'etl_runs')
      .where({ queue_job_id: run.queueJobId, job: run.job, status: 'running' })
      .update({ status: 'interrupted', finished_at: startedAt, error: 'the worker running this attempt stopped before it finished' });
  }
  const sorted = [...run.days].sort();
  const row = {
    job: run.job,
    period_from: sorted[0] ?? null,
    period_to: sorted[sorted.length - 1] ?? null,
    periods: JSON.stringify(sorted),
    triggered_by: run.triggeredBy,
    reason: run.reason ?? null,
    queue_job_id: run.queueJobId ?? null,
    attempt: run.attempt ?? 1,
    host: os.hostname(),
    started_at: startedAt,
    status: 'running',
  };
  const inserted = await targetTable(ctx, ctx.target, 'etl_runs').insert(row, ['id']);
  const first = inserted[0] as { id: number } | number;
  return typeof first === 'object' ? Number(first.id) : Number(first);
}

/** The days of a run that chose them after it was recorded (a scheduled nightly summary). */
export async function setRunDays(ctx: EtlContext, runId: number, days: readonly string[]): Promise<void> {
  const sorted = [...days].sort();
  await targetTable(ctx, ctx.target, 'etl_runs')
    .where({ id: runId })
    .update({ period_from: sorted[0] ?? null, period_to: sorted[sorted.length - 1] ?? null, periods: JSON.stringify(sorted) });
}

/**
 * Records the run as failed with the job's error. A failure to record it is logged, never thrown:
 * the caller rethrows the job's own error, which is what the admin must see.
 */
export async function recordFailure(ctx: EtlContext, runId: number, startedAt: Date, err: unknown, totals?: Partial<RunTotals>): Promise<void> {
  const error = err instanceof Error ? err.message : String(err);
  await finishRun(ctx, ctx.target, runId, startedAt, { status: 'failed', error, totals }).catch((e: Error) =>
    ctx.log.error({ err: e.message, runId }, 'could not record the failed run'),
  );
}

export async function finishRun(
  ctx: EtlContext,
  db: Knex | Knex.Transaction,
  runId: number,
  startedAt: Date,
  outcome: { status: 'succeeded'; totals: RunTotals } | { status: 'failed'; error: string; totals?: Partial<RunTotals> },
): Promise<void> {
  const finishedAt = new Date();
  const totals = outcome.totals ?? {};
  await targetTable(ctx, db, 'etl_runs')
    .where({ id: runId })
    .update({
      status: outcome.status,
      finished_at: finishedAt,
      duration_ms: finishedAt.getTime() - startedAt.getTime(),
      rows_read: totals.rows_read ?? null,
      rows_valid: totals.rows_valid ?? null,
      rows_rejected: totals.rows_rejected ?? null,
      duplicates_dropped: totals.duplicates_dropped ?? null,
      rows_written: totals.rows_written ?? null,
      stats: totals.stats ? JSON.stringify(totals.stats) : null,
      error: outcome.status === 'failed' ? outcome.error.slice(0, 4000) : null,
    });
}
