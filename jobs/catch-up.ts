/**
 * Catch-up: every production day in the lookback without a successful summary is enqueued,
 * oldest first. BullMQ's schedulers do not run what was missed while no worker was up. A caught-up
 * day is enqueued like a scheduled night, with the nightly schedule's dependents, so it also gets
 * its report, SPC and trace.
 */
import { DateTime } from 'luxon';
import type { ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { targetTable, type EtlContext } from '../etl/context.js';
import { addDays, dateRange, lastCompleteDay } from '../etl/periods.js';
import { isoDate, NIGHTLY_SUMMARY } from '../etl/nightly-summary.js';
import { enqueueWithDependents, type Enqueued } from './enqueue.js';

/** Days from yesterday back through the lookback that have no successfully computed summary. */
export async function missingDays(ctx: EtlContext, now: DateTime): Promise<string[]> {
  const yesterday = lastCompleteDay(now, ctx.clock);
  const days = dateRange(addDays(yesterday, -ctx.config.yield.lookbackDays), yesterday);
  const schema = ctx.targetSchema ? ctx.target.schema.withSchema(ctx.targetSchema) : ctx.target.schema;
  if (!(await schema.hasTable('etl_periods'))) {
    throw new Error(`catch-up: the target database has no etl_periods table${ctx.targetSchema ? ` in schema ${ctx.targetSchema}` : ''}; run \`yieldrun migrate\` first`);
  }
  const done = (await targetTable(ctx, ctx.target, 'etl_periods')
    .where('period_type', 'day')
    .whereIn('period_start', days)
    .select('period_start')) as { period_start: unknown }[];
  const have = new Set(done.map((r) => isoDate(r.period_start)));
  return days.filter((d) => !have.has(d));
}

/** The dependents of the schedule that runs the nightly summary (none without one). */
export function nightlyDependents(cfg: ResolvedConfig): string[] {
  return Object.values(cfg.schedules).find((s) => s.job === NIGHTLY_SUMMARY)?.dependents ?? [];
}

export async function enqueueCatchUp(ctx: EtlContext, connection: ConnectionOptions, log: Logger, now: DateTime = DateTime.now()): Promise<Enqueued[]> {
  const days = await missingDays(ctx, now);
  const dependents = nightlyDependents(ctx.config);
  const out: Enqueued[] = [];
  for (const day of days) {
    const data = { days: [day], triggeredBy: 'catch-up', reason: 'no successful summary for this day' };
    out.push(await enqueueWithDependents(ctx.config, connection, NIGHTLY_SUMMARY, data, dependents));
  }
  if (days.length) {
    log.info({ days, dependents, jobs: out.map((e) => e.jobId), alreadyQueued: out.filter((e) => e.deduplicated).map((e) => e.jobId) }, 'catch-up enqueued missed days');
  }
  return out;
}
